import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { decodeMsg, deriveKey, encodeMsg, newSalt } from "./codec";
import type { DeadLetter, Failure, QueueOptions } from "./types";

/** What both backends decide alike: the store's key, state values, dead letters, messages past their turn. */

const KEY_CHECK = "pms-ehr message store";

/** A message's state as the stores keep it (0 to 3) and as the admin API names it. */
export const STATE_NAMES = ["waiting", "in-flight", "dead", "delivered"] as const;

/**
 * A store failure as QUEUE_STORE naming the action, the driver's own code kept in the details under
 * the driver's name (`sqlite`, `postgres`); a PackError passes through.
 */
export function storeError(driver: "sqlite" | "postgres", action: string, err: unknown): PackError {
  if (err instanceof PackError) return err;
  const code = (err as { code?: unknown })?.code;
  return new PackError(
    CODES.QUEUE_STORE,
    `message store: ${action} failed: ${(err as Error)?.message ?? String(err)}`,
    typeof code === "string" ? { [driver]: code } : undefined,
    { cause: err },
  );
}

/**
 * The store's key from its secret and what the store keeps (salt, key check): undefined without a
 * secret; `seal` holds the salt and check to write when the store has none yet. QUEUE_KEY when a
 * sealed store is opened without its key (it would take new messages in plain text) or with another.
 */
export function storeKey(
  secret: string | undefined,
  salt: Buffer | undefined,
  check: Buffer | undefined,
): { key?: Buffer; seal?: { salt: Buffer; check: Buffer } } {
  if (!secret) {
    if (check) {
      throw new PackError(
        CODES.QUEUE_KEY,
        "this message store was sealed with an encryptionKey and none is set: it is not opened, so that no message is stored unencrypted",
      );
    }
    return {};
  }
  if (!salt) {
    const fresh = newSalt();
    const key = deriveKey(secret, fresh);
    return { key, seal: { salt: fresh, check: encodeMsg({ check: KEY_CHECK }, key) } };
  }
  const key = deriveKey(secret, salt);
  if (check) {
    try {
      if (decodeMsg(check, key).check !== KEY_CHECK) throw new Error("mismatch");
    } catch {
      throw new PackError(
        CODES.QUEUE_KEY,
        "the encryptionKey does not match the key this message store was sealed with",
      );
    }
  }
  return { key };
}

/** A state value's row body, or QUEUE_BAD_INPUT for a value JSON cannot hold. */
export function stateBody(key: string, value: unknown, sealKey: Buffer | undefined): Buffer {
  try {
    return encodeMsg({ v: value }, sealKey);
  } catch (err) {
    throw new PackError(
      CODES.QUEUE_BAD_INPUT,
      `state ${key}: not storable as JSON: ${(err as Error).message}`,
    );
  }
}

/** Why a message whose turn has come must not be delivered again (this attempt counted), if it must not. */
export function overdue(
  options: QueueOptions,
  attempt: number,
  enqueuedAt: number,
  now: number,
): Failure | undefined {
  if (now - enqueuedAt > options.maxAgeMs) {
    return {
      code: CODES.QUEUE_EXPIRED,
      message: `not delivered within the queue's maximum age (${Math.round(options.maxAgeMs / 1000)} s)`,
    };
  }
  if (attempt > options.maxAttempts) {
    return {
      code: CODES.QUEUE_INTERRUPTED,
      message: `delivery was interrupted ${attempt - 1} times (the runtime stopped while it was in flight)`,
    };
  }
  return undefined;
}

/** A dead-letter row as both stores select it. */
export interface DeadRow {
  id: number;
  queue: string;
  key: string | null;
  attempt: number;
  enqueued_at: number;
  first_try_at: number | null;
  last_try_at: number | null;
  done_at: number | null;
  error_code: string | null;
  error_message: string | null;
}

export function deadLetterOf(r: DeadRow): DeadLetter {
  return {
    id: r.id,
    queue: r.queue,
    key: r.key,
    code: r.error_code ?? CODES.QUEUE_ERROR,
    message: r.error_message ?? "",
    attempts: r.attempt,
    enqueuedAt: r.enqueued_at,
    firstTryAt: r.first_try_at,
    lastTryAt: r.last_try_at,
    deadAt: r.done_at ?? r.last_try_at ?? r.enqueued_at,
  };
}
