/**
 * The message store's interface: what `durable-queue`, `queue-done` and the admin endpoints
 * use, whatever keeps the messages (SQLite here; PostgreSQL implements the same interface).
 */

/** A node's state store property naming a message store: `message-store:<config node id>`. */
export const MESSAGE_STORE_STATE = "message-store:";

/** What is kept of a Node-RED msg: payload, topic and the pack's namespaces, nothing live. */
export type StoredMsg = Record<string, unknown>;

export interface QueueOptions {
  /** Deliveries started before a failure makes the message a dead letter. */
  maxAttempts: number;
  /** A message older than this (ms since it was enqueued) is not delivered again: dead letter. */
  maxAgeMs: number;
  /** How long a repeated dedupe id is answered as a duplicate (ms). */
  dedupeWindowMs: number;
}

export interface EnqueueInput {
  msg: StoredMsg;
  /** Ordering key: messages with the same key are delivered one at a time, in order. */
  key?: string | null;
  /** A sender's id for the message: a repeat within the window is not enqueued again. */
  dedupe?: string | null;
}

export interface EnqueueResult {
  id: number;
  enqueuedAt: number;
  /** True when `dedupe` was seen before: nothing was added; `id` is the first message's. */
  duplicate: boolean;
}

export interface Delivery {
  id: number;
  key: string | null;
  /** 1 for the first delivery of this message. */
  attempt: number;
  enqueuedAt: number;
  msg: StoredMsg;
}

export interface Failure {
  code: string;
  message: string;
  /** The destination asked to wait this long (Retry-After). */
  retryAfterMs?: number;
}

export type DeadReason = "permanent" | "attempts" | "age";

export type Decision = { retryAt: number } | { dead: DeadReason };

export type FailOutcome =
  | { outcome: "retry"; retryAt: number }
  | { outcome: "dead"; reason: DeadReason }
  /** The delivery was already finished, or handed out again after its visibility ran out. */
  | { outcome: "stale" };

export interface QueueStats {
  queue: string;
  /** Waiting plus in flight. */
  depth: number;
  inFlight: number;
  /** Age of the oldest waiting or in-flight message, ms; 0 when none. */
  oldestAgeMs: number;
  deadLetters: number;
  deliveredTotal: number;
  deadTotal: number;
}

export interface DeadLetter {
  id: number;
  queue: string;
  key: string | null;
  code: string;
  /** The error text; codes and texts from the pack's nodes carry no PHI. */
  message: string;
  attempts: number;
  enqueuedAt: number;
  firstTryAt: number | null;
  lastTryAt: number | null;
  deadAt: number;
}

/** Which dead letters an operator acts on; every given field must match. */
export interface DeadLetterFilter {
  ids?: number[];
  code?: string;
  key?: string;
  /** Died at or after / before (epoch ms). */
  from?: number;
  to?: number;
  limit?: number;
}

export interface StateScope {
  scope: string;
  keys: number;
  updatedAt: number;
}

export interface StateEntry {
  key: string;
  value: unknown;
  updatedAt: number;
  expiresAt: number | null;
}

export interface StoredMessage {
  id: number;
  queue: string;
  key: string | null;
  state: "waiting" | "in-flight" | "dead" | "delivered";
  attempts: number;
  enqueuedAt: number;
  msg: StoredMsg;
}

/** One queue of a store, as a durable-queue node holds it. */
export interface QueueHandle {
  readonly name: string;
  enqueue(input: EnqueueInput): Promise<EnqueueResult>;
  /** Up to `max` messages whose turn has come, each handed out for `visibilityMs`. */
  claim(max: number, visibilityMs: number): Promise<Delivery[]>;
  complete(id: number, attempt: number): Promise<boolean>;
  /** `decide` is given the delivery's attempt number and enqueue time (from the store, not the msg). */
  fail(
    id: number,
    attempt: number,
    failure: Failure,
    decide: (attempt: number, enqueuedAt: number) => Decision,
  ): Promise<FailOutcome>;
  /** Deliveries handed out and not yet finished. */
  inFlight(): number;
  /** Gives in-flight deliveries back for immediate redelivery (the node that held them closed). */
  releaseAll(): Promise<void>;
  /** Ms until a waiting message's turn comes (0: now), undefined when none waits. */
  nextDueInMs(): number | undefined;
  /** Called whenever a message may have become claimable; returns the unsubscribe. */
  onReady(listener: () => void): () => void;
  stats(): QueueStats;
  readonly options: QueueOptions;
  /** Stops handing out messages; the store and its data stay. */
  detach(): void;
}

export interface MessageStore {
  readonly backend: "sqlite" | "postgres";
  readonly encrypted: boolean;
  /** Opens a queue for delivery; one holder per queue name at a time. */
  openQueue(name: string, options: QueueOptions): QueueHandle;
  /** Every queue the store holds messages or totals for, open or not. */
  listQueues(): Promise<QueueStats[]>;
  deadLetters(queue: string, filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  read(queue: string, id: number): Promise<StoredMessage | undefined>;
  /** Dead letters back to waiting with a fresh attempt count; returns how many. */
  replay(queue: string, filter: DeadLetterFilter): Promise<number>;
  discard(queue: string, filter: DeadLetterFilter): Promise<number>;
  /**
   * A node's small state (a checkpoint, seen ids, a run log) as JSON under a scope and a key; undefined
   * when none. Reads see every write whose promise has settled, and every write already asked for.
   */
  getState(scope: string, key: string): Promise<unknown>;
  /**
   * Settles after the value is committed; undefined deletes it. A value given an `expiresAt` (epoch
   * ms) reads as undefined from then on, and retention drops it.
   */
  setState(scope: string, key: string, value: unknown, expiresAt?: number): Promise<void>;
  /** getState with the value's version, for setStateIf. */
  getStateVersioned(scope: string, key: string): Promise<{ value: unknown; version: string } | undefined>;
  /**
   * setState only while the key is at `version` (null: absent or expired), checked and written in
   * one commit; false, and nothing written, when another writer changed it since it was read.
   */
  setStateIf(
    scope: string,
    key: string,
    version: string | null,
    value: unknown,
    expiresAt?: number,
  ): Promise<boolean>;
  /** Writes `value` under every key unless one of them is present; true when none was (seen ids). */
  addStateIfAbsent(scope: string, keys: string[], value: unknown, expiresAt: number): Promise<boolean>;
  /** Each scope holding state now: how many keys and when one last changed (for operators). */
  stateScopes(): Promise<StateScope[]>;
  /** A scope's keys and values, by key, at most `limit` (expired ones left out). */
  stateEntries(scope: string, limit: number): Promise<StateEntry[]>;
  /** Retention: drops delivered messages past `keepDelivered`, expired dedupe ids and expired state. */
  purge(now?: number): Promise<{ delivered: number; dedupe: number; state: number }>;
  close(): Promise<void>;
}
