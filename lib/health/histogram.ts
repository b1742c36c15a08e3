/**
 * A fixed log-scale latency histogram: below 1 ms, 16 linear bins of 1/16 ms; from 1 ms to
 * 2^23 ms (about 2.3 h), 32 bins per doubling; one bin above. A bin stands for its (geometric)
 * middle, so a quantile read from it is within 1.09 % (or 1/32 ms below 1 ms) of a value in
 * that bin, and it is clamped to the observed min and max. Counts add, so per-bucket
 * histograms merge exactly.
 */
export const LINEAR_BINS = 16;
export const BINS_PER_OCTAVE = 32;
export const OCTAVES = 23;
export const BINS = LINEAR_BINS + OCTAVES * BINS_PER_OCTAVE + 1;
const TOP = 2 ** OCTAVES;

/** The bin of a latency in ms; negative and NaN count as 0. */
export function binOf(ms: number): number {
  if (!(ms >= 1)) return ms > 0 ? (ms * LINEAR_BINS) | 0 : 0;
  if (ms >= TOP) return BINS - 1;
  return LINEAR_BINS + ((Math.log2(ms) * BINS_PER_OCTAVE) | 0);
}

/** The value a bin stands for. */
export function binValue(bin: number): number {
  if (bin < LINEAR_BINS) return (bin + 0.5) / LINEAR_BINS;
  if (bin >= BINS - 1) return TOP;
  return 2 ** ((bin - LINEAR_BINS + 0.5) / BINS_PER_OCTAVE);
}

/** The largest relative error of a value read from a log bin. */
export const RELATIVE_ERROR = 2 ** (1 / (2 * BINS_PER_OCTAVE)) - 1;

/** Nearest-rank: the smallest value with at least q of all values at or below it (1-based rank ceil(q*n)). */
export function rankOf(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n - 1e-9)));
}

/** Quantiles from a histogram of `n` values; `min`/`max` are the exact extremes seen. */
export function histogramQuantiles(
  hist: ArrayLike<number>,
  n: number,
  qs: readonly number[],
  min: number,
  max: number,
): number[] {
  const out: number[] = [];
  if (n === 0) return qs.map(() => NaN);
  const ranks = qs.map((q) => rankOf(q, n));
  let cum = 0;
  let qi = 0;
  const order = ranks.map((r, i) => [r, i] as const).sort((a, b) => a[0] - b[0]);
  for (let bin = 0; bin < BINS && qi < order.length; bin++) {
    cum += hist[bin];
    while (qi < order.length && cum >= order[qi][0]) {
      const v = binValue(bin);
      out[order[qi][1]] = v < min ? min : v > max ? max : v;
      qi++;
    }
  }
  while (qi < order.length) out[order[qi++][1]] = max;
  return out;
}

/** Exact nearest-rank quantiles of the values (sorted in place). */
export function exactQuantiles(values: Float64Array | number[], qs: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return qs.map(() => NaN);
  values.sort((a, b) => a - b);
  return qs.map((q) => values[rankOf(q, n) - 1]);
}

/**
 * The upper bounds (seconds) of the cumulative latency buckets exported to Prometheus, from a fast
 * FHIR read to a slow batch: what `histogram_quantile` and heat maps read across instances.
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

/** The index of the first bucket whose bound is at or above `ms`, or the bucket count for +Inf. */
export function latencyBucketOf(ms: number): number {
  const s = ms / 1000;
  let i = 0;
  while (i < LATENCY_BUCKETS_SECONDS.length && s > LATENCY_BUCKETS_SECONDS[i]) i++;
  return i;
}
