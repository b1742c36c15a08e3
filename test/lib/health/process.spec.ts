import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  HealthMonitor,
  ProcessMetrics,
  parseHealthConfig,
  toPrometheus,
  type EventLoopLag,
} from "../../../lib/health";
import { parsePrometheus, sampleOf } from "./prom-parse";

const run = promisify(execFile);

/** Samples periods of 0.5 s around a timer that blocks the event loop for 300 ms, and prints them. */
const CHILD = `
const { ProcessMetrics } = require(process.argv[1]);
const metrics = new ProcessMetrics({ periodMs: 500, resolutionMs: 10 });
const next = async () => {
  const before = metrics.sample().eventLoopLag;
  while (metrics.sample().eventLoopLag === before) await new Promise((r) => setTimeout(r, 20));
  return metrics.sample().eventLoopLag;
};
(async () => {
  await next();
  await new Promise((resolve) =>
    setTimeout(() => {
      const end = Date.now() + 300;
      while (Date.now() < end) {}
      resolve();
    }, 100),
  );
  const blocked = [await next(), await next()];
  const quiet = await next();
  metrics.close();
  process.stdout.write(JSON.stringify({ blocked, quiet }));
})();
`;

/** Keeps the event loop busy for `ms`: no timer can run meanwhile. */
function block(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* busy */
  }
}

/** Resolves after the next full period of `metrics` has been summed up (its lag changes object). */
async function nextPeriod(metrics: ProcessMetrics, periodMs: number): Promise<void> {
  const before = metrics.sample().eventLoopLag;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, periodMs / 5));
    if (metrics.sample().eventLoopLag !== before) return;
  }
  throw new Error("no period ended within 10 periods");
}

describe("health: the Node-RED process", function () {
  this.timeout(20000);

  it("reports memory and CPU of this process, and no event-loop figures before a period has passed", () => {
    const metrics = new ProcessMetrics({ periodMs: 60000 });
    try {
      const s = metrics.sample();
      const usage = process.memoryUsage();
      expect(s.rssBytes).to.be.within(usage.rss / 2, usage.rss * 2);
      expect(s.heapUsedBytes).to.be.greaterThan(0).and.at.most(s.heapTotalBytes);
      expect(s.cpuUserSeconds).to.be.greaterThan(0);
      expect(s.cpuSystemSeconds).to.be.at.least(0);
      expect(Math.abs(s.startTimeSeconds - (Date.now() / 1000 - process.uptime()))).to.be.below(2);
      expect(s.eventLoopLag).to.equal(null);
    } finally {
      metrics.close();
    }
  });

  it("measures how late the event loop ran over each period: a 300 ms block shows as the max of a period, and a quiet period after it does not", async () => {
    // In a process of its own, where nothing else runs on the event loop.
    const { stdout } = await run(process.execPath, [
      "-e",
      CHILD,
      join(__dirname, "..", "..", "..", "lib", "health"),
    ]);
    const { blocked, quiet } = JSON.parse(stdout) as { blocked: EventLoopLag[]; quiet: EventLoopLag };
    // The late timer is counted when it finally runs, which may be after a period ended during the
    // block: it shows in one of the two periods after it.
    const worst = blocked.reduce((a, b) => (b.max > a.max ? b : a));
    expect(worst.periodSeconds).to.equal(0.5);
    expect(worst.max).to.be.at.least(0.25);
    expect(worst.p99).to.be.at.most(worst.max);
    expect(worst.p50).to.be.at.most(worst.p99);
    expect(quiet.max, "the blocked period does not linger").to.be.below(0.25);
  });

  it("is exported under the names Prometheus clients use, absent figures left out", async () => {
    const periodMs = 200;
    const metrics = new ProcessMetrics({ periodMs, resolutionMs: 10 });
    try {
      const monitor = new HealthMonitor(parseHealthConfig({ window: 60 }), {
        process: () => metrics.sample(),
      });
      let f = parsePrometheus(toPrometheus(monitor.snapshot()));
      expect(f.get("process_resident_memory_bytes")?.type).to.equal("gauge");
      expect(f.get("process_cpu_seconds_total")?.type).to.equal("counter");
      expect(sampleOf(f, "process_resident_memory_bytes", {})).to.be.greaterThan(1e6);
      expect(sampleOf(f, "process_cpu_seconds_total", {})).to.be.closeTo(
        sampleOf(f, "process_cpu_user_seconds_total", {})! +
          sampleOf(f, "process_cpu_system_seconds_total", {})!,
        1e-9,
      );
      expect(f.get("nodejs_eventloop_lag_seconds")?.samples).to.deep.equal([]);
      await nextPeriod(metrics, periodMs);
      f = parsePrometheus(toPrometheus(monitor.snapshot()));
      expect(sampleOf(f, "nodejs_eventloop_lag_seconds", {})).to.be.greaterThan(0);
      expect(sampleOf(f, "nodejs_eventloop_lag_max_seconds", {})).to.be.at.least(
        sampleOf(f, "nodejs_eventloop_lag_p99_seconds", {})!,
      );
      expect(monitor.snapshot().process?.eventLoopLag?.periodSeconds).to.equal(0.2);
    } finally {
      metrics.close();
    }
  });

  it("stops summing periods on close", async () => {
    const metrics = new ProcessMetrics({ periodMs: 50, resolutionMs: 10 });
    await nextPeriod(metrics, 50);
    metrics.close();
    const lag = metrics.sample().eventLoopLag;
    expect(lag).to.not.equal(null);
    block(100);
    await new Promise((r) => setTimeout(r, 200));
    expect(metrics.sample().eventLoopLag).to.equal(lag);
  });
});
