import { expect } from "chai";
import { PatchError, applyJsonPatch } from "../../sandbox/fhir/json-patch";

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof PatchError ? err.kind : "other";
  }
  return undefined;
}

describe("sandbox/fhir json-patch (RFC 6902)", () => {
  it("adds, removes, replaces, moves and copies (RFC 6902 appendix A cases)", () => {
    expect(applyJsonPatch({ foo: "bar" }, [{ op: "add", path: "/baz", value: "qux" }])).to.deep.equal({
      foo: "bar",
      baz: "qux",
    });
    expect(
      applyJsonPatch({ foo: ["bar", "baz"] }, [{ op: "add", path: "/foo/1", value: "qux" }]),
    ).to.deep.equal({
      foo: ["bar", "qux", "baz"],
    });
    expect(applyJsonPatch({ foo: ["bar"] }, [{ op: "add", path: "/foo/-", value: "end" }])).to.deep.equal({
      foo: ["bar", "end"],
    });
    expect(applyJsonPatch({ baz: "qux", foo: "bar" }, [{ op: "remove", path: "/baz" }])).to.deep.equal({
      foo: "bar",
    });
    expect(applyJsonPatch({ foo: ["bar", "qux", "baz"] }, [{ op: "remove", path: "/foo/1" }])).to.deep.equal({
      foo: ["bar", "baz"],
    });
    expect(
      applyJsonPatch({ baz: "qux", foo: "bar" }, [{ op: "replace", path: "/baz", value: "boo" }]),
    ).to.deep.equal({ baz: "boo", foo: "bar" });
    expect(
      applyJsonPatch({ foo: { bar: "baz", waldo: "fred" }, qux: { corge: "grault" } }, [
        { op: "move", from: "/foo/waldo", path: "/qux/thud" },
      ]),
    ).to.deep.equal({ foo: { bar: "baz" }, qux: { corge: "grault", thud: "fred" } });
    expect(
      applyJsonPatch({ foo: ["all", "grass", "cows", "eat"] }, [
        { op: "move", from: "/foo/1", path: "/foo/3" },
      ]),
    ).to.deep.equal({ foo: ["all", "cows", "eat", "grass"] });
    expect(applyJsonPatch({ a: { b: 1 } }, [{ op: "copy", from: "/a", path: "/c" }])).to.deep.equal({
      a: { b: 1 },
      c: { b: 1 },
    });
    expect(
      applyJsonPatch({ "a/b": 1, "m~n": 2 }, [
        { op: "remove", path: "/a~1b" },
        { op: "remove", path: "/m~0n" },
      ]),
    ).to.deep.equal({});
  });

  it("never changes its input, even when a later operation fails", () => {
    const doc = { name: [{ family: "A" }] };
    expect(() =>
      applyJsonPatch(doc, [
        { op: "replace", path: "/name/0/family", value: "B" },
        { op: "test", path: "/name/0/family", value: "C" },
      ]),
    ).to.throw(PatchError);
    expect(doc).to.deep.equal({ name: [{ family: "A" }] });
  });

  it("passes a test on equal JSON (key order ignored) and fails one on different JSON", () => {
    const doc = { a: { x: 1, y: [1, 2] } };
    expect(applyJsonPatch(doc, [{ op: "test", path: "/a", value: { y: [1, 2], x: 1 } }])).to.deep.equal(doc);
    expect(kindOf(() => applyJsonPatch(doc, [{ op: "test", path: "/a/y", value: [2, 1] }]))).to.equal(
      "conflict",
    );
  });

  it("calls a state mismatch a conflict: missing path, bad index, removing what is absent", () => {
    expect(kindOf(() => applyJsonPatch({}, [{ op: "replace", path: "/nope", value: 1 }]))).to.equal(
      "conflict",
    );
    expect(kindOf(() => applyJsonPatch({ a: [] }, [{ op: "add", path: "/a/5", value: 1 }]))).to.equal(
      "conflict",
    );
    expect(kindOf(() => applyJsonPatch({}, [{ op: "remove", path: "/x" }]))).to.equal("conflict");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "add", path: "/x/y", value: 1 }]))).to.equal("conflict");
  });

  it("calls a malformed document malformed", () => {
    expect(kindOf(() => applyJsonPatch({}, { op: "add" }))).to.equal("malformed");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "frobnicate", path: "/a" }]))).to.equal("malformed");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "add", path: "a", value: 1 }]))).to.equal("malformed");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "add", path: "/a" }]))).to.equal("malformed");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "move", path: "/a" }]))).to.equal("malformed");
    expect(
      kindOf(() => applyJsonPatch({ a: { b: 1 } }, [{ op: "move", from: "/a", path: "/a/b/c" }])),
    ).to.equal("malformed");
    expect(kindOf(() => applyJsonPatch({}, [{ op: "remove", path: "/a~2" }]))).to.equal("malformed");
  });
});
