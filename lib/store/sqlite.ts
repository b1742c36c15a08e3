import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { decodeMsg, encodeText, parseText } from "./codec";
import { STATE_NAMES, deadLetterOf, overdue, stateBody, storeError, storeKey } from "./rules";
import { Scheduler, type Entry } from "./scheduler";
import type {
  DeadLetter,
  DeadLetterFilter,
  Decision,
  Delivery,
  EnqueueInput,
  EnqueueResult,
  FailOutcome,
  Failure,
  MessageStore,
  QueueHandle,
  QueueOptions,
  QueueStats,
  StateEntry,
  StateScope,
  StoredMessage,
} from "./types";

/**
 * The embedded message store: one SQLite file in WAL mode. Writes that arrive together share
 * one transaction (group commit), and each caller's promise settles only after that commit.
 * Which message goes next is decided in memory (Scheduler), loaded from the file when a
 * queue opens; the file is the only truth across a crash.
 */

export interface SqliteStoreOptions {
  file: string;
  /** normal: a commit survives a process crash; full: also a power loss. */
  synchronous?: "normal" | "full";
  /** Payloads sealed with AES-256-GCM under a key derived from this. */
  encryptionKey?: string;
  /** Keep delivered messages this long for audit (ms); 0: delete when done. */
  keepDeliveredMs?: number;
  /** How often retention runs (ms); 0: only when purge() is called. Default one minute. */
  purgeIntervalMs?: number;
  /**
   * How long a commit waits for a lock another process holds (ms; default 200). better-sqlite3 waits
   * on the event loop's thread, so every flow of the runtime waits with it: keep it short.
   */
  busyTimeoutMs?: number;
  /** For tests: the clock. */
  now?: () => number;
}

const SCHEMA_VERSION = 1;
/**
 * How long a write nobody waits on (a claim's attempt count, a finished delivery) may wait for a
 * commit to share: each commit costs about 40 us whatever it holds, and an enqueue soon brings one.
 */
const LAZY_MS = 5;
/** Bodies (their JSON text) kept in memory per queue between their commit and their first delivery. */
const FRESH_BYTES = 8 * 1024 * 1024;

const enum State {
  Waiting = 0,
  InFlight = 1,
  Dead = 2,
  Delivered = 3,
}

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

interface Op {
  run(): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Row {
  id: number;
  queue: string;
  key: string | null;
  state: State;
  attempt: number;
  enqueued_at: number;
  next_at: number;
  first_try_at: number | null;
  last_try_at: number | null;
  done_at: number | null;
  error_code: string | null;
  error_message: string | null;
  body: Buffer;
}

function loadDriver(): typeof BetterSqlite3 {
  try {
    // Loaded when a store opens, so that a runtime whose native build failed still loads every other node.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("better-sqlite3") as typeof BetterSqlite3;
  } catch (err) {
    throw new PackError(
      CODES.QUEUE_STORE,
      "the SQLite driver better-sqlite3 could not be loaded (reinstall the pack for this Node.js version)",
      undefined,
      { cause: err },
    );
  }
}

/** Errors that one statement caused (a constraint, a bad value), not the file or the lock. */
function isOpSpecific(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return true;
  return code.startsWith("SQLITE_CONSTRAINT") || code === "SQLITE_MISMATCH" || code === "SQLITE_TOOBIG";
}

export class SqliteMessageStore implements MessageStore {
  readonly backend = "sqlite" as const;
  readonly encrypted: boolean;
  private readonly db: Db;
  private readonly key?: Buffer;
  private readonly now: () => number;
  private readonly keepDeliveredMs: number;
  private readonly queues = new Map<string, SqliteQueue>();
  private pending: Op[] = [];
  private readonly housekeeping?: NodeJS.Timeout;
  private flushScheduled = false;
  /** Kept and re-armed rather than made anew for every commit; a flush disarms it. */
  private lazyTimer?: NodeJS.Timeout;
  private lazyArmed = false;
  private closed = false;
  /** Group commits made (a batch that failed and was redone one by one is not counted). */
  commits = 0;
  readonly stmt: Record<string, Statement>;
  private readonly commitOps: (ops: Op[], results: unknown[]) => void;
  private readonly commitOp: (op: Op) => unknown;

  constructor(options: SqliteStoreOptions) {
    const Driver = loadDriver();
    this.now = options.now ?? Date.now;
    this.keepDeliveredMs = Math.max(0, options.keepDeliveredMs ?? 0);
    let db: Db | undefined;
    try {
      if (options.file !== ":memory:") mkdirSync(dirname(options.file), { recursive: true });
      db = new Driver(options.file);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 200))}`);
      // The WAL file is cut back to this after each checkpoint, so it stays bounded.
      db.pragma("journal_size_limit = 16777216");
      this.migrate(db);
      this.key = this.unlock(db, options.encryptionKey);
    } catch (err) {
      db?.close();
      throw storeError("sqlite", `opening ${options.file}`, err);
    }
    this.db = db;
    this.encrypted = this.key !== undefined;
    this.stmt = {
      insert: db.prepare(
        "INSERT INTO messages (queue, key, state, attempt, enqueued_at, next_at, body) VALUES (?, ?, 0, 0, ?, ?, ?)",
      ),
      dedupeLog: db.prepare("INSERT INTO dedupe_log (queue, id, message_id, expires_at) VALUES (?, ?, ?, ?)"),
      // One row per run: a batch of ids as a JSON array through json_each cost twice as much.
      claim: db.prepare(
        "UPDATE messages SET state = 1, attempt = attempt + 1, first_try_at = COALESCE(first_try_at, ?), last_try_at = ? WHERE id = ?",
      ),
      body: db.prepare("SELECT body FROM messages WHERE id = ?"),
      delete: db.prepare("DELETE FROM messages WHERE id = ?"),
      delivered: db.prepare("UPDATE messages SET state = 3, done_at = ? WHERE id = ?"),
      retry: db.prepare(
        "UPDATE messages SET state = 0, next_at = ?, error_code = ?, error_message = ? WHERE id = ?",
      ),
      release: db.prepare("UPDATE messages SET state = 0, next_at = ? WHERE id = ?"),
      dead: db.prepare(
        "UPDATE messages SET state = 2, done_at = ?, error_code = ?, error_message = ?, attempt = ? WHERE id = ?",
      ),
      countDelivered: db.prepare(
        "INSERT INTO totals (queue, delivered, dead) VALUES (?, ?, 0) ON CONFLICT(queue) DO UPDATE SET delivered = delivered + excluded.delivered",
      ),
      stateGet: db.prepare("SELECT value, expires_at FROM state WHERE scope = ? AND key = ?"),
      statePut: db.prepare(
        "INSERT INTO state (scope, key, value, updated_at, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at",
      ),
      stateDelete: db.prepare("DELETE FROM state WHERE scope = ? AND key = ?"),
      countDead: db.prepare(
        "INSERT INTO totals (queue, delivered, dead) VALUES (?, 0, ?) ON CONFLICT(queue) DO UPDATE SET dead = dead + excluded.dead",
      ),
    };
    this.commitOps = db.transaction((ops: Op[], results: unknown[]) => {
      for (const op of ops) results.push(op.run());
    });
    this.commitOp = db.transaction((op: Op) => op.run());
    const every = options.purgeIntervalMs ?? 60_000;
    if (every > 0) {
      this.housekeeping = setInterval(() => void this.purge().catch(() => undefined), every);
      this.housekeeping.unref();
    }
  }

  private migrate(db: Db): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        key TEXT,
        state INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        enqueued_at INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        first_try_at INTEGER,
        last_try_at INTEGER,
        done_at INTEGER,
        error_code TEXT,
        error_message TEXT,
        body BLOB NOT NULL
      );
      -- Partial indexes only: a message that arrives, is claimed and is deleted touches no index
      -- page (each would cost a WAL frame per commit). A queue opening reads its rows in one scan.
      CREATE INDEX IF NOT EXISTS messages_dead ON messages (queue, done_at) WHERE state = 2;
      CREATE INDEX IF NOT EXISTS messages_delivered ON messages (done_at) WHERE state = 3;
      -- Dedupe ids are looked up in memory and only appended here (to the table's last page; an
      -- index on the ids would take a random page per message), to be read back when a queue opens.
      CREATE TABLE IF NOT EXISTS dedupe_log (
        seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL, message_id INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS totals (
        queue TEXT PRIMARY KEY, delivered INTEGER NOT NULL, dead INTEGER NOT NULL
      );
      -- Added without a schema bump: a pack that predates it opens the file and ignores the table.
      CREATE TABLE IF NOT EXISTS state (
        scope TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, updated_at INTEGER NOT NULL,
        expires_at INTEGER, PRIMARY KEY (scope, key)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS state_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;
    `);
    const row = db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as
      { value: number } | undefined;
    if (!row) {
      db.prepare("INSERT INTO meta (name, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
    } else if (Number(row.value) > SCHEMA_VERSION) {
      throw new PackError(
        CODES.QUEUE_STORE,
        `the message store file was written by a newer version of the pack (schema ${row.value})`,
      );
    }
  }

  /** The store's key, checked against what the file was first sealed with. */
  private unlock(db: Db, secret: string | undefined): Buffer | undefined {
    const get = db.prepare("SELECT value FROM meta WHERE name = ?");
    const salt = (get.get("salt") as { value: Buffer } | undefined)?.value;
    const check = (get.get("key_check") as { value: Buffer } | undefined)?.value;
    const { key, seal } = storeKey(secret, salt, check);
    if (seal) {
      const put = db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)");
      db.transaction(() => {
        put.run("salt", seal.salt);
        put.run("key_check", seal.check);
      })();
    }
    return key;
  }

  time(): number {
    return this.now();
  }

  /** The row body of a msg given as its JSON text (`JSON.stringify(msg)`). */
  encodeText(text: string): Buffer {
    return encodeText(text, this.key);
  }

  decode(body: Buffer): Record<string, unknown> {
    return decodeMsg(body, this.key);
  }

  /**
   * Queues a write for the next group commit. `run` executes inside the transaction; the
   * promise settles after COMMIT (or with QUEUE_STORE when the commit failed).
   */
  write<T>(run: () => T, lazy = false): Promise<T> {
    if (this.closed) return Promise.reject(new PackError(CODES.QUEUE_STORE, "message store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!lazy && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      } else if (lazy && !this.flushScheduled && !this.lazyArmed) {
        this.lazyArmed = true;
        if (this.lazyTimer) this.lazyTimer.refresh();
        else
          this.lazyTimer = setTimeout(() => {
            if (this.lazyArmed) this.flush();
          }, LAZY_MS);
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    this.lazyArmed = false;
    const ops = this.pending;
    this.pending = [];
    if (ops.length === 0) return;
    if (this.closed) {
      for (const op of ops) op.reject(new PackError(CODES.QUEUE_STORE, "message store is closed"));
      return;
    }
    const results: unknown[] = [];
    try {
      this.commitOps(ops, results);
    } catch (err) {
      // The file cannot take a commit now (locked, full, read-only, damaged): every op fails alike.
      if (!isOpSpecific(err)) {
        const failure = storeError("sqlite", "writing", err);
        for (const op of ops) op.reject(failure);
        return;
      }
      // One op's failure must not fail the others: each again in a transaction of its own.
      for (const op of ops) {
        try {
          op.resolve(this.commitOp(op));
        } catch (err) {
          op.reject(storeError("sqlite", "writing", err));
        }
      }
      return;
    }
    this.commits += 1;
    for (let i = 0; i < ops.length; i++) ops[i].resolve(results[i]);
  }

  openQueue(name: string, options: QueueOptions): QueueHandle {
    if (this.closed) throw new PackError(CODES.QUEUE_STORE, "message store is closed");
    if (this.queues.has(name)) {
      throw new PackError(
        CODES.QUEUE_CONFIG,
        `queue "${name}" is already opened by another durable-queue node on this store`,
      );
    }
    const queue = new SqliteQueue(this, name, options, () => this.queues.delete(name));
    this.queues.set(name, queue);
    return queue;
  }

  /** Rows of a queue that were in flight when the last holder stopped go back to waiting. */
  loadQueue(name: string, scheduler: Scheduler): void {
    const now = this.now();
    const rows = this.db
      .prepare(
        "SELECT id, key, state, attempt, enqueued_at, next_at FROM messages WHERE queue = ? AND state IN (0, 1) ORDER BY id",
      )
      .all(name) as Row[];
    const interrupted: number[] = [];
    for (const row of rows) {
      if (row.state === State.InFlight) interrupted.push(row.id);
      scheduler.add({
        id: row.id,
        key: row.key,
        enqueuedAt: row.enqueued_at,
        attempt: row.attempt,
        nextAt: row.state === State.InFlight ? now : row.next_at,
        leaseUntil: 0,
      });
    }
    if (interrupted.length > 0) {
      const release = this.stmt.release;
      this.db.transaction(() => {
        for (const id of interrupted) release.run(now, id);
      })();
    }
  }

  counts(name: string): { dead: number; delivered: number; deadTotal: number } {
    const dead = (
      this.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE queue = ? AND state = 2").get(name) as {
        n: number;
      }
    ).n;
    const totals = this.db.prepare("SELECT delivered, dead FROM totals WHERE queue = ?").get(name) as
      { delivered: number; dead: number } | undefined;
    return { dead, delivered: totals?.delivered ?? 0, deadTotal: totals?.dead ?? 0 };
  }

  get keepDelivered(): number {
    return this.keepDeliveredMs;
  }

  async listQueues(): Promise<QueueStats[]> {
    this.settled();
    const now = this.now();
    const stored = this.db
      .prepare("SELECT queue FROM messages UNION SELECT queue FROM totals")
      .all() as Array<{
      queue: string;
    }>;
    // Open queues too, before their first message.
    const names = [...new Set([...stored.map((r) => r.queue), ...this.queues.keys()])].sort();
    return names.map((queue) => {
      const open = this.queues.get(queue);
      if (open) return open.stats();
      const row = this.db
        .prepare(
          "SELECT SUM(state IN (0, 1)) AS depth, SUM(state = 1) AS inflight, SUM(state = 2) AS dead, MIN(CASE WHEN state IN (0, 1) THEN enqueued_at END) AS oldest FROM messages WHERE queue = ?",
        )
        .get(queue) as {
        depth: number | null;
        inflight: number | null;
        dead: number | null;
        oldest: number | null;
      };
      const c = this.counts(queue);
      return {
        queue,
        depth: row.depth ?? 0,
        inFlight: row.inflight ?? 0,
        oldestAgeMs: row.oldest === null ? 0 : Math.max(0, now - row.oldest),
        deadLetters: row.dead ?? 0,
        deliveredTotal: c.delivered,
        deadTotal: c.deadTotal,
      };
    });
  }

  private where(queue: string, filter: DeadLetterFilter): { sql: string; params: unknown[] } {
    const parts = ["queue = ?", "state = 2"];
    const params: unknown[] = [queue];
    if (filter.ids !== undefined) {
      const ids = filter.ids.filter((id) => Number.isSafeInteger(id));
      parts.push(`id IN (${ids.map(() => "?").join(", ") || "NULL"})`);
      params.push(...ids);
    }
    if (filter.code !== undefined) {
      parts.push("error_code = ?");
      params.push(filter.code);
    }
    if (filter.key !== undefined) {
      parts.push("key = ?");
      params.push(filter.key);
    }
    if (filter.from !== undefined) {
      parts.push("done_at >= ?");
      params.push(filter.from);
    }
    if (filter.to !== undefined) {
      parts.push("done_at < ?");
      params.push(filter.to);
    }
    return { sql: parts.join(" AND "), params };
  }

  async deadLetters(queue: string, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    this.settled();
    const { sql, params } = this.where(queue, filter);
    const limit = Math.min(Math.max(1, filter.limit ?? 1000), 10000);
    const rows = this.db
      .prepare(
        `SELECT id, queue, key, attempt, enqueued_at, first_try_at, last_try_at, done_at, error_code, error_message FROM messages WHERE ${sql} ORDER BY id LIMIT ${limit}`,
      )
      .all(...params) as Row[];
    return rows.map(deadLetterOf);
  }

  async read(queue: string, id: number): Promise<StoredMessage | undefined> {
    this.settled();
    const row = this.db
      .prepare(
        "SELECT id, queue, key, state, attempt, enqueued_at, body FROM messages WHERE queue = ? AND id = ?",
      )
      .get(queue, id) as Row | undefined;
    if (!row) return undefined;
    return {
      id: row.id,
      queue: row.queue,
      key: row.key,
      state: STATE_NAMES[row.state],
      attempts: row.attempt,
      enqueuedAt: row.enqueued_at,
      msg: this.decode(row.body),
    };
  }

  async replay(queue: string, filter: DeadLetterFilter): Promise<number> {
    const { sql, params } = this.where(queue, filter);
    const rows = await this.write(() => {
      const now = this.now();
      const found = this.db
        .prepare(`SELECT id, key, enqueued_at FROM messages WHERE ${sql} ORDER BY id`)
        .all(...params) as Row[];
      const update = this.db.prepare(
        "UPDATE messages SET state = 0, attempt = 0, next_at = ?, done_at = NULL, enqueued_at = ? WHERE id = ?",
      );
      for (const row of found) update.run(now, now, row.id);
      return found.map((row) => ({ ...row, enqueued_at: now }));
    });
    const open = this.queues.get(queue);
    if (open) open.replayed(rows);
    return rows.length;
  }

  async discard(queue: string, filter: DeadLetterFilter): Promise<number> {
    const { sql, params } = this.where(queue, filter);
    const n = await this.write(
      () => this.db.prepare(`DELETE FROM messages WHERE ${sql}`).run(...params).changes,
    );
    this.queues.get(queue)?.discarded(n);
    return n;
  }

  /** Before a read: the store is open, and writes asked for are committed now, so that the read follows them. */
  private settled(): void {
    if (this.closed) throw new PackError(CODES.QUEUE_STORE, "message store is closed");
    if (this.pending.length > 0) this.flush();
  }

  /** The live row of a state key (an expired one reads as absent). */
  private stateRow(scope: string, key: string): Buffer | undefined {
    const row = this.stmt.stateGet.get(scope, key) as
      { value: Buffer; expires_at: number | null } | undefined;
    if (row === undefined || (row.expires_at !== null && row.expires_at <= this.now())) return undefined;
    return row.value;
  }

  async getState(scope: string, key: string): Promise<unknown> {
    return (await this.getStateVersioned(scope, key))?.value;
  }

  async getStateVersioned(
    scope: string,
    key: string,
  ): Promise<{ value: unknown; version: string } | undefined> {
    this.settled();
    let body: Buffer | undefined;
    try {
      body = this.stateRow(scope, key);
    } catch (err) {
      throw storeError("sqlite", "reading state", err);
    }
    if (body === undefined) return undefined;
    return { value: decodeMsg(body, this.key).v, version: stateVersion(body) };
  }

  private stateBody(key: string, value: unknown): Buffer {
    return stateBody(key, value, this.key);
  }

  /** Writes `value` (undefined: deletes) within the commit that runs it. */
  private putState(scope: string, key: string, body: Buffer | undefined, expiresAt?: number): void {
    if (body === undefined) this.stmt.stateDelete.run(scope, key);
    else {
      const until = expiresAt === undefined ? null : Math.floor(expiresAt);
      this.stmt.statePut.run(scope, key, body, this.now(), until);
    }
  }

  setState(scope: string, key: string, value: unknown, expiresAt?: number): Promise<void> {
    let body: Buffer | undefined;
    try {
      body = value === undefined ? undefined : this.stateBody(key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(() => this.putState(scope, key, body, expiresAt));
  }

  setStateIf(
    scope: string,
    key: string,
    version: string | null,
    value: unknown,
    expiresAt?: number,
  ): Promise<boolean> {
    let body: Buffer | undefined;
    try {
      body = value === undefined ? undefined : this.stateBody(key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(() => {
      const current = this.stateRow(scope, key);
      if ((current === undefined ? null : stateVersion(current)) !== version) return false;
      this.putState(scope, key, body, expiresAt);
      return true;
    });
  }

  addStateIfAbsent(scope: string, keys: string[], value: unknown, expiresAt: number): Promise<boolean> {
    let body: Buffer;
    try {
      body = this.stateBody(keys.join(", "), value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(() => {
      if (keys.some((key) => this.stateRow(scope, key) !== undefined)) return false;
      for (const key of keys) this.putState(scope, key, body, expiresAt);
      return true;
    });
  }

  async stateScopes(): Promise<StateScope[]> {
    this.settled();
    const rows = this.db
      .prepare(
        "SELECT scope, COUNT(*) AS keys, MAX(updated_at) AS updated_at FROM state WHERE expires_at IS NULL OR expires_at > ? GROUP BY scope ORDER BY scope",
      )
      .all(this.now()) as Array<{ scope: string; keys: number; updated_at: number }>;
    return rows.map((r) => ({ scope: r.scope, keys: r.keys, updatedAt: r.updated_at }));
  }

  async stateEntries(scope: string, limit: number): Promise<StateEntry[]> {
    this.settled();
    const rows = this.db
      .prepare(
        "SELECT key, value, updated_at, expires_at FROM state WHERE scope = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?",
      )
      .all(scope, this.now(), Math.max(0, Math.floor(limit))) as Array<{
      key: string;
      value: Buffer;
      updated_at: number;
      expires_at: number | null;
    }>;
    return rows.map((r) => ({
      key: r.key,
      value: decodeMsg(r.value, this.key).v,
      updatedAt: r.updated_at,
      expiresAt: r.expires_at,
    }));
  }

  async purge(now = this.now()): Promise<{ delivered: number; dedupe: number; state: number }> {
    return this.write(() => ({
      delivered: this.db
        .prepare("DELETE FROM messages WHERE state = 3 AND done_at < ?")
        .run(now - this.keepDeliveredMs).changes,
      dedupe: this.prunedDedupe(now),
      state: this.db.prepare("DELETE FROM state WHERE expires_at <= ?").run(now).changes,
    }));
  }

  private prunedDedupe(now: number): number {
    for (const queue of this.queues.values()) queue.forgetDedupe(now);
    return this.db.prepare("DELETE FROM dedupe_log WHERE expires_at <= ?").run(now).changes;
  }

  /** The dedupe ids of a queue still within their window, oldest first. */
  loadDedupe(name: string, now: number): Array<{ id: string; message_id: number; expires_at: number }> {
    return this.db
      .prepare(
        "SELECT id, message_id, expires_at FROM dedupe_log WHERE queue = ? AND expires_at > ? ORDER BY seq",
      )
      .all(name, now) as Array<{ id: string; message_id: number; expires_at: number }>;
  }

  /** Size of the database file and its WAL, in pages, for retention checks. */
  pageCount(): number {
    return Number(this.db.pragma("page_count", { simple: true }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.housekeeping) clearInterval(this.housekeeping);
    for (const queue of [...this.queues.values()]) queue.detach();
    this.flush();
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.closed = true;
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // A checkpoint is housekeeping: the WAL is replayed on the next open.
    }
    this.db.close();
  }
}

interface Records {
  /** Attempts started, by the time they were claimed. */
  claims: Array<{ at: number; ids: number[] }>;
  done: number[];
  written?: Promise<void>;
}

class SqliteQueue implements QueueHandle {
  private readonly scheduler = new Scheduler();
  private readonly listeners = new Set<() => void>();
  private deadCount: number;
  private deliveredTotal: number;
  private deadTotal: number;
  private detached = false;
  /** What the next group commit records of this queue's deliveries (nobody waits for it but a done). */
  private records?: Records;
  /**
   * Bodies just committed, kept until their first delivery (bounded): most messages are claimed
   * moments after they are stored, and need not be read back from the file.
   */
  private readonly fresh = new Map<number, string>();
  /** Deliveries whose done waits for its commit. */
  private readonly recording = new Set<number>();
  private freshBytes = 0;
  /** Dedupe ids within their window (insertion order is expiry order: one window per queue). */
  private readonly seen = new Map<string, { id: number; expiresAt: number }>();
  private readonly seenPending = new Map<string, Promise<EnqueueResult>>();

  constructor(
    private readonly store: SqliteMessageStore,
    readonly name: string,
    readonly options: QueueOptions,
    private readonly onDetach: () => void,
  ) {
    store.loadQueue(name, this.scheduler);
    for (const row of store.loadDedupe(name, store.time())) {
      this.seen.set(row.id, { id: row.message_id, expiresAt: row.expires_at });
    }
    const c = store.counts(name);
    this.deadCount = c.dead;
    this.deliveredTotal = c.delivered;
    this.deadTotal = c.deadTotal;
  }

  private ready(): void {
    for (const listener of this.listeners) listener();
  }

  onReady(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const store = this.store;
    const key = input.key ?? null;
    const dedupe = input.dedupe ?? null;
    if (dedupe !== null) {
      const seen = this.seen.get(dedupe);
      if (seen && seen.expiresAt > store.time())
        return { id: seen.id, enqueuedAt: store.time(), duplicate: true };
      const first = this.seenPending.get(dedupe);
      if (first) {
        const earlier = await first.catch(() => undefined);
        // The first copy failed to commit: this one is stored in its place.
        if (earlier) return { id: earlier.id, enqueuedAt: store.time(), duplicate: true };
      }
    }
    const text = JSON.stringify(input.msg);
    const body = store.encodeText(text);
    const written = store.write(() => {
      const now = store.time();
      const id = Number(store.stmt.insert.run(this.name, key, now, now, body).lastInsertRowid);
      if (dedupe !== null) store.stmt.dedupeLog.run(this.name, dedupe, id, now + this.options.dedupeWindowMs);
      return { id, enqueuedAt: now, duplicate: false };
    });
    let result: EnqueueResult;
    if (dedupe === null) {
      result = await written;
    } else {
      this.seenPending.set(dedupe, written);
      try {
        result = await written;
        this.seen.set(dedupe, { id: result.id, expiresAt: result.enqueuedAt + this.options.dedupeWindowMs });
      } finally {
        if (this.seenPending.get(dedupe) === written) this.seenPending.delete(dedupe);
      }
    }
    if (!result.duplicate && !this.detached) {
      this.keepFresh(result.id, text);
      this.scheduler.add({
        id: result.id,
        key,
        enqueuedAt: result.enqueuedAt,
        attempt: 0,
        nextAt: result.enqueuedAt,
        leaseUntil: 0,
      });
      this.ready();
    }
    return result;
  }

  async claim(max: number, visibilityMs: number): Promise<Delivery[]> {
    if (this.detached || max <= 0) return [];
    this.expireLeases();
    const store = this.store;
    const now = store.time();
    const out: Delivery[] = [];
    for (const entry of this.scheduler.take(max, now, visibilityMs)) {
      const late = overdue(this.options, entry.attempt, entry.enqueuedAt, now);
      if (late) {
        // Taken, but not delivered: the attempt take() counted is not one.
        this.kill(entry, late, entry.attempt - 1).catch(() => undefined);
        continue;
      }
      const text = this.takeFresh(entry.id);
      const body =
        text === undefined
          ? (store.stmt.body.get(entry.id) as { body: Buffer } | undefined)?.body
          : undefined;
      if (text === undefined && !body) {
        this.scheduler.remove(entry.id);
        continue;
      }
      let msg: Record<string, unknown>;
      try {
        msg = text === undefined ? store.decode(body as Buffer) : parseText(text);
      } catch (err) {
        // Unreadable (wrong key, damaged row): a dead letter an operator can see, not a crash loop.
        const failure = {
          code: (err as PackError).code ?? CODES.QUEUE_CORRUPT,
          message: (err as Error).message,
        };
        this.kill(entry, failure, entry.attempt).catch(() => undefined);
        continue;
      }
      out.push({ id: entry.id, key: entry.key, attempt: entry.attempt, enqueuedAt: entry.enqueuedAt, msg });
    }
    if (out.length > 0) {
      // Counted in the next group commit: a crash before it only repeats an attempt number.
      const claims = this.recordsToWrite().claims;
      let claim = claims[claims.length - 1];
      if (claim?.at !== now) claims.push((claim = { at: now, ids: [] }));
      for (const d of out) claim.ids.push(d.id);
    }
    return out;
  }

  /** A dead letter, with the deliveries it had (`attempts`). */
  private async kill(entry: Entry, failure: Failure, attempts: number): Promise<void> {
    const store = this.store;
    this.scheduler.remove(entry.id);
    this.takeFresh(entry.id);
    this.deadCount += 1;
    this.deadTotal += 1;
    await store.write(() => {
      store.stmt.dead.run(store.time(), failure.code, failure.message.slice(0, 500), attempts, entry.id);
      store.stmt.countDead.run(this.name, 1);
    });
    this.ready();
  }

  /** Kept as the JSON it was stored from (unsealed): a delivery parses it, with nothing to read or decrypt. */
  private keepFresh(id: number, text: string): void {
    if (this.freshBytes + text.length > FRESH_BYTES) return;
    this.fresh.set(id, text);
    this.freshBytes += text.length;
  }

  private takeFresh(id: number): string | undefined {
    const text = this.fresh.get(id);
    if (text !== undefined) {
      this.fresh.delete(id);
      this.freshBytes -= text.length;
    }
    return text;
  }

  forgetDedupe(now: number): void {
    for (const [id, seen] of this.seen) {
      if (seen.expiresAt > now) break;
      this.seen.delete(id);
    }
  }

  inFlight(): number {
    return this.scheduler.inFlightCount;
  }

  /** The delivery this attempt stands for, if it is still the one in flight. */
  private current(id: number, attempt: number): Entry | undefined {
    const entry = this.scheduler.get(id);
    if (!entry || entry.leaseUntil === 0 || entry.attempt !== attempt || this.recording.has(id))
      return undefined;
    return entry;
  }

  /**
   * A delivery leaves the scheduler once its done is committed: until then it holds its key, so that
   * a done that cannot be recorded delivers it again before the next message of its key, as on
   * PostgreSQL (the destination never sees an older message after a newer one).
   */
  async complete(id: number, attempt: number): Promise<boolean> {
    const entry = this.current(id, attempt);
    if (!entry) return false;
    const store = this.store;
    this.recording.add(id);
    try {
      await this.finished(id);
    } catch (err) {
      // Not recorded: deliver it again rather than lose it (unless taken back and claimed again meanwhile).
      if (this.scheduler.get(id)?.attempt === attempt) this.scheduler.retryAt(id, store.time());
      this.ready();
      throw err;
    } finally {
      this.recording.delete(id);
    }
    // Taken back meanwhile (releaseAll, expiry) and claimed again, it is done all the same.
    this.scheduler.remove(id);
    this.deliveredTotal += 1;
    this.ready();
    return true;
  }

  /** Deliveries finished in one tick are recorded together in the next group commit. */
  private finished(id: number): Promise<void> {
    const records = this.recordsToWrite();
    records.done.push(id);
    return records.written as Promise<void>;
  }

  private recordsToWrite(): Records {
    if (this.records) return this.records;
    const records: Records = { claims: [], done: [] };
    records.written = this.store.write(() => this.writeRecords(records), true);
    records.written.catch(() => undefined);
    this.records = records;
    return records;
  }

  /** Claims first: a claim recorded after the done would make a delivered message in flight again. */
  private writeRecords(records: Records): void {
    if (this.records === records) this.records = undefined;
    const store = this.store;
    const deleting = store.keepDelivered === 0;
    // A row deleted in this commit needs no attempt count.
    const deleted = deleting && records.done.length > 0 ? new Set(records.done) : undefined;
    const claim = store.stmt.claim;
    for (const { at, ids } of records.claims) {
      for (const id of ids) if (!deleted?.has(id)) claim.run(at, at, id);
    }
    if (records.done.length === 0) return;
    if (deleting) {
      const remove = store.stmt.delete;
      for (const id of records.done) remove.run(id);
    } else {
      const delivered = store.stmt.delivered;
      const now = store.time();
      for (const id of records.done) delivered.run(now, id);
    }
    store.stmt.countDelivered.run(this.name, records.done.length);
  }

  async fail(
    id: number,
    attempt: number,
    failure: Failure,
    decide: (attempt: number, enqueuedAt: number) => Decision,
  ): Promise<FailOutcome> {
    const entry = this.current(id, attempt);
    if (!entry) return { outcome: "stale" };
    const store = this.store;
    const message = failure.message.slice(0, 500);
    const decision = decide(entry.attempt, entry.enqueuedAt);
    if ("dead" in decision) {
      await this.kill(entry, { code: failure.code, message }, entry.attempt);
      return { outcome: "dead", reason: decision.dead };
    }
    this.scheduler.retryAt(id, decision.retryAt);
    await store.write(() => store.stmt.retry.run(decision.retryAt, failure.code, message, id));
    this.ready();
    return { outcome: "retry", retryAt: decision.retryAt };
  }

  async releaseAll(): Promise<void> {
    const now = this.store.time();
    const released = this.scheduler.releaseAll(now);
    if (released.length === 0) return;
    await this.recordReleased(released, now);
    this.ready();
  }

  /** In-flight deliveries given back, waiting again from `now`, as the file must say after a restart. */
  private recordReleased(entries: Entry[], now: number): Promise<void> {
    const release = this.store.stmt.release;
    return this.store.write(() => {
      for (const entry of entries) release.run(now, entry.id);
    });
  }

  /** Deliveries whose visibility ran out: waiting again (their attempt stays counted). */
  expireLeases(): number {
    const now = this.store.time();
    const expired = this.scheduler.expire(now);
    if (expired.length > 0) {
      this.recordReleased(expired, now).catch(() => undefined);
      this.ready();
    }
    return expired.length;
  }

  nextDueInMs(): number | undefined {
    this.expireLeases();
    return this.scheduler.nextDueInMs(this.store.time());
  }

  replayed(rows: Array<{ id: number; key: string | null; enqueued_at: number }>): void {
    for (const row of rows) {
      this.scheduler.add({
        id: row.id,
        key: row.key,
        enqueuedAt: row.enqueued_at,
        attempt: 0,
        nextAt: row.enqueued_at,
        leaseUntil: 0,
      });
    }
    this.deadCount = Math.max(0, this.deadCount - rows.length);
    if (rows.length > 0) this.ready();
  }

  discarded(n: number): void {
    this.deadCount = Math.max(0, this.deadCount - n);
    this.ready();
  }

  stats(): QueueStats {
    const oldest = this.scheduler.oldestEnqueuedAt();
    return {
      queue: this.name,
      depth: this.scheduler.size,
      inFlight: this.scheduler.inFlightCount,
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, this.store.time() - oldest),
      deadLetters: this.deadCount,
      deliveredTotal: this.deliveredTotal,
      deadTotal: this.deadTotal,
    };
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.listeners.clear();
    this.onDetach();
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteMessageStore {
  return new SqliteMessageStore(options);
}

/** A state row's version: the digest of its stored bytes (sealed rows differ on every write). */
function stateVersion(body: Buffer): string {
  return createHash("sha256").update(body).digest("base64url");
}
