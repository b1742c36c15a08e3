/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import healthMonitorNode from "../../nodes/health-monitor/health-monitor";
import { HEALTH_EVENT, healthBus, reportHealth } from "../../lib/health/bus";
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

  it("a bad property or path is HEALTH_CONFIG; the node then records nothing", async () => {
    const before = healthBus().listenerCount(HEALTH_EVENT);
    await load([
      monitorNode("w0", { window: "0" }),
      monitorNode("rates", { warningRate: "0.99" }),
      monitorNode("flows", { path: "/flows" }),
      monitorNode("dots", { path: "/a/../b" }),
    ]);
    expect(healthBus().listenerCount(HEALTH_EVENT)).to.equal(before);
    for (const id of ["w0", "rates", "flows", "dots"]) {
      expect(lastStatus(id), id).to.deep.equal({ fill: "red", shape: "ring", text: "config error" });
      const p = next("caught");
      helper.getNode(id).receive({ payload: 1 });
      expect((await p).error.code, id).to.equal("HEALTH_CONFIG");
    }
  });

  it("two monitors with different paths coexist; a second one on a taken path is refused; close removes routes and listeners", async () => {
    const before = healthBus().listenerCount(HEALTH_EVENT);
    await load([
      monitorNode("a", { path: "/pms-ehr/health" }),
      monitorNode("b", { path: "/pms-ehr/health2/" }),
      monitorNode("c", { path: "/PMS-EHR/health" }),
    ]);
    expect(healthBus().listenerCount(HEALTH_EVENT)).to.equal(before + 2);
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
      readFileSync(join(__dirname, "..", "..", "..", "examples", "health-monitor.json"), "utf8"),
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
