import { createSecretKey, type KeyObject } from "node:crypto";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { SeenIds } from "./replay";
import {
  eventTypeOf,
  NO_EXPIRY,
  parseSecrets,
  REJECT_CODE,
  REJECT_STATUS,
  verifyWebhook,
  type RejectReason,
  type WebhookRequest,
  type WebhookScheme,
} from "./schemes";

/**
 * Where seen ids are kept across restarts; absent: this process only. Either the whole list under
 * one key (a Node-RED context store: read and written whole, so keep maxIds modest), or one entry
 * per id that expires by itself (a store that can look an id up: the pack's state file).
 */
export type SeenPersistence = SeenList | SeenKeys;

export interface SeenList {
  load(): Promise<unknown>;
  save(snapshot: Array<[string, number]>): Promise<void>;
}

export interface SeenKeys {
  /** Whether one of these ids was added and its time has not run out. */
  has(keys: readonly string[]): Promise<boolean>;
  add(keys: readonly string[], untilMs: number): Promise<void>;
  /**
   * Where several instances share the store: adds the ids unless one is there, in one step, and
   * says whether it added them. Used instead of has then add, which two instances could both pass.
   */
  addIfAbsent?(keys: readonly string[], untilMs: number): Promise<boolean>;
}

export interface VerifierOptions {
  scheme: WebhookScheme;
  /** One secret per line. */
  secrets: string | undefined;
  toleranceSeconds: number;
  maxBytes: number;
  maxIds: number;
  persistence?: SeenPersistence;
}

/**
 * How long a store that keeps ids one by one keeps the id of a delivery without a signed time
 * (GitHub's), which no timestamp check would ever refuse: GitHub redelivers only the last 3 days.
 */
export const UNTIMED_KEEP_MS = 7 * 24 * 3600_000;

export const VERIFIER_DEFAULTS = { toleranceSeconds: 300, maxBytes: 1_048_576, maxIds: 10_000 } as const;

export interface Delivery {
  id: string;
  /** Epoch ms of the signed timestamp (none for GitHub). */
  timestampMs?: number;
  eventType?: string;
  /** The body parsed as JSON when it is JSON, else its UTF-8 text. */
  payload: unknown;
}

export type Outcome =
  | ({ kind: "verified"; status: 202 } & Delivery)
  | ({ kind: "duplicate"; status: 202; reason: "duplicate"; code: string } & Delivery)
  | { kind: "rejected"; status: number; reason: RejectReason; code: string };

export function parsePayload(body: Buffer): unknown {
  const text = body.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Signature, timestamp window, size and replay checks of one webhook endpoint. Seen ids are
 * checked and recorded in one step per delivery (serialised when they are persisted), so two
 * copies of a delivery arriving together are forwarded once.
 */
export class WebhookVerifier {
  readonly scheme: WebhookScheme;
  /** As KeyObjects: createHmac then skips preparing the key on every delivery. */
  private readonly keys: KeyObject[];
  private readonly seen: SeenIds;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: VerifierOptions) {
    this.scheme = options.scheme;
    for (const [name, value, min] of [
      ["tolerance", options.toleranceSeconds, 1],
      ["max bytes", options.maxBytes, 1],
      ["max ids", options.maxIds, 0],
    ] as const) {
      if (!Number.isInteger(value) || value < min) {
        throw new PackError(CODES.WEBHOOK_CONFIG, `${name} must be an integer >= ${min}`);
      }
    }
    this.keys = parseSecrets(options.scheme, options.secrets).map((key) => createSecretKey(key));
    this.seen = new SeenIds(Math.max(1, options.maxIds));
  }

  async check(req: WebhookRequest, nowMs = Date.now()): Promise<Outcome> {
    return this.verify(req, nowMs);
  }

  /**
   * As `check`, but the outcome comes synchronously when seen ids are kept in memory only: a
   * Promise only with persistence, whose store is asynchronous.
   */
  verify(req: WebhookRequest, nowMs = Date.now()): Outcome | Promise<Outcome> {
    if (req.body.length > this.options.maxBytes) return rejected("too-large");
    const result = verifyWebhook(this.scheme, this.keys, req, {
      toleranceSeconds: this.options.toleranceSeconds,
      nowMs,
    });
    if (!result.ok) return rejected(result.reason);
    const payload = parsePayload(req.body);
    const eventType = eventTypeOf(result, payload);
    const remember = (): boolean => {
      // 0: no de-duplication here; a durable-queue's dedupe id does it, after the commit.
      if (this.options.maxIds === 0) return true;
      if (this.seen.hasAny(result.dedupeKeys, nowMs)) return false;
      for (const key of result.dedupeKeys) this.seen.add(key, result.replayableUntilMs, nowMs);
      return true;
    };
    const outcome = (first: boolean): Outcome =>
      first
        ? {
            kind: "verified",
            status: 202,
            id: result.id,
            timestampMs: result.timestampMs,
            eventType,
            payload,
          }
        : {
            kind: "duplicate",
            status: 202,
            reason: "duplicate",
            code: REJECT_CODE.duplicate,
            id: result.id,
            timestampMs: result.timestampMs,
            eventType,
            payload,
          };
    if (!this.options.persistence || this.options.maxIds === 0) return outcome(remember());
    const persistence = this.options.persistence;
    const checked =
      "has" in persistence
        ? this.keyed(persistence, remember, result.dedupeKeys, result.replayableUntilMs, nowMs)
        : this.persisted(persistence, remember, result.dedupeKeys, nowMs);
    return checked.then(outcome);
  }

  /** One delivery at a time, so that a replay sent alongside its original is seen. */
  private serial(run: () => Promise<boolean>): Promise<boolean> {
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private keyed(
    persistence: SeenKeys,
    remember: () => boolean,
    keys: readonly string[],
    untilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    return this.serial(async () => {
      if (this.seen.hasAny(keys, nowMs)) return false;
      const until = untilMs === NO_EXPIRY ? nowMs + UNTIMED_KEEP_MS : untilMs;
      const saving = (err: unknown) =>
        new PackError(CODES.WEBHOOK_STORE, "saving seen webhook ids failed", undefined, { cause: err });
      let found: boolean;
      if (persistence.addIfAbsent) {
        try {
          found = !(await persistence.addIfAbsent(keys, until));
        } catch (err) {
          throw saving(err);
        }
      } else {
        try {
          found = await persistence.has(keys);
        } catch (err) {
          throw new PackError(CODES.WEBHOOK_STORE, "reading seen webhook ids failed", undefined, {
            cause: err,
          });
        }
        if (!found) {
          try {
            await persistence.add(keys, until);
          } catch (err) {
            throw saving(err);
          }
        }
      }
      remember();
      return !found;
    });
  }

  /** Reads the store's ids, checks and records, and writes back, one delivery at a time. */
  private persisted(
    persistence: SeenList,
    remember: () => boolean,
    keys: readonly string[],
    nowMs: number,
  ): Promise<boolean> {
    return this.serial(async () => {
      let saved: unknown;
      try {
        saved = await persistence.load();
      } catch (err) {
        throw new PackError(
          CODES.WEBHOOK_STORE,
          "reading seen webhook ids from the context store failed",
          undefined,
          {
            cause: err,
          },
        );
      }
      this.seen.load(saved, nowMs);
      const first = remember();
      if (first) {
        try {
          await persistence.save(this.seen.snapshot(nowMs));
        } catch (err) {
          // Not remembered after all: the sender's retry must not be taken for a duplicate.
          for (const key of keys) this.seen.delete(key);
          throw new PackError(
            CODES.WEBHOOK_STORE,
            "saving seen webhook ids to the context store failed",
            undefined,
            {
              cause: err,
            },
          );
        }
      }
      return first;
    });
  }

  /** Ids remembered now (for tests and status). */
  get seenCount(): number {
    return this.seen.size;
  }
}

function rejected(reason: RejectReason): Outcome {
  return { kind: "rejected", status: REJECT_STATUS[reason], reason, code: REJECT_CODE[reason] };
}
