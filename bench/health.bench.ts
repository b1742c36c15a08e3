import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { HEALTH_EVENT, healthBus, reportHealth, type HealthEvent } from "../lib/health/bus";
import { parseHealthConfig } from "../lib/health/config";
import { HealthMonitor } from "../lib/health/monitor";
import { mulberry32 } from "../sandbox/pms/data";

const EVENTS = 2_000_000;
const ROUNDS = 5;
const INTEGRATIONS = ["fhir", "pms-api", "webhooks", "mllp-in", "mllp-out"];

/** Seeded events: 5 integrations, 3 % failures, log-normal latencies, times spread over 10 minutes. */
function makeEvents(start: number): HealthEvent[] {
  const rand = mulberry32(42);
  const out: HealthEvent[] = new Array<HealthEvent>(EVENTS);
  for (let i = 0; i < EVENTS; i++) {
    const u = Math.max(rand(), 1e-12);
    const ms = Math.exp(Math.log(150) + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()));
    const success = rand() >= 0.03;
    const e: HealthEvent = {
      integration: INTEGRATIONS[i % INTEGRATIONS.length],
      success,
      durationMs: ms,
      time: start + Math.floor((i / EVENTS) * 600000),
    };
    if (!success) e.error = "FHIR_HTTP_503";
    out[i] = e;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Events per second of `fn` over all events, the median of ROUNDS rounds (after one warm-up). */
function measure(events: HealthEvent[], fresh: () => (e: HealthEvent) => void): number {
  const rates: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const record = fresh();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < events.length; i++) record(events[i]);
    const ns = Number(process.hrtime.bigint() - t0);
    if (r > 0) rates.push(events.length / (ns / 1e9));
  }
  return median(rates);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export async function run(): Promise<void> {
  const start = Date.parse("2025-03-01T12:00:00Z");
  const end = start + 600000;
  // 2,400 calls a window leave 20 in each of its 120 buckets (exact latencies only); 12,000 leave
  // 100, more than a bucket keeps exactly, so each bucket also has a histogram.
  const exactOnly = memoryPerIntegration(2400, end);
  const withHistograms = memoryPerIntegration(12000, end);
  const events = makeEvents(start);
  const config = parseHealthConfig({ window: 300 });

  const monitorRate = measure(events, () => {
    const m = new HealthMonitor(config, { now: () => end });
    return (e) => m.record(e);
  });

  let sink: HealthEvent[] = [];
  const pushRate = measure(events, () => {
    sink = [];
    return (e) => sink.push(e);
  });

  // The usual naive monitor: every event kept in a list per integration, the expired ones
  // skipped by a moving head and cut off now and then (percentiles would then need a sort).
  const naiveRate = measure(events, () => {
    const lists = new Map<string, { items: Array<{ t: number; ok: boolean; ms: number }>; head: number }>();
    return (e) => {
      let l = lists.get(e.integration);
      if (!l) lists.set(e.integration, (l = { items: [], head: 0 }));
      const t = e.time ?? end;
      l.items.push({ t, ok: e.success, ms: e.durationMs });
      while (l.head < l.items.length && l.items[l.head].t <= t - 300000) l.head++;
      if (l.head > 65536) {
        l.items = l.items.slice(l.head);
        l.head = 0;
      }
    };
  });

  const bus = healthBus();
  const busRate = measure(events, () => {
    bus.removeAllListeners(HEALTH_EVENT);
    const m = new HealthMonitor(config, { now: () => end });
    bus.on(HEALTH_EVENT, (e: HealthEvent) => m.record(e));
    return reportHealth;
  });
  bus.removeAllListeners(HEALTH_EVENT);

  const m = new HealthMonitor(config, { now: () => end });
  for (const e of events) m.record(e);
  const snaps: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    m.evaluate();
    m.snapshot({ series: true });
    snaps.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  console.log(
    `events: ${fmt(EVENTS)} over ${INTEGRATIONS.length} integrations, window 300 s, median of ${ROUNDS} rounds`,
  );
  console.log(
    `HealthMonitor.record           ${fmt(monitorRate).padStart(12)} events/s  (target >= 1,000,000)`,
  );
  console.log(`reportHealth -> bus -> record  ${fmt(busRate).padStart(12)} events/s`);
  console.log(
    `baseline: array push           ${fmt(pushRate).padStart(12)} events/s  ratio ${(monitorRate / pushRate).toFixed(2)}`,
  );
  console.log(
    `baseline: naive event list     ${fmt(naiveRate).padStart(12)} events/s  ratio ${(monitorRate / naiveRate).toFixed(2)}`,
  );
  console.log(`evaluate + snapshot with series, 5 busy integrations: median ${median(snaps).toFixed(2)} ms`);
  console.log(
    `memory per integration, 120 buckets: about ${(exactOnly / 1024).toFixed(0)} KiB at 2,400 calls a window ` +
      `(20 a bucket, kept exactly), ${(withHistograms / 1024).toFixed(0)} KiB at 12,000 (100 a bucket: a histogram each)`,
  );
  console.log(`target met: ${monitorRate >= 1_000_000 ? "yes" : "no"}`);
}

/**
 * Bytes an integration costs with `calls` calls spread evenly over a 300 s window (the mean of
 * 100 integrations). Each reading is taken right after a full collection, before the timed
 * rounds allocate anything (garbage of theirs collected in between made the figure negative).
 * The buckets are typed arrays, whose contents V8 counts outside the heap.
 */
function memoryPerIntegration(calls: number, end: number): number {
  const gc = collector();
  const used = (): number => {
    gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  const before = used();
  const many = new HealthMonitor(parseHealthConfig({ window: 300, maxIntegrations: 1000 }), {
    now: () => end,
  });
  for (let k = 0; k < 100; k++) {
    for (let i = 0; i < calls; i++) {
      const time = end - Math.floor((i * 300_000) / calls);
      many.record({ integration: `i${k}`, success: true, durationMs: 10 + (i % 2000), time });
    }
  }
  const after = used();
  return (after - before) / Object.keys(many.snapshot().integrations).length;
}

/** V8's full garbage collection, without starting node with --expose-gc. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
