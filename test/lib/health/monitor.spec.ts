import { expect } from "chai";
import {
  DEFAULT_THRESHOLDS,
  HealthMonitor,
  RELATIVE_ERROR,
  errorText,
  parseHealthConfig,
  parseHealthInput,
  toPrometheus,
  type AlertTransition,
  type RawHealthConfig,
} from "../../../lib/health";
import { BINS, binOf, binValue, exactQuantiles, histogramQuantiles } from "../../../lib/health/histogram";
import { mulberry32 } from "../../../sandbox/pms/data";
import { codeOf } from "../../support/errors";

const T0 = Date.parse("2025-03-01T12:00:00Z");

function setup(raw: RawHealthConfig = {}) {
  const clock = { now: T0 };
  const monitor = new HealthMonitor(parseHealthConfig(raw), { now: () => clock.now });
  const ok = (integration: string, durationMs = 100) =>
    monitor.record({ integration, success: true, durationMs });
  const fail = (integration: string, error = "FHIR_HTTP_503", durationMs = 100) =>
    monitor.record({ integration, success: false, durationMs, error });
  return { clock, monitor, ok, fail };
}

/** Box-Muller over the seeded generator: log-normal latencies around 200 ms with a long tail. */
function lognormal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  return Math.exp(Math.log(200) + 1.2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

describe("health: rolling metrics with a controlled clock", () => {
  it("rolls the window: events older than the window drop out, lifetime totals stay", () => {
    const { clock, monitor, ok, fail } = setup({ window: 60 });
    for (let i = 0; i < 10; i++) ok("fhir");
    clock.now += 30000;
    for (let i = 0; i < 5; i++) fail("fhir");
    let s = monitor.snapshot().integrations.fhir;
    expect(s).to.include({ total: 15, successes: 10, failures: 5 });
    expect(s.successRate).to.be.closeTo(10 / 15, 1e-12);
    clock.now = T0 + 59999;
    expect(monitor.snapshot().integrations.fhir.total).to.equal(15);
    clock.now = T0 + 60000;
    s = monitor.snapshot().integrations.fhir;
    expect(s).to.include({ total: 5, successes: 0, failures: 5 });
    clock.now = T0 + 90000;
    s = monitor.snapshot().integrations.fhir;
    expect(s).to.include({ total: 0, successRate: null, latencyMs: null, throughput: 0 });
    expect(s.lifetime).to.include({ total: 15, failures: 5, latencySumMs: 1500 });
    expect(s.consecutiveFailures).to.equal(5);
  });

  it("rolls in steps of window/120 for long windows (300 s: 2.5 s buckets)", () => {
    const { clock, monitor, ok } = setup({ window: 300 });
    ok("pms");
    clock.now = T0 + 299999;
    expect(monitor.snapshot().integrations.pms.total).to.equal(1);
    clock.now = T0 + 300000;
    expect(monitor.snapshot().integrations.pms.total).to.equal(0);
    expect(monitor.snapshot({ series: true }).integrations.pms.series).to.have.length(120);
  });

  it("gives exact percentiles (nearest rank) while the window holds few events", () => {
    const { clock, monitor } = setup({ window: 60 });
    const rand = mulberry32(3);
    const values = Array.from({ length: 100 }, (_, i) => i + 1).sort(() => rand() - 0.5);
    values.forEach((v, i) => {
      clock.now = T0 + Math.floor(i / 25) * 1000;
      monitor.record({ integration: "fhir", success: true, durationMs: v });
    });
    const l = monitor.snapshot().integrations.fhir.latencyMs;
    expect(l).to.deep.equal({ mean: 50.5, p50: 50, p95: 95, p99: 99, min: 1, max: 100, exact: true });
  });

  it("reads percentiles of many events from merged histograms within the stated bound", () => {
    const { clock, monitor } = setup({ window: 60 });
    const rand = mulberry32(11);
    const all: number[] = [];
    for (let i = 0; i < 30000; i++) {
      clock.now = T0 + (i % 60) * 1000 + 500;
      const v = i % 97 === 0 ? rand() * 0.9 : lognormal(rand);
      all.push(v);
      monitor.record({ integration: "fhir", success: true, durationMs: v });
    }
    clock.now = T0 + 59999;
    const l = monitor.snapshot().integrations.fhir.latencyMs;
    if (!l) throw new Error("no latency");
    expect(l.exact).to.equal(false);
    const [p50, p95, p99] = exactQuantiles(Float64Array.from(all), [0.5, 0.95, 0.99]);
    for (const [got, want] of [
      [l.p50, p50],
      [l.p95, p95],
      [l.p99, p99],
    ]) {
      expect(Math.abs(got - want) / want).to.be.at.most(RELATIVE_ERROR + 1e-9);
    }
    expect(l.min).to.equal(Math.min(...all));
    expect(l.max).to.equal(Math.max(...all));
    expect(l.mean).to.be.closeTo(all.reduce((a, b) => a + b, 0) / all.length, 1e-6);
  });

  it("bins every latency within 1.09 % (1/32 ms below 1 ms), and histogram quantiles stay in [min, max]", () => {
    const rand = mulberry32(5);
    expect(RELATIVE_ERROR).to.be.below(0.011);
    for (let i = 0; i < 20000; i++) {
      const v = Math.exp(rand() * Math.log(2 ** 23));
      const b = binOf(v);
      expect(b).to.be.within(0, BINS - 2);
      if (v >= 1) expect(Math.abs(binValue(b) - v) / v).to.be.at.most(RELATIVE_ERROR + 1e-12);
      else expect(Math.abs(binValue(b) - v)).to.be.at.most(1 / 32 + 1e-12);
    }
    expect(binOf(-5)).to.equal(0);
    expect(binOf(NaN)).to.equal(0);
    expect(binOf(1e12)).to.equal(BINS - 1);
    const h = new Uint32Array(BINS);
    h[binOf(1e12)] = 3;
    expect(histogramQuantiles(h, 3, [0.5], 1e12, 3e12)).to.deep.equal([1e12]);
  });

  it("counts truly consecutive failures: a success resets them; keeps the last error and its time", () => {
    const { clock, monitor, ok, fail } = setup();
    fail("pms", "LEGACY_HTTP_500");
    fail("pms");
    ok("pms");
    clock.now += 1000;
    fail("pms", "LEGACY_TIMEOUT");
    fail("pms", "LEGACY_TIMEOUT");
    clock.now += 1000;
    monitor.record({ integration: "pms", success: false, durationMs: 3 });
    const s = monitor.snapshot().integrations.pms;
    expect(s.consecutiveFailures).to.equal(3);
    expect(s.failures).to.equal(5);
    expect(s.lastError).to.deep.equal({ error: "failed", time: new Date(T0 + 2000).toISOString() });
    fail("pms", "LEGACY_TIMEOUT");
    expect(monitor.snapshot().integrations.pms.lastError?.error).to.equal("LEGACY_TIMEOUT");
    ok("pms");
    expect(monitor.snapshot().integrations.pms.consecutiveFailures).to.equal(0);
  });

  it("measures throughput over the window, or since the first event when that is later", () => {
    const { clock, monitor, ok } = setup({ window: 60 });
    for (let i = 0; i < 30; i++) {
      clock.now = T0 + i * 1000;
      ok("fhir");
      ok("fhir");
    }
    clock.now = T0 + 30000;
    expect(monitor.snapshot().integrations.fhir.throughput).to.equal(2);
    for (let i = 30; i < 120; i++) {
      clock.now = T0 + i * 1000;
      ok("fhir");
    }
    clock.now = T0 + 120000;
    expect(monitor.snapshot().integrations.fhir.throughput).to.be.closeTo(59 / 60, 1e-9);
  });

  it("places events by their own time: future times count as now, times older than the window only in lifetime", () => {
    const { monitor } = setup({ window: 60 });
    monitor.record({ integration: "x", success: true, durationMs: 5, time: T0 + 3600000 });
    monitor.record({ integration: "x", success: false, durationMs: 5, time: T0 - 120000 });
    const s = monitor.snapshot().integrations.x;
    expect(s).to.include({
      total: 1,
      failures: 0,
      consecutiveFailures: 1,
      lastEventAt: new Date(T0).toISOString(),
    });
    expect(s.lifetime.total).to.equal(2);
  });

  it("watches only the listed integrations (shown as unknown before their first event)", () => {
    const { monitor, ok } = setup({ integrations: "fhir, pms-api\nfhir" });
    expect(monitor.names()).to.deep.equal(["fhir", "pms-api"]);
    expect(ok("other")).to.equal(false);
    expect(ok("fhir")).to.equal(true);
    const snap = monitor.snapshot();
    expect(Object.keys(snap.integrations)).to.deep.equal(["fhir", "pms-api"]);
    expect(snap.integrations["pms-api"]).to.include({ state: "unknown", stateSince: null, total: 0 });
    expect(monitor.ignored).to.equal(1);
  });

  it("tracks at most maxIntegrations names", () => {
    const { monitor, ok } = setup({ maxIntegrations: 2 });
    expect([ok("a"), ok("b"), ok("c"), ok("a")]).to.deep.equal([true, true, false, true]);
    expect(monitor.overflowed).to.equal(1);
    expect(monitor.names()).to.deep.equal(["a", "b"]);
  });

  it("produces a per-bucket series whose points add up to the window's totals", () => {
    const { clock, monitor, ok, fail } = setup({ window: 10 });
    for (let i = 0; i < 10; i++) {
      clock.now = T0 + i * 1000;
      for (let k = 0; k < i; k++) ok("a", 10 * (k + 1));
      if (i % 3 === 0) fail("a");
    }
    const s = monitor.snapshot({ series: true }).integrations.a;
    const series = s.series ?? [];
    expect(series).to.have.length(10);
    expect(series[0].start).to.equal(T0);
    expect(series.reduce((n, p) => n + p.total, 0)).to.equal(s.total);
    expect(series.reduce((n, p) => n + p.failures, 0)).to.equal(s.failures);
    expect(series[2]).to.deep.equal({ start: T0 + 2000, total: 2, failures: 0, meanMs: 15, p95Ms: 20 });
  });
});

describe("health: states and alerts with hysteresis", () => {
  function runSeconds(
    m: ReturnType<typeof setup>,
    seconds: number,
    perSecond: (second: number) => void,
    sink: AlertTransition[],
  ): void {
    for (let s = 0; s < seconds; s++) {
      m.clock.now += 1000;
      perSecond(s);
      sink.push(...m.monitor.evaluate().alerts);
    }
  }

  it("uses the issue's default thresholds", () => {
    expect(parseHealthConfig({}).thresholds).to.deep.equal(DEFAULT_THRESHOLDS);
    expect(DEFAULT_THRESHOLDS).to.include({
      healthyRate: 0.98,
      healthyLatencyMs: 2000,
      warningRate: 0.95,
      warningLatencyMs: 5000,
      alertRate: 0.95,
      alertLatencyMs: 5000,
      alertConsecutive: 5,
    });
    expect(parseHealthConfig({}).windowSeconds).to.equal(300);
  });

  it("classifies healthy, warning and critical by success rate and mean latency; unknown without data", () => {
    const m = setup({ window: 60, hold: 0 });
    m.monitor.record({ integration: "idle", success: true, durationMs: 1, time: T0 - 3600000 });
    for (let i = 0; i < 100; i++) m.ok("good", 1999);
    for (let i = 0; i < 97; i++) m.ok("meh");
    for (let i = 0; i < 3; i++) m.fail("meh");
    for (let i = 0; i < 10; i++) m.ok("slow", 3000);
    for (let i = 0; i < 94; i++) m.ok("bad");
    for (let i = 0; i < 6; i++) m.fail("bad");
    for (let i = 0; i < 10; i++) m.ok("crawl", 5001);
    m.monitor.evaluate();
    const snap = m.monitor.snapshot();
    const states = Object.fromEntries(Object.values(snap.integrations).map((i) => [i.integration, i.state]));
    expect(states).to.deep.equal({
      bad: "critical",
      crawl: "critical",
      good: "healthy",
      idle: "unknown",
      meh: "warning",
      slow: "warning",
    });
    expect(snap.state).to.equal("critical");
    expect(snap.counts).to.deep.equal({ unknown: 1, healthy: 1, warning: 2, critical: 2 });
    expect(snap.integrations.meh.reasons).to.deep.equal(["success rate 97.0% < 98.0%"]);
    expect(snap.integrations.crawl.reasons).to.deep.equal(["mean latency 5001 ms > 5000 ms"]);
  });

  it("raises once when the success rate falls below 0.95 and clears once after the hold", () => {
    const m = setup({ window: 60, hold: 10 });
    const alerts: AlertTransition[] = [];
    runSeconds(m, 60, () => m.ok("fhir"), alerts);
    expect(alerts).to.deep.equal([]);
    runSeconds(
      m,
      1,
      () => {
        for (let i = 0; i < 4; i++) m.fail("fhir");
      },
      alerts,
    );
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.deep.include({
      integration: "fhir",
      alert: "raise",
      state: "critical",
      previousState: "healthy",
    });
    expect(alerts[0].reasons).to.deep.equal(["success rate 93.7% < 95.0%"]);
    runSeconds(
      m,
      20,
      (s) => {
        m.ok("fhir");
        if (s % 2 === 0) m.fail("fhir");
      },
      alerts,
    );
    expect(alerts).to.have.length(1);
    const raisedAt = m.clock.now;
    runSeconds(m, 200, () => m.ok("fhir"), alerts);
    expect(alerts.map((a) => a.alert)).to.deep.equal(["raise", "clear"]);
    const clear = alerts[1];
    expect(clear).to.deep.include({ alert: "clear", previousState: "critical" });
    expect(clear.reasons).to.deep.equal(alerts[0].reasons);
    expect(Date.parse(clear.time) - raisedAt).to.be.above(10000);
    expect(m.monitor.snapshot().integrations.fhir).to.include({ state: "healthy", alert: false });
  });

  it("does not clear while the condition keeps coming back within the hold (flapping), then clears once", () => {
    const m = setup({ window: 10, hold: 10, alertConsecutive: 0 });
    const alerts: AlertTransition[] = [];
    runSeconds(
      m,
      60,
      (s) => {
        for (let i = 0; i < 10; i++) m.ok("pms");
        if (s % 8 < 2) for (let i = 0; i < 3; i++) m.fail("pms");
      },
      alerts,
    );
    expect(alerts.map((a) => a.alert)).to.deep.equal(["raise"]);
    runSeconds(
      m,
      30,
      () => {
        for (let i = 0; i < 10; i++) m.ok("pms");
      },
      alerts,
    );
    expect(alerts.map((a) => a.alert)).to.deep.equal(["raise", "clear"]);
  });

  it("raises on 5 failures in a row even when the rate is fine; a success and the hold clear it", () => {
    const m = setup({ window: 60, hold: 5 });
    const alerts: AlertTransition[] = [];
    for (let i = 0; i < 1000; i++) m.ok("mllp");
    for (let i = 0; i < 4; i++) m.fail("mllp", "MLLP_TIMEOUT");
    runSeconds(m, 1, () => undefined, alerts);
    expect(alerts).to.deep.equal([]);
    expect(m.monitor.snapshot().integrations.mllp.state).to.equal("healthy");
    m.fail("mllp", "MLLP_TIMEOUT");
    runSeconds(m, 1, () => undefined, alerts);
    expect(alerts).to.have.length(1);
    expect(alerts[0].reasons).to.deep.equal(["5 failures in a row"]);
    runSeconds(m, 3, () => m.fail("mllp", "MLLP_TIMEOUT"), alerts);
    expect(alerts).to.have.length(1);
    expect(m.monitor.snapshot().integrations.mllp).to.include({ state: "critical", consecutiveFailures: 8 });
    runSeconds(m, 10, () => m.ok("mllp"), alerts);
    expect(alerts.map((a) => a.alert)).to.deep.equal(["raise", "clear"]);
    expect(alerts[1].reasons).to.deep.equal(["5 failures in a row"]);
  });

  it("raises on slow responses (mean by default, or the chosen percentile)", () => {
    const mean = setup({ window: 60, hold: 0 });
    const p95 = setup({ window: 60, hold: 0, latencyStat: "p95" });
    for (const m of [mean, p95]) {
      for (let i = 0; i < 90; i++) m.ok("fhir", 100);
      for (let i = 0; i < 10; i++) m.ok("fhir", 9000);
    }
    expect(mean.monitor.evaluate().alerts).to.deep.equal([]);
    const a = p95.monitor.evaluate().alerts;
    expect(a).to.have.length(1);
    expect(a[0].reasons).to.deep.equal(["p95 latency 9000 ms > 5000 ms"]);
    expect(mean.monitor.snapshot().integrations.fhir.state).to.equal("healthy");
  });

  it("holds a better state back for the hold period, takes a worse one at once", () => {
    const m = setup({ window: 10, hold: 5, alertConsecutive: 0 });
    const states: string[] = [];
    const step = (fn: () => void) => {
      m.clock.now += 1000;
      fn();
      m.monitor.evaluate();
      states.push(m.monitor.snapshot().integrations.a.state);
    };
    const oks = (n: number) => () => {
      for (let i = 0; i < n; i++) m.ok("a", 10);
    };
    for (let i = 0; i < 10; i++) step(oks(100));
    step(() => {
      oks(70)();
      for (let i = 0; i < 30; i++) m.fail("a");
    });
    for (let i = 0; i < 20; i++) step(oks(100));
    expect(states.slice(0, 11)).to.deep.equal([...Array(10).fill("healthy"), "warning"]);
    const back = states.indexOf("healthy", 11);
    expect(back).to.be.above(11);
    expect(states.slice(11, back).every((s) => s === "warning")).to.equal(true);
    expect(states.slice(back).every((s) => s === "healthy")).to.equal(true);
  });

  it("with minEvents, a few calls are shown but not judged", () => {
    const m = setup({ minEvents: 10, hold: 0 });
    for (let i = 0; i < 3; i++) m.fail("rare");
    expect(m.monitor.evaluate().alerts).to.deep.equal([]);
    expect(m.monitor.snapshot().integrations.rare).to.include({ state: "healthy", successRate: 0 });
  });

  it("goes back to unknown when the window empties (after the hold), unless failures in a row remain", () => {
    const m = setup({ window: 10, hold: 2 });
    const alerts: AlertTransition[] = [];
    for (let i = 0; i < 5; i++) m.fail("a");
    for (let i = 0; i < 4; i++) m.fail("b");
    runSeconds(m, 1, () => undefined, alerts);
    expect(alerts.map((a) => `${a.integration}:${a.alert}`)).to.deep.equal(["a:raise", "b:raise"]);
    runSeconds(m, 20, () => undefined, alerts);
    const snap = m.monitor.snapshot().integrations;
    expect(snap.a).to.include({ state: "critical", alert: true, total: 0 });
    expect(snap.b).to.include({ state: "unknown", alert: false });
    expect(alerts.map((a) => `${a.integration}:${a.alert}`)).to.deep.equal(["a:raise", "b:raise", "b:clear"]);
  });
});

describe("health: inputs and configuration", () => {
  it("checks msg.health with HEALTH_BAD_INPUT", () => {
    expect(
      parseHealthInput({ integration: " fhir ", success: false, durationMs: 12, error: "X" }),
    ).to.deep.equal({
      integration: "fhir",
      success: false,
      durationMs: 12,
      error: "X",
    });
    expect(
      parseHealthInput({ integration: "a", success: true, durationMs: 0, time: "2025-03-01T12:00:00Z" }),
    ).to.include({
      time: T0,
    });
    for (const bad of [
      undefined,
      null,
      "fhir ok",
      [],
      { success: true, durationMs: 1 },
      { integration: "", success: true, durationMs: 1 },
      { integration: "a\nb", success: true, durationMs: 1 },
      { integration: "x".repeat(101), success: true, durationMs: 1 },
      { integration: "a", success: "yes", durationMs: 1 },
      { integration: "a", success: true },
      { integration: "a", success: true, durationMs: -1 },
      { integration: "a", success: true, durationMs: NaN },
      { integration: "a", success: true, durationMs: "5" },
      { integration: "a", success: true, durationMs: 1, time: "soon" },
    ]) {
      expect(
        codeOf(() => parseHealthInput(bad)),
        JSON.stringify(bad),
      ).to.equal("HEALTH_BAD_INPUT");
    }
  });

  it("keeps error texts short and on one line; prefers an error's code", () => {
    expect(errorText("FHIR_HTTP_503")).to.equal("FHIR_HTTP_503");
    expect(errorText({ code: "MLLP_NAK", message: "AE from receiver" })).to.equal("MLLP_NAK");
    expect(errorText(new Error("socket hang up"))).to.equal("socket hang up");
    expect(errorText("line1\r\nline2")).to.equal("line1 line2");
    expect(errorText("x".repeat(300))).to.have.length(100);
    expect(errorText("")).to.equal(null);
  });

  it("refuses configurations out of range with HEALTH_CONFIG", () => {
    for (const bad of [
      { window: "0" },
      { window: "1.5" },
      { window: "abc" },
      { healthyRate: "1.2" },
      { warningRate: "0.99" },
      { warningLatency: "1000" },
      { alertConsecutive: "-1" },
      { latencyStat: "p90" },
      { hold: "-1" },
      { minEvents: "0" },
      { integrations: "ok, bad\u0001name" },
    ] as RawHealthConfig[]) {
      expect(
        codeOf(() => parseHealthConfig(bad)),
        JSON.stringify(bad),
      ).to.equal("HEALTH_CONFIG");
    }
    expect(parseHealthConfig({ window: 60, hold: "", alertConsecutive: "0" }).thresholds).to.include({
      holdSeconds: 30,
      alertConsecutive: 0,
    }); // The thresholds take any form Number() reads (lib/number-prop "any"), as they always have.
    const loose = parseHealthConfig({
      healthyRate: ".99",
      warningRate: " .95 ",
      minEvents: "1e1",
      window: "6e1",
    });
    expect(loose.thresholds).to.include({ healthyRate: 0.99, warningRate: 0.95, minEvents: 10 });
    expect(loose.windowSeconds).to.equal(60);
  });
});

describe("health: checkpoints", () => {
  const at = (iso: string): number => Date.parse(iso);

  it("keeps each checkpoint's latest watermark, how far behind now, and when a run last committed it", () => {
    const clock = { now: at("2026-03-01T12:00:00Z") };
    const m = new HealthMonitor(parseHealthConfig({ window: 60 }), { now: () => clock.now });
    expect(
      m.recordCheckpoint({ checkpoint: "patients", highWater: "2026-03-01T11:00:00Z", committed: false }),
    ).to.equal(true);
    expect(
      m.recordCheckpoint({ checkpoint: "appointments", highWater: "2026-03-01T11:59:30Z", committed: true }),
    ).to.equal(true);
    let s = m.snapshot().checkpoints;
    expect(s.map((c) => c.checkpoint)).to.deep.equal(["appointments", "patients"]);
    expect(s[1]).to.deep.equal({
      checkpoint: "patients",
      highWater: "2026-03-01T11:00:00.000Z",
      lagSeconds: 3600,
      lastCommitAt: null,
      reportedAt: "2026-03-01T12:00:00.000Z",
    });
    expect(s[0]).to.include({ lagSeconds: 30, lastCommitAt: "2026-03-01T12:00:00.000Z" });
    clock.now += 60000;
    // A run starts from the committed mark: the commit time stays; the lag grows with the clock.
    m.recordCheckpoint({ checkpoint: "appointments", highWater: "2026-03-01T11:59:30Z", committed: false });
    s = m.snapshot().checkpoints;
    expect(s[0]).to.include({
      lagSeconds: 90,
      lastCommitAt: "2026-03-01T12:00:00.000Z",
      reportedAt: "2026-03-01T12:01:00.000Z",
    });
    // A mark ahead of this clock is not behind.
    m.recordCheckpoint({ checkpoint: "patients", highWater: "2026-03-01T12:05:00Z", committed: true });
    expect(m.snapshot().checkpoints[1].lagSeconds).to.equal(0);
  });

  it("drops malformed and out-of-order reports, and new names past maxQueues", () => {
    const clock = { now: at("2026-03-01T12:00:00Z") };
    const m = new HealthMonitor(parseHealthConfig({ window: 60, maxQueues: 2 }), { now: () => clock.now });
    const bad: unknown[] = [
      null,
      { checkpoint: "", highWater: "2026-03-01T11:00:00Z", committed: true },
      { checkpoint: "a\nb", highWater: "2026-03-01T11:00:00Z", committed: true },
      { checkpoint: "x".repeat(201), highWater: "2026-03-01T11:00:00Z", committed: true },
      { checkpoint: "p", highWater: "not a time", committed: true },
      { checkpoint: "p", highWater: "2026-03-01T11:00:00Z", committed: "yes" },
      { checkpoint: "p", highWater: "2026-03-01T11:00:00Z", committed: true, time: Number.NaN },
    ];
    for (const b of bad) expect(m.recordCheckpoint(b as never), JSON.stringify(b)).to.equal(false);
    expect(m.checkpointsIgnored).to.equal(bad.length);
    m.recordCheckpoint({
      checkpoint: "p",
      highWater: "2026-03-01T11:30:00Z",
      committed: true,
      time: clock.now,
    });
    expect(
      m.recordCheckpoint({
        checkpoint: "p",
        highWater: "2026-03-01T11:00:00Z",
        committed: false,
        time: clock.now - 1,
      }),
      "an older report",
    ).to.equal(false);
    expect(m.snapshot().checkpoints[0].highWater).to.equal("2026-03-01T11:30:00.000Z");
    expect(
      m.recordCheckpoint({ checkpoint: "q", highWater: "2026-03-01T11:00:00Z", committed: false }),
    ).to.equal(true);
    expect(
      m.recordCheckpoint({ checkpoint: "r", highWater: "2026-03-01T11:00:00Z", committed: false }),
    ).to.equal(false);
    expect(m.snapshot().checkpoints.map((c) => c.checkpoint)).to.deep.equal(["p", "q"]);
  });

  it("exports pmsehr_checkpoint_lag_seconds, and the last commit time once there is one", () => {
    const clock = { now: at("2026-03-01T12:00:00Z") };
    const m = new HealthMonitor(parseHealthConfig({ window: 60 }), { now: () => clock.now });
    m.recordCheckpoint({ checkpoint: 'pms "east"', highWater: "2026-03-01T11:58:00Z", committed: false });
    let text = toPrometheus(m.snapshot());
    expect(text).to.include('pmsehr_checkpoint_lag_seconds{checkpoint="pms \\"east\\""} 120\n');
    expect(text).to.not.match(/^pmsehr_checkpoint_last_commit_timestamp_seconds\{/m);
    m.recordCheckpoint({ checkpoint: 'pms "east"', highWater: "2026-03-01T11:59:00Z", committed: true });
    text = toPrometheus(m.snapshot());
    expect(text).to.include(
      `pmsehr_checkpoint_last_commit_timestamp_seconds{checkpoint="pms \\"east\\""} ${clock.now / 1000}\n`,
    );
  });
});
