/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import { stateInContext } from "../support/state";
import healthMonitorNode from "../../nodes/health-monitor/health-monitor";
import syncCheckpointNode from "../../nodes/sync-checkpoint/sync-checkpoint";
import {
  CHECKPOINT_EVENT,
  HEALTH_EVENT,
  QUEUE_EVENT,
  REFUSAL_EVENT,
  healthBus,
  reportHealth,
  reportQueue,
  reportRefusal,
} from "../../lib/health/bus";
import { parsePrometheus, sampleOf } from "../lib/health/prom-parse";
import { readFileSync } from "node:fs";
import { join } from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-health";
type Msg = Record<string, any>;
interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

const statuses = new Map<string, StatusCall[]>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  const calls = statuses.get(e.id) ?? [];
  calls.push(e.status);
  statuses.set(e.id, calls);
});

function lastStatus(id: string): StatusCall | undefined {
  const s = statuses.get(id);
  return s?.[s.length - 1];
}

function monitorNode(id: string, props: Record<string, unknown> = {}): Msg {
  return {
    id,
    type: "health-monitor",
    z: TAB,
    name: "",
    integrations: "",
    window: "60",
    interval: "0",
    path: "",
    hold: "0",
    wires: [["snap"], ["alerts"]],
    ...props,
  };
}

const snaps: Msg[] = [];
const alerts: Msg[] = [];
const caught: Msg[] = [];
const events = new EventEmitter();

async function load(nodes: Msg[]): Promise<void> {
  snaps.length = 0;
  alerts.length = 0;
  caught.length = 0;
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "health" },
    ...nodes,
    { id: "snap", type: "helper", z: TAB },
    { id: "alerts", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load([healthMonitorNode], flow as any);
  helper.getNode("snap").on("input", (m: Msg) => (snaps.push(m), events.emit("snap", m)));
  helper.getNode("alerts").on("input", (m: Msg) => (alerts.push(m), events.emit("alert", m)));
  helper.getNode("caught").on("input", (m: Msg) => (caught.push(m), events.emit("caught", m)));
}

function next(kind: "snap" | "alert" | "caught", timeoutMs = 5000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} within ${timeoutMs} ms`)), timeoutMs);
    events.once(kind, (m: Msg) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
}

async function snapshot(id = "hm"): Promise<Msg> {
  const p = next("snap");
  helper.getNode(id).receive({ payload: "now" });
  return (await p).payload;
}

function health(integration: string, success: boolean, durationMs = 50, error?: string): Msg {
  return { health: { integration, success, durationMs, error } };
}

function adminRoutes(): string[] {
  const app = (helper as unknown as { _httpAdmin: Record<string, unknown> })._httpAdmin;
  type Stack = Array<{ route?: { path: string } }>;
  const router = (app._router ?? app.router) as { stack?: Stack } | undefined;
  return (router?.stack ?? []).filter((l) => l.route).map((l) => l.route!.path);
}

describe("health-monitor node", function () {
  stateInContext();
  this.timeout(15000);

  beforeEach(() => statuses.clear());
  afterEach(async () => {
    await helper.unload();
  });

  it("records msg.health and bus events; any other msg gets a snapshot on output 1", async () => {
    await load([monitorNode("hm")]);
    const hm = helper.getNode("hm");
    for (let i = 0; i < 9; i++) hm.receive(health("pms-api", true, 100 + i));
    hm.receive(health("pms-api", false, 300, "LEGACY_HTTP_503"));
    reportHealth({ integration: "fhir", success: true, durationMs: 20, source: "fhir-request" });
    const snap = await snapshot();
    expect(snap.windowSeconds).to.equal(60);
    expect(Object.keys(snap.integrations)).to.deep.equal(["fhir", "pms-api"]);
    const pms = snap.integrations["pms-api"];
    expect(pms).to.include({
      total: 10,
      successes: 9,
      failures: 1,
      successRate: 0.9,
      consecutiveFailures: 1,
    });
    expect(pms.latencyMs).to.include({ p50: 104, p95: 300, max: 300, exact: true });
    expect(pms.lastError.error).to.equal("LEGACY_HTTP_503");
    expect(pms.state).to.equal("critical");
    expect(snap.integrations.fhir.state).to.equal("healthy");
    expect(snaps[0].topic).to.equal("health");
    expect(lastStatus("hm")).to.deep.equal({ fill: "red", shape: "ring", text: "critical: pms-api" });
    expect(caught).to.deep.equal([]);
  });

  it("alerts once on a raise and once on the clear, never per event", async () => {
    await load([monitorNode("hm", { minEvents: "100", interval: "1" })]);
    const hm = helper.getNode("hm");
    for (let i = 0; i < 4; i++) hm.receive(health("mllp", false, 10, "MLLP_TIMEOUT"));
    const raised = next("alert");
    hm.receive(health("mllp", false, 10, "MLLP_TIMEOUT"));
    const raise = await raised;
    expect(raise.topic).to.equal("mllp");
    expect(raise.payload).to.deep.include({
      integration: "mllp",
      alert: "raise",
      state: "critical",
      previousState: "unknown",
      reasons: ["5 failures in a row"],
    });
    expect(raise.payload.metrics).to.include({ consecutiveFailures: 5, total: 5 });
    for (let i = 0; i < 20; i++) hm.receive(health("mllp", false, 10, "MLLP_TIMEOUT"));
    await next("snap");
    await next("snap");
    expect(alerts).to.have.length(1);
    const cleared = next("alert");
    hm.receive(health("mllp", true));
    const clear = await cleared;
    expect(clear.payload).to.deep.include({ alert: "clear", reasons: ["5 failures in a row"] });
    expect(clear.payload.state).to.not.equal("critical");
    await next("snap");
    await next("snap");
    expect(alerts).to.have.length(2);
  });

  it("sends snapshots every interval", async () => {
    await load([monitorNode("hm", { interval: "1" })]);
    reportHealth({ integration: "fhir", success: true, durationMs: 5 });
    const s = await next("snap");
    expect(s.payload.integrations.fhir.total).to.equal(1);
  });

  it("watches only the listed integrations", async () => {
    await load([monitorNode("hm", { integrations: "fhir, pms-api" })]);
    reportHealth({ integration: "webhooks", success: false, durationMs: 5 });
    reportHealth({ integration: "fhir", success: true, durationMs: 5 });
    const snap = await snapshot();
    expect(Object.keys(snap.integrations)).to.deep.equal(["fhir", "pms-api"]);
    expect(snap.integrations["pms-api"].state).to.equal("unknown");
  });

  it("refuses a bad msg.health with HEALTH_BAD_INPUT and records nothing", async () => {
    await load([monitorNode("hm")]);
    const hm = helper.getNode("hm");
    for (const bad of [
      { health: "ok" },
      { health: { integration: "x", success: "true", durationMs: 1 } },
      { health: { integration: "x", success: true, durationMs: -3 } },
      { health: { integration: "", success: true, durationMs: 1 } },
      { health: null },
    ]) {
      const p = next("caught");
      hm.receive(bad);
      const c = await p;
      expect(c.error.code, JSON.stringify(bad)).to.equal("HEALTH_BAD_INPUT");
    }
    const snap = await snapshot();
    expect(snap.integrations).to.deep.equal({});
    expect(lastStatus("hm")).to.deep.equal({ fill: "grey", shape: "ring", text: "no data" });
  });

  it("hears durable queues on the bus: one alert when a queue goes bad, one on recovery; status; Prometheus text", async () => {
    await load([monitorNode("hm", { path: "/pms-ehr/health", queueMaxAge: "60", queueMaxDead: "3" })]);
    const base = { store: "main", queue: "outbound", inFlight: 1, deadTotal: 3 };
    // Fine: no alert, and a malformed report is dropped without harm.
    reportQueue({ ...base, depth: 2, oldestAgeMs: 1000, deadLetters: 0, deliveredTotal: 38 });
    reportQueue({ ...base, queue: "", depth: -1 } as never);
    let snap = await snapshot();
    expect(snap.queues).to.have.length(1);
    expect(snap.queues[0]).to.include({ store: "main", queue: "outbound", depth: 2, alert: false });

    const raised = next("alert");
    const reportedAt = Date.now();
    reportQueue({
      ...base,
      depth: 5,
      oldestAgeMs: 90000,
      deadLetters: 3,
      deliveredTotal: 40,
      time: reportedAt,
    });
    const raise = await raised;
    expect(raise.topic).to.equal("queue:main/outbound");
    expect(Object.keys(raise.payload).sort()).to.deep.equal([
      "alert",
      "kind",
      "metrics",
      "queue",
      "reasons",
      "store",
      "time",
    ]);
    expect(raise.payload).to.include({ kind: "queue", store: "main", queue: "outbound", alert: "raise" });
    // The monitor judges once a second: the age is 90 s plus up to a second or so.
    expect(raise.payload.reasons).to.have.length(2);
    expect(raise.payload.reasons[0]).to.match(/^oldest message (90|90\.\d|91|91\.\d) s > 60 s$/);
    expect(raise.payload.reasons[1]).to.equal("dead letters 3 >= 3");
    const metrics = raise.payload.metrics;
    expect(metrics).to.include({
      store: "main",
      queue: "outbound",
      depth: 5,
      inFlight: 1,
      deadLetters: 3,
      deliveredTotal: 40,
      deadTotal: 3,
      reportedAt: new Date(reportedAt).toISOString(),
      stale: false,
      alert: true,
    });
    expect(metrics.oldestAgeMs).to.be.within(90000, 92000);
    expect(lastStatus("hm")).to.deep.equal({ fill: "red", shape: "ring", text: "queue: outbound" });

    const res = await helper.request().get("/pms-ehr/health?format=prometheus");
    expect(res.status).to.equal(200);
    const labels = 'store="main",queue="outbound"';
    const lines = (res.text as string).split("\n");
    expect(lines).to.include.members([
      "# TYPE pmsehr_queue_depth gauge",
      `pmsehr_queue_depth{${labels}} 5`,
      `pmsehr_queue_in_flight{${labels}} 1`,
      `pmsehr_queue_dead_letters{${labels}} 3`,
      "# TYPE pmsehr_queue_delivered_total counter",
      `pmsehr_queue_delivered_total{${labels}} 40`,
      `pmsehr_queue_dead_total{${labels}} 3`,
      `pmsehr_queue_alert{${labels}} 1`,
      `pmsehr_queue_last_report_timestamp_seconds{${labels}} ${reportedAt / 1000}`,
    ]);
    const age = sampleOf(parsePrometheus(res.text as string), "pmsehr_queue_oldest_age_seconds", {
      store: "main",
      queue: "outbound",
    });
    expect(age).to.be.within(90, 95);

    // Still bad and reported again: no second alert. The monitor judges once a second and gives no
    // sign of a judgement that changes nothing, so this absence is checked over one and a half.
    reportQueue({ ...base, depth: 6, oldestAgeMs: 95000, deadLetters: 4, deliveredTotal: 40 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(alerts).to.have.length(1);

    const cleared = next("alert");
    reportQueue({ ...base, depth: 0, oldestAgeMs: 0, deadLetters: 0, deliveredTotal: 46 });
    const clear = await cleared;
    expect(clear.topic).to.equal("queue:main/outbound");
    expect(clear.payload).to.deep.include({
      kind: "queue",
      store: "main",
      queue: "outbound",
      alert: "clear",
      reasons: raise.payload.reasons,
    });
    expect(clear.payload.metrics).to.include({ depth: 0, deadLetters: 0, deliveredTotal: 46, alert: false });
    // No further alert over two judgements (no sign marks one that changes nothing, as above).
    await new Promise((r) => setTimeout(r, 2200));
    expect(alerts).to.have.length(2);
    expect(lastStatus("hm")).to.deep.equal({ fill: "grey", shape: "ring", text: "no data" });
    snap = await snapshot();
    expect(snap.queues[0]).to.include({ depth: 0, oldestAgeMs: 0, alert: false });
    const after = await helper.request().get("/pms-ehr/health?format=prometheus");
    expect(after.text).to.include(`pmsehr_queue_alert{${labels}} 0\n`);
    expect(caught).to.deep.equal([]);
  });

  it("counts refusals heard on the bus, in the snapshot and as pmsehr_refusals_total; stops hearing on close", async () => {
    await load([monitorNode("hm", { path: "/pms-ehr/health" })]);
    reportRefusal({ integration: "adt", source: "mllp-in", reason: "budget" });
    reportRefusal({ integration: "adt", source: "mllp-in", reason: "budget" });
    reportRefusal({ integration: "adt", source: "mllp-in", reason: "Not A Reason" });
    const snap = await snapshot();
    expect(snap.refusals.map((r: Msg) => [r.integration, r.source, r.reason, r.count])).to.deep.equal([
      ["adt", "mllp-in", "budget", 2],
    ]);
    const res = await helper.request().get("/pms-ehr/health?format=prometheus");
    expect((res.text as string).split("\n")).to.include.members([
      "# TYPE pmsehr_refusals_total counter",
      'pmsehr_refusals_total{integration="adt",source="mllp-in",reason="budget"} 2',
    ]);
    const listening = healthBus().listenerCount(REFUSAL_EVENT);
    await helper.unload();
    expect(healthBus().listenerCount(REFUSAL_EVENT)).to.equal(listening - 1);
  });

  it("hears sync-checkpoint: each checkpoint's watermark, how far behind now, its last commit; Prometheus lag", async () => {
    // Ids unlike any property value: Node-RED takes a value equal to a node id for a reference to it.
    const checkpointNode = (id: string, action: string, wires: string[][]) => ({
      id,
      type: "sync-checkpoint",
      z: TAB,
      checkpoint: "patients",
      action,
      initial: "2026-01-01T00:00:00Z",
      lease: "60",
      wires,
    });
    const flow = [
      { id: TAB, type: "tab", label: "health" },
      monitorNode("hm", { path: "/pms-ehr/health" }),
      { id: "snap", type: "helper", z: TAB },
      { id: "alerts", type: "helper", z: TAB },
      checkpointNode("cp-get", "get", [["got"]]),
      checkpointNode("cp-commit", "commit", [["committed"]]),
      { id: "got", type: "helper", z: TAB },
      { id: "committed", type: "helper", z: TAB },
    ];
    snaps.length = 0;
    await helper.load([healthMonitorNode, syncCheckpointNode], flow as any);
    helper.getNode("snap").on("input", (m: Msg) => (snaps.push(m), events.emit("snap", m)));
    const arrive = (id: string) => new Promise<Msg>((resolve) => helper.getNode(id).once("input", resolve));

    let got = arrive("got");
    helper.getNode("cp-get").receive({ payload: "start" });
    const run = (await got).checkpoint;
    let snap = await snapshot();
    expect(snap.checkpoints).to.have.length(1);
    expect(snap.checkpoints[0]).to.include({
      checkpoint: "patients",
      highWater: "2026-01-01T00:00:00.000Z",
      lastCommitAt: null,
    });
    expect(snap.checkpoints[0].lagSeconds).to.be.closeTo(
      (Date.now() - Date.parse("2026-01-01T00:00:00Z")) / 1000,
      5,
    );

    const mark = new Date(Date.now() - 90000).toISOString();
    const committed = arrive("committed");
    helper.getNode("cp-commit").receive({ checkpoint: { ...run, highWater: mark } });
    await committed;
    snap = await snapshot();
    expect(snap.checkpoints[0].highWater).to.equal(mark);
    expect(snap.checkpoints[0].lagSeconds).to.be.within(89, 100);
    expect(Date.now() - Date.parse(snap.checkpoints[0].lastCommitAt)).to.be.within(0, 10000);

    // The next run starts from the committed mark: still committed, as reported.
    got = arrive("got");
    helper.getNode("cp-get").receive({ payload: "again" });
    await got;
    snap = await snapshot();
    expect(snap.checkpoints[0].lastCommitAt).to.not.equal(null);

    const res = await helper.request().get("/pms-ehr/health?format=prometheus");
    const f = parsePrometheus(res.text as string);
    expect(sampleOf(f, "pmsehr_checkpoint_lag_seconds", { checkpoint: "patients" })).to.be.within(89, 100);
    expect(
      sampleOf(f, "pmsehr_checkpoint_last_commit_timestamp_seconds", { checkpoint: "patients" }),
    ).to.equal(Date.parse(snap.checkpoints[0].lastCommitAt) / 1000);
    const listening = healthBus().listenerCount(CHECKPOINT_EVENT);
    await helper.unload();
    expect(healthBus().listenerCount(CHECKPOINT_EVENT)).to.equal(listening - 1);
  });

  it("a critical integration is named in the status before a queue alert", async () => {
    await load([monitorNode("hm", { queueMaxDead: "1" })]);
    const hm = helper.getNode("hm");
    const raised = next("alert");
    reportQueue({
      store: "main",
      queue: "hl7",
      depth: 0,
      inFlight: 0,
      oldestAgeMs: 0,
      deadLetters: 1,
      deliveredTotal: 0,
      deadTotal: 1,
    });
    expect((await raised).payload.queue).to.equal("hl7");
    expect(lastStatus("hm")).to.deep.equal({ fill: "red", shape: "ring", text: "queue: hl7" });
    const second = next("alert");
    for (let i = 0; i < 5; i++) hm.receive(health("fhir", false, 10, "FHIR_HTTP_503"));
    const a = await second;
    expect(a.topic).to.equal("fhir");
    expect(a.payload).to.include({ kind: "integration", integration: "fhir", alert: "raise" });
    expect(lastStatus("hm")).to.deep.equal({ fill: "red", shape: "ring", text: "critical: fhir" });
  });

  /** A flow context value of node `id`, read with the asynchronous API. */
  function flowValue(id: string, key: string): Promise<any> {
    return new Promise((resolve, reject) =>
      helper
        .getNode(id)
        .context()
        .flow.get(key, undefined as unknown as string, (err: Error | undefined, v: unknown) =>
          err ? reject(err) : resolve(v),
        ),
    );
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 100; i++) {
      const v = await probe();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it("keeps the latest snapshot in flow context, and a log of the newest alerts with their e-mail text", async () => {
    await load([
      monitorNode("hm", {
        snapshotKey: "health",
        alertsKey: "alerts",
        alertsKept: "2",
        emailTo: "ops@example.org",
      }),
    ]);
    const hm = helper.getNode("hm");
    for (const name of ["a", "b", "c"]) {
      for (let i = 0; i < 5; i++) hm.receive(health(name, false, 10, "FHIR_HTTP_503"));
    }
    const log = await until("three alerts logged", async () => {
      const l = await flowValue("hm", "alerts");
      return alerts.length === 3 && Array.isArray(l) && l.length === 2 ? (l as Msg[]) : undefined;
    });
    // The data format is unchanged by the log; the log holds the e-mail text whatever the format.
    expect(alerts.map((a) => a.topic).sort()).to.deep.equal(["a", "b", "c"]);
    expect(alerts[0].payload.kind).to.equal("integration");
    expect(log.map((e: Msg) => e.integration)).to.deep.equal(alerts.slice(1).map((a) => a.topic));
    expect(log[1]).to.deep.include({ alert: "raise", state: "critical", to: "ops@example.org" });
    expect(log[1].topic).to.equal(`[PMS-EHR] ALERT: ${log[1].integration} is critical`);
    expect(log[1].text).to.contain("failures in a row 5").and.contain("FHIR_HTTP_503");

    const snap = await snapshot();
    const kept = await until("the snapshot kept", async () => {
      const k = await flowValue("hm", "health");
      return k?.time === snap.time ? k : undefined;
    });
    expect(kept).to.deep.equal(snap);
    expect(kept).to.not.equal(snap);
    expect(caught).to.deep.equal([]);
  });

  it("sends alerts shaped for an e-mail node: subject, plain text, recipient, the alert's data", async () => {
    await load([
      monitorNode("hm", {
        alertFormat: "email",
        emailTo: "ops@example.org",
        path: "/hm-mail",
        minEvents: "100",
      }),
    ]);
    const hm = helper.getNode("hm");
    const raised = next("alert");
    for (let i = 0; i < 5; i++) hm.receive(health("fhir", false, 10, "FHIR_HTTP_500"));
    const m = await raised;
    expect(m.topic).to.equal("[PMS-EHR] ALERT: fhir is critical");
    expect(m.to).to.equal("ops@example.org");
    expect(m.alert).to.deep.include({ kind: "integration", integration: "fhir", alert: "raise" });
    expect(m.payload).to.be.a("string");
    expect(m.payload.split("\n")[0]).to.match(/^fhir: unknown -> critical at \d{4}-/);
    expect(m.payload).to.contain("Why: 5 failures in a row");
    expect(m.payload).to.contain("last error       FHIR_HTTP_500 at");
    expect(m.payload).to.contain("Dashboard: <node-red>/hm-mail/dashboard");
    const cleared = next("alert");
    hm.receive(health("fhir", true));
    const c = await cleared;
    expect(c.topic).to.match(/^\[PMS-EHR\] recovered: fhir is /);
    expect(c.payload).to.contain("It had been raised for: 5 failures in a row");
  });

  it("a bad property or path is HEALTH_CONFIG; the node then records nothing", async () => {
    const before = healthBus().listenerCount(HEALTH_EVENT);
    await load([
      monitorNode("w0", { window: "0" }),
      monitorNode("rates", { warningRate: "0.99" }),
      monitorNode("flows", { path: "/flows" }),
      monitorNode("dots", { path: "/a/../b" }),
      monitorNode("age", { queueMaxAge: "-5" }),
      monitorNode("dead", { queueMaxDead: "2.5" }),
      monitorNode("key", { snapshotKey: "health snapshot" }),
      monitorNode("kept", { alertsKey: "alerts", alertsKept: "0" }),
      monitorNode("format", { alertFormat: "sms" }),
    ]);
    expect(healthBus().listenerCount(HEALTH_EVENT)).to.equal(before);
    for (const id of ["w0", "rates", "flows", "dots", "age", "dead", "key", "kept", "format"]) {
      expect(lastStatus(id), id).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
      const p = next("caught");
      helper.getNode(id).receive({ payload: 1 });
      expect((await p).error.code, id).to.equal("HEALTH_CONFIG");
    }
  });

  it("two monitors with different paths coexist; a second one on a taken path is refused; close removes routes and listeners", async () => {
    const before = healthBus().listenerCount(HEALTH_EVENT);
    const queuesBefore = healthBus().listenerCount(QUEUE_EVENT);
    await load([
      monitorNode("a", { path: "/pms-ehr/health" }),
      monitorNode("b", { path: "/pms-ehr/health2/" }),
      monitorNode("c", { path: "/PMS-EHR/health" }),
    ]);
    expect(healthBus().listenerCount(HEALTH_EVENT)).to.equal(before + 2);
    expect(healthBus().listenerCount(QUEUE_EVENT)).to.equal(queuesBefore + 2);
    expect(adminRoutes()).to.include.members([
      "/pms-ehr/health",
      "/pms-ehr/health/dashboard",
      "/pms-ehr/health2",
      "/pms-ehr/health2/dashboard",
    ]);
    expect(lastStatus("c")).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
    await helper.unload();
    expect(adminRoutes().filter((r) => r.startsWith("/pms-ehr"))).to.deep.equal([]);
    expect(healthBus().listenerCount(HEALTH_EVENT)).to.equal(before);
    expect(healthBus().listenerCount(QUEUE_EVENT)).to.equal(queuesBefore);
    expect(lastStatus("a")).to.deep.equal({});
    await load([monitorNode("c", { path: "/pms-ehr/health" })]);
    expect(adminRoutes()).to.include("/pms-ehr/health");
  });
});

describe("health-monitor: the shipped example", function () {
  this.timeout(15000);
  afterEach(async () => {
    await helper.unload();
  });

  it("raises one alert on the fifth failure in a row and answers a snapshot", async () => {
    const example = JSON.parse(
      readFileSync(
        join(__dirname, "..", "..", "..", "examples", "Monitor integration health and alert on changes.json"),
        "utf8",
      ),
    ) as Msg[];
    const tab = example[0].z as string;
    await helper.load([healthMonitorNode, injectNode, commentNode], [
      { id: tab, type: "tab", label: "example" },
      ...example.map((n) => (n.type === "debug" ? { ...n, type: "helper" } : n)),
    ] as any);
    const byName = (type: string, name: string) =>
      example.find((n) => n.type === type && n.name === name)!.id as string;
    const alertsOut = helper.getNode(byName("debug", "alerts"));
    const snapOut = helper.getNode(byName("debug", "snapshot"));
    const got: Msg[] = [];
    alertsOut.on("input", (m: Msg) => got.push(m));
    const raised = new Promise<Msg>((resolve) => alertsOut.once("input", resolve));
    const failed = helper.getNode(byName("inject", "call failed"));
    helper.getNode(byName("inject", "call ok")).receive({});
    for (let i = 0; i < 5; i++) failed.receive({});
    const raise = await raised;
    expect(raise.payload).to.deep.include({
      integration: "demo-pms",
      alert: "raise",
      reasons: ["5 failures in a row"],
    });
    const snap = new Promise<Msg>((resolve) => snapOut.once("input", resolve));
    helper.getNode(byName("inject", "snapshot")).receive({});
    const s = (await snap).payload;
    expect(s.integrations["demo-pms"]).to.include({
      total: 6,
      failures: 5,
      consecutiveFailures: 5,
      alert: true,
    });
    expect(adminRoutes()).to.include("/pms-ehr/health/dashboard");
    expect(got).to.have.length(1);
  });
});
