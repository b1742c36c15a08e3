import { expect } from "chai";
import {
  MemoryCheckpointStore,
  RunLog,
  runEntry,
  validateRunLogOptions,
  type CheckpointStore,
} from "../../../lib/checkpoint";
import { messageOf as messageOfCall, rejectionOf } from "../../support/errors";

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** Every read and write yields to the event loop, as Node-RED's file store without its cache does. */
class SlowStore implements CheckpointStore {
  readonly inner = new MemoryCheckpointStore();
  failSet = false;
  async get(key: string): Promise<unknown> {
    await new Promise((r) => setImmediate(r));
    return this.inner.get(key);
  }
  async set(key: string, value: unknown): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.failSet) throw new Error("disk full");
    return this.inner.set(key, value);
  }
}

let scopeSeq = 0;
const AT = Date.parse("2025-01-06T08:00:00Z");

function log(store: CheckpointStore, size = 3, countName = "appointments"): RunLog {
  return new RunLog(store, { key: "runs", size, countName, scope: `s${++scopeSeq}`, now: () => AT });
}

describe("lib/checkpoint RunLog", () => {
  it("describes a run by its outcome, count and committed watermark, nothing else", () => {
    const ok = runEntry(
      {
        run: { total: 3, more: true, type: "Patient" },
        checkpoint: { highWater: "2025-01-06T08:05:00.000Z", advanced: true, cursor: "p-3", runId: "r" },
      },
      "resources",
      4,
      "2025-01-06T08:00:00.000Z",
    );
    expect(ok).to.deep.equal({
      seq: 4,
      at: "2025-01-06T08:00:00.000Z",
      type: "Patient",
      outcome: "ok",
      resources: 3,
      watermark: "2025-01-06T08:05:00.000Z",
      advanced: true,
      more: true,
    });
    const failed = runEntry(
      {
        run: { total: 2, more: true },
        checkpoint: { highWater: "2025-01-06T08:05:00.000Z", runId: "r" },
        error: { code: "FHIR_HTTP_503", message: "Service Unavailable for Jane Doe" },
      },
      "records",
      1,
      "t",
    );
    expect(failed).to.deep.equal({ seq: 1, at: "t", outcome: "failed", code: "FHIR_HTTP_503", records: 2 });
    const skipped = runEntry({ error: { code: "CHECKPOINT_BUSY" } }, "records", 2, "t");
    expect(skipped).to.deep.equal({
      seq: 2,
      at: "t",
      outcome: "skipped",
      code: "CHECKPOINT_BUSY",
      records: 0,
    });
    expect(runEntry({ error: { message: "no code" }, run: { total: -1 } }, "records", 3, "t")).to.deep.equal({
      seq: 3,
      at: "t",
      outcome: "failed",
      records: 0,
    });
  });

  it("keeps the flow's own scalar fields of msg.run, the failing node's name, and never an object or a long text", () => {
    const run = {
      entity: "patients",
      runId: "r1",
      startedAt: "2025-01-06T08:00:00.000Z",
      pages: 3,
      total: 420,
      written: 418,
      deadLettered: 2,
      more: false,
      next: { since: "2025-01-06T08:00:00.000Z", page: 1 },
      note: "x".repeat(201),
      outcome: "ok",
      seq: 99,
    };
    const ok = runEntry(
      { run, checkpoint: { highWater: "2025-01-06T08:05:00.000Z", advanced: true } },
      "total",
      4,
      "t",
    );
    expect(ok).to.deep.equal({
      seq: 4,
      at: "t",
      entity: "patients",
      runId: "r1",
      startedAt: "2025-01-06T08:00:00.000Z",
      pages: 3,
      written: 418,
      deadLettered: 2,
      outcome: "ok",
      total: 420,
      watermark: "2025-01-06T08:05:00.000Z",
      advanced: true,
    });
    const failed = runEntry(
      {
        run: { entity: "patients", total: 5 },
        error: { code: "FHIR_HTTP_503", source: { id: "n1", type: "fhir-request", name: "upsert page" } },
      },
      "total",
      5,
      "t",
    );
    expect(failed).to.include({ outcome: "failed", code: "FHIR_HTTP_503", node: "upsert page" });
    const unnamed = runEntry(
      { error: { code: "X", source: { type: "fhir-request", name: "" } } },
      "n",
      6,
      "t",
    );
    expect(unnamed.node).to.equal("fhir-request");
    expect(
      runEntry({ error: { code: "CHECKPOINT_BUSY", source: { name: "get" } } }, "n", 7, "t"),
    ).to.not.have.property("node");
  });

  it("numbers the runs and keeps the last N, through an async store", async () => {
    const store = new SlowStore();
    const runs = log(store);
    for (let i = 1; i <= 5; i++) await runs.append({ run: { total: i } });
    const kept = (await store.get("runs")) as Array<Record<string, unknown>>;
    expect(kept.map((r) => [r.seq, r.appointments])).to.deep.equal([
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    expect(kept[0].at).to.equal("2025-01-06T08:00:00.000Z");
  });

  it("loses no run when several end at once (appends to one key run one at a time)", async () => {
    const store = new SlowStore();
    const a = log(store, 100);
    const b = new RunLog(store, {
      key: "runs",
      size: 100,
      countName: "records",
      scope: "shared",
      now: () => AT,
    });
    const c = new RunLog(store, {
      key: "runs",
      size: 100,
      countName: "records",
      scope: "shared",
      now: () => AT,
    });
    await Promise.all([b.append({}), c.append({}), b.append({}), c.append({})]);
    const kept = (await store.get("runs")) as Array<{ seq: number }>;
    expect(kept.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4]);
    await a.append({});
    expect(((await store.get("runs")) as unknown[]).length).to.equal(5);
  });

  it("reports a key that holds something else as CHECKPOINT_CORRUPT and leaves it; a failed write as CHECKPOINT_STORE", async () => {
    const store = new SlowStore();
    for (const value of ["runs", { seq: 1 }, [{ seq: "1" }], [1]]) {
      await store.inner.set("runs", value);
      expect(await codeOf(log(store).append({})), JSON.stringify(value)).to.equal("CHECKPOINT_CORRUPT");
      expect(await store.inner.get("runs")).to.deep.equal(value);
    }
    await store.inner.set("runs", undefined);
    store.failSet = true;
    expect(await codeOf(log(store).append({}))).to.equal("CHECKPOINT_STORE");
    expect(await store.inner.get("runs")).to.equal(undefined);
  });

  it("validates its options with CHECKPOINT_CONFIG", async () => {
    const bad = [
      { key: "runs.last", size: 20, countName: "records" },
      { key: "", size: 20, countName: "records" },
      { key: "runs", size: 0, countName: "records" },
      { key: "runs", size: 1001, countName: "records" },
      { key: "runs", size: 2.5, countName: "records" },
      { key: "runs", size: 20, countName: "outcome" },
      { key: "runs", size: 20, countName: "a b" },
    ];
    for (const o of bad) {
      expect(await codeOf(() => validateRunLogOptions(o)), JSON.stringify(o)).to.equal("CHECKPOINT_CONFIG");
    }
    expect(
      await codeOf(() => validateRunLogOptions({ key: "runs", size: 1000, countName: "encounters" })),
    ).to.equal(undefined);
  });
});

describe("lib/checkpoint runEntry and RunLog: the edges", () => {
  const entry = (input: Parameters<typeof runEntry>[0], countName = "records") =>
    runEntry(input, countName, 1, "t");

  it("names the failing node by name (at most 100 characters), else by type, else not at all", () => {
    const failed = (source: unknown) => entry({ error: { code: "X", source } });
    expect(failed({ name: "n".repeat(150), type: "t" }).node).to.equal("n".repeat(100));
    expect(failed({ name: "", type: "fhir-request" }).node).to.equal("fhir-request");
    expect(failed({ name: 7, type: "fhir-request" }).node).to.equal("fhir-request");
    expect(failed({ id: "x" })).to.not.have.property("node");
    expect(failed("upsert")).to.not.have.property("node");
  });

  it("takes a code only when it is non-empty text, and a type only when it is", () => {
    expect(entry({ error: { code: "" } })).to.deep.equal({ seq: 1, at: "t", outcome: "failed", records: 0 });
    expect(entry({ error: { code: 503 } })).to.deep.equal({ seq: 1, at: "t", outcome: "failed", records: 0 });
    expect(entry({ run: { type: "" } })).to.deep.equal({ seq: 1, at: "t", outcome: "ok", records: 0 });
    expect(entry({ run: { type: 5 } })).to.deep.equal({ seq: 1, at: "t", outcome: "ok", records: 0 });
  });

  it("copies finite numbers, true/false and text up to 200 characters; never the count's own name, total or more", () => {
    const e = entry(
      {
        run: {
          total: 4,
          more: true,
          appointments: 99,
          pages: 2,
          ok: false,
          nan: Number.NaN,
          inf: Number.POSITIVE_INFINITY,
          nothing: null,
          short: "s".repeat(200),
          long: "l".repeat(201),
        },
      },
      "appointments",
    );
    expect(e).to.deep.equal({
      seq: 1,
      at: "t",
      pages: 2,
      ok: false,
      short: "s".repeat(200),
      outcome: "ok",
      appointments: 4,
      more: true,
    });
  });

  it("counts 0 for a total that is not a whole number >= 0, and has no watermark without a committed one", () => {
    for (const total of [-1, 1.5, "3", null])
      expect(entry({ run: { total } }).records, String(total)).to.equal(0);
    expect(entry({ run: { total: 0 } }).records).to.equal(0);
    expect(entry({ checkpoint: { highWater: 5, advanced: false } })).to.deep.equal({
      seq: 1,
      at: "t",
      outcome: "ok",
      records: 0,
      advanced: false,
    });
  });

  it("reads a stored null as no log; one entry without a whole seq makes it CHECKPOINT_CORRUPT, named", async () => {
    const store = new MemoryCheckpointStore();
    const log = new RunLog(store, { key: "runs", size: 5, countName: "records", scope: "edges" });
    await store.set("runs", null);
    expect((await log.append({})).seq).to.equal(1);
    for (const bad of [[{ seq: 1 }, { seq: 1.5 }], [{ seq: 1 }, "x"], [{ seq: "1" }]]) {
      await store.set("runs", bad);
      const err = await rejectionOf(log.append({}));
      expect(err.code, JSON.stringify(bad)).to.equal("CHECKPOINT_CORRUPT");
      expect(err.message).to.match(
        /^context key "runs" holds something that is not a run log \(an array\); delete it$/,
      );
    }
  });

  it("names the log and keeps the cause when the store fails to read or write", async () => {
    const cause = new Error("gone");
    for (const [what, store] of [
      ["read", { get: async () => Promise.reject(cause), set: async () => undefined }],
      ["write", { get: async () => [], set: async () => Promise.reject(cause) }],
    ] as Array<[string, CheckpointStore]>) {
      const log = new RunLog(store, { key: "syncRuns", size: 5, countName: "records", scope: `io-${what}` });
      const err = await rejectionOf(log.append({}));
      expect(err).to.include({
        code: "CHECKPOINT_STORE",
        message: `could not ${what} the run log "syncRuns"`,
      });
      expect(err.cause).to.equal(cause);
    }
  });

  it("keeps 1 to 1000 runs, and says which names a count cannot take", () => {
    expect(() => validateRunLogOptions({ key: "runs", size: 1, countName: "n" })).to.not.throw();
    const messageOf = (o: { key: string; size: number; countName: string }) =>
      messageOfCall(() => validateRunLogOptions(o));
    expect(messageOf({ key: "runs", size: 1001, countName: "n" })).to.equal(
      "runs kept must be a whole number from 1 to 1000",
    );
    expect(messageOf({ key: "a.b", size: 1, countName: "n" })).to.match(/^log key must be a plain name/);
    expect(messageOf({ key: "runs", size: 1, countName: "node" })).to.equal(
      "count name must be a plain name other than seq, at, type, outcome, code, node, watermark, advanced, more",
    );
  });
});
