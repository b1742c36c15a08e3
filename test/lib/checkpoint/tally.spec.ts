import { expect } from "chai";
import {
  DeadLetterList,
  MemoryCheckpointStore,
  pageOutcome,
  tallyRun,
  validateDeadLetterOptions,
  type CheckpointStore,
} from "../../../lib/checkpoint";
import { codeOf, messageOf, rejectionOf } from "../../support/errors";

const opts = (max = 1000) => ({
  key: "deadLetters",
  max,
  scope: "test",
  now: () => Date.parse("2025-01-06T08:00:00.000Z"),
});

describe("lib/checkpoint tally and the dead-letter list", () => {
  it("reads a page's outcome from the mapper's refusals and fhir-request's answers", () => {
    const outcome = pageOutcome({
      mapping: {
        refused: [{ index: 1, id: "p7", code: "MAP_VALIDATE", message: "dateOfBirth: MAP_VALIDATE" }],
      },
      fhir: {
        written: [
          { index: 0, id: "p1", status: 200 },
          { index: 2, id: 42, status: 201 },
        ],
        refused: [{ index: 1, id: "p9", code: "FHIR_HTTP_412", message: "multiple-matches" }],
      },
    });
    expect(outcome).to.deep.equal({
      written: ["p1", "42"],
      refused: [
        { id: "p7", code: "MAP_VALIDATE", message: "dateOfBirth: MAP_VALIDATE" },
        { id: "p9", code: "FHIR_HTTP_412", message: "multiple-matches" },
      ],
    });
    expect(pageOutcome({})).to.deep.equal({ written: [], refused: [] });
    expect(pageOutcome({ mapping: { refused: [{ id: null, code: "MAP_INPUT" }] } }).refused).to.deep.equal([
      { id: null, code: "MAP_INPUT", message: "" },
    ]);
  });

  it("refuses answers of another shape with CHECKPOINT_BAD_INPUT", () => {
    for (const msg of [
      { fhir: { written: "p1" } },
      { fhir: { written: [{ status: 200 }] } },
      { fhir: { refused: [{ id: "p1" }] } },
      { mapping: { refused: [{ id: { name: "Jane" }, code: "MAP_INPUT" }] } },
      { mapping: { refused: {} } },
    ]) {
      expect(
        codeOf(() => pageOutcome(msg)),
        JSON.stringify(msg),
      ).to.equal("CHECKPOINT_BAD_INPUT");
    }
  });

  it("counts written and dead-lettered records over the run, keeping msg.run's other fields", () => {
    const outcome = { written: ["a", "b"], refused: [{ id: "c", code: "X", message: "" }] };
    const once = tallyRun({ entity: "patients", total: 3 }, outcome);
    expect(once).to.deep.equal({ entity: "patients", total: 3, written: 2, deadLettered: 1 });
    expect(tallyRun(once, outcome)).to.include({ written: 4, deadLettered: 2 });
    expect(tallyRun(undefined, outcome)).to.deep.equal({ written: 2, deadLettered: 1 });
    expect(codeOf(() => tallyRun({ written: "2" }, outcome))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(codeOf(() => tallyRun({ deadLettered: -1 }, outcome))).to.equal("CHECKPOINT_BAD_INPUT");
  });

  it("keeps one entry per refused record, replaced when it fails again, removed once written, newest last", async () => {
    const store = new MemoryCheckpointStore();
    const list = new DeadLetterList(store, opts());
    const refuse = (id: string, code = "FHIR_HTTP_422") => ({ id, code, message: "value: invalid" });
    expect(
      await list.update("patients", "r1", { written: ["a"], refused: [refuse("p1"), refuse("p2")] }),
    ).to.equal(2);
    expect(await list.update("appointments", "r1", { written: [], refused: [refuse("p1")] })).to.equal(3);
    expect(
      await list.update("patients", "r2", { written: [], refused: [refuse("p1", "MAP_VALIDATE")] }),
    ).to.equal(3);
    const stored = (await store.get("deadLetters")) as Array<Record<string, unknown>>;
    expect(stored.map((d) => [d.entity, d.id, d.code, d.runId])).to.deep.equal([
      ["patients", "p2", "FHIR_HTTP_422", "r1"],
      ["appointments", "p1", "FHIR_HTTP_422", "r1"],
      ["patients", "p1", "MAP_VALIDATE", "r2"],
    ]);
    expect(stored[0]).to.deep.equal({
      entity: "patients",
      id: "p2",
      code: "FHIR_HTTP_422",
      message: "value: invalid",
      runId: "r1",
      at: "2025-01-06T08:00:00.000Z",
    });
    // Written: it leaves the list, only for its own entity.
    expect(await list.update("patients", "r3", { written: ["p1", "p2"], refused: [] })).to.equal(1);
    expect(((await store.get("deadLetters")) as Array<{ entity: string }>)[0].entity).to.equal(
      "appointments",
    );
  });

  it("writes nothing when nothing changes, and drops the oldest beyond its size", async () => {
    const store = new MemoryCheckpointStore();
    let writes = 0;
    const counting: CheckpointStore = {
      get: (k) => store.get(k),
      set: async (k, v) => {
        writes++;
        await store.set(k, v);
      },
    };
    const list = new DeadLetterList(counting, opts(3));
    expect(await list.update("p", "r", { written: ["x"], refused: [] })).to.equal(0);
    expect(writes).to.equal(0);
    for (const id of ["1", "2", "3", "4"])
      await list.update("p", "r", { written: [], refused: [{ id, code: "C", message: "" }] });
    expect(((await store.get("deadLetters")) as Array<{ id: string }>).map((d) => d.id)).to.deep.equal([
      "2",
      "3",
      "4",
    ]);
    const before = writes;
    expect(await list.update("p", "r", { written: ["9"], refused: [] })).to.equal(3);
    expect(writes).to.equal(before);
  });

  it("runs concurrent updates one at a time: none is lost", async () => {
    const store = new MemoryCheckpointStore();
    const slow: CheckpointStore = {
      get: async (k) => {
        await new Promise((r) => setImmediate(r));
        return store.get(k);
      },
      set: (k, v) => store.set(k, v),
    };
    const list = new DeadLetterList(slow, opts());
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        list.update("p", "r", { written: [], refused: [{ id: String(i), code: "C", message: "" }] }),
      ),
    );
    expect(((await store.get("deadLetters")) as unknown[]).length).to.equal(20);
  });

  it("reports what is not a list as CHECKPOINT_CORRUPT and leaves it; a failing store as CHECKPOINT_STORE", async () => {
    const store = new MemoryCheckpointStore();
    await store.set("deadLetters", { not: "a list" });
    const list = new DeadLetterList(store, opts());
    const refused = [{ id: "1", code: "C", message: "" }];
    expect((await rejectionOf(list.update("p", "r", { written: [], refused }))).code).to.equal(
      "CHECKPOINT_CORRUPT",
    );
    expect(await store.get("deadLetters")).to.deep.equal({ not: "a list" });
    const broken: CheckpointStore = {
      get: async () => [],
      set: async () => {
        throw new Error("disk full");
      },
    };
    const failing = new DeadLetterList(broken, opts());
    expect((await rejectionOf(failing.update("p", "r", { written: [], refused }))).code).to.equal(
      "CHECKPOINT_STORE",
    );
  });

  it("validates its key and size with CHECKPOINT_CONFIG", () => {
    expect(codeOf(() => validateDeadLetterOptions({ key: "a.b", max: 10 }))).to.equal("CHECKPOINT_CONFIG");
    expect(codeOf(() => validateDeadLetterOptions({ key: "list", max: 0 }))).to.equal("CHECKPOINT_CONFIG");
    expect(codeOf(() => validateDeadLetterOptions({ key: "list", max: 1.5 }))).to.equal("CHECKPOINT_CONFIG");
    expect(() => validateDeadLetterOptions({ key: "syncDeadLetters", max: 1000 })).to.not.throw();
  });
});

describe("lib/checkpoint tally: what its errors say", () => {
  it("takes null lists as empty, and names the list and the entry that is wrong", () => {
    expect(pageOutcome({ fhir: { written: null, refused: null }, mapping: { refused: null } })).to.deep.equal(
      {
        written: [],
        refused: [],
      },
    );
    expect(messageOf(() => pageOutcome({ fhir: { written: "p1" } }))).to.equal(
      "msg.fhir.written must be an array, not string",
    );
    expect(messageOf(() => pageOutcome({ fhir: { written: [{ id: "a" }, {}] } }))).to.equal(
      "msg.fhir.written[1] has no id",
    );
    expect(messageOf(() => pageOutcome({ fhir: { refused: [{ id: "a", code: "" }] } }))).to.equal(
      "msg.fhir.refused[0] must be {id, code, message}",
    );
    expect(
      messageOf(() => pageOutcome({ mapping: { refused: [{ id: true, code: "MAP_INPUT" }] } })),
    ).to.equal("msg.mapping.refused[0].id must be a string, a number or null");
    expect(pageOutcome({ mapping: { refused: [{ code: "MAP_INPUT", message: 5 }] } }).refused).to.deep.equal([
      { id: null, code: "MAP_INPUT", message: "" },
    ]);
  });

  it("counts from zero, and refuses a counter that is not a whole number >= 0, by name", () => {
    const none = { written: [], refused: [] };
    expect(tallyRun({ written: 0, deadLettered: 0 }, none)).to.deep.equal({ written: 0, deadLettered: 0 });
    expect(messageOf(() => tallyRun({ written: 1.5 }, none))).to.equal(
      "msg.run.written must be a whole number, not number",
    );
    expect(messageOf(() => tallyRun({ deadLettered: "1" }, none))).to.equal(
      "msg.run.deadLettered must be a whole number, not string",
    );
  });

  it("takes 1 to 100000 dead letters kept and a plain key, and says so", () => {
    expect(() => validateDeadLetterOptions({ key: "d", max: 1 })).to.not.throw();
    expect(() => validateDeadLetterOptions({ key: "d", max: 100000 })).to.not.throw();
    expect(messageOf(() => validateDeadLetterOptions({ key: "d", max: 100001 }))).to.equal(
      "dead letters kept must be a whole number from 1 to 100000",
    );
    expect(messageOf(() => validateDeadLetterOptions({ key: "a.b", max: 1 }))).to.match(
      /^dead-letter key must be a plain name/,
    );
  });

  it("reads a stored null as no list; an entry without entity or code, or not an object, is CHECKPOINT_CORRUPT naming the key", async () => {
    for (const stored of [[{ entity: "p", id: "1" }], [{ code: "C", id: "1" }], ["x"]]) {
      const store = new MemoryCheckpointStore();
      await store.set("deadLetters", stored);
      const list = new DeadLetterList(store, { key: "deadLetters", max: 10, scope: "corrupt" });
      const err = await rejectionOf(
        list.update("p", "r", { written: [], refused: [{ id: "1", code: "C", message: "" }] }),
      );
      expect(err.code, JSON.stringify(stored)).to.equal("CHECKPOINT_CORRUPT");
      expect(err.message).to.match(
        /^context key "deadLetters" holds something that is not a dead-letter list/,
      );
    }
    const store = new MemoryCheckpointStore();
    await store.set("deadLetters", null);
    const list = new DeadLetterList(store, { key: "deadLetters", max: 10, scope: "null" });
    expect(
      await list.update("p", "r", { written: [], refused: [{ id: "1", code: "C", message: "" }] }),
    ).to.equal(1);
  });

  it("names the list and keeps the store's error as the cause when the store fails", async () => {
    const cause = new Error("disk full");
    const broken: CheckpointStore = {
      get: async () => {
        throw cause;
      },
      set: async () => undefined,
    };
    const list = new DeadLetterList(broken, { key: "syncDeadLetters", max: 10, scope: "broken" });
    const err = await rejectionOf(
      list.update("p", "r", { written: [], refused: [{ id: "1", code: "C", message: "" }] }),
    );
    expect(err).to.include({
      code: "CHECKPOINT_STORE",
      message: 'could not read the dead-letter list "syncDeadLetters"',
    });
    expect(err.cause).to.equal(cause);
  });
});
