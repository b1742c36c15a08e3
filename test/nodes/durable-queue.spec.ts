/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import Database from "better-sqlite3";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import durableQueueNode from "../../nodes/durable-queue/durable-queue";
import messageStoreNode from "../../nodes/message-store/message-store";
import queueDoneNode from "../../nodes/queue-done/queue-done";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require("@node-red/nodes/core/function/10-function.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-q";
type Msg = Record<string, any>;

/**
 * The delivery path of these flows is a function node standing for the destination: it records
 * what it got and throws the error the test asks for (msg.payload.fail: {code, times}, or
 * {code, untilReleased} to fail until the test sets global "released").
 */
const DESTINATION = `
const seen = global.get("seen") || [];
seen.push({ payload: msg.payload, queue: msg.queue, keys: Object.keys(msg).sort() });
global.set("seen", seen);
const fail = msg.payload && msg.payload.fail;
if (fail) {
  const tries = (context.get("tries:" + msg.queue.id) || 0) + 1;
  context.set("tries:" + msg.queue.id, tries);
  if (fail.untilReleased ? !global.get("released") : tries <= (fail.times || 1e9)) {
    const e = new Error("destination said no");
    e.code = fail.code;
    throw e;
  }
}
if (msg.payload && msg.payload.holdMs) {
  setTimeout(() => node.send(msg), msg.payload.holdMs);
  return null;
}
return msg;`;

describe("durable-queue, queue-done and message-store nodes", function () {
  this.timeout(20000);
  let dir: string;
  let file: string;
  const accepted: Msg[] = [];
  const caught: Msg[] = [];
  const finished: Msg[] = [];

  async function load(queueProps: Record<string, unknown> = {}, storeProps: Record<string, unknown> = {}) {
    const flow: Msg[] = [
      { id: TAB, type: "tab", label: "queue" },
      { id: "store", type: "message-store", name: "test store", file, ...storeProps },
      {
        id: "queue",
        type: "durable-queue",
        z: TAB,
        store: "store",
        queue: "q",
        key: "payload.key",
        keyType: "msg",
        dedupe: "",
        concurrency: "8",
        maxAttempts: "3",
        maxAge: "1",
        backoffBase: "0.02",
        backoffCap: "0.05",
        visibility: "60",
        wires: [["accepted"], ["destination"]],
        ...queueProps,
      },
      { id: "accepted", type: "helper", z: TAB },
      { id: "destination", type: "function", z: TAB, func: DESTINATION, outputs: 1, wires: [["done"]] },
      { id: "done", type: "queue-done", z: TAB, result: "success", wires: [["finished"]] },
      {
        id: "catch-delivery",
        type: "catch",
        z: TAB,
        scope: ["destination"],
        uncaught: false,
        wires: [["failed"]],
      },
      { id: "failed", type: "queue-done", z: TAB, result: "failure", wires: [["finished"]] },
      {
        id: "catch-rest",
        type: "catch",
        z: TAB,
        scope: ["queue", "done", "failed"],
        uncaught: false,
        wires: [["caught"]],
      },
      { id: "finished", type: "helper", z: TAB },
      { id: "caught", type: "helper", z: TAB },
    ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
    // The helper registers its Catch node once per catch node in the flow, and the second fails.
    const modules = (helper as unknown as { _nodeModules: Record<string, (red: unknown) => unknown> })
      ._nodeModules;
    const realCatch = (modules.catch as { real?: (red: unknown) => unknown }).real ?? modules.catch;
    let registered = false;
    modules.catch = Object.assign(
      (red: unknown) => {
        if (registered) return undefined;
        registered = true;
        return realCatch(red);
      },
      { real: realCatch },
    );
    await helper.load(
      [messageStoreNode, durableQueueNode, queueDoneNode, functionNode],
      flow as any,
      {
        store: { encryptionKey: (storeProps.encryptionKey as string) ?? "" },
      } as any,
    );
    helper.getNode("accepted").on("input", (m: Msg) => accepted.push(m));
    helper.getNode("caught").on("input", (m: Msg) => caught.push(m));
    helper.getNode("finished").on("input", (m: Msg) => finished.push(m));
  }

  const seen = (): Msg[] => (helper.getNode("destination").context().global.get("seen") as Msg[]) ?? [];

  async function until(what: string, check: () => boolean, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  function send(msg: Msg): void {
    helper.getNode("queue").receive(msg);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-node-"));
    file = join(dir, "messages.db");
    accepted.length = 0;
    caught.length = 0;
    finished.length = 0;
  });

  afterEach(async () => {
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers after the commit, then delivers what was stored (no req/res, no other properties)", async () => {
    await load({}, { keepDelivered: "1" });
    const reader = new Database(file, { readonly: true });
    const inStore: unknown[] = [];
    helper.getNode("accepted").on("input", (m: Msg) => {
      inStore.push(reader.prepare("SELECT queue, key FROM messages WHERE id = ?").get(m.queue.id));
    });
    try {
      send({
        payload: { key: "p1", n: 1 },
        topic: "patient.updated",
        webhook: { id: "evt-1" },
        req: { x: 1 },
        res: { y: 2 },
        other: 3,
      });
      await until("accepted", () => accepted.length === 1);
      expect(inStore).to.deep.equal([{ queue: "q", key: "p1" }]);
      expect(accepted[0].queue).to.include({ name: "q", key: "p1", attempt: 0, store: "store" });
      expect(accepted[0].res).to.deep.equal({ y: 2 });
      await until("finished", () => finished.length === 1);
      expect(seen()[0].keys).to.deep.equal(["_msgid", "payload", "queue", "topic", "webhook"]);
      expect(finished[0].queue).to.include({ outcome: "delivered", attempt: 1, key: "p1" });
      expect(finished[0].topic).to.equal("patient.updated");
      await until("marked delivered", () => {
        const row = reader.prepare("SELECT state FROM messages WHERE id = ?").get(accepted[0].queue.id);
        return (row as { state: number }).state === 3;
      });
    } finally {
      reader.close();
    }
  });

  it("retries a retryable failure after the backoff and then delivers", async () => {
    await load();
    send({ payload: { key: "p1", fail: { code: "FHIR_HTTP_503", times: 2 } } });
    await until("delivered", () => finished.some((m) => m.queue.outcome === "delivered"));
    const outcomes = finished.map((m) => [m.queue.outcome, m.queue.attempt]);
    expect(outcomes).to.deep.equal([
      ["retry", 1],
      ["retry", 2],
      ["delivered", 3],
    ]);
    expect(finished[0].queue.retryAt).to.be.a("string");
  });

  it("makes a permanent failure a dead letter at once and goes on with the key; admin replay delivers it again", async () => {
    await load();
    send({ payload: { key: "p1", n: 1, fail: { code: "MAP_REQUIRED", times: 1 } } });
    send({ payload: { key: "p1", n: 2 } });
    await until("two finished", () => finished.length === 2);
    expect(finished.map((m) => [m.payload.n, m.queue.outcome, m.queue.reason])).to.deep.equal([
      [1, "dead", "permanent"],
      [2, "delivered", undefined],
    ]);
    const list = await helper.request().get("/pms-ehr/queues").expect(200);
    expect(list.body.stores[0]).to.include({ id: "store", name: "test store", encrypted: false });
    expect(list.body.stores[0].queues[0]).to.include({
      queue: "q",
      depth: 0,
      deadLetters: 1,
      deliveredTotal: 1,
      open: true,
    });
    const dead = await helper.request().get("/pms-ehr/queues/store/q/dead").expect(200);
    expect(dead.body.letters).to.have.length(1);
    expect(dead.body.letters[0]).to.include({ code: "MAP_REQUIRED", key: "p1", attempts: 1 });
    expect(dead.body.letters[0]).to.not.have.property("msg");
    const one = await helper
      .request()
      .get(`/pms-ehr/queues/store/q/messages/${dead.body.letters[0].id}`)
      .expect(200);
    expect(one.body.msg.payload).to.include({ key: "p1", n: 1 });
    const replayed = await helper
      .request()
      .post("/pms-ehr/queues/store/q/replay")
      .send({ code: "MAP_REQUIRED" })
      .expect(200);
    expect(replayed.body).to.deep.equal({ replayed: 1 });
    await until("replayed delivery", () => finished.length === 3);
    expect(finished[2].queue).to.include({ outcome: "delivered", attempt: 1 });
    await helper
      .request()
      .post("/pms-ehr/queues/store/q/replay")
      .send({ ids: ["x"] })
      .expect(400);
    await helper.request().get("/pms-ehr/queues/nope/q/dead").expect(404);
  });

  it("makes a message a dead letter after maxAttempts of retryable failures", async () => {
    await load();
    send({ payload: { key: "p1", fail: { code: "FHIR_NETWORK" } } });
    await until("dead", () => finished.some((m) => m.queue.outcome === "dead"));
    expect(finished.map((m) => m.queue.outcome)).to.deep.equal(["retry", "retry", "dead"]);
    expect(finished[2].queue.reason).to.equal("attempts");
  });

  it("keeps per-key order with 8 in flight while other keys overtake a key stuck in retries", async () => {
    await load({ maxAttempts: "100000" });
    const deliveredNow = () => finished.filter((m) => m.queue.outcome === "delivered").map((m) => m.payload);
    send({ payload: { key: "stuck", n: 0, fail: { code: "FHIR_HTTP_503", untilReleased: true } } });
    for (let n = 1; n <= 40; n++) send({ payload: { key: `k${n % 4}`, n, holdMs: (n * 7) % 13 } });
    send({ payload: { key: "stuck", n: 41 } });
    // The other keys all get through while the stuck one keeps failing, and holds its own next message.
    await until("the other keys delivered", () => deliveredNow().length === 40, 15000);
    expect(deliveredNow().map((p) => p.key)).to.not.include("stuck");
    expect(finished.some((m) => m.payload.key === "stuck" && m.queue.outcome === "retry")).to.equal(true);
    expect(seen().filter((m) => m.payload.n === 41)).to.deep.equal([]);
    helper.getNode("destination").context().global.set("released", true);
    await until("all delivered", () => deliveredNow().length === 42, 15000);
    const delivered = deliveredNow();
    for (const key of ["k0", "k1", "k2", "k3", "stuck"]) {
      const ns = delivered.filter((p) => p.key === key).map((p) => p.n);
      expect(ns, key).to.deep.equal([...ns].sort((a, b) => a - b));
    }
    expect(delivered.slice(40).map((p) => p.n)).to.deep.equal([0, 41]);
  });

  it("answers a repeated dedupe id as accepted without storing or delivering it twice", async () => {
    await load({ dedupe: "webhook.id" });
    send({ payload: { key: "p1" }, webhook: { id: "evt-9" } });
    send({ payload: { key: "p1" }, webhook: { id: "evt-9" } });
    await until("two accepted", () => accepted.length === 2);
    expect(accepted.map((m) => Boolean(m.queue.duplicate))).to.deep.equal([false, true]);
    expect(accepted[1].queue.id).to.equal(accepted[0].queue.id);
    await until("finished", () => finished.length === 1);
    // A later message of the same key is delivered after anything stored before it: a second evt-9 too.
    send({ payload: { key: "p1" }, webhook: { id: "evt-10" } });
    await until("the next finished", () => finished.length === 2);
    expect(seen().map((m) => m.queue.id)).to.deep.equal([accepted[0].queue.id, accepted[2].queue.id]);
  });

  it("fails the enqueue with QUEUE_STORE and sends nothing on accepted when the store cannot commit", async () => {
    await load();
    const locker = new Database(file);
    locker.pragma("busy_timeout = 0");
    locker.exec("BEGIN EXCLUSIVE");
    try {
      send({ payload: { key: "p1" } });
      await until("caught", () => caught.length === 1, 15000);
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    expect(caught[0].error.code).to.equal("QUEUE_STORE");
    expect(accepted).to.have.length(0);
    // A later message of the same key is delivered after anything stored before it.
    send({ payload: { key: "p1", n: 2 } });
    await until("the next finished", () => finished.length === 1);
    expect(seen().map((m) => m.payload.n)).to.deep.equal([2]);
  });

  it("routes a key expression that gives an object, and a queue-done without msg.queue, to Catch", async () => {
    await load();
    send({ payload: { key: { nested: 1 } } });
    await until("caught", () => caught.length === 1);
    expect(caught[0].error.code).to.equal("QUEUE_BAD_INPUT");
    helper.getNode("done").receive({ payload: 1 });
    await until("caught 2", () => caught.length === 2);
    expect(caught[1].error.code).to.equal("QUEUE_BAD_INPUT");
  });

  it("reads the key and dedupe paths as Node-RED does: msg. prefix, brackets, a missing parent to Catch", async () => {
    await load({ key: "msg.payload.key", dedupe: "webhook['id']" });
    send({ payload: { key: "p1" }, webhook: { id: "evt-1" } });
    send({ payload: { key: "p1" }, webhook: { id: "evt-1" } });
    send({ topic: "no payload" });
    await until("accepted and caught", () => accepted.length === 2 && caught.length === 1);
    expect(accepted.map((m) => m.queue.key)).to.deep.equal(["p1", "p1"]);
    expect(accepted[1].queue).to.include({ duplicate: true, id: accepted[0].queue.id });
    expect(caught[0].error.code).to.equal("QUEUE_ERROR");
  });

  it("takes the order key from JSONata", async () => {
    await load({ key: '"patient-" & payload.pid', keyType: "jsonata" });
    send({ payload: { pid: 7 } });
    await until("finished", () => finished.length === 1);
    expect(finished[0].queue.key).to.equal("patient-7");
  });

  it("refuses to enqueue with QUEUE_CONFIG when the store cannot be opened", async () => {
    await load({}, { file: join(dir, "missing-dir", "\u0000bad") });
    send({ payload: { key: "p1" } });
    await until("caught", () => caught.length === 1);
    expect(caught[0].error.code).to.equal("QUEUE_CONFIG");
  });
});

describe("durable-queue: the shipped example (examples/Acknowledge once stored, deliver later with retries.json)", function () {
  this.timeout(20000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-example-"));
  });

  afterEach(async () => {
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });
  });

  it("accepts both records, delivers the patient and makes the record without lastName a dead letter", async () => {
    const example = JSON.parse(
      readFileSync(
        join(
          __dirname,
          "..",
          "..",
          "..",
          "examples",
          "Acknowledge once stored, deliver later with retries.json",
        ),
        "utf8",
      ),
    ) as Msg[];
    const byName = (type: string, name: string) =>
      example.find((n) => n.type === type && n.name === name)!.id as string;
    const store = example.find((n) => n.type === "message-store")!;
    expect(store.file).to.equal("pms-ehr-example.db");
    // The spec above wraps the helper's Catch registration; this flow has one Catch: the real one.
    const modules = (helper as unknown as { _nodeModules: Record<string, { real?: unknown }> })._nodeModules;
    modules.catch = (modules.catch.real as { real?: unknown } | undefined) ?? modules.catch;
    await helper.load(
      [messageStoreNode, durableQueueNode, queueDoneNode, functionNode, injectNode, commentNode],
      [
        { id: example[0].z, type: "tab", label: "example" },
        ...example.map((n) =>
          n.type === "debug"
            ? { ...n, type: "helper" }
            : n.type === "message-store"
              ? { ...n, file: join(dir, n.file) }
              : n,
        ),
      ] as any,
    );
    const got: Record<string, Msg[]> = { accepted: [], delivered: [], failed: [] };
    for (const name of Object.keys(got)) {
      helper.getNode(byName("debug", name)).on("input", (m: Msg) => got[name].push(m));
    }
    helper.getNode(byName("inject", "patient P-1001")).receive({});
    helper.getNode(byName("inject", "record without lastName")).receive({});
    const end = Date.now() + 10000;
    while (got.delivered.length + got.failed.length < 2) {
      if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(got.accepted.map((m) => m.queue.key)).to.deep.equal(["P-1001", "P-1002"]);
    expect(got.delivered.map((m) => [m.queue.key, m.queue.outcome])).to.deep.equal([["P-1001", "delivered"]]);
    expect(got.failed.map((m) => [m.queue.key, m.queue.outcome, m.queue.reason, m.error.code])).to.deep.equal(
      [["P-1002", "dead", "permanent", "MAP_REQUIRED"]],
    );
    const list = await helper.request().get("/pms-ehr/queues").expect(200);
    expect(list.body.stores[0].queues[0]).to.include({
      queue: "pms-events",
      depth: 0,
      deadLetters: 1,
      deliveredTotal: 1,
    });
  });
});
