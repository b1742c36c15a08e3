import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { QUEUE_DEFAULTS, type RetryPolicy } from "../../lib/store/policy";
import type { StoredMsg } from "../../lib/store/types";
import { numberProp } from "../shared/props";

export interface DurableQueueProps {
  store?: string;
  queue?: string;
  key?: string;
  keyType?: string;
  dedupe?: string;
  concurrency?: string | number;
  maxAttempts?: string | number;
  maxAge?: string | number;
  backoffBase?: string | number;
  backoffCap?: string | number;
  visibility?: string | number;
}

/** What msg.queue holds on both outputs. */
export interface QueueMeta {
  name: string;
  id: number;
  key: string | null;
  attempt: number;
  enqueuedAt: string;
  /** The message-store config node's id: queue-done finds the queue by it and `name`. */
  store: string;
  duplicate?: boolean;
}

/** The msg properties a delivery carries: payload, topic and the pack's namespaces. */
export const STORED_PROPERTIES = [
  "payload",
  "topic",
  "fhir",
  "hl7",
  "legacy",
  "mapping",
  "webhook",
  "checkpoint",
  "resourceType",
  "id",
  "params",
] as const;

export function storedMsgOf(msg: Record<string, unknown>): StoredMsg {
  const out: StoredMsg = {};
  for (const name of STORED_PROPERTIES) if (msg[name] !== undefined) out[name] = msg[name];
  return out;
}

export interface QueueOptions {
  queue: string;
  concurrency: number;
  visibilityMs: number;
  policy: RetryPolicy;
}

/** A property in its unit (hours, seconds) as ms (`scale`); empty: the default, given in the same unit. */
function number(name: string, value: unknown, fallback: number, min: number, scale = 1): number {
  return Math.round(
    numberProp(value, fallback, { name, code: CODES.QUEUE_CONFIG, min, integer: false }) * scale,
  );
}

export function optionsOf(def: DurableQueueProps): QueueOptions {
  const queue = (def.queue ?? "").trim();
  if (queue === "") throw new PackError(CODES.QUEUE_CONFIG, "queue name is required");
  const backoffBaseMs = number(
    "backoff base",
    def.backoffBase,
    QUEUE_DEFAULTS.backoffBaseMs / 1000,
    0.001,
    1000,
  );
  const backoffCapMs = number("backoff cap", def.backoffCap, QUEUE_DEFAULTS.backoffCapMs / 1000, 0.001, 1000);
  if (backoffCapMs < backoffBaseMs)
    throw new PackError(CODES.QUEUE_CONFIG, "backoff cap must not be below its base");
  return {
    queue,
    concurrency: number("concurrency", def.concurrency, QUEUE_DEFAULTS.concurrency, 1),
    visibilityMs: number("visibility", def.visibility, QUEUE_DEFAULTS.visibilityMs / 1000, 1, 1000),
    policy: {
      maxAttempts: number("max attempts", def.maxAttempts, QUEUE_DEFAULTS.maxAttempts, 1),
      maxAgeMs: number("max age", def.maxAge, QUEUE_DEFAULTS.maxAgeMs / 3600_000, 0.001, 3600_000),
      backoffBaseMs,
      backoffCapMs,
    },
  };
}

export function keyText(value: unknown): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new PackError(CODES.QUEUE_BAD_INPUT, "the queue key must be a string or a number");
}
