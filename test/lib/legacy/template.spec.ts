import { expect } from "chai";
import { fillPathTemplate, placeholders } from "../../../lib/legacy/template";
import { codeOf } from "../../support/errors";

describe("lib/legacy/template", () => {
  it("fills msg placeholders, URL-encoding each value", () => {
    const msg = { patientId: "pat 1/2?x", appt: { id: 42 }, list: ["a&b"] };
    expect(fillPathTemplate("/patients/{{msg.patientId}}", msg)).to.equal("/patients/pat%201%2F2%3Fx");
    expect(fillPathTemplate("/a/{{ msg.appt.id }}/b?tag={{msg.list[0]}}", msg)).to.equal("/a/42/b?tag=a%26b");
    expect(fillPathTemplate("/static", msg)).to.equal("/static");
    expect(placeholders("/a/{{msg.x}}/{{ msg.y.z }}")).to.deep.equal(["msg.x", "msg.y.z"]);
  });

  it("encodes non-ASCII values as UTF-8", () => {
    expect(fillPathTemplate("/p/{{msg.n}}", { n: "Zoë" })).to.equal("/p/Zo%C3%AB");
  });

  it("rejects missing, empty, non-scalar and non-msg placeholders with LEGACY_PATH_PARAM", () => {
    expect(codeOf(() => fillPathTemplate("/p/{{msg.id}}", {}))).to.equal("LEGACY_PATH_PARAM");
    expect(codeOf(() => fillPathTemplate("/p/{{msg.id}}", { id: "" }))).to.equal("LEGACY_PATH_PARAM");
    expect(codeOf(() => fillPathTemplate("/p/{{msg.id}}", { id: null }))).to.equal("LEGACY_PATH_PARAM");
    expect(codeOf(() => fillPathTemplate("/p/{{msg.id}}", { id: { a: 1 } }))).to.equal("LEGACY_PATH_PARAM");
    expect(codeOf(() => fillPathTemplate("/p/{{flow.id}}", { id: 1 }))).to.equal("LEGACY_PATH_PARAM");
    expect(codeOf(() => fillPathTemplate("/p/{{msg.a.b}}", { a: "str" }))).to.equal("LEGACY_PATH_PARAM");
  });

  it("refuses dot segments that URL parsing would resolve", () => {
    expect(codeOf(() => fillPathTemplate("/patients/{{msg.id}}", { id: ".." }))).to.equal(
      "LEGACY_PATH_PARAM",
    );
    expect(codeOf(() => fillPathTemplate("/patients/{{msg.id}}", { id: "." }))).to.equal("LEGACY_PATH_PARAM");
    expect(fillPathTemplate("/patients/{{msg.id}}", { id: "../admin" })).to.equal("/patients/..%2Fadmin");
  });
});
