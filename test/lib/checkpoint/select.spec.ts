import { expect } from "chai";
import { selectAfter, validateSelectOptions, type SelectOptions } from "../../../lib/checkpoint";
import { codeOf } from "../../support/errors";

const T0 = "2025-01-06T08:00:00.000Z";
const T1 = "2025-01-06T08:05:00.000Z";
const T2 = "2025-01-06T09:00:00.000Z";

/** The comparison the shipped flows' function nodes made before select existed: ids as strings. */
function stringwiseAfter(cp: { since: string; cursor: string | null }, r: { updatedAt: string; id: string }) {
  const t = Date.parse(r.updatedAt);
  const since = Date.parse(cp.since);
  return t > since || (t === since && (cp.cursor === null || r.id > cp.cursor));
}

describe("lib/checkpoint selectAfter", () => {
  it("keeps the records after (since, cursor), oldest first by (time, id), and reports the last as the mark", () => {
    const page = [
      { id: "c", updatedAt: T2 },
      { id: "a", updatedAt: T1 },
      { id: "x", updatedAt: T0 },
      { id: "b", updatedAt: T1 },
      { id: "w", updatedAt: T0 },
    ];
    const s = selectAfter<{ id: string }>({ since: T0, cursor: "w" }, page);
    expect(s.records.map((r) => r.id)).to.deep.equal(["x", "a", "b", "c"]);
    expect(s).to.include({ highWater: T2, cursor: "c" });
    expect(s.run).to.deep.equal({ total: 4, more: false });
  });

  it("compares whole-number ids as numbers, as the checkpoint does: 10 comes after 9, where the flows' string comparison dropped it", () => {
    const cp = { since: T1, cursor: "9" };
    const page = [
      { id: "10", updatedAt: T1 },
      { id: "8", updatedAt: T1 },
      { id: "9", updatedAt: T1 },
      { id: "11", updatedAt: T1 },
    ];
    // The defect: compared as strings, "10" and "11" sort before "9" and are taken as done.
    expect(page.filter((r) => stringwiseAfter(cp, r)).map((r) => r.id)).to.deep.equal([]);
    const s = selectAfter<{ id: string }>(cp, page);
    expect(s.records.map((r) => r.id)).to.deep.equal(["10", "11"]);
    expect(s).to.include({ highWater: T1, cursor: "11" });
    const numeric = selectAfter<{ id: number }>({ since: T1, cursor: 9 }, [
      { id: 100, updatedAt: T1 },
      { id: 9, updatedAt: T1 },
      { id: 10, updatedAt: T1 },
    ]);
    expect(numeric.records.map((r) => r.id)).to.deep.equal([10, 100]);
    expect(numeric.cursor).to.equal(100);
  });

  it("takes every record at since when the cursor is null, and compares below the millisecond", () => {
    const page = [
      { id: "b", updatedAt: "2025-01-06T08:00:00.000400Z" },
      { id: "a", updatedAt: T0 },
      { id: "z", updatedAt: "2025-01-06T07:59:59.999Z" },
    ];
    const s = selectAfter<{ id: string }>({ since: T0, cursor: null }, page);
    expect(s.records.map((r) => r.id)).to.deep.equal(["a", "b"]);
    expect(s.highWater).to.equal("2025-01-06T08:00:00.0004Z");
    const after = selectAfter({ since: "2025-01-06T08:00:00.0003Z" }, page);
    expect(after.records).to.have.length(1);
  });

  it("reads a FHIR Bundle's matches by meta.lastUpdated, of one resource type when asked", () => {
    const bundle = {
      resourceType: "Bundle",
      type: "searchset",
      entry: [
        {
          resource: { resourceType: "Encounter", id: "e2", meta: { lastUpdated: T2 } },
          search: { mode: "match" },
        },
        {
          resource: { resourceType: "Patient", id: "p1", meta: { lastUpdated: T1 } },
          search: { mode: "include" },
        },
        { resource: { resourceType: "OperationOutcome", id: "oo" }, search: { mode: "outcome" } },
        { resource: { resourceType: "Encounter", id: "e1", meta: { lastUpdated: T1 } } },
        { fullUrl: "no resource" },
      ],
    };
    const all = selectAfter<{ id: string }>({ since: T0 }, bundle);
    expect(all.records.map((r) => r.id)).to.deep.equal(["e1", "e2"]);
    expect(all.run).to.deep.equal({ total: 2, more: false });
    const patients = selectAfter<{ id: string }>({ since: T0 }, bundle, { resourceType: "Patient" });
    expect(patients.records.map((r) => r.id)).to.deep.equal(["p1"]);
    expect(patients.run).to.deep.equal({ total: 1, more: false, type: "Patient" });
    expect(selectAfter({ since: T0 }, { resourceType: "Bundle", type: "searchset" }).records).to.deep.equal(
      [],
    );
  });

  it("reports more only for a full page that had new records", () => {
    const page = [
      { id: "1", updatedAt: T0 },
      { id: "2", updatedAt: T1 },
    ];
    const opts: SelectOptions = { pageSize: 2 };
    expect(selectAfter({ since: T0, cursor: "1" }, page, opts).run).to.deep.equal({ total: 1, more: true });
    expect(selectAfter({ since: T1, cursor: "2" }, page, opts).run).to.deep.equal({ total: 0, more: false });
    expect(selectAfter({ since: T0 }, page, { pageSize: 3 }).run.more).to.equal(false);
  });

  it("reads other time and id fields by dot path, and leaves the mark unset when nothing is new", () => {
    const page = [{ key: { no: 5 }, changed: T2 }];
    const s = selectAfter({ since: T0 }, page, { timeField: "changed", idField: "key.no" });
    expect(s).to.include({ highWater: T2, cursor: 5 });
    const none = selectAfter({ since: T2, cursor: 5 }, page, { timeField: "changed", idField: "key.no" });
    expect(none.records).to.deep.equal([]);
    expect(none).to.not.have.any.keys("highWater", "cursor");
  });

  it("refuses bad input with CHECKPOINT_BAD_INPUT, naming a record by position only", () => {
    const good = { id: "1", updatedAt: T1 };
    const bad: Array<[unknown, unknown, RegExp]> = [
      [undefined, [good], /since is missing/],
      [{ since: "yesterday" }, [good], /since/],
      [{ since: T0, cursor: [1] }, [good], /cursor/],
      [{ since: T0 }, "records", /array of records or a FHIR Bundle, not string/],
      [{ since: T0 }, { items: [good] }, /array of records or a FHIR Bundle/],
      [{ since: T0 }, { resourceType: "Bundle", entry: {} }, /entry is not an array/],
      [{ since: T0 }, [good, 7], /record 1 of the page is number/],
      [{ since: T0 }, [good, { id: "2" }], /record 1 of the page has no date-time at updatedAt/],
      [{ since: T0 }, [{ id: "2", updatedAt: "06/01/2025" }], /record 0's updatedAt/],
      [{ since: T0 }, [{ updatedAt: T1, name: "Jane Doe" }], /record 0 of the page has no id/],
      [{ since: T0 }, [{ id: 1.5, updatedAt: T1 }], /record 0's id/],
    ];
    for (const [cp, page, message] of bad) {
      let caught: (Error & { code?: string }) | undefined;
      try {
        selectAfter(cp, page);
      } catch (err) {
        caught = err as Error & { code?: string };
      }
      expect(caught?.code, String(message)).to.equal("CHECKPOINT_BAD_INPUT");
      expect(caught?.message).to.match(message);
      expect(caught?.message).to.not.include("Jane");
    }
  });

  it("validates its options with CHECKPOINT_CONFIG", () => {
    for (const opts of [
      { timeField: "meta..lastUpdated" },
      { timeField: "a[0]" },
      { idField: "x y" },
      { resourceType: "patient" },
      { pageSize: 0 },
      { pageSize: 1.5 },
    ] as SelectOptions[]) {
      expect(
        codeOf(() => validateSelectOptions(opts)),
        JSON.stringify(opts),
      ).to.equal("CHECKPOINT_CONFIG");
    }
    expect(
      codeOf(() =>
        validateSelectOptions({
          timeField: "meta.lastUpdated",
          idField: "id",
          resourceType: "Encounter",
          pageSize: 200,
        }),
      ),
    ).to.equal(undefined);
  });
});
