import { BINS, binOf, exactQuantiles, histogramQuantiles } from "./histogram";

/** Raw latencies kept per bucket; while every bucket of the window holds all of its values, quantiles are exact. */
export const EXACT_PER_BUCKET = 32;

export const QUANTILES = [0.5, 0.95, 0.99] as const;

export interface WindowStats {
  total: number;
  failures: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
  /** p50, p95, p99 (NaN when there are no events); only when asked for. */
  quantiles?: number[];
  /** Whether the quantiles are exact (else read from the histogram). */
  exact?: boolean;
}

export interface BucketPoint {
  /** Start of the bucket, epoch ms. */
  start: number;
  total: number;
  failures: number;
  meanMs: number | null;
  p95Ms: number | null;
}

/**
 * A rolling window as a ring of time buckets. Recording is O(1): it touches one bucket, and
 * a bucket whose time has passed is recycled when an event falls into its slot again. Reading
 * merges the buckets still inside the window.
 */
export class RollingWindow {
  readonly buckets: number;
  readonly bucketMs: number;
  private readonly epoch: Float64Array;
  private readonly count: Uint32Array;
  private readonly fails: Uint32Array;
  private readonly sum: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly samples: Float64Array;
  private readonly hist: Array<Uint32Array | null>;

  constructor(windowMs: number, buckets: number) {
    this.buckets = buckets;
    this.bucketMs = windowMs / buckets;
    this.epoch = new Float64Array(buckets).fill(-Infinity);
    this.count = new Uint32Array(buckets);
    this.fails = new Uint32Array(buckets);
    this.sum = new Float64Array(buckets);
    this.min = new Float64Array(buckets);
    this.max = new Float64Array(buckets);
    this.samples = new Float64Array(buckets * EXACT_PER_BUCKET);
    this.hist = new Array<Uint32Array | null>(buckets).fill(null);
  }

  /** Adds one event at `time` (epoch ms). False when its bucket has already been recycled for a later time. */
  record(time: number, success: boolean, ms: number): boolean {
    const idx = Math.floor(time / this.bucketMs);
    const slot = idx % this.buckets;
    const e = this.epoch[slot];
    if (e !== idx) {
      if (e > idx) return false;
      this.epoch[slot] = idx;
      this.count[slot] = 0;
      this.fails[slot] = 0;
      this.sum[slot] = 0;
      this.min[slot] = ms;
      this.max[slot] = ms;
    }
    const c = this.count[slot]++;
    if (!success) this.fails[slot]++;
    this.sum[slot] += ms;
    if (ms < this.min[slot]) this.min[slot] = ms;
    else if (ms > this.max[slot]) this.max[slot] = ms;
    if (c < EXACT_PER_BUCKET) {
      this.samples[slot * EXACT_PER_BUCKET + c] = ms;
    } else {
      let h = this.hist[slot];
      if (c === EXACT_PER_BUCKET) {
        if (h) h.fill(0);
        else h = this.hist[slot] = new Uint32Array(BINS);
        const base = slot * EXACT_PER_BUCKET;
        for (let i = 0; i < EXACT_PER_BUCKET; i++) h[binOf(this.samples[base + i])]++;
      }
      (h as Uint32Array)[binOf(ms)]++;
    }
    return true;
  }

  /** Slots of the buckets inside the window that ends at `now`, oldest first. */
  private liveSlots(now: number): number[] {
    const last = Math.floor(now / this.bucketMs);
    const out: number[] = [];
    for (let idx = last - this.buckets + 1; idx <= last; idx++) {
      const slot = ((idx % this.buckets) + this.buckets) % this.buckets;
      if (this.epoch[slot] === idx && this.count[slot] > 0) out.push(slot);
    }
    return out;
  }

  /** The merged statistics of the window ending at `now`; with `quantiles`, p50/p95/p99 as well. */
  stats(now: number, quantiles = false): WindowStats {
    const slots = this.liveSlots(now);
    let total = 0;
    let failures = 0;
    let sumMs = 0;
    let minMs = Infinity;
    let maxMs = -Infinity;
    let exact = true;
    for (const s of slots) {
      total += this.count[s];
      failures += this.fails[s];
      sumMs += this.sum[s];
      if (this.min[s] < minMs) minMs = this.min[s];
      if (this.max[s] > maxMs) maxMs = this.max[s];
      if (this.count[s] > EXACT_PER_BUCKET) exact = false;
    }
    const out: WindowStats = { total, failures, sumMs, minMs, maxMs };
    if (quantiles) {
      out.exact = exact;
      out.quantiles = exact ? this.exactOf(slots, total) : this.mergedOf(slots, total, minMs, maxMs);
    }
    return out;
  }

  private exactOf(slots: number[], total: number): number[] {
    const values = new Float64Array(total);
    let k = 0;
    for (const s of slots) {
      const base = s * EXACT_PER_BUCKET;
      for (let i = 0; i < this.count[s]; i++) values[k++] = this.samples[base + i];
    }
    return exactQuantiles(values, QUANTILES);
  }

  private mergedOf(slots: number[], total: number, minMs: number, maxMs: number): number[] {
    const merged = new Uint32Array(BINS);
    for (const s of slots) this.addBucket(merged, s);
    return histogramQuantiles(merged, total, QUANTILES, minMs, maxMs);
  }

  private addBucket(into: Uint32Array, s: number): void {
    const h = this.hist[s];
    if (this.count[s] > EXACT_PER_BUCKET && h) {
      for (let b = 0; b < BINS; b++) into[b] += h[b];
    } else {
      const base = s * EXACT_PER_BUCKET;
      for (let i = 0; i < this.count[s]; i++) into[binOf(this.samples[base + i])]++;
    }
  }

  /** One point per bucket of the window ending at `now`, oldest first, empty buckets included. */
  series(now: number): BucketPoint[] {
    const last = Math.floor(now / this.bucketMs);
    const out: BucketPoint[] = [];
    for (let idx = last - this.buckets + 1; idx <= last; idx++) {
      const slot = ((idx % this.buckets) + this.buckets) % this.buckets;
      const start = Math.round(idx * this.bucketMs);
      if (this.epoch[slot] !== idx || this.count[slot] === 0) {
        out.push({ start, total: 0, failures: 0, meanMs: null, p95Ms: null });
        continue;
      }
      const n = this.count[slot];
      let p95: number;
      if (n <= EXACT_PER_BUCKET) {
        const base = slot * EXACT_PER_BUCKET;
        p95 = exactQuantiles(this.samples.slice(base, base + n), [0.95])[0];
      } else {
        p95 = histogramQuantiles(
          this.hist[slot] as Uint32Array,
          n,
          [0.95],
          this.min[slot],
          this.max[slot],
        )[0];
      }
      out.push({ start, total: n, failures: this.fails[slot], meanMs: this.sum[slot] / n, p95Ms: p95 });
    }
    return out;
  }
}
