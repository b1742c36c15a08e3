import { expect } from "chai";
import { selectRunPage, startRun, validateSelectOptions, type RunState } from "../../../lib/checkpoint";
import { codeOf, messageOf } from "../../support/errors";

const T0 = "2025-01-06T08:00:00.000Z";
const T1 = "2025-01-06T08:05:00.000Z";
const T2 = "2025-01-06T09:00:00.000Z";

interface Rec {
  id: string;
  updatedAt: string;
  v?: number;
}

/**
 * A PMS list endpoint as the sandbox's behaves: records changed at or after `modifiedSince`,
 * ordered by (updatedAt, id as the PMS orders it), one page of `pageSize`.
 */
function pmsPage(
  data: Rec[],
  since: string,
  page: number,
  pageSize: number,
): { items: Rec[]; total: number } {
  const from = Date.parse(since);
  const all = data
    .filter((r) => Date.parse(r.updatedAt) >= from)
    .sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt) || Number(a.id) - Number(b.id));
  return {
    items: all.slice((page - 1) * pageSize, page * pageSize).map((r) => ({ ...r })),
    total: all.length,
  };
}

/** One run as the batch-sync pipeline drives select: get's checkpoint, page after page until more is false. */
function syncRun(
  data: Rec[],
  checkpoint: Record<string, unknown>,
  pageSize: number,
  between?: (page: number) => void,
): { seen: Rec[]; run: RunState; checkpoint: Record<string, unknown> } {
  const seen: Rec[] = [];
  let cp = { ...checkpoint };
  let run: unknown = { entity: "patients" };
  let query = { since: cp.since as string, page: 1 };
  for (let pages = 0; pages < 1000; pages++) {
    const body = pmsPage(data, query.since, query.page, pageSize);
    between?.(pages);
    const s = selectRunPage<Rec>(cp, run, body, { recordsField: "items", pageSize, paging: "run" });
    seen.push(...s.records);
    if (s.highWater !== undefined) cp = { ...cp, highWater: s.highWater, cursor: s.cursor };
    run = s.run;
    if (!s.run.more) return { seen, run: s.run, checkpoint: cp };
    query = s.run.next;
  }
  throw new Error("the run did not end within 1000 pages");
}

const at = (minute: number) => new Date(Date.parse(T0) + minute * 60_000).toISOString();

describe("lib/checkpoint selectRunPage (keyset paging over a run)", () => {
  it("starts a run on a new runId: the flow's fields kept, counters at zero, the first page asked from since", () => {
    const run = startRun(
      {
        entity: "patients",
        runId: "old",
        written: 7,
        deadLettered: 2,
        pages: 3,
        next: { since: T2, page: 4 },
      },
      { runId: "r1", since: T0 },
      Date.parse(T1),
    );
    expect(run).to.deep.equal({
      entity: "patients",
      runId: "r1",
      startedAt: T1,
      pages: 0,
      total: 0,
      more: true,
      next: { since: T0, page: 1 },
    });
  });

  it("keeps the records after the position, counts them over the run, and asks next from the page's newest time", () => {
    const cp = { name: "p", runId: "r1", since: T0, cursor: "9" };
    const page = {
      items: [
        { id: "8", updatedAt: T0 },
        { id: "9", updatedAt: T0 },
        { id: "10", updatedAt: T0 },
        { id: "3", updatedAt: T1 },
      ],
      total: 99,
    };
    const s = selectRunPage<Rec>(cp, { entity: "patients" }, page, { recordsField: "items", pageSize: 4 });
    expect(s.records.map((r) => r.id)).to.deep.equal(["10", "3"]);
    expect(s).to.include({ highWater: T1, cursor: "3" });
    expect(s.run).to.include({ entity: "patients", runId: "r1", pages: 1, total: 2, more: true });
    expect(s.run.next).to.deep.equal({ since: T1, page: 1 });

    // The next page repeats the record at T1 (modifiedSince is inclusive): the run's own mark drops it.
    const next = selectRunPage<Rec>(
      { ...cp, highWater: s.highWater, cursor: s.cursor },
      s.run,
      {
        items: [
          { id: "3", updatedAt: T1 },
          { id: "4", updatedAt: T2 },
        ],
      },
      { recordsField: "items", pageSize: 4 },
    );
    expect(next.records.map((r) => r.id)).to.deep.equal(["4"]);
    expect(next.run).to.include({ pages: 2, total: 3, more: false });
  });

  it("pages within one instant when a whole page shares the instant it was asked from", () => {
    const cp = { runId: "r1", since: T1, cursor: null };
    const page = { items: [1, 2, 3].map((i) => ({ id: String(i), updatedAt: T1 })) };
    const s = selectRunPage<Rec>(cp, undefined, page, { recordsField: "items", pageSize: 3 });
    expect(s.run.next).to.deep.equal({ since: T1, page: 2 });
    const s2 = selectRunPage<Rec>(
      { ...cp, highWater: s.highWater, cursor: s.cursor },
      s.run,
      { items: [4, 5, 6].map((i) => ({ id: String(i), updatedAt: T1 })) },
      { recordsField: "items", pageSize: 3 },
    );
    expect(s2.records.map((r) => r.id)).to.deep.equal(["4", "5", "6"]);
    expect(s2.run.next).to.deep.equal({ since: T1, page: 3 });
    // An empty page ends the run; a full page of records already done still asks for the next one.
    const empty = selectRunPage(cp, s2.run, { items: [] }, { recordsField: "items", pageSize: 3 });
    expect(empty.run).to.include({ more: false, total: 6 });
    const done = selectRunPage(
      { ...cp, highWater: T1, cursor: "9" },
      s2.run,
      { items: [7, 8, 9].map((i) => ({ id: String(i), updatedAt: T1 })) },
      { recordsField: "items", pageSize: 3 },
    );
    expect(done.records).to.deep.equal([]);
    expect(done.run).to.include({ more: true });
  });

  it("reads every record exactly once across pages, ties at every page boundary, whole pages in one instant, numeric ids", () => {
    const data: Rec[] = [];
    let id = 1;
    // 3 records per minute, then a burst of 11 at one instant, then 1 per minute: ids 1..41.
    for (let m = 1; m <= 6; m++)
      for (let k = 0; k < 3; k++) data.push({ id: String(id++), updatedAt: at(m) });
    for (let k = 0; k < 11; k++) data.push({ id: String(id++), updatedAt: at(7) });
    for (let m = 8; m <= 19; m++) data.push({ id: String(id++), updatedAt: at(m) });
    for (const pageSize of [1, 2, 3, 4, 5, 10, 50]) {
      const r = syncRun(data, { runId: `r${pageSize}`, since: T0, cursor: null }, pageSize);
      expect(
        r.seen.map((x) => x.id),
        `page size ${pageSize}`,
      ).to.deep.equal(data.map((x) => x.id));
      expect(r.run.total).to.equal(data.length);
      expect(r.checkpoint).to.include({ highWater: at(19), cursor: "41" });
      // A second run from the committed mark finds nothing.
      const again = syncRun(data, { runId: "again", since: at(19), cursor: "41" }, pageSize);
      expect(again.seen).to.deep.equal([]);
    }
  });

  it("loses no record that changes while the run pages (it moves behind the position: the next run takes it)", () => {
    const data: Rec[] = [];
    for (let i = 1; i <= 30; i++) data.push({ id: String(i), updatedAt: at(i), v: 1 });
    const r = syncRun(data, { runId: "r1", since: T0, cursor: null }, 5, (page) => {
      // While page 2 is being written, record 3 (already read) and record 20 (not yet) change.
      if (page === 2) {
        data[2] = { id: "3", updatedAt: at(40), v: 2 };
        data[19] = { id: "20", updatedAt: at(41), v: 2 };
      }
    });
    const seen = new Map(r.seen.map((x) => [x.id, x]));
    for (let i = 1; i <= 30; i++) expect(seen.has(String(i)), `record ${i}`).to.equal(true);
    expect(seen.get("20")!.v).to.equal(2);
    expect(seen.get("3")!.v).to.equal(2);
  });

  it("refuses bad input with CHECKPOINT_BAD_INPUT", () => {
    const cp = { runId: "r1", since: T0 };
    const opts = { recordsField: "items" };
    expect(codeOf(() => selectRunPage({ since: T0 }, undefined, { items: [] }, opts))).to.equal(
      "CHECKPOINT_BAD_INPUT",
    );
    expect(() => selectRunPage(cp, undefined, { total: 3 }, opts)).to.throw(/msg\.payload\.items must be/);
    expect(codeOf(() => selectRunPage(cp, undefined, "<html>", opts))).to.equal("CHECKPOINT_BAD_INPUT");
    const run = { runId: "r1", next: { since: T0, page: 0 } };
    expect(() => selectRunPage(cp, run, { items: [] }, opts)).to.throw(/msg\.run\.next/);
    expect(
      codeOf(() =>
        selectRunPage(cp, { runId: "r1", next: { since: "yesterday", page: 1 } }, { items: [] }, opts),
      ),
    ).to.equal("CHECKPOINT_BAD_INPUT");
    let message = "";
    try {
      selectRunPage(cp, undefined, { items: [{ id: "1", updatedAt: "Jane Doe" }] }, opts);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message)
      .to.match(/record 0/)
      .and.not.match(/Jane/);
  });

  it("validates paging and records field with CHECKPOINT_CONFIG", () => {
    expect(codeOf(() => validateSelectOptions({ paging: "all" as "run" }))).to.equal("CHECKPOINT_CONFIG");
    expect(codeOf(() => validateSelectOptions({ recordsField: "items[0]" }))).to.equal("CHECKPOINT_CONFIG");
    expect(() => validateSelectOptions({ paging: "run", recordsField: "data.items" })).to.not.throw();
  });
});

describe("lib/checkpoint selectRunPage: where a run starts and what its errors say", () => {
  const opts = { recordsField: "items", pageSize: 2 };

  it("starts a new run when msg.run has this runId but no next (not select's), and ignores an empty highWater", () => {
    const cp = { runId: "r1", since: T0, highWater: "", cursor: "5" };
    const s = selectRunPage(
      cp,
      { runId: "r1", entity: "p", pages: 7 },
      { items: [{ id: "5", updatedAt: T0 }] },
      opts,
    );
    expect(s.run).to.include({ runId: "r1", entity: "p", pages: 1, total: 0 });
    expect(s.records).to.deep.equal([]);
  });

  it("reports the resource type it kept, only when it has one", () => {
    const cp = { runId: "r1", since: T0 };
    const page = {
      items: [
        { resourceType: "Patient", id: "1", updatedAt: T1 },
        { resourceType: "Group", id: "2", updatedAt: T1 },
      ],
    };
    const typed = selectRunPage(cp, undefined, page, { ...opts, resourceType: "Patient" });
    expect(typed.run.type).to.equal("Patient");
    expect(typed.records).to.have.length(1);
    expect(selectRunPage(cp, undefined, page, opts).run).to.not.have.property("type");
  });

  it("names what is missing", () => {
    expect(messageOf(() => selectRunPage({ runId: "", since: T0 }, undefined, { items: [] }, opts))).to.equal(
      "msg.checkpoint.runId is missing: select the pages of a run that get started",
    );
    // A next that is not an object is not select's: a new run starts. One that is must be {since, page}.
    for (const next of [undefined, "x"]) {
      expect(
        selectRunPage({ runId: "r", since: T0 }, { runId: "r", next }, { items: [] }, opts).run.pages,
      ).to.equal(1);
    }
    for (const next of [{ since: 5, page: 1 }, { since: T0, page: 1.5 }, { since: T0 }, { page: 2 }]) {
      expect(
        messageOf(() => selectRunPage({ runId: "r", since: T0 }, { runId: "r", next }, { items: [] }, opts)),
        JSON.stringify(next),
      ).to.equal("msg.run.next must be {since, page} as select set it; start a run with get");
    }
    expect(
      messageOf(() =>
        selectRunPage(
          { runId: "r", since: T0, highWater: "soon" },
          { runId: "r", next: { since: T0, page: 1 } },
          { items: [] },
          opts,
        ),
      ),
    ).to.match(/^msg\.checkpoint\.highWater /);
  });

  it("takes a dot path of up to 200 characters for its fields, and names the field", () => {
    const long = "a".repeat(200);
    expect(() => validateSelectOptions({ recordsField: long })).to.not.throw();
    expect(messageOf(() => validateSelectOptions({ recordsField: `${long}b` }))).to.equal(
      "records field must be a dot path such as meta.lastUpdated",
    );
    expect(messageOf(() => validateSelectOptions({ timeField: "a b" }))).to.match(
      /^time field must be a dot path/,
    );
    expect(messageOf(() => validateSelectOptions({ idField: "a[0]" }))).to.match(
      /^id field must be a dot path/,
    );
    expect(messageOf(() => validateSelectOptions({ paging: "x" as "run" }))).to.equal(
      "paging must be page or run",
    );
    expect(messageOf(() => validateSelectOptions({ pageSize: 0 }))).to.equal(
      "page size must be a whole number >= 1",
    );
    expect(() => validateSelectOptions({ pageSize: 1 })).to.not.throw();
    expect(messageOf(() => validateSelectOptions({ resourceType: "patient" }))).to.equal(
      "resource type must be a FHIR type name such as Patient",
    );
  });
});
