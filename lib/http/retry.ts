/**
 * The one retry module of the HTTP clients (FHIR and legacy) and of durable-queue's redeliveries:
 * which requests may be retried, how long to wait (exponential backoff with full or equal jitter,
 * or the server's Retry-After), and an abortable sleep. Attempts count from 1: `attempt` is always
 * the attempt that just failed.
 */

export interface BackoffPolicy {
  /** First backoff step in ms. */
  baseMs: number;
  /** Cap of one wait in ms. */
  maxMs: number;
  /**
   * A Retry-After longer than maxMs: "give-up" (the default, the legacy client) ends the retries,
   * "wait-cap" (the FHIR client, whose servers' Retry-After is often a generous estimate) waits
   * maxMs and tries again.
   */
  longRetryAfter?: "give-up" | "wait-cap";
  /**
   * "full" (the default, the HTTP clients): a uniform wait in [0, step). "equal" (durable-queue):
   * half the step fixed and half random, so a redelivery never comes at once after a failure yet
   * redeliveries of many messages spread out.
   */
  jitter?: "full" | "equal";
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/**
 * Retry-After (RFC 9110 §10.2.3) as a wait in ms: either delay-seconds or an HTTP-date.
 * Undefined when absent or unparseable; a date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | string[] | null | undefined,
  now = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw == null) return undefined;
  const text = raw.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Each of RFC 9110's three date forms (IMF-fixdate, RFC 850, asctime) starts with the weekday,
  // which keeps bare numbers and ISO strings out; Date.parse reads all three.
  if (!/^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Backoff after failed attempt number `attempt` (from 1), from the step
 * min(maxMs, baseMs * 2^(attempt-1)): "full" jitter, a uniform wait in [0, step); "equal" jitter,
 * step/2 plus a uniform part of step/2, rounded. `random` returns [0, 1).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  // 2^n overflows to Infinity long after the cap applies; Math.min keeps it finite.
  const step = Math.max(0, Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1)));
  if (policy.jitter === "equal") return Math.round(step / 2 + (random() * step) / 2);
  return Math.floor(random() * step);
}

/**
 * The wait after failed attempt number `attempt` (from 1): the server's Retry-After when it sent
 * one, else the jittered backoff. A Retry-After above the cap gives undefined ("do not retry")
 * under "give-up", the cap under "wait-cap".
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: BackoffPolicy & { longRetryAfter: "wait-cap" },
  random?: () => number,
): number;
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy?: BackoffPolicy,
  random?: () => number,
): number | undefined;
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | undefined {
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxMs) {
    return policy.longRetryAfter === "wait-cap" ? policy.maxMs : undefined;
  }
  if (retryAfterMs !== undefined) return retryAfterMs;
  return backoffDelay(attempt, policy, random);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
