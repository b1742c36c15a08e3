import { LATENCY_BUCKETS_SECONDS, latencyBucketOf } from "./histogram";

/** One point of an integration's history. */
export interface HistoryPoint {
  /** Start of the period, epoch ms. */
  start: number;
  total: number;
  failures: number;
  meanMs: number | null;
  /**
   * The upper bound (ms) of the latency bucket that holds the 95th percentile of the period's calls
   * (the buckets of the Prometheus histogram), or the slowest call when that is lower or above the
   * last bound; null without calls.
   */
  p95Ms: number | null;
}

/**
 * An integration's longer history at a coarse resolution (by default 24 h in 96 periods of 15
 * min), in fixed memory: per period a count, failures, a sum, a maximum and the counts of the
 * 14 latency buckets, whatever the traffic. A period is recycled when an event falls into its
 * slot a span later.
 */
export class HistoryRing {
  readonly periodMs: number;
  readonly periods: number;
  private readonly epoch: Float64Array;
  private readonly count: Float64Array;
  private readonly fails: Float64Array;
  private readonly sum: Float64Array;
  private readonly max: Float64Array;
  private readonly bins: Float64Array;
  private static readonly BINS = LATENCY_BUCKETS_SECONDS.length + 1;

  constructor(spanMs = 24 * 3600 * 1000, periods = 96) {
    this.periods = periods;
    this.periodMs = spanMs / periods;
    this.epoch = new Float64Array(periods).fill(-Infinity);
    this.count = new Float64Array(periods);
    this.fails = new Float64Array(periods);
    this.sum = new Float64Array(periods);
    this.max = new Float64Array(periods);
    this.bins = new Float64Array(periods * HistoryRing.BINS);
  }

  /** Adds one call at `time` (epoch ms). False when its period has already been recycled for a later one. */
  record(time: number, success: boolean, ms: number): boolean {
    const idx = Math.floor(time / this.periodMs);
    const slot = idx % this.periods;
    if (this.epoch[slot] !== idx) {
      if (this.epoch[slot] > idx) return false;
      this.epoch[slot] = idx;
      this.count[slot] = 0;
      this.fails[slot] = 0;
      this.sum[slot] = 0;
      this.max[slot] = 0;
      this.bins.fill(0, slot * HistoryRing.BINS, (slot + 1) * HistoryRing.BINS);
    }
    this.count[slot]++;
    if (!success) this.fails[slot]++;
    this.sum[slot] += ms;
    if (ms > this.max[slot]) this.max[slot] = ms;
    this.bins[slot * HistoryRing.BINS + latencyBucketOf(ms)]++;
    return true;
  }

  /** One point per period of the span that ends with the current one, oldest first. */
  series(now: number): HistoryPoint[] {
    const last = Math.floor(now / this.periodMs);
    const out: HistoryPoint[] = [];
    for (let idx = last - this.periods + 1; idx <= last; idx++) {
      const slot = ((idx % this.periods) + this.periods) % this.periods;
      const live = this.epoch[slot] === idx;
      const total = live ? this.count[slot] : 0;
      out.push({
        start: idx * this.periodMs,
        total,
        failures: live ? this.fails[slot] : 0,
        meanMs: total > 0 ? this.sum[slot] / total : null,
        p95Ms: total > 0 ? this.p95(slot, total) : null,
      });
    }
    return out;
  }

  private p95(slot: number, total: number): number {
    const rank = Math.ceil(0.95 * total - 1e-9);
    let seen = 0;
    for (let b = 0; b < LATENCY_BUCKETS_SECONDS.length; b++) {
      seen += this.bins[slot * HistoryRing.BINS + b];
      if (seen >= rank) return Math.min(LATENCY_BUCKETS_SECONDS[b] * 1000, this.max[slot]);
    }
    return this.max[slot];
  }
}
