/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import Database from "better-sqlite3";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import { stateInContext } from "../support/state";
import syncCheckpointNode from "../../nodes/sync-checkpoint/sync-checkpoint";
import messageStoreNode from "../../nodes/message-store/message-store";
import { storageKey } from "../../lib/checkpoint";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require("@node-red/nodes/core/function/10-function.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-cp";
type Msg = Record<string, any>;
interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

const sink = new EventEmitter();
const statuses = new Map<string, StatusCall[]>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  const calls = statuses.get(e.id) ?? [];
  calls.push(e.status);
  statuses.set(e.id, calls);
});

function cpNode(id: string, props: Record<string, unknown> = {}): Msg {
  return {
    id,
    type: "sync-checkpoint",
    z: TAB,
    name: "",
    checkpoint: "patients",
    action: "get",
    store: "",
    overlap: "0",
    initial: "",
    lease: "60",
    wires: [["out"]],
    ...props,
  };
}

async function load(nodes: Msg[]): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "checkpoint" },
    ...nodes,
    { id: "out", type: "helper", z: TAB },
    { id: "more", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load([syncCheckpointNode], flow as any);
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
  helper.getNode("more").on("input", (m: Msg) => sink.emit("more", m));
}

function exchange(id: string, msg: Msg): Promise<{ out?: Msg; caught?: Msg }> {
  return new Promise((resolve) => {
    const finish = (r: { out?: Msg; caught?: Msg }): void => {
      sink.removeListener("out", onOut);
      sink.removeListener("caught", onCaught);
      resolve(r);
    };
    const onOut = (m: Msg): void => finish({ out: m });
    const onCaught = (m: Msg): void => finish({ caught: m });
    sink.on("out", onOut);
    sink.on("caught", onCaught);
    helper.getNode(id).receive(msg);
  });
}

async function ok(id: string, msg: Msg = {}): Promise<Msg> {
  const r = await exchange(id, msg);
  if (r.caught) throw new Error(`${id} failed: ${r.caught.error?.code} ${r.caught.error?.message}`);
  return r.out as Msg;
}

async function fails(id: string, msg: Msg = {}): Promise<Msg> {
  const r = await exchange(id, msg);
  if (!r.caught) throw new Error(`${id} unexpectedly succeeded: ${JSON.stringify(r.out?.checkpoint)}`);
  return r.caught;
}

function stored(name = "patients", via = "get"): unknown {
  return helper.getNode(via).context().global.get(storageKey(name));
}

function lastStatus(id: string): StatusCall | undefined {
  const s = statuses.get(id);
  return s?.[s.length - 1];
}

describe("sync-checkpoint node", function () {
  stateInContext();
  this.timeout(10000);

  beforeEach(() => statuses.clear());
  afterEach(async () => {
    await helper.unload();
  });

  it("get hands out since/cursor/runId, commit moves the watermark, the next get starts there", async () => {
    await load([cpNode("get", { initial: "2025-01-01T00:00:00Z" }), cpNode("commit", { action: "commit" })]);
    const g = await ok("get", { payload: 1, checkpoint: { runId: "old", since: "x" } });
    expect(g.checkpoint).to.include({
      name: "patients",
      since: "2025-01-01T00:00:00.000Z",
      cursor: null,
      takenOver: false,
    });
    expect(g.checkpoint.runId).to.be.a("string").and.not.equal("old");
    expect(g.payload).to.equal(1);
    expect(lastStatus("get")).to.deep.equal({ fill: "blue", shape: "dot", text: "from 01-01 00:00" });

    g.checkpoint.highWater = "2025-01-06T08:05:00.000Z";
    g.checkpoint.cursor = "pat-00003";
    const c = await ok("commit", g);
    expect(c.checkpoint).to.include({
      name: "patients",
      runId: g.checkpoint.runId,
      highWater: "2025-01-06T08:05:00.000Z",
      cursor: "pat-00003",
      advanced: true,
      since: "2025-01-01T00:00:00.000Z",
    });
    expect(c.checkpoint.committedAt).to.be.a("string");
    expect(lastStatus("commit")).to.deep.equal({ fill: "green", shape: "dot", text: "at 01-06 08:05" });
    expect(stored()).to.deep.include({
      highWater: "2025-01-06T08:05:00.000Z",
      cursor: "pat-00003",
      lease: null,
    });

    const g2 = await ok("get");
    expect(g2.checkpoint).to.include({
      since: "2025-01-06T08:05:00.000Z",
      cursor: "pat-00003",
      initial: false,
    });
    const same = await ok("commit", { checkpoint: { ...g2.checkpoint, highWater: "2025-01-06T08:00:00Z" } });
    expect(same.checkpoint).to.include({ advanced: false, highWater: "2025-01-06T08:05:00.000Z" });
    expect(lastStatus("commit")?.text).to.equal("committed, same");
  });

  it("msg.action overrides the node's action when the node allows it; the name may come from msg.checkpoint.name", async () => {
    await load([cpNode("any", { checkpoint: "", actionFromMsg: true })]);
    const g = await ok("any", { checkpoint: { name: "appointments" } });
    expect(g.checkpoint.name).to.equal("appointments");
    const c = await ok("any", {
      action: "commit",
      checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00+01:00" },
    });
    expect(c.checkpoint).to.include({ highWater: "2025-01-06T08:00:00.000Z", advanced: true });
    const r = await ok("any", { action: "reset", checkpoint: { name: "appointments" } });
    expect(r.checkpoint).to.deep.equal({ name: "appointments", reset: true });
    expect(helper.getNode("any").context().global.get(storageKey("appointments"))).to.equal(undefined);
  });

  it("ignores a msg.action it was not told to take (a stray reset from upstream resets nothing), warning once", async () => {
    await load([cpNode("get"), cpNode("commit", { action: "commit" })]);
    const g = await ok("get");
    const c = await ok("commit", {
      action: "reset",
      checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00Z" },
    });
    expect(c.checkpoint).to.include({ highWater: "2025-01-06T09:00:00.000Z", advanced: true });
    expect(stored()).to.not.equal(undefined);
    const g2 = await ok("get", { action: "reset" });
    expect(g2.checkpoint).to.include({ since: "2025-01-06T09:00:00.000Z", initial: false });
    expect(g2.checkpoint.runId).to.be.a("string");
    const warnings = (helper.log().args as unknown[][])
      .map((a) => a[0] as { level?: number; msg?: unknown })
      .filter((e) => e.level === 30 && String(e.msg).includes("msg.action is ignored"));
    expect(warnings.map((w) => w.msg)).to.have.length(2); // once per node
  });

  it("a second get while the lease is live fails with CHECKPOINT_BUSY and carries no runId", async () => {
    await load([cpNode("get"), cpNode("get2")]);
    const g = await ok("get");
    const caught = await fails("get2", { checkpoint: { runId: "leftover" } });
    expect(caught.error.code).to.equal("CHECKPOINT_BUSY");
    expect(caught.checkpoint.runId).to.equal(undefined);
    expect(caught.checkpoint.error).to.include({
      code: "CHECKPOINT_BUSY",
      leaseExpiresAt: g.checkpoint.leaseExpiresAt,
    });
    expect(lastStatus("get2")).to.deep.equal({ fill: "yellow", shape: "ring", text: "busy" });
    expect((stored() as Msg).lease.runId).to.equal(g.checkpoint.runId);
  });

  it("min interval: a get sooner than that after the last run started is CHECKPOINT_BUSY with nextRunAt", async () => {
    await load([cpNode("get", { minInterval: "840" }), cpNode("commit", { action: "commit" })]);
    const g = await ok("get");
    await ok("commit", { checkpoint: g.checkpoint });
    const caught = await fails("get");
    expect(caught.error.code).to.equal("CHECKPOINT_BUSY");
    const startedAt = Date.parse((stored() as Msg).startedAt);
    expect(caught.checkpoint.error.nextRunAt).to.equal(new Date(startedAt + 840_000).toISOString());
    expect(caught.error.message).to.include("(min interval 840 s)");
    expect((stored() as Msg).lease).to.equal(null);
  });

  it("two gets on two nodes at the same moment: one run, one CHECKPOINT_BUSY", async () => {
    await load([cpNode("get"), cpNode("get2")]);
    const outs: Msg[] = [];
    const caught: Msg[] = [];
    const both = new Promise<void>((resolve) => {
      const check = () => outs.length + caught.length === 2 && resolve();
      sink.on("out", (m: Msg) => (outs.push(m), check()));
      sink.on("caught", (m: Msg) => (caught.push(m), check()));
    });
    helper.getNode("get").receive({});
    helper.getNode("get2").receive({});
    await both;
    sink.removeAllListeners();
    expect(outs).to.have.length(1);
    expect(caught.map((m) => m.error.code)).to.deep.equal(["CHECKPOINT_BUSY"]);
  });

  it("commit, release and a stale run: CHECKPOINT_STALE_RUN, and nothing is written", async () => {
    await load([
      cpNode("get"),
      cpNode("commit", { action: "commit" }),
      cpNode("release", { action: "release" }),
    ]);
    const g = await ok("get");
    const before = JSON.stringify(stored());
    const stale = await fails("commit", {
      checkpoint: { ...g.checkpoint, runId: "someone-else", highWater: "2030-01-01T00:00:00Z" },
    });
    expect(stale.error.code).to.equal("CHECKPOINT_STALE_RUN");
    expect(stale.checkpoint.error.code).to.equal("CHECKPOINT_STALE_RUN");
    expect(stale.checkpoint.highWater).to.equal("2030-01-01T00:00:00Z");
    expect(lastStatus("commit")).to.deep.equal({ fill: "red", shape: "ring", text: "stale run" });
    expect(JSON.stringify(stored())).to.equal(before);
    const rel = await ok("release", g);
    expect(rel.checkpoint).to.include({ released: true, runId: g.checkpoint.runId });
    expect((stored() as Msg).lease).to.equal(null);
    const again = await fails("commit", {
      checkpoint: { ...g.checkpoint, highWater: "2030-01-01T00:00:00Z" },
    });
    expect(again.error.code).to.equal("CHECKPOINT_STALE_RUN");
  });

  it("every bad input reaches Catch with CHECKPOINT_BAD_INPUT, leaving the checkpoint untouched", async () => {
    await load([
      cpNode("get"),
      cpNode("commit", { action: "commit" }),
      cpNode("noname", { checkpoint: "" }),
      cpNode("chooser", { actionFromMsg: true }),
    ]);
    const g = await ok("get");
    const before = JSON.stringify(stored());
    const cases: Array<[string, Msg]> = [
      ["chooser", { action: "delete" }],
      ["chooser", { action: 7 }],
      ["commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06 08:00:00" } }],
      ["commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T08:00:00" } }],
      ["commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T08:00:00Z", cursor: [1] } }],
      ["commit", { checkpoint: { ...g.checkpoint, runId: undefined, highWater: "2025-01-06T08:00:00Z" } }],
      ["commit", { checkpoint: "patients" }],
      [
        "commit",
        { checkpoint: { ...g.checkpoint, name: "appointments", highWater: "2025-01-06T08:00:00Z" } },
      ],
      ["noname", {}],
      ["noname", { checkpoint: { name: "  " } }],
    ];
    for (const [id, msg] of cases) {
      const caught = await fails(id, msg);
      expect(caught.error.code, JSON.stringify(msg)).to.equal("CHECKPOINT_BAD_INPUT");
      expect(caught.checkpoint.error.code).to.equal("CHECKPOINT_BAD_INPUT");
    }
    expect(lastStatus("commit")).to.deep.equal({ fill: "red", shape: "ring", text: "bad input" });
    expect(JSON.stringify(stored())).to.equal(before);
  });

  it("a store settings.js does not define, or bad properties: CHECKPOINT_CONFIG on every msg", async () => {
    await load([
      cpNode("nostore", { store: "file" }),
      cpNode("badlease", { lease: "0" }),
      cpNode("badinitial", { initial: "last week" }),
      cpNode("badaction", { action: "delete" }),
      cpNode("badoverlap", { overlap: "abc" }),
      cpNode("badinterval", { minInterval: "-5" }),
    ]);
    for (const id of ["nostore", "badlease", "badinitial", "badaction", "badoverlap", "badinterval"]) {
      const caught = await fails(id);
      expect(caught.error.code, id).to.equal("CHECKPOINT_CONFIG");
      expect(lastStatus(id), id).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
    }
    const caught = await fails("nostore");
    expect(caught.error.message).to.match(
      /context store "file" is not in settings.js contextStorage \(default\)/,
    );
    expect(stored("patients", "nostore")).to.equal(undefined);
  });

  it("reports a corrupt stored value as CHECKPOINT_CORRUPT; reset clears it", async () => {
    await load([cpNode("get"), cpNode("reset", { action: "reset" })]);
    helper.getNode("get").context().global.set(storageKey("patients"), "not a checkpoint");
    expect((await fails("get")).error.code).to.equal("CHECKPOINT_CORRUPT");
    expect(lastStatus("get")?.text).to.equal("store error");
    await ok("reset");
    expect((await ok("get")).checkpoint.initial).to.equal(true);
  });

  it("select keeps the page's records after the checkpoint, oldest first, ids compared as numbers, and the commit takes its mark", async () => {
    await load([
      cpNode("get", { initial: "2025-01-06T08:00:00Z" }),
      cpNode("select", { action: "select", pageSize: "4" }),
      cpNode("commit", { action: "commit" }),
    ]);
    const T = "2025-01-06T08:05:00.000Z";
    const g = await ok("get");
    g.checkpoint.highWater = T;
    g.checkpoint.cursor = "9";
    await ok("commit", g);
    const page = [
      { id: "10", updatedAt: T },
      { id: "9", updatedAt: T },
      { id: "3", updatedAt: "2025-01-06T09:00:00+01:00" },
      { id: "2", updatedAt: "2025-01-06T08:06:00Z" },
    ];
    const g2 = await ok("get");
    const s = await ok("select", { ...g2, payload: page });
    expect(s.payload.map((r: Msg) => r.id)).to.deep.equal(["10", "2"]);
    expect(s.checkpoint).to.include({
      runId: g2.checkpoint.runId,
      highWater: "2025-01-06T08:06:00.000Z",
      cursor: "2",
    });
    expect(s.run).to.deep.equal({ total: 2, more: true });
    expect(lastStatus("select")).to.deep.equal({ fill: "blue", shape: "dot", text: "2 new, more" });
    const c = await ok("commit", s);
    expect(c.checkpoint).to.include({ advanced: true, highWater: "2025-01-06T08:06:00.000Z", cursor: "2" });
  });

  it("select reads a FHIR Bundle's resources of msg.resourceType when the node names none", async () => {
    await load([cpNode("select", { action: "select", checkpoint: "" })]);
    const at = (s: string) => ({ lastUpdated: `2025-01-06T08:0${s}:00Z` });
    const bundle = {
      resourceType: "Bundle",
      type: "searchset",
      entry: [
        { resource: { resourceType: "Appointment", id: "a2", meta: at("3") } },
        { resource: { resourceType: "Patient", id: "p1", meta: at("1") }, search: { mode: "include" } },
        { resource: { resourceType: "Appointment", id: "a1", meta: at("2") } },
      ],
    };
    const checkpoint = { name: "appointments", since: "2025-01-06T08:00:00Z", cursor: null, runId: "r" };
    const s = await ok("select", { checkpoint, payload: bundle, resourceType: "Appointment" });
    expect(s.payload.map((r: Msg) => r.id)).to.deep.equal(["a1", "a2"]);
    expect(s.run).to.deep.equal({ total: 2, more: false, type: "Appointment" });
    expect(s.checkpoint).to.include({ highWater: "2025-01-06T08:03:00.000Z", cursor: "a2" });
    const none = await ok("select", {
      checkpoint: { ...checkpoint, since: "2025-01-06T09:00:00Z" },
      payload: bundle,
    });
    expect(none.payload).to.deep.equal([]);
    expect(none.checkpoint).to.deep.equal({ ...checkpoint, since: "2025-01-06T09:00:00Z" });
  });

  it("select: bad input reaches Catch with CHECKPOINT_BAD_INPUT, the run's checkpoint kept for release", async () => {
    await load([cpNode("select", { action: "select" })]);
    const checkpoint = { name: "patients", since: "2025-01-06T08:00:00Z", cursor: null, runId: "r" };
    const cases: Msg[] = [
      { checkpoint, payload: { items: [] } },
      { checkpoint, payload: [{ id: "1" }] },
      { checkpoint, payload: [{ updatedAt: "2025-01-06T09:00:00Z" }] },
      { checkpoint: { runId: "r" }, payload: [] },
      { checkpoint, payload: [], resourceType: "patient" },
    ];
    for (const msg of cases) {
      const caught = await fails("select", msg);
      expect(caught.error.code, JSON.stringify(msg)).to.equal("CHECKPOINT_BAD_INPUT");
      expect(caught.checkpoint.runId).to.equal("r");
      expect(caught.checkpoint.error.code).to.equal("CHECKPOINT_BAD_INPUT");
    }
    expect(lastStatus("select")).to.deep.equal({ fill: "red", shape: "ring", text: "bad input" });
  });

  it("log keeps the last runs in flow context and sends a next-page msg on its second output when more is waiting", async () => {
    await load([
      cpNode("log", { action: "log", logCount: "appointments", logSize: "2", wires: [["out"], ["more"]] }),
    ]);
    const more: Msg[] = [];
    sink.on("more", (m: Msg) => more.push(m));
    const nextPage = new Promise<Msg>((resolve) => sink.once("more", resolve));
    const ran = await ok("log", {
      payload: [],
      run: { total: 3, more: true },
      checkpoint: { name: "patients", highWater: "2025-01-06T08:05:00.000Z", advanced: true },
    });
    expect(ran.run).to.deep.equal({ total: 3, more: true, seq: 1, outcome: "ok" });
    const { _msgid: _id, ...next } = await nextPage;
    expect(next).to.deep.equal({ topic: "next page", checkpoint: { name: "patients" } });
    expect(lastStatus("log")).to.deep.equal({ fill: "green", shape: "dot", text: "appointments: 3" });
    const failed = await ok("log", {
      run: { total: 2, more: true },
      checkpoint: { name: "patients", runId: "r", highWater: "2025-01-06T09:00:00.000Z" },
      error: { code: "FHIR_HTTP_503", message: "down", source: { id: "x" } },
    });
    expect(failed.run).to.include({ seq: 2, outcome: "failed", code: "FHIR_HTTP_503" });
    expect(lastStatus("log")).to.deep.equal({ fill: "red", shape: "ring", text: "FHIR_HTTP_503" });
    await ok("log", { error: { code: "CHECKPOINT_BUSY" }, checkpoint: { name: "patients" } });
    expect(lastStatus("log")).to.deep.equal({ fill: "yellow", shape: "ring", text: "skipped: busy" });
    sink.removeAllListeners("more");
    expect(more).to.have.length(1);
    const runs = helper.getNode("log").context().flow.get("runs") as Msg[];
    expect(runs.map((r) => ({ ...r, at: typeof r.at }))).to.deep.equal([
      { seq: 2, at: "string", outcome: "failed", code: "FHIR_HTTP_503", appointments: 2 },
      { seq: 3, at: "string", outcome: "skipped", code: "CHECKPOINT_BUSY", appointments: 0 },
    ]);
  });

  it("a run of many pages: select pages at the records field, tally counts each page and keeps the dead letters, log records the run", async () => {
    const T0 = "2025-01-06T08:00:00.000Z";
    const T1 = "2025-01-06T08:05:00.000Z";
    await load([
      cpNode("get"),
      cpNode("select", { action: "select", paging: "run", recordsField: "items", pageSize: "2" }),
      cpNode("tally", { action: "tally", deadLetterKey: "syncDeadLetters", deadLetterMax: "10" }),
      cpNode("commit", { action: "commit" }),
      cpNode("log", { action: "log", logKey: "syncRuns", logCount: "total", wires: [["out"], ["more"]] }),
    ]);
    const started = await ok("get", { run: { entity: "patients", written: 99 } });
    const page1 = await ok("select", {
      ...started,
      payload: {
        items: [
          { id: "9", updatedAt: T0 },
          { id: "10", updatedAt: T0 },
        ],
        total: 3,
      },
    });
    expect(page1.payload.map((r: Msg) => r.id)).to.deep.equal(["9", "10"]);
    expect(page1.run).to.include({
      entity: "patients",
      runId: started.checkpoint.runId,
      pages: 1,
      total: 2,
      more: true,
    });
    expect(page1.run).to.not.have.property("written");
    expect(page1.run.next).to.deep.equal({ since: T0, page: 1 });
    expect(lastStatus("select")).to.deep.equal({ fill: "blue", shape: "dot", text: "2 new of 2, more" });

    const counted1 = await ok("tally", {
      ...page1,
      mapping: {
        refused: [{ index: 0, id: "9", code: "MAP_VALIDATE", message: "dateOfBirth: MAP_VALIDATE" }],
      },
      fhir: { written: [{ index: 0, id: "10", status: 201 }], refused: [] },
    });
    expect(counted1.run).to.include({ written: 1, deadLettered: 1, total: 2 });
    expect(lastStatus("tally")).to.deep.equal({
      fill: "yellow",
      shape: "ring",
      text: "2/2 done, 1 dead",
    });

    const page2 = await ok("select", {
      ...counted1,
      payload: { items: [{ id: "11", updatedAt: T1 }], total: 3 },
    });
    expect(page2.payload.map((r: Msg) => r.id)).to.deep.equal(["11"]);
    expect(page2.run).to.include({ pages: 2, total: 3, more: false, written: 1, deadLettered: 1 });
    const counted2 = await ok("tally", {
      ...page2,
      mapping: { refused: [] },
      fhir: { written: [{ index: 0, id: "11", status: 201 }], refused: [] },
    });
    expect(counted2.run).to.include({ written: 2, deadLettered: 1 });
    const listed = helper.getNode("tally").context().flow.get("syncDeadLetters") as Msg[];
    expect(listed.map((d) => [d.entity, d.id, d.code, d.runId])).to.deep.equal([
      ["patients", "9", "MAP_VALIDATE", started.checkpoint.runId],
    ]);
    expect(lastStatus("tally")).to.deep.equal({ fill: "yellow", shape: "ring", text: "3/3 done, 1 dead" });

    const committed = await ok("commit", counted2);
    expect(committed.checkpoint).to.include({ highWater: T1, cursor: "11", advanced: true });
    const logged = await ok("log", committed);
    expect(logged.run).to.include({ seq: 1, outcome: "ok" });
    const [entry] = helper.getNode("log").context().flow.get("syncRuns") as Msg[];
    expect({ ...entry, at: typeof entry.at, startedAt: typeof entry.startedAt }).to.deep.equal({
      seq: 1,
      at: "string",
      entity: "patients",
      runId: started.checkpoint.runId,
      startedAt: "string",
      pages: 2,
      written: 2,
      deadLettered: 1,
      outcome: "ok",
      total: 3,
      watermark: T1,
      advanced: true,
    });
    expect(lastStatus("log")).to.deep.equal({ fill: "green", shape: "dot", text: "patients: 3" });
  });

  it("log warns once per failed run (code and node, no record data) and logs a skipped run at info level", async () => {
    await load([cpNode("log", { action: "log" })]);
    await ok("log", {
      run: { entity: "patients", total: 2 },
      checkpoint: { name: "patients", runId: "run-1" },
      error: {
        code: "FHIR_HTTP_503",
        message: "down for Jane Doe",
        source: { id: "n", type: "fhir-request", name: "upsert page" },
      },
    });
    await ok("log", {
      run: { entity: "patients" },
      error: { code: "CHECKPOINT_BUSY" },
      checkpoint: { name: "patients" },
    });
    const spy = helper.log() as unknown as { args: Array<[{ level?: number; msg?: unknown }]> };
    const lines = spy.args
      .map(([l]) => [l.level, String(l.msg)])
      .filter(([, m]) => String(m).includes(" run "));
    expect(lines).to.deep.equal([
      [30, 'patients run run-1 failed with FHIR_HTTP_503 at "upsert page"; the checkpoint did not move'],
      [40, "patients run skipped: another run holds the checkpoint"],
    ]);
  });

  it("tally: blue while pages remain, green after the last; answers of another shape are CHECKPOINT_BAD_INPUT, with nothing counted or listed", async () => {
    await load([cpNode("tally", { action: "tally" })]);
    const cp = { name: "patients", runId: "r" };
    const page = (more: boolean) => ({
      checkpoint: cp,
      run: { total: 1200, more },
      fhir: { written: [{ id: "a" }] },
    });
    await ok("tally", page(true));
    expect(lastStatus("tally")).to.deep.equal({ fill: "blue", shape: "dot", text: "1/1,200 done" });
    await ok("tally", page(false));
    expect(lastStatus("tally")).to.deep.equal({ fill: "green", shape: "dot", text: "1/1,200 done" });
    for (const bad of [
      { fhir: { written: "all" } },
      { fhir: { refused: [{ id: "1" }] } },
      { mapping: { refused: [{ id: {}, code: "MAP_INPUT" }] } },
      { run: { written: "2" }, fhir: { written: [] } },
    ]) {
      const caught = await fails("tally", { checkpoint: { name: "patients", runId: "r" }, ...bad });
      expect(caught.error.code, JSON.stringify(bad)).to.equal("CHECKPOINT_BAD_INPUT");
    }
    expect(helper.getNode("tally").context().flow.get("deadLetters")).to.equal(undefined);
  });

  it("log: a run log that is not one is CHECKPOINT_CORRUPT and left as it is; bad log or select properties are CHECKPOINT_CONFIG", async () => {
    await load([
      cpNode("log", { action: "log" }),
      cpNode("badkey", { action: "log", logKey: "runs.last" }),
      cpNode("badsize", { action: "log", logSize: "0" }),
      cpNode("badcount", { action: "log", logCount: "seq" }),
      cpNode("badpage", { action: "select", pageSize: "many" }),
      cpNode("badfield", { action: "select", timeField: "meta[0]" }),
      cpNode("badpaging", { action: "select", paging: "all" }),
      cpNode("badrecords", { action: "select", recordsField: "items[0]" }),
      cpNode("baddlkey", { action: "tally", deadLetterKey: "dead letters" }),
      cpNode("baddlmax", { action: "tally", deadLetterMax: "100001" }),
      cpNode("badlease", { action: "get", lease: "0.5" }),
      cpNode("badoverlap", { action: "get", overlap: "-1" }),
    ]);
    helper.getNode("log").context().flow.set("runs", { last: 1 });
    const caught = await fails("log", { run: { total: 1 } });
    expect(caught.error.code).to.equal("CHECKPOINT_CORRUPT");
    expect(helper.getNode("log").context().flow.get("runs")).to.deep.equal({ last: 1 });
    for (const id of [
      "badkey",
      "badsize",
      "badcount",
      "badpage",
      "badfield",
      "badpaging",
      "badrecords",
      "baddlkey",
      "baddlmax",
      "badlease",
      "badoverlap",
    ]) {
      expect((await fails(id, { payload: [] })).error.code, id).to.equal("CHECKPOINT_CONFIG");
      expect(lastStatus(id), id).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
    }
  });

  it("clears its status on close", async () => {
    await load([cpNode("get")]);
    await ok("get");
    await helper.unload();
    expect(lastStatus("get")).to.deep.equal({});
  });

  it("the shipped example pages through a tie with the cursor and commits each page", async () => {
    const example = JSON.parse(
      readFileSync(
        join(__dirname, "..", "..", "..", "examples", "Sync PMS records from a watermark.json"),
        "utf8",
      ),
    ) as Msg[];
    const tab = example[0].z as string;
    const flow = [
      { id: tab, type: "tab", label: "example" },
      ...example.map((n) => (n.type === "debug" ? { ...n, type: "helper" } : n)),
    ];
    await helper.load([syncCheckpointNode, injectNode, commentNode, functionNode], flow as any);
    const byName = (type: string, name: string) =>
      example.find((n) => n.type === type && n.name === name)!.id as string;
    const committed = helper.getNode(byName("debug", "committed"));
    const errors = helper.getNode(byName("debug", "checkpoint errors"));
    const run = helper.getNode(byName("inject", "run"));
    const reset = helper.getNode(byName("inject", "reset"));
    let failed: Msg | undefined;
    errors.on("input", (m: Msg) => (failed = m));
    const next = (trigger: { receive: (m: Msg) => void }) =>
      new Promise<Msg>((resolve) => {
        committed.once("input", (m: Msg) => resolve(m));
        trigger.receive({});
      });
    const pages: string[][] = [];
    const marks: Array<[string, string]> = [];
    for (let i = 0; i < 4; i++) {
      const m = await next(run);
      pages.push(m.payload);
      marks.push([m.checkpoint.highWater, m.checkpoint.cursor]);
    }
    expect(pages).to.deep.equal([["pat-001", "pat-002"], ["pat-003", "pat-004"], ["pat-005"], []]);
    expect(marks[1]).to.deep.equal(["2025-01-06T08:05:00.000Z", "pat-004"]);
    expect(marks[3]).to.deep.equal(["2025-01-06T09:30:00.000Z", "pat-005"]);
    expect((await next(reset)).checkpoint).to.deep.equal({ name: "demo-patients", reset: true });
    expect((await next(run)).payload).to.deep.equal(["pat-001", "pat-002"]);
    expect(failed).to.equal(undefined);
  });
});

describe("sync-checkpoint node: where its state lives", function () {
  this.timeout(10000);
  let userDir: string;

  function warnings(): string[] {
    return (helper.log().args as unknown[][])
      .map((a) => a[0] as { level?: number; msg?: unknown })
      .filter((e) => e.level === 30 && String(e.msg).includes("in memory"))
      .map((e) => String(e.msg));
  }

  beforeEach(() => {
    statuses.clear();
    userDir = mkdtempSync(join(tmpdir(), "pms-ehr-cp-state-"));
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    rmSync(userDir, { recursive: true, force: true });
  });

  it("by default keeps the watermark in the pack's state file in the user directory: a restart starts where the last run ended", async () => {
    helper.settings({ userDir });
    const nodes = [
      cpNode("get", { initial: "2025-01-01T00:00:00Z" }),
      cpNode("commit", { action: "commit" }),
    ];
    await load(nodes);
    const g = await ok("get");
    await ok("commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00Z" } });
    expect(lastStatus("commit")).to.deep.equal({ fill: "green", shape: "dot", text: "at 01-06 09:00" });
    expect(stored(), "not in Node-RED context").to.equal(undefined);
    expect(existsSync(join(userDir, "pms-ehr-state.db"))).to.equal(true);
    await helper.unload();
    await load(nodes);
    const again = await ok("get");
    expect(again.checkpoint).to.include({ since: "2025-01-06T09:00:00.000Z", initial: false });
    expect(warnings()).to.deep.equal([]);
  });

  it("shows what the state file holds to operators through the admin API, read-only", async () => {
    helper.settings({ userDir });
    await helper.load([syncCheckpointNode, messageStoreNode], [
      { id: TAB, type: "tab", label: "checkpoint" },
      { ...cpNode("get", { initial: "2025-01-01T00:00:00Z" }), x: 0, y: 0, wires: [["out"]] },
      { ...cpNode("commit", { action: "commit" }), x: 0, y: 0, wires: [["out"]] },
      { id: "out", type: "helper", z: TAB, x: 0, y: 0 },
    ] as any);
    helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
    const g = await ok("get");
    await ok("commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00Z" } });
    const list = await helper.request().get("/pms-ehr/state").expect(200);
    expect(list.body.files).to.have.length(1);
    expect(list.body.files[0].file).to.equal(join(userDir, "pms-ehr-state.db"));
    expect(list.body.files[0].scopes.map((sc: Msg) => [sc.scope, sc.keys])).to.deep.equal([["global", 1]]);
    const entries = await helper.request().get("/pms-ehr/state/entries?scope=global").expect(200);
    expect(entries.body.entries).to.have.length(1);
    expect(entries.body.entries[0]).to.include({ key: storageKey("patients"), expiresAt: null });
    expect(entries.body.entries[0].value.highWater).to.equal("2025-01-06T09:00:00.000Z");
    const none = await helper.request().get("/pms-ehr/state/entries?scope=flow:elsewhere").expect(200);
    expect(none.body.entries).to.deep.equal([]);
    const noScope = await helper.request().get("/pms-ehr/state/entries").expect(400);
    expect(noScope.body).to.deep.equal({ error: "scope is required", code: "QUEUE_BAD_INPUT" });
    const badLimit = await helper.request().get("/pms-ehr/state/entries?scope=global&limit=0").expect(400);
    expect(badLimit.body.code).to.equal("QUEUE_BAD_INPUT");
    expect(badLimit.body.error).to.match(/^limit must be an integer from 1 to 1000/);
  });

  it("keeps memory only when asked: a yellow status from deploy on, and one warning per node", async () => {
    helper.settings({ userDir });
    const only = { checkpoint: "memory-only", store: "memory" };
    await load([cpNode("get", only), cpNode("commit", { ...only, action: "commit" })]);
    expect(lastStatus("get")).to.deep.equal({ fill: "yellow", shape: "ring", text: "state in memory" });
    const g = await ok("get");
    await ok("commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00Z" } });
    expect(lastStatus("commit"), "never green").to.deep.equal({
      fill: "yellow",
      shape: "ring",
      text: "at 01-06 09:00",
    });
    expect((await ok("get")).checkpoint.since).to.equal("2025-01-06T09:00:00.000Z");
    expect(warnings()).to.deep.equal([
      'keeps its checkpoints, run log and dead letters in memory (store "memory" chosen): a restart forgets them',
      'keeps its checkpoints, run log and dead letters in memory (store "memory" chosen): a restart forgets them',
    ]);
    expect(existsSync(join(userDir, "pms-ehr-state.db"))).to.equal(false);
  });

  it("says so when a runtime without a user directory leaves it memory", async () => {
    await load([cpNode("get", { checkpoint: "no-user-dir" })]);
    expect(lastStatus("get")).to.deep.equal({ fill: "yellow", shape: "ring", text: "state in memory" });
    expect(warnings()).to.deep.equal([
      "keeps its checkpoints, run log and dead letters in memory (the runtime has no user directory for the state file): a restart forgets them",
    ]);
  });

  it("keeps the checkpoint in a message store's state table when its store names one, and refuses one not in the flows", async () => {
    helper.settings({ userDir });
    const file = join(userDir, "shared.db");
    const store = { store: "message-store:ms" };
    await helper.load([syncCheckpointNode, messageStoreNode], [
      { id: TAB, type: "tab", label: "checkpoint" },
      { id: "ms", type: "message-store", name: "shared", backend: "sqlite", file },
      { ...cpNode("get", { ...store, initial: "2025-01-01T00:00:00Z" }), x: 0, y: 0, wires: [["out"]] },
      { ...cpNode("commit", { ...store, action: "commit" }), x: 0, y: 0, wires: [["out"]] },
      { ...cpNode("lost", { store: "message-store:gone" }), x: 0, y: 0, wires: [["out"]] },
      { id: "out", type: "helper", z: TAB, x: 0, y: 0 },
      { id: "catch", type: "catch", z: TAB, x: 0, y: 0, scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", z: TAB, x: 0, y: 0 },
    ] as any);
    helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
    helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
    const g = await ok("get");
    await ok("commit", { checkpoint: { ...g.checkpoint, highWater: "2025-01-06T09:00:00Z" } });
    expect(lastStatus("commit")).to.deep.equal({ fill: "green", shape: "dot", text: "at 01-06 09:00" });
    expect(existsSync(join(userDir, "pms-ehr-state.db")), "not the state file").to.equal(false);
    const reader = new Database(file, { readonly: true });
    try {
      const rows = reader.prepare("SELECT scope, key FROM state ORDER BY key").all();
      expect(rows).to.deep.include({ scope: "global", key: storageKey("patients") });
    } finally {
      reader.close();
    }
    const lost = await fails("lost");
    expect(lost.error.code).to.equal("CHECKPOINT_CONFIG");
    expect(lost.error.message).to.contain(
      "the message store chosen for its checkpoints, run log and dead letters (gone) is not in the flows: choose it again",
    );
  });

  it("a state file that cannot be opened: CHECKPOINT_CONFIG on every msg, naming the file and the way out", async () => {
    const notADir = join(userDir, "plain-file");
    writeFileSync(notADir, "x");
    helper.settings({ userDir: notADir });
    await load([cpNode("get")]);
    const caught = await fails("get");
    expect(caught.error.code).to.equal("CHECKPOINT_CONFIG");
    expect(caught.error.message).to.contain(
      `the pack's state file ${join(notADir, "pms-ehr-state.db")} cannot be opened`,
    );
    expect(caught.error.message).to.contain('choose a context store or "memory" in the node');
    expect(lastStatus("get")).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
  });
});
