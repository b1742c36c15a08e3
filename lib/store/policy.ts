import { CODES } from "../error-codes";
import { backoffDelay } from "../http/retry";
/**
 * What happens to a delivery that failed: retried after a backoff, or a dead letter at once.
 * The error's code decides; an operator can replay a dead letter once the cause is fixed.
 */

export interface RetryPolicy {
  maxAttempts: number;
  maxAgeMs: number;
  /** First backoff step and the cap of one wait, ms. */
  backoffBaseMs: number;
  backoffCapMs: number;
}

export const QUEUE_DEFAULTS = {
  concurrency: 4,
  maxAttempts: 10,
  maxAgeMs: 24 * 3600_000,
  backoffBaseMs: 1_000,
  backoffCapMs: 300_000,
  visibilityMs: 300_000,
} as const;

/** Codes whose cause may pass: the destination was down, slow, busy or unreachable. */
const RETRYABLE_SUFFIXES = ["_NETWORK", "_TIMEOUT", "_REPLY_TIMEOUT", "_CLOSED", "_CONNECT", "_ABORTED"];
const RETRYABLE_CODES = new Set([
  CODES.MLLP_QUEUE_FULL,
  CODES.FHIR_AUTH,
  CODES.QUEUE_STORE,
  CODES.CHECKPOINT_BUSY,
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
]);
/** Codes of errors in the message or the flow: another try gives the same answer. */
const PERMANENT_PREFIXES = ["MAP_", "HL7_", "WEBHOOK_", "FLOW_"];
const PERMANENT_SUFFIXES = [
  "_BAD_INPUT",
  "_CONFIG",
  "_PARSE",
  "_UNSUPPORTED",
  "_OVERSIZE",
  "_TOO_LARGE",
  "_REQUIRED",
];

/**
 * True when a failure with this code is worth another try. HTTP statuses in codes
 * (`FHIR_HTTP_503`, `LEGACY_HTTP_429`): 408, 425, 429 and 5xx retry, other 4xx do not. A code
 * the pack does not know (a user's function node threw) is retried: the attempts bound it, and a
 * dead letter from a transient fault would need an operator. A NAK (`MLLP_NAK`) is retried unless
 * the receiver refused the message for good (AR, CR), as the pack's own listeners answer a message
 * that will never succeed; AE and CE (an error that may pass: the receiver could not store it) are
 * retried, as are NAKs whose code was not read.
 */
export function isRetryable(code: string | undefined, ackCode?: string): boolean {
  if (!code) return true;
  if (code === CODES.MLLP_NAK) return ackCode !== "AR" && ackCode !== "CR";
  const http = /_HTTP_(\d{3})$/.exec(code);
  if (http) {
    const status = Number(http[1]);
    return status === 408 || status === 425 || status === 429 || status >= 500;
  }
  if (RETRYABLE_CODES.has(code)) return true;
  if (RETRYABLE_SUFFIXES.some((s) => code.endsWith(s))) return true;
  if (PERMANENT_PREFIXES.some((p) => code.startsWith(p))) return false;
  if (PERMANENT_SUFFIXES.some((s) => code.endsWith(s))) return false;
  return true;
}

/**
 * When to try again, or "dead": permanent failures, the last attempt, or a retry that would
 * come after the message's maximum age.
 */
export function nextTry(
  policy: RetryPolicy,
  failure: { code?: string; retryAfterMs?: number; ackCode?: string },
  attempt: number,
  enqueuedAt: number,
  now = Date.now(),
  random = Math.random,
): { retryAt: number } | { dead: "permanent" | "attempts" | "age" } {
  if (!isRetryable(failure.code, failure.ackCode)) return { dead: "permanent" };
  if (attempt >= policy.maxAttempts) return { dead: "attempts" };
  const wait =
    failure.retryAfterMs !== undefined && Number.isFinite(failure.retryAfterMs) && failure.retryAfterMs >= 0
      ? failure.retryAfterMs
      : backoffDelay(
          attempt,
          { baseMs: policy.backoffBaseMs, maxMs: policy.backoffCapMs, jitter: "equal" },
          random,
        );
  const retryAt = now + wait;
  if (retryAt - enqueuedAt > policy.maxAgeMs) return { dead: "age" };
  return { retryAt };
}
