import { backoffDelay as jitteredBackoff, isRetryableStatus, parseRetryAfter } from "../http/retry";

export { isRetryableStatus, parseRetryAfter };

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
  return jitteredBackoff(attempt - 1, { baseMs, maxMs }, random);
}

/**
 * The wait before the next attempt: Retry-After when the server gave one, else jittered backoff.
 * Unlike the legacy client, which gives up when Retry-After exceeds the cap, the FHIR client
 * waits the cap and tries again (a FHIR server's Retry-After is often a generous estimate).
 */
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
