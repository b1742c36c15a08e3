import { randomUUID } from "node:crypto";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { compareCursors, compareMarks, parseCursor, type Cursor, type Mark } from "./mark";
import { serialized } from "./lock";
import { CONFLICT_TRIES } from "./stored-list";
import { storageKey, type CheckpointStore } from "./store";
import {
  compareInstants,
  describe,
  formatInstant,
  minusMs,
  parseInstant,
  resolveInitial,
  validateInitial,
} from "./time";

/** What the store holds per checkpoint (version 1). Plain JSON. */
export interface StoredCheckpoint {
  v: 1;
  /** The committed watermark (UTC ISO), null before the first commit that moved it. */
  highWater: string | null;
  cursor: Cursor | null;
  /** When a run last committed. */
  committedAt: string | null;
  committedRunId: string | null;
  /** Where the first run started (the resolved `initial`), kept until a commit moves the watermark. */
  origin: string | null;
  /** When the last run was handed the checkpoint (absent in checkpoints written before it was kept). */
  startedAt?: string;
  /** The run holding the checkpoint, and the position it was handed (`since`, `cursor`). */
  lease: { runId: string; takenAt: string; expiresAt: string; since?: string; cursor?: Cursor | null } | null;
}

export interface GetOptions {
  /** Empty: the epoch; a duration (`24h`, `7d`) before now; or an ISO time. */
  initial?: string;
  /** Seconds subtracted from the watermark (default 0). */
  overlapSeconds?: number;
  /** Seconds a run may hold the checkpoint before another run may take it over. */
  leaseSeconds: number;
  /**
   * Seconds from one run's start before the next may start (default 0: none); sooner is
   * CHECKPOINT_BUSY. Several instances on one timer then run one sync per interval between them.
   */
  minIntervalSeconds?: number;
}

/** What `get` hands a run: `msg.checkpoint`. */
export interface CheckpointGrant {
  name: string;
  /** Read records with (time, id) after (since, cursor). */
  since: string;
  /** The id of the last record done at `since`; null when every record at `since` is to be read. */
  cursor: Cursor | null;
  runId: string;
  leaseExpiresAt: string;
  /** True when the run took over the expired lease of a run that never committed. */
  takenOver: boolean;
  /** True while no commit has moved the watermark yet (since = the initial point). */
  initial: boolean;
}

export interface CommitInput {
  runId: unknown;
  /** The highest record time the run has completely written; absent when the run found nothing new. */
  highWater?: unknown;
  cursor?: unknown;
}

export interface CommitResult {
  name: string;
  runId: string;
  /** The watermark now stored (unchanged when the commit did not move it forward). */
  highWater: string | null;
  cursor: Cursor | null;
  committedAt: string;
  /** Whether this commit moved the watermark. */
  advanced: boolean;
}

export interface CheckpointsOptions {
  /**
   * Operations on one checkpoint name within one scope run one at a time in this process,
   * across every Checkpoints instance: two nodes on one store pass the same scope.
   */
  scope: string;
  now?: () => number;
  newRunId?: () => string;
}

export function validateName(name: unknown): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "no checkpoint name: set the node's checkpoint or msg.checkpoint.name",
    );
  }
  const n = name.trim();
  if (n.length > 200)
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, "checkpoint name is longer than 200 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n))
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, "checkpoint name has control characters");
  return n;
}

function checkSeconds(value: number | undefined, what: string, min: number): number {
  const v = value ?? 0;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} must be a number of seconds >= ${min}`);
  }
  return v;
}

/** Checks get options as a node checks its properties at start. */
export function validateGetOptions(options: GetOptions): void {
  checkSeconds(options.overlapSeconds, "overlap", 0);
  checkSeconds(options.leaseSeconds, "lease", 1);
  checkSeconds(options.minIntervalSeconds, "min interval", 0);
  validateInitial(options.initial);
}

function isIso(v: unknown): v is string {
  if (typeof v !== "string") return false;
  try {
    parseInstant(v, "stored time");
    return true;
  } catch {
    return false;
  }
}

function isCursor(v: unknown): boolean {
  return v === null || typeof v === "string" || (typeof v === "number" && Number.isSafeInteger(v));
}

/** The stored value, checked: anything else in the slot is reported, never overwritten silently. */
function readState(name: string, value: unknown): StoredCheckpoint | null {
  if (value === undefined || value === null) return null;
  const s = value as Partial<StoredCheckpoint>;
  const lease = s.lease as StoredCheckpoint["lease"] | undefined;
  const ok =
    typeof value === "object" &&
    !Array.isArray(value) &&
    s.v === 1 &&
    (s.highWater === null || isIso(s.highWater)) &&
    isCursor(s.cursor) &&
    (s.committedAt === null || isIso(s.committedAt)) &&
    (s.committedRunId === null || typeof s.committedRunId === "string") &&
    (s.origin === null || isIso(s.origin)) &&
    (s.startedAt === undefined || isIso(s.startedAt)) &&
    (lease === null ||
      (typeof lease === "object" &&
        typeof lease.runId === "string" &&
        isIso(lease.takenAt) &&
        isIso(lease.expiresAt) &&
        (lease.since === undefined || isIso(lease.since)) &&
        (lease.cursor === undefined || isCursor(lease.cursor))));
  if (!ok) {
    throw new PackError(
      CODES.CHECKPOINT_CORRUPT,
      `the store holds something that is not a checkpoint under ${JSON.stringify(name)} (${describe(value)}); reset it`,
    );
  }
  return s as StoredCheckpoint;
}

/**
 * Durable watermarks for incremental sync over a small key-value store. A run `get`s the
 * checkpoint (taking a lease), reads records after (since, cursor), writes them all, and
 * `commit`s the highest (time, id) it wrote; the watermark only moves forward, and only the run
 * holding the lease may move it. A crashed run's lease expires and the next run takes over.
 */
export class Checkpoints {
  private readonly store: CheckpointStore;
  private readonly scope: string;
  private readonly now: () => number;
  private readonly newRunId: () => string;

  constructor(store: CheckpointStore, options: CheckpointsOptions) {
    this.store = store;
    this.scope = options.scope;
    this.now = options.now ?? Date.now;
    this.newRunId = options.newRunId ?? randomUUID;
  }

  /** The stored value and, where the store can compare-and-set, its version (null: absent). */
  private async load(name: string): Promise<{ value: unknown; version?: string | null }> {
    const key = storageKey(name);
    try {
      if (!this.store.getVersioned) return { value: await this.store.get(key) };
      const found = await this.store.getVersioned(key);
      return found ?? { value: undefined, version: null };
    } catch (err) {
      throw new PackError(
        CODES.CHECKPOINT_STORE,
        `could not read checkpoint ${JSON.stringify(name)}: ${messageOf(err)}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  /** Writes the state, unless the store can compare-and-set and another writer changed it since `version`. */
  private async save(
    name: string,
    version: string | null | undefined,
    state: StoredCheckpoint | undefined,
  ): Promise<boolean> {
    const key = storageKey(name);
    try {
      if (version !== undefined && this.store.setIf) return await this.store.setIf(key, version, state);
      await this.store.set(key, state);
      return true;
    } catch (err) {
      throw new PackError(
        CODES.CHECKPOINT_STORE,
        `could not write checkpoint ${JSON.stringify(name)}: ${messageOf(err)}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  /**
   * Reads the checkpoint, computes the change `step` asks for, and writes it. Runs in this process
   * one at a time per checkpoint; on a store shared by several processes, a write another process
   * made between the read and the write sends the change back to the read, CONFLICT_TRIES times at
   * most (then CHECKPOINT_BUSY). `corrupt` "keep" hands a corrupt value to `step` as null.
   */
  private change<T>(
    name: string,
    step: (state: StoredCheckpoint | null, raw: unknown) => { result: T; write?: StoredCheckpoint | null },
    corrupt: "throw" | "keep" = "throw",
  ): Promise<T> {
    return serialized(`${this.scope}\u0000${name}`, async () => {
      for (let tries = 1; ; tries++) {
        const { value, version } = await this.load(name);
        let state: StoredCheckpoint | null;
        try {
          state = readState(name, value);
        } catch (err) {
          if (corrupt === "throw" || (err as { code?: string }).code !== CODES.CHECKPOINT_CORRUPT) throw err;
          state = null;
        }
        const { result, write } = step(state, value);
        if (write === undefined) return result;
        if (await this.save(name, version, write ?? undefined)) return result;
        if (tries >= CONFLICT_TRIES) {
          throw new PackError(
            CODES.CHECKPOINT_BUSY,
            `checkpoint ${JSON.stringify(name)} was changed by another instance ${tries} times while this one changed it; try again`,
            { name },
          );
        }
      }
    });
  }

  /** Starts a run: the position to read from, and a lease. CODES.CHECKPOINT_BUSY while another run's lease is live. */
  async get(nameIn: unknown, options: GetOptions): Promise<CheckpointGrant> {
    const name = validateName(nameIn);
    validateGetOptions(options);
    return this.change(name, (state) => {
      const now = this.now();
      const lease = state?.lease ?? null;
      if (lease && parseInstant(lease.expiresAt, "lease").ms > now) {
        throw new PackError(
          CODES.CHECKPOINT_BUSY,
          `checkpoint ${JSON.stringify(name)} is held by another run until ${lease.expiresAt}`,
          { name, leaseExpiresAt: lease.expiresAt },
        );
      }
      const minMs = Math.round((options.minIntervalSeconds ?? 0) * 1000);
      if (minMs > 0 && state?.startedAt) {
        const nextMs = parseInstant(state.startedAt, "startedAt").ms + minMs;
        if (now < nextMs) {
          const nextRunAt = new Date(nextMs).toISOString();
          throw new PackError(
            CODES.CHECKPOINT_BUSY,
            `checkpoint ${JSON.stringify(name)} started a run at ${state.startedAt}: the next may start at ${nextRunAt} (min interval ${options.minIntervalSeconds} s)`,
            { name, nextRunAt },
          );
        }
      }
      let since: string;
      let cursor: Cursor | null;
      let origin = state?.origin ?? null;
      if (state?.highWater) {
        const overlapMs = Math.round((options.overlapSeconds ?? 0) * 1000);
        since = formatInstant(minusMs(parseInstant(state.highWater, "highWater"), overlapMs));
        cursor = overlapMs > 0 ? null : state.cursor;
      } else {
        origin ??= formatInstant(resolveInitial(options.initial, now));
        since = origin;
        cursor = null;
      }
      const runId = this.newRunId();
      const expiresAt = new Date(now + Math.round(options.leaseSeconds * 1000)).toISOString();
      const write: StoredCheckpoint = {
        v: 1,
        highWater: state?.highWater ?? null,
        cursor: state?.cursor ?? null,
        committedAt: state?.committedAt ?? null,
        committedRunId: state?.committedRunId ?? null,
        origin,
        startedAt: new Date(now).toISOString(),
        lease: { runId, takenAt: new Date(now).toISOString(), expiresAt, since, cursor },
      };
      const result: CheckpointGrant = {
        name,
        since,
        cursor,
        runId,
        leaseExpiresAt: expiresAt,
        takenOver: lease !== null,
        initial: !state?.highWater,
      };
      return { result, write };
    });
  }

  /**
   * Ends a run: moves the watermark to (highWater, cursor) if that is ahead of it, and releases
   * the lease. A mark at or behind the watermark leaves it where it is (a run that only re-read
   * the overlap); no highWater means the run found nothing new (a cursor is then ignored).
   * CHECKPOINT_STALE_RUN when the run no longer holds the lease (taken over, reset, or already
   * committed).
   *
   * `get` hands out a cursor on the same message that commit reads, so a run that sets a later
   * highWater but leaves that cursor in place would claim records at highWater it never saw. A
   * cursor equal to the handed-out one therefore counts only with highWater equal to the
   * handed-out since; with a later highWater it is taken as null (every record at highWater is
   * read again next time: a repeat, never a loss).
   */
  async commit(nameIn: unknown, input: CommitInput): Promise<CommitResult> {
    const name = validateName(nameIn);
    const runId = checkRunId(input.runId);
    let asked: Mark | null = null;
    if (input.highWater !== undefined && input.highWater !== null && input.highWater !== "") {
      asked = { time: parseInstant(input.highWater, "highWater"), cursor: parseCursor(input.cursor) };
    }
    return this.change(name, (state) => {
      this.checkHolder(name, state, runId);
      const s = state as StoredCheckpoint;
      const handed = s.lease;
      let mark = asked;
      if (
        mark !== null &&
        mark.cursor !== null &&
        handed?.since !== undefined &&
        handed.cursor !== undefined &&
        handed.cursor !== null &&
        compareCursors(mark.cursor, handed.cursor) === 0 &&
        compareInstants(mark.time, parseInstant(handed.since, "since")) !== 0
      ) {
        mark = { time: mark.time, cursor: null };
      }
      const current: Mark | null = s.highWater
        ? { time: parseInstant(s.highWater, "highWater"), cursor: s.cursor }
        : null;
      const advanced = mark !== null && (current === null || compareMarks(mark, current) > 0);
      const next = advanced ? (mark as Mark) : current;
      const committedAt = new Date(this.now()).toISOString();
      const highWater = next ? formatInstant(next.time) : null;
      const cursor = next ? next.cursor : null;
      const write: StoredCheckpoint = {
        v: 1,
        highWater,
        cursor,
        committedAt,
        committedRunId: runId,
        origin: highWater ? null : s.origin,
        ...(s.startedAt === undefined ? {} : { startedAt: s.startedAt }),
        lease: null,
      };
      return { result: { name, runId, highWater, cursor, committedAt, advanced }, write };
    });
  }

  /** Gives the lease up without moving the watermark (a run that failed), so the next run need not wait for it to expire. */
  async release(
    nameIn: unknown,
    runIdIn: unknown,
  ): Promise<{ name: string; runId: string; released: boolean }> {
    const name = validateName(nameIn);
    const runId = checkRunId(runIdIn);
    return this.change<{ name: string; runId: string; released: boolean }>(name, (state) => {
      if (!state?.lease) return { result: { name, runId, released: false } };
      this.checkHolder(name, state, runId);
      return { result: { name, runId, released: true }, write: { ...state, lease: null } };
    });
  }

  /** Forgets the checkpoint: the next run starts at `initial`, and a run in progress can no longer commit. */
  async reset(nameIn: unknown): Promise<{ name: string; existed: boolean }> {
    const name = validateName(nameIn);
    return this.change(
      name,
      (_state, raw) => ({ result: { name, existed: raw !== undefined && raw !== null }, write: null }),
      "keep",
    );
  }

  /** The stored state, or null. */
  async read(nameIn: unknown): Promise<StoredCheckpoint | null> {
    const name = validateName(nameIn);
    return this.change(name, (state) => ({ result: state }));
  }

  private checkHolder(name: string, state: StoredCheckpoint | null, runId: string): void {
    const holder = state?.lease?.runId;
    if (holder === runId) return;
    let why: string;
    if (!state) why = "it was reset or never started";
    else if (holder) why = "another run has taken it over after its lease expired";
    else if (state.committedRunId === runId) why = "this run has already committed";
    else why = "it is not held by any run";
    throw new PackError(
      CODES.CHECKPOINT_STALE_RUN,
      `run ${runId} no longer holds checkpoint ${JSON.stringify(name)}: ${why}`,
      { name, runId },
    );
  }
}

function checkRunId(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > 200) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.checkpoint.runId must be the runId that get handed out",
    );
  }
  return value;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
