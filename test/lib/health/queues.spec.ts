import { expect } from "chai";
import {
  HealthMonitor,
  isQueueMetrics,
  parseHealthConfig,
  type QueueAlertTransition,
  type QueueMetrics,
  type RawHealthConfig,
} from "../../../lib/health";
import { codeOf } from "../../support/errors";

const T0 = Date.parse("2025-03-01T12:00:00Z");
const iso = (ms: number): string => new Date(ms).toISOString();

function setup(raw: RawHealthConfig = {}) {
  const clock = { now: T0 };
  const monitor = new HealthMonitor(parseHealthConfig(raw), { now: () => clock.now });
  const report = (m: Partial<QueueMetrics> & { queue: string }) =>
    monitor.recordQueue({
      store: "main",
      depth: 0,
      inFlight: 0,
      oldestAgeMs: 0,
      deadLetters: 0,
      deliveredTotal: 0,
      deadTotal: 0,
      ...m,
    });
  /** Advances the clock a second at a time, judging after each step; returns the queue alerts. */
  const run = (seconds: number, each: (second: number) => void = () => undefined): QueueAlertTransition[] => {
    const out: QueueAlertTransition[] = [];
    for (let s = 0; s < seconds; s++) {
      clock.now += 1000;
      each(s);
      out.push(...monitor.evaluate().queueAlerts);
    }
    return out;
  };
  return { clock, monitor, report, run };
}

describe("health: durable queues", () => {
  it("keeps the latest report per (store, queue), sorted by store then queue", () => {
    const { clock, monitor, report } = setup({ window: 60 });
    expect(
      report({ queue: "outbound", depth: 3, inFlight: 1, oldestAgeMs: 0, deliveredTotal: 10, deadTotal: 1 }),
    ).to.equal(true);
    expect(report({ store: "archive", queue: "outbound", depth: 7, deadLetters: 2, deadTotal: 2 })).to.equal(
      true,
    );
    clock.now += 2000;
    expect(report({ queue: "inbound", deliveredTotal: 4 })).to.equal(true);
    expect(
      report({
        queue: "outbound",
        depth: 1,
        inFlight: 1,
        oldestAgeMs: 250,
        deliveredTotal: 12,
        deadTotal: 1,
      }),
    ).to.equal(true);
    // A report older than the one kept does not replace it.
    expect(report({ queue: "outbound", depth: 99, time: T0 + 1000 })).to.equal(false);
    const queues = monitor.snapshot().queues;
    expect(queues.map((q) => `${q.store}/${q.queue}`)).to.deep.equal([
      "archive/outbound",
      "main/inbound",
      "main/outbound",
    ]);
    expect(queues[2]).to.deep.equal({
      store: "main",
      queue: "outbound",
      depth: 1,
      inFlight: 1,
      oldestAgeMs: 250,
      deadLetters: 0,
      deliveredTotal: 12,
      deadTotal: 1,
      reportedAt: iso(T0 + 2000),
      stale: false,
      alert: false,
      reasons: [],
    });
    expect(queues[0]).to.include({ depth: 7, deadLetters: 2, reportedAt: iso(T0), stale: false });
    expect(queues[1]).to.include({ depth: 0, deliveredTotal: 4, oldestAgeMs: 0 });
  });

  it("refuses malformed reports and takes a report's own time (a future one as now)", () => {
    const { clock, monitor, report } = setup();
    const good = {
      queue: "q",
      store: "s",
      depth: 0,
      inFlight: 0,
      oldestAgeMs: 0,
      deadLetters: 0,
      deliveredTotal: 0,
      deadTotal: 0,
    };
    expect(isQueueMetrics(good)).to.equal(true);
    for (const bad of [
      null,
      "q",
      { ...good, queue: "" },
      { ...good, store: 7 },
      { ...good, queue: "x".repeat(201) },
      { ...good, depth: -1 },
      { ...good, oldestAgeMs: NaN },
      { ...good, deadLetters: "3" },
      { ...good, deliveredTotal: Infinity },
      { ...good, time: "now" },
    ]) {
      expect(isQueueMetrics(bad), JSON.stringify(bad)).to.equal(false);
      expect(monitor.recordQueue(bad as QueueMetrics)).to.equal(false);
    }
    expect(monitor.snapshot().queues).to.deep.equal([]);
    report({ queue: "past", time: T0 - 5000 });
    report({ queue: "future", time: T0 + 3600000 });
    clock.now += 1000;
    const byName = Object.fromEntries(monitor.snapshot().queues.map((q) => [q.queue, q.reportedAt]));
    expect(byName).to.deep.equal({ future: iso(T0), past: iso(T0 - 5000) });
  });

  it("counts the oldest message's age on from the report while the queue holds messages", () => {
    const { clock, monitor, report } = setup({ window: 300 });
    report({ queue: "busy", depth: 2, oldestAgeMs: 5000 });
    report({ queue: "empty", depth: 0, oldestAgeMs: 0 });
    clock.now += 42000;
    const q = Object.fromEntries(monitor.snapshot().queues.map((x) => [x.queue, x.oldestAgeMs]));
    expect(q).to.deep.equal({ busy: 47000, empty: 0 });
  });

  it("a queue without a report for a window is stale: last figures kept, age frozen, not judged; a report revives it", () => {
    const { clock, monitor, report, run } = setup({ window: 60, hold: 0, queueMaxAge: 30 });
    report({ queue: "gone", depth: 4, inFlight: 1, oldestAgeMs: 1000, deliveredTotal: 9 });
    clock.now = T0 + 59999;
    let q = monitor.snapshot().queues[0];
    expect(q).to.include({ stale: false, oldestAgeMs: 60999 });
    clock.now = T0 + 60000;
    q = monitor.snapshot().queues[0];
    expect(q).to.include({
      stale: true,
      depth: 4,
      inFlight: 1,
      oldestAgeMs: 1000,
      deliveredTotal: 9,
      reportedAt: iso(T0),
    });
    expect(run(5)).to.deep.equal([]);
    expect(monitor.snapshot().queues[0]).to.include({ stale: true, alert: false });
    report({ queue: "gone", depth: 4, oldestAgeMs: 31000 });
    const raised = run(1);
    expect(raised.map((a) => a.alert)).to.deep.equal(["raise"]);
    expect(raised[0].reasons).to.deep.equal(["oldest message 32 s > 30 s"]);
    expect(monitor.snapshot().queues[0]).to.include({ stale: false, alert: true, oldestAgeMs: 32000 });
  });

  it("raises once when the oldest message gets older than queueMaxAge, and clears once after the hold", () => {
    const m = setup({ window: 300, hold: 10, queueMaxAge: 600 });
    m.report({ queue: "outbound", depth: 2, inFlight: 1, oldestAgeMs: 590000 });
    m.report({ queue: "inbound", depth: 1, oldestAgeMs: 1000 });
    expect(m.run(10)).to.deep.equal([]);
    const raised = m.run(1);
    expect(raised).to.deep.equal([
      {
        store: "main",
        queue: "outbound",
        alert: "raise",
        reasons: ["oldest message 601 s > 600 s"],
        time: iso(T0 + 11000),
      },
    ]);
    expect(m.monitor.snapshot().queues.find((q) => q.queue === "outbound")).to.include({
      alert: true,
      oldestAgeMs: 601000,
    });
    // Still too old, and reported again and again: no further alert.
    expect(m.run(30, () => m.report({ queue: "outbound", depth: 3, oldestAgeMs: 700000 }))).to.deep.equal([]);
    expect(m.monitor.snapshot().queues.find((q) => q.queue === "outbound")?.reasons).to.deep.equal([
      "oldest message 700 s > 600 s",
    ]);
    // Drained: the clear comes after the hold, once, with the reasons it was raised for (the
    // first judgement that sees the queue drained is a second after the report).
    m.report({ queue: "outbound", depth: 0, oldestAgeMs: 0, deliveredTotal: 3 });
    const drainedAt = m.clock.now;
    const after = m.run(30);
    expect(after).to.deep.equal([
      {
        store: "main",
        queue: "outbound",
        alert: "clear",
        reasons: ["oldest message 601 s > 600 s"],
        time: iso(drainedAt + 1000 + 10000),
      },
    ]);
    expect(m.monitor.snapshot().queues.find((q) => q.queue === "outbound")).to.include({
      alert: false,
      oldestAgeMs: 0,
    });
    expect(m.monitor.alertedQueues()).to.deep.equal([]);
  });

  it("a condition that comes back within the hold keeps the alert raised (no flapping alerts)", () => {
    const m = setup({ window: 300, hold: 10, queueMaxDead: 3 });
    const alerts = m.run(60, (s) => m.report({ queue: "q", deadLetters: s % 8 < 2 ? 3 : 0 }));
    expect(alerts.map((a) => a.alert)).to.deep.equal(["raise"]);
    expect(alerts[0].reasons).to.deep.equal(["dead letters 3 >= 3"]);
    expect(m.run(15, () => m.report({ queue: "q", deadLetters: 2 })).map((a) => a.alert)).to.deep.equal([
      "clear",
    ]);
  });

  it("raises on at least queueMaxDead dead letters, naming every condition that holds", () => {
    const m = setup({ window: 300, hold: 0, queueMaxAge: 60, queueMaxDead: 10 });
    m.report({ store: "pg", queue: "hl7", deadLetters: 9, depth: 1, oldestAgeMs: 1000 });
    expect(m.run(1)).to.deep.equal([]);
    m.report({ store: "pg", queue: "hl7", deadLetters: 12, depth: 1, oldestAgeMs: 61500 });
    const a = m.run(1);
    expect(a).to.have.length(1);
    expect(a[0]).to.deep.include({
      store: "pg",
      queue: "hl7",
      alert: "raise",
      reasons: ["oldest message 62.5 s > 60 s", "dead letters 12 >= 10"],
    });
    expect(m.monitor.alertedQueues()).to.deep.equal([{ store: "pg", queue: "hl7" }]);
    m.report({ store: "pg", queue: "hl7", deadLetters: 0, depth: 0, oldestAgeMs: 0 });
    expect(m.run(1).map((x) => `${x.alert}: ${x.reasons.join("; ")}`)).to.deep.equal([
      "clear: oldest message 62.5 s > 60 s; dead letters 12 >= 10",
    ]);
  });

  it("raises nothing without queue thresholds (the default)", () => {
    const m = setup({ window: 300, hold: 0 });
    m.report({ queue: "q", depth: 5000, oldestAgeMs: 86400000, deadLetters: 100000 });
    expect(m.run(3)).to.deep.equal([]);
    expect(m.monitor.snapshot().queues[0]).to.include({ alert: false, depth: 5000 });
  });

  it("a raised alert of a queue that goes stale clears after the hold", () => {
    const m = setup({ window: 10, hold: 5, queueMaxDead: 1 });
    m.report({ queue: "closed", deadLetters: 4 });
    expect(m.run(1).map((a) => a.alert)).to.deep.equal(["raise"]);
    const alerts = m.run(30);
    expect(alerts.map((a) => a.alert)).to.deep.equal(["clear"]);
    // stale at T0 + 10 s (judged then with no condition), cleared 5 s later
    expect(alerts[0].time).to.equal(iso(T0 + 15000));
    expect(m.monitor.snapshot().queues[0]).to.include({ stale: true, alert: false, deadLetters: 4 });
  });

  it("keeps at most maxQueues: a new queue takes the place of the stale one that reported longest ago", () => {
    const { clock, monitor, report } = setup({ window: 10, maxQueues: 2 });
    expect(report({ queue: "a" })).to.equal(true);
    clock.now += 1000;
    expect(report({ queue: "b" })).to.equal(true);
    expect(report({ queue: "c" })).to.equal(false);
    expect(monitor.queuesOverflowed).to.equal(1);
    clock.now = T0 + 10000;
    expect(report({ queue: "c" })).to.equal(true);
    expect(monitor.snapshot().queues.map((q) => q.queue)).to.deep.equal(["b", "c"]);
    expect(report({ queue: "b", depth: 1 })).to.equal(true);
    expect(monitor.queuesOverflowed).to.equal(1);
  });

  it("reads queueMaxAge (seconds) and queueMaxDead from the node properties; empty or 0 is off", () => {
    expect(parseHealthConfig({}).thresholds).to.include({ queueMaxAgeMs: 0, queueMaxDead: 0 });
    expect(parseHealthConfig({ queueMaxAge: "", queueMaxDead: " " }).thresholds).to.include({
      queueMaxAgeMs: 0,
      queueMaxDead: 0,
    });
    expect(parseHealthConfig({ queueMaxAge: "600", queueMaxDead: "10" }).thresholds).to.include({
      queueMaxAgeMs: 600000,
      queueMaxDead: 10,
    });
    expect(parseHealthConfig({ queueMaxAge: "1.1" }).thresholds.queueMaxAgeMs).to.equal(1100);
    expect(parseHealthConfig({}).maxQueues).to.equal(200);
    for (const bad of [
      { queueMaxAge: "-1" },
      { queueMaxAge: "soon" },
      { queueMaxAge: "2592001" },
      { queueMaxDead: "1.5" },
      { queueMaxDead: "-2" },
      { maxQueues: "0" },
    ] as RawHealthConfig[]) {
      expect(
        codeOf(() => parseHealthConfig(bad)),
        JSON.stringify(bad),
      ).to.equal("HEALTH_CONFIG");
    }
  });
});
