/** Statuses worth another attempt: the server did not process the request, or says to come back. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(maxMs, baseMs * 2^(attempt-1))].
 * `attempt` is the number of the attempt that just failed (1 for the first). `random` returns [0, 1).
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exp = Math.max(0, attempt - 1);
  // 2^exp overflows to Infinity long after the cap applies; Math.min keeps it finite.
  const ceiling = Math.min(maxMs, baseMs * Math.pow(2, Math.min(exp, 60)));
  return Math.floor(random() * Math.max(0, ceiling));
}

/**
 * Retry-After in ms: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT").
 * Undefined when absent or unparseable; 0 for a date in the past.
 */
export function parseRetryAfter(
  value: string | string[] | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (value == null) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // RFC 9110 allows only IMF-fixdate and two obsolete forms; Date.parse reads all three.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The wait before the next attempt: Retry-After when the server gave one, else jittered backoff; both capped. */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, maxMs);
  return backoffDelay(attempt, baseMs, maxMs, random);
}
