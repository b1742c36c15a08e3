import { expect } from "chai";
import {
  Checkpoints,
  DeadLetterList,
  MemoryCheckpointStore,
  RunLog,
  pageOutcome,
  resolveInitial,
  selectAfter,
  selectRunPage,
  startRun,
  storageKey,
  validateGetOptions,
  validateSelectOptions,
  type CheckpointStore,
} from "../../../lib/checkpoint";
import { CODES } from "../../../lib/error-codes";
import { codeOf, messageOf, rejectionOf } from "../../support/errors";

/**
 * Rules the mutation pass of issue #18 found unstated: each test fails with one or more surviving
 * mutants of the baseline applied (docs/mutation/checkpoint-equivalent.md names the others).
 */

const T0 = "2025-01-06T08:00:00.000Z";
const T1 = "2025-01-06T08:05:00.000Z";
const T2 = "2025-01-06T09:00:00.000Z";
const LEASE = { leaseSeconds: 60 };

let scopeSeq = 0;
const checkpoints = (store: CheckpointStore) =>
  new Checkpoints(store, { scope: `rules-${++scopeSeq}`, now: () => Date.parse("2025-03-01T12:00:00Z") });

/**
 * A store that keeps a version per key and writes with setIf only at the version it holds (null:
 * absent), as a shared store does; `offers` picks which of getVersioned and setIf it offers.
 */
function versionedStore(offers: { getVersioned: boolean; setIf: boolean }) {
  const data = new Map<string, { text: string; version: string }>();
  let seq = 0;
  const calls: string[] = [];
  const put = (key: string, value: unknown) => {
    if (value === undefined) data.delete(key);
    else data.set(key, { text: JSON.stringify(value), version: `v${++seq}` });
  };
  const store: CheckpointStore = {
    get: async (key) => {
      calls.push("get");
      const found = data.get(key);
      return found ? JSON.parse(found.text) : undefined;
    },
    set: async (key, value) => {
      calls.push("set");
      put(key, value);
    },
  };
  if (offers.getVersioned) {
    store.getVersioned = async (key) => {
      calls.push("getVersioned");
      const found = data.get(key);
      return found ? { value: JSON.parse(found.text), version: found.version } : undefined;
    };
  }
  if (offers.setIf) {
    store.setIf = async (key, version, value) => {
      calls.push("setIf");
      if ((data.get(key)?.version ?? null) !== version) return false;
      put(key, value);
      return true;
    };
  }
  return { store, calls, data };
}

describe("lib/checkpoint rules (the mutation pass of #18)", () => {
  describe("stores", () => {
    it("a store with only one of getVersioned and setIf is read with get and written with set, for the checkpoint, the run log and the dead-letter list", async () => {
      for (const offers of [
        { getVersioned: true, setIf: false },
        { getVersioned: false, setIf: true },
      ]) {
        const label = JSON.stringify(offers);
        const { store, calls } = versionedStore(offers);
        const cps = checkpoints(store);
        const g = await cps.get("pms.patients", LEASE);
        const c = await cps.commit("pms.patients", { runId: g.runId, highWater: T1, cursor: "7" });
        expect(c, label).to.include({ highWater: T1, cursor: "7", advanced: true });
        expect((await cps.read("pms.patients"))?.highWater, label).to.equal(T1);

        const log = new RunLog(store, {
          key: "runs",
          size: 5,
          countName: "records",
          scope: `rules-${++scopeSeq}`,
        });
        expect((await log.append({ run: { total: 2 } })).seq, label).to.equal(1);
        expect((await log.append({ run: { total: 3 } })).seq, label).to.equal(2);

        const dead = new DeadLetterList(store, { key: "dead", max: 10, scope: `rules-${++scopeSeq}` });
        const refused = [{ id: "p1", code: "MAP_VALIDATE", message: "m" }];
        expect(await dead.update("patients", "r1", { written: [], refused }), label).to.equal(1);
        expect(await dead.update("patients", "r2", { written: ["p1"], refused: [] }), label).to.equal(0);

        expect(calls, label).not.to.include("setIf");
        expect(calls, label).to.include("set");
      }
    });

    it("a checkpoint another instance changes between every read and write is CHECKPOINT_BUSY naming the checkpoint in its details", async () => {
      const { store, data } = versionedStore({ getVersioned: true, setIf: true });
      const setIf = store.setIf!;
      let tries = 0;
      store.setIf = async (key, version, value) => {
        tries += 1;
        data.set(key, { text: JSON.stringify(null), version: `theirs-${tries}` });
        return setIf(key, version, value);
      };
      const err = (await rejectionOf(checkpoints(store).get("pms.patients", LEASE))) as {
        code?: string;
        details?: unknown;
      };
      expect(err.code).to.equal(CODES.CHECKPOINT_BUSY);
      expect(err.details).to.deep.equal({ name: "pms.patients" });
      expect(tries).to.equal(5);
    });
  });

  describe("checkpoint", () => {
    it("a commit whose highWater is no date-time is CHECKPOINT_BAD_INPUT naming highWater", async () => {
      const cps = checkpoints(new MemoryCheckpointStore());
      const g = await cps.get("pms.patients", LEASE);
      const err = await rejectionOf(cps.commit("pms.patients", { runId: g.runId, highWater: "yesterday" }));
      expect(err.code).to.equal(CODES.CHECKPOINT_BAD_INPUT);
      expect(err.message).to.match(/^highWater is not an ISO date-time/);
    });

    it("reset of a slot holding null says no checkpoint existed, as get takes null for none", async () => {
      const store = new MemoryCheckpointStore();
      await store.set(storageKey("pms.patients"), null);
      const cps = checkpoints(store);
      expect(await cps.reset("pms.patients")).to.deep.equal({ name: "pms.patients", existed: false });
      expect((await cps.get("pms.patients", LEASE)).initial).to.equal(true);
      expect(await cps.reset("pms.patients")).to.deep.equal({ name: "pms.patients", existed: true });
    });

    it("an initial of only white space is empty: a new checkpoint starts at the epoch", async () => {
      expect(resolveInitial("   ", Date.parse(T2))).to.deep.equal({ ms: 0, sub: "" });
      expect(codeOf(() => validateGetOptions({ ...LEASE, initial: " \t " }))).to.equal(undefined);
      const g = await checkpoints(new MemoryCheckpointStore()).get("pms.patients", {
        ...LEASE,
        initial: "  ",
      });
      expect(g.since).to.equal("1970-01-01T00:00:00.000Z");
    });

    it("an initial that is neither empty, a duration nor a date-time is refused naming initial", () => {
      expect(codeOf(() => validateGetOptions({ ...LEASE, initial: "yesterday" }))).to.equal(
        CODES.CHECKPOINT_BAD_INPUT,
      );
      expect(messageOf(() => validateGetOptions({ ...LEASE, initial: "yesterday" }))).to.equal(
        'initial is not an ISO date-time: "yesterday"',
      );
    });
  });

  describe("select", () => {
    it("an empty time field, id field, records field or resource type is the default, not an error", () => {
      for (const field of ["timeField", "idField", "recordsField", "resourceType"]) {
        expect(
          codeOf(() => validateSelectOptions({ [field]: "" })),
          field,
        ).to.equal(undefined);
      }
      const s = selectAfter({ since: T0, cursor: null }, [{ id: "1", updatedAt: T1 }], {
        timeField: "",
        idField: "",
        recordsField: "",
        resourceType: "",
      });
      expect(s).to.include({ highWater: T1, cursor: "1" });
    });

    it("a path (time field, records field) that runs through a missing, null, undefined or non-object value finds nothing there (CHECKPOINT_BAD_INPUT)", () => {
      for (const meta of [undefined, null, "x", 5]) {
        const page = [{ id: "1", ...(meta === undefined ? {} : { meta }) }];
        const select = () => selectAfter({ since: T0 }, page, { timeField: "meta.lastUpdated" });
        expect(codeOf(select), String(meta)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
        expect(messageOf(select), String(meta)).to.equal(
          "record 0 of the page has no date-time at meta.lastUpdated",
        );
      }
      for (const payload of [undefined, { data: null }, { data: undefined }, { data: "x" }]) {
        const inner = () => selectAfter({ since: T0 }, payload, { recordsField: "data.items" });
        expect(codeOf(inner), JSON.stringify(payload)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
        expect(messageOf(inner), JSON.stringify(payload)).to.equal(
          "msg.payload.data.items must be the page's array of records, not undefined",
        );
      }
    });

    it("with a resource type, an array page keeps only the records of that type", () => {
      const page = [
        { resourceType: "Patient", id: "1", updatedAt: T1 },
        { resourceType: "Observation", id: "2", updatedAt: T1 },
        { resourceType: "Patient", id: "3", updatedAt: T2 },
        "not a record",
      ];
      const s = selectAfter<{ id: string }>({ since: T0 }, page, { resourceType: "Patient" });
      expect(s.records.map((r) => r.id)).to.deep.equal(["1", "3"]);
      expect(s.run).to.deep.equal({ total: 2, more: false, type: "Patient" });
    });

    it("a msg.checkpoint without a since says to select the records of a run that get started", () => {
      for (const checkpoint of [{}, { since: 5 }, { since: null, cursor: "1" }]) {
        const select = () => selectAfter(checkpoint, []);
        expect(codeOf(select), JSON.stringify(checkpoint)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
        expect(messageOf(select), JSON.stringify(checkpoint)).to.equal(
          "msg.checkpoint.since is missing: select the records of a run that get started",
        );
      }
    });
  });

  describe("select over a run (paging: run)", () => {
    const cp = { name: "pms.patients", since: T0, cursor: null, runId: "run-2" };

    it("a msg.run left by another run (another runId) starts the run afresh, keeping only the flow's own fields", () => {
      const old = {
        ...startRun({ entity: "patients" }, { runId: "run-1", since: T2 }, 0),
        pages: 4,
        total: 9,
      };
      const s = selectRunPage(cp, old, [{ id: "1", updatedAt: T1 }], { pageSize: 10 }, Date.parse(T2));
      expect(s.run).to.deep.include({ entity: "patients", runId: "run-2", pages: 1, total: 1, more: false });
      expect(s.run.next).to.deep.equal({ since: T1, page: 1 });
      expect(s.run.startedAt).to.equal(T2);
    });

    it("an empty msg.checkpoint.highWater within a run is no position: the page is read after the handed-out since", () => {
      const run = startRun({}, cp, 0);
      const page = [
        { id: "1", updatedAt: T0 },
        { id: "2", updatedAt: T1 },
      ];
      const s = selectRunPage<{ id: string }>({ ...cp, highWater: "" }, run, page);
      expect(s.records.map((r) => r.id)).to.deep.equal(["1", "2"]);
      expect(s).to.include({ highWater: T1, cursor: "2" });
    });

    it("a msg.run.next.since that is no date-time is CHECKPOINT_BAD_INPUT naming msg.run.next.since", () => {
      const run = { ...startRun({}, cp, 0), next: { since: "soon", page: 2 } };
      const select = () => selectRunPage(cp, run, []);
      expect(codeOf(select)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
      expect(messageOf(select)).to.equal('msg.run.next.since is not an ISO date-time: "soon"');
    });

    it("the next page is asked from the newest record time on the page, in whatever order the page lists them", () => {
      const page = [
        { id: "3", updatedAt: T2 },
        { id: "1", updatedAt: T0 },
        { id: "2", updatedAt: T1 },
      ];
      const s = selectRunPage(cp, startRun({}, cp, 0), page, { pageSize: 3 });
      expect(s.run.next).to.deep.equal({ since: T2, page: 1 });
      expect(s.run.more).to.equal(true);
    });
  });

  describe("tally and the dead-letter list", () => {
    it("a refused record's id may be a number, kept as text", () => {
      const outcome = pageOutcome({
        mapping: { refused: [{ id: 7, code: "MAP_VALIDATE", message: "m" }] },
        fhir: { refused: [{ id: 42, code: "FHIR_HTTP_412", message: "n" }] },
      });
      expect(outcome.refused.map((r) => r.id)).to.deep.equal(["7", "42"]);
    });

    it("a refused list that is no array is CHECKPOINT_BAD_INPUT naming msg.mapping.refused or msg.fhir.refused", () => {
      const mapping = () => pageOutcome({ mapping: { refused: "p1" } });
      expect(codeOf(mapping)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
      expect(messageOf(mapping)).to.equal("msg.mapping.refused must be an array, not string");
      const fhir = () => pageOutcome({ fhir: { refused: {} } });
      expect(codeOf(fhir)).to.equal(CODES.CHECKPOINT_BAD_INPUT);
      expect(messageOf(fhir)).to.equal("msg.fhir.refused must be an array, not an object");
    });

    it("an update of one dead-letter list does not wait for an update of another list still reading its store", async () => {
      const store = new MemoryCheckpointStore();
      let releaseSlow!: () => void;
      const slowRead = new Promise<void>((r) => (releaseSlow = r));
      const slow: CheckpointStore = {
        get: async (key) => {
          await slowRead;
          return store.get(key);
        },
        set: (key, value) => store.set(key, value),
      };
      const scope = `rules-${++scopeSeq}`;
      const a = new DeadLetterList(slow, { key: "deadA", max: 10, scope });
      const b = new DeadLetterList(store, { key: "deadB", max: 10, scope });
      const refused = [{ id: "p1", code: "MAP_VALIDATE", message: "m" }];
      const pendingA = a.update("patients", "r1", { written: [], refused });
      let doneB = false;
      const updateB = b.update("patients", "r1", { written: [], refused }).then((n) => {
        doneB = true;
        return n;
      });
      for (let i = 0; i < 50 && !doneB; i++) await new Promise((r) => setImmediate(r));
      const bBeforeA = doneB;
      releaseSlow();
      expect(bBeforeA, "b's update ended while a's read was still pending").to.equal(true);
      expect(await updateB).to.equal(1);
      expect(await pendingA).to.equal(1);
    });
  });
});
