import { randomUUID } from "node:crypto";
import type * as pg from "pg";
import type { Pool, PoolClient, PoolConfig, QueryResult } from "pg";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { decodeMsg, encodeText } from "./codec";
import { STATE_NAMES, deadLetterOf, overdue, stateBody, storeError, storeKey, type DeadRow } from "./rules";
import { checkSchemaName, migrate } from "./pg-migrations";
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
 * The message store on PostgreSQL, which several Node-RED instances share. The database is the
 * only truth: which message goes next is decided by the claim query (FOR UPDATE SKIP LOCKED, one
 * message of a key in flight at a time, in the key's order), a delivery is a lease that another
 * instance takes over once its visibility runs out, and enqueues that arrive together are written
 * by one call (group commit) whose promise settles after COMMIT. What the interface asks for
 * synchronously (stats, the next due time) comes from caches refreshed each second and after each
 * change this instance makes.
 */

export interface PgStoreOptions {
  /** postgres://user@host:port/database (the password apart, in `password`). */
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  ssl?: PoolConfig["ssl"];
  /** The schema the store's tables live in, created when missing. Default pms_ehr. */
  schema?: string;
  /** Payloads and state sealed with AES-256-GCM under a key derived from this. */
  encryptionKey?: string;
  /** Keep delivered messages this long for audit (ms); 0: delete when done. */
  keepDeliveredMs?: number;
  /** How often retention runs (ms); 0: only when purge() is called. Default one minute. */
  purgeIntervalMs?: number;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** How long to wait for a connection (ms; default 5000). */
  connectTimeoutMs?: number;
  /** Called when the store opens after an attempt that failed (the database was away at the start). */
  onReopened?: () => void;
  /** For tests: the clock. */
  now?: () => number;
}

/** How often the stats of open queues are read again (ms). */
const STATS_EVERY_MS = 1000;
const BATCH_MAX = 500;
/** How long a failed open is answered before the next use tries again (ms). */
const REOPEN_MS = 1000;

type PgModule = typeof pg;

function loadPg(): PgModule {
  try {
    // Loaded when a PostgreSQL store opens: SQLite users need not have it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("pg") as PgModule;
  } catch (err) {
    throw new PackError(
      CODES.QUEUE_STORE,
      "the PostgreSQL client pg could not be loaded (reinstall the pack)",
      undefined,
      { cause: err },
    );
  }
}

/**
 * Items pushed while a batch is being written form the next batch: one round trip when idle,
 * batches that grow with the load.
 */
class Batcher<I, O> {
  private waiting: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  private running?: Promise<void>;

  constructor(private readonly send: (items: I[]) => Promise<O[]>) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.running ??= new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, BATCH_MAX);
      try {
        const out = await this.send(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.running = undefined;
  }

  /** Settles once everything pushed so far is written or failed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}

interface EnqueueItem {
  queue: string;
  key: string | null;
  dedupe: string | null;
  body: Buffer;
  until: number | null;
}

interface DoneItem {
  id: number;
  attempt: number;
}

export class PgMessageStore implements MessageStore {
  readonly backend = "postgres" as const;
  readonly encrypted: boolean;
  readonly schema: string;
  private opening: Promise<void>;
  private openFailedAt?: number;
  private readonly reopen: () => Promise<void>;
  private readonly pool: Pool;
  private key?: Buffer;
  private readonly now: () => number;
  private readonly keepDeliveredMs: number;
  private readonly queues = new Map<string, PgQueue>();
  private readonly housekeeping: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly enqueues: Batcher<EnqueueItem, { id: number; duplicate: boolean }>;
  private readonly dones: Batcher<DoneItem, boolean>;
  /** Group commits of enqueues made (for tests and the benchmark). */
  commits = 0;

  constructor(options: PgStoreOptions) {
    const pg = loadPg();
    this.schema = checkSchemaName(options.schema ?? "pms_ehr");
    this.now = options.now ?? Date.now;
    this.keepDeliveredMs = Math.max(0, options.keepDeliveredMs ?? 0);
    this.encrypted = Boolean(options.encryptionKey);
    const int8 = (value: string) => Number(value);
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      host: options.host,
      port: options.port,
      database: options.database,
      user: options.user,
      password: options.password,
      ssl: options.ssl,
      max: Math.max(1, options.poolSize ?? 4),
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      // Every commit waits for the WAL flush, whatever the server's default: an acknowledgement follows a durable write.
      options: `-c search_path=${this.schema} -c synchronous_commit=on`,
      application_name: "node-red-pms-ehr",
      // bigint columns (ids, epoch ms) as numbers, for this pool only: other users of pg keep strings.
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === 20 ? int8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // A connection that fails while idle in the pool is dropped by the pool; the next query opens another.
    this.pool.on("error", () => undefined);
    this.enqueues = new Batcher((items) => this.writeEnqueues(items));
    this.dones = new Batcher((items) => this.writeDones(items));
    this.reopen = () => {
      const failedBefore = this.openFailedAt !== undefined;
      this.openFailedAt = undefined;
      const attempt = this.open(options.encryptionKey);
      attempt.then(
        () => (failedBefore ? options.onReopened?.() : undefined),
        () => (this.openFailedAt = Date.now()),
      );
      return attempt;
    };
    this.opening = this.reopen();
    const every = options.purgeIntervalMs ?? 60_000;
    if (every > 0) {
      this.housekeeping.push(setInterval(() => void this.purge().catch(() => undefined), every));
    }
    this.housekeeping.push(
      setInterval(() => void this.refreshStats().catch(() => undefined), STATS_EVERY_MS),
    );
    for (const timer of this.housekeeping) timer.unref();
  }

  /**
   * Settles when the store is connected, migrated and unlocked; rejects with why it is not. A failed
   * open is tried again by the first use after REOPEN_MS (the queues' heartbeat is one), so a store
   * deployed while its database was away starts working when the database is back.
   */
  get ready(): Promise<void> {
    if (this.openFailedAt !== undefined && Date.now() - this.openFailedAt >= REOPEN_MS) {
      this.opening = this.reopen();
    }
    return this.opening;
  }

  private async open(secret: string | undefined): Promise<void> {
    let client: PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await migrate(client, this.schema);
      this.key = await this.unlock(client, secret);
    } catch (err) {
      throw storeError("postgres", `opening the PostgreSQL store (schema ${this.schema})`, err);
    } finally {
      client?.release();
    }
  }

  /** The store's key, checked against what the schema was first sealed with (the first writer wins a race). */
  private async unlock(client: PoolClient, secret: string | undefined): Promise<Buffer | undefined> {
    const read = async () => {
      const { rows } = await client.query<{ name: string; value: Buffer }>(
        "SELECT name, value FROM meta WHERE name IN ('salt', 'key_check')",
      );
      return new Map(rows.map((r) => [r.name, r.value]));
    };
    let meta = await read();
    const { key, seal } = storeKey(secret, meta.get("salt"), meta.get("key_check"));
    if (!seal) return key;
    await client.query(
      "INSERT INTO meta (name, value) VALUES ('salt', $1), ('key_check', $2) ON CONFLICT (name) DO NOTHING",
      [seal.salt, seal.check],
    );
    // Another instance may have sealed it first: its salt is the one to use.
    meta = await read();
    return storeKey(secret, meta.get("salt"), meta.get("key_check")).key;
  }

  time(): number {
    return this.now();
  }

  get keepDelivered(): number {
    return this.keepDeliveredMs;
  }

  /** A query once the store is ready; every failure is QUEUE_STORE naming `action`. */
  async query<R extends Record<string, unknown>>(
    action: string,
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>> {
    if (this.closed) throw new PackError(CODES.QUEUE_STORE, "message store is closed");
    await this.ready;
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw storeError("postgres", action, err);
    }
  }

  /** `run` inside one transaction on one connection; rolled back when it throws (a thrown Rollback is its result). */
  async transaction<T>(action: string, run: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new PackError(CODES.QUEUE_STORE, "message store is closed");
    await this.ready;
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError("postgres", action, err);
    }
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await run(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => (broken = true));
      if (err instanceof Rollback) return err.result as T;
      throw storeError("postgres", action, err);
    } finally {
      client.release(broken);
    }
  }

  encode(msgText: string): Buffer {
    return encodeText(msgText, this.key);
  }

  decode(body: Buffer): Record<string, unknown> {
    return decodeMsg(body, this.key);
  }

  enqueue(item: EnqueueItem): Promise<{ id: number; duplicate: boolean }> {
    if (this.closed) return Promise.reject(new PackError(CODES.QUEUE_STORE, "message store is closed"));
    return this.enqueues.push(item);
  }

  /** One autocommit call of the enqueue() function for the whole batch: settles after its COMMIT. */
  private async writeEnqueues(items: EnqueueItem[]): Promise<Array<{ id: number; duplicate: boolean }>> {
    const { rows } = await this.query<{ n: number; id: number; duplicate: boolean }>(
      "enqueueing",
      "SELECT n, id, duplicate FROM enqueue($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint, $6::bigint[])",
      [
        items.map((i) => i.queue),
        items.map((i) => i.key),
        items.map((i) => i.dedupe),
        items.map((i) => i.body),
        this.now(),
        items.map((i) => i.until),
      ],
    );
    this.commits += 1;
    const out: Array<{ id: number; duplicate: boolean }> = [];
    for (const row of rows) out[row.n - 1] = { id: row.id, duplicate: row.duplicate };
    return out;
  }

  complete(id: number, attempt: number): Promise<boolean> {
    if (this.closed) return Promise.reject(new PackError(CODES.QUEUE_STORE, "message store is closed"));
    return this.dones.push({ id, attempt });
  }

  /** Finished deliveries of one batch in one statement; a row another holder took over is left alone. */
  private async writeDones(items: DoneItem[]): Promise<boolean[]> {
    const finish =
      this.keepDeliveredMs === 0
        ? "DELETE FROM messages m USING unnest($1::bigint[], $2::int[]) AS d(id, attempt) WHERE m.id = d.id AND m.attempt = d.attempt AND m.state = 1 RETURNING m.id, m.queue"
        : "UPDATE messages m SET state = 3, done_at = $3, lease_until = NULL, leased_by = NULL FROM unnest($1::bigint[], $2::int[]) AS d(id, attempt) WHERE m.id = d.id AND m.attempt = d.attempt AND m.state = 1 RETURNING m.id, m.queue";
    const values: unknown[] = [items.map((i) => i.id), items.map((i) => i.attempt)];
    if (this.keepDeliveredMs !== 0) values.push(this.now());
    const { rows } = await this.query<{ id: number }>(
      "recording deliveries",
      `WITH done AS (${finish}),
        counted AS (INSERT INTO totals (queue, delivered) SELECT queue, count(*) FROM done GROUP BY queue
          ON CONFLICT (queue) DO UPDATE SET delivered = totals.delivered + EXCLUDED.delivered)
       SELECT id FROM done`,
      values,
    );
    const finished = new Set(rows.map((r) => r.id));
    return items.map((i) => finished.has(i.id));
  }

  openQueue(name: string, options: QueueOptions): QueueHandle {
    if (this.closed) throw new PackError(CODES.QUEUE_STORE, "message store is closed");
    if (this.queues.has(name)) {
      throw new PackError(
        CODES.QUEUE_CONFIG,
        `queue "${name}" is already opened by another durable-queue node on this store`,
      );
    }
    const queue = new PgQueue(this, name, options, () => this.queues.delete(name));
    this.queues.set(name, queue);
    void this.refreshStats().catch(() => undefined);
    return queue;
  }

  /** The counts of the given queues (waiting, in flight, dead, oldest, totals), by queue. */
  private async statsOf(names: string[]): Promise<Map<string, QueueStats>> {
    const now = this.now();
    const { rows } = await this.query<{
      queue: string;
      depth: number;
      inflight: number;
      dead: number;
      oldest: number | null;
      delivered: number;
      dead_total: number;
    }>(
      "reading queue counts",
      `SELECT q.queue,
         coalesce(c.depth, 0)::int AS depth, coalesce(c.inflight, 0)::int AS inflight, coalesce(c.dead, 0)::int AS dead,
         c.oldest, coalesce(t.delivered, 0) AS delivered, coalesce(t.dead, 0) AS dead_total
       FROM unnest($1::text[]) AS q(queue)
       LEFT JOIN (
         SELECT queue, count(*) FILTER (WHERE state IN (0, 1)) AS depth, count(*) FILTER (WHERE state = 1) AS inflight,
           count(*) FILTER (WHERE state = 2) AS dead, min(enqueued_at) FILTER (WHERE state IN (0, 1)) AS oldest
         FROM messages WHERE queue = ANY($1) AND state IN (0, 1, 2) GROUP BY queue
       ) c ON c.queue = q.queue
       LEFT JOIN totals t ON t.queue = q.queue`,
      [names],
    );
    return new Map(
      rows.map((r) => [
        r.queue,
        {
          queue: r.queue,
          depth: r.depth,
          inFlight: r.inflight,
          oldestAgeMs: r.oldest === null ? 0 : Math.max(0, now - r.oldest),
          deadLetters: r.dead,
          deliveredTotal: r.delivered,
          deadTotal: r.dead_total,
        },
      ]),
    );
  }

  private statsTimer?: NodeJS.Timeout;

  /** A refresh of the counts soon, one for all the changes until then. */
  statsSoon(): void {
    if (this.statsTimer || this.closed) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      void this.refreshStats().catch(() => undefined);
    }, 50);
    this.statsTimer.unref();
  }

  /** Reads the counts of the open queues into their caches. */
  async refreshStats(): Promise<void> {
    if (this.closed || this.queues.size === 0) return;
    const stats = await this.statsOf([...this.queues.keys()]);
    for (const [name, s] of stats) this.queues.get(name)?.cached(s);
  }

  async listQueues(): Promise<QueueStats[]> {
    const { rows } = await this.query<{ queue: string }>(
      "listing queues",
      "SELECT DISTINCT queue FROM messages UNION SELECT queue FROM totals",
    );
    const names = [...new Set([...rows.map((r) => r.queue), ...this.queues.keys()])].sort();
    const stats = await this.statsOf(names);
    for (const [name, s] of stats) this.queues.get(name)?.cached(s);
    return names.map((n) => stats.get(n) as QueueStats);
  }

  private where(queue: string, filter: DeadLetterFilter): { sql: string; params: unknown[] } {
    const params: unknown[] = [queue];
    const parts = ["queue = $1", "state = 2"];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      parts.push(sql.replace("?", `$${params.length}`));
    };
    if (filter.ids !== undefined)
      add(
        "id = ANY(?::bigint[])",
        filter.ids.filter((id) => Number.isSafeInteger(id)),
      );
    if (filter.code !== undefined) add("error_code = ?", filter.code);
    if (filter.key !== undefined) add("key = ?", filter.key);
    if (filter.from !== undefined) add("done_at >= ?", filter.from);
    if (filter.to !== undefined) add("done_at < ?", filter.to);
    return { sql: parts.join(" AND "), params };
  }

  async deadLetters(queue: string, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const { sql, params } = this.where(queue, filter);
    const limit = Math.min(Math.max(1, filter.limit ?? 1000), 10000);
    const { rows } = await this.query<DeadRow & Record<string, unknown>>(
      "reading dead letters",
      `SELECT id, queue, key, attempt, enqueued_at, first_try_at, last_try_at, done_at, error_code, error_message FROM messages WHERE ${sql} ORDER BY id LIMIT ${limit}`,
      params,
    );
    return rows.map(deadLetterOf);
  }

  async read(queue: string, id: number): Promise<StoredMessage | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const { rows } = await this.query<{
      id: number;
      queue: string;
      key: string | null;
      state: number;
      attempt: number;
      enqueued_at: number;
      body: Buffer;
    }>(
      "reading a message",
      "SELECT id, queue, key, state, attempt, enqueued_at, body FROM messages WHERE queue = $1 AND id = $2",
      [queue, id],
    );
    const row = rows[0];
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

  /**
   * Dead letters back to waiting, each behind the messages its key already holds: the keys are
   * locked (in hash order, as enqueue() does) before their new places in line are drawn.
   */
  async replay(queue: string, filter: DeadLetterFilter): Promise<number> {
    const { sql, params } = this.where(queue, filter);
    const n = await this.transaction("replaying dead letters", async (client) => {
      const { rows } = await client.query<{ id: number; key: string | null }>(
        `SELECT id, key FROM messages WHERE ${sql} ORDER BY id FOR UPDATE`,
        params,
      );
      if (rows.length === 0) return 0;
      const keys = [...new Set(rows.filter((r) => r.key !== null).map((r) => r.key as string))];
      if (keys.length > 0) await lockKeys(client, queue, keys);
      const { rows: seqs } = await client.query<{ s: number }>(
        "SELECT nextval('key_seq') AS s FROM generate_series(1, $1)",
        [rows.length],
      );
      const ordered = seqs.map((r) => r.s).sort((a, b) => a - b);
      const now = this.now();
      await client.query(
        `UPDATE messages m SET state = 0, attempt = 0, next_at = $3, enqueued_at = $3, done_at = NULL,
           lease_until = NULL, leased_by = NULL, seq = u.seq
         FROM unnest($1::bigint[], $2::bigint[]) AS u(id, seq) WHERE m.id = u.id`,
        [rows.map((r) => r.id), ordered, now],
      );
      return rows.length;
    });
    const open = this.queues.get(queue);
    if (open && n > 0) open.changed(true);
    return n;
  }

  async discard(queue: string, filter: DeadLetterFilter): Promise<number> {
    const { sql, params } = this.where(queue, filter);
    const { rowCount } = await this.query(
      "discarding dead letters",
      `DELETE FROM messages WHERE ${sql}`,
      params,
    );
    this.queues.get(queue)?.changed(false);
    return rowCount ?? 0;
  }

  async getState(scope: string, key: string): Promise<unknown> {
    return (await this.getStateVersioned(scope, key))?.value;
  }

  async getStateVersioned(
    scope: string,
    key: string,
  ): Promise<{ value: unknown; version: string } | undefined> {
    const { rows } = await this.query<{ value: Buffer; version: number }>(
      "reading state",
      "SELECT value, version FROM state WHERE scope = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)",
      [scope, key, this.now()],
    );
    if (rows.length === 0) return undefined;
    return { value: decodeMsg(rows[0].value, this.key).v, version: String(rows[0].version) };
  }

  private stateBody(key: string, value: unknown): Buffer {
    return stateBody(key, value, this.key);
  }

  async setState(scope: string, key: string, value: unknown, expiresAt?: number): Promise<void> {
    if (value === undefined) {
      await this.query("writing state", "DELETE FROM state WHERE scope = $1 AND key = $2", [scope, key]);
      return;
    }
    await this.ready;
    const body = this.stateBody(key, value);
    await this.query(
      "writing state",
      `INSERT INTO state (scope, key, value, version, updated_at, expires_at) VALUES ($1, $2, $3, nextval('state_version'), $4, $5)
       ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
         updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at`,
      [scope, key, body, this.now(), expiresAt === undefined ? null : Math.floor(expiresAt)],
    );
  }

  async setStateIf(
    scope: string,
    key: string,
    version: string | null,
    value: unknown,
    expiresAt?: number,
  ): Promise<boolean> {
    const now = this.now();
    const until = expiresAt === undefined ? null : Math.floor(expiresAt);
    if (version !== null && !/^[0-9]{1,19}$/.test(version)) return false;
    if (value === undefined && version === null) {
      // Absent as read: true unless a live value is there now.
      const { rowCount } = await this.query(
        "writing state",
        "SELECT 1 FROM state WHERE scope = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)",
        [scope, key, now],
      );
      return (rowCount ?? 0) === 0;
    }
    if (value === undefined) {
      const { rowCount } = await this.query(
        "writing state",
        "DELETE FROM state WHERE scope = $1 AND key = $2 AND version = $3 AND (expires_at IS NULL OR expires_at > $4)",
        [scope, key, version, now],
      );
      return (rowCount ?? 0) > 0;
    }
    await this.ready;
    const body = this.stateBody(key, value);
    if (version === null) {
      // Absent, or present but expired (taken over): anything live is a change since the read.
      const { rowCount } = await this.query(
        "writing state",
        `INSERT INTO state AS s (scope, key, value, version, updated_at, expires_at) VALUES ($1, $2, $3, nextval('state_version'), $4, $5)
         ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at
         WHERE s.expires_at IS NOT NULL AND s.expires_at <= $4`,
        [scope, key, body, now, until],
      );
      return (rowCount ?? 0) > 0;
    }
    const { rowCount } = await this.query(
      "writing state",
      `UPDATE state SET value = $3, version = nextval('state_version'), updated_at = $4, expires_at = $5
       WHERE scope = $1 AND key = $2 AND version = $6 AND (expires_at IS NULL OR expires_at > $4)`,
      [scope, key, body, now, until, version],
    );
    return (rowCount ?? 0) > 0;
  }

  async addStateIfAbsent(scope: string, keys: string[], value: unknown, expiresAt: number): Promise<boolean> {
    await this.ready;
    const body = this.stateBody(keys.join(", "), value);
    const now = this.now();
    return this.transaction("writing state", async (client) => {
      const { rowCount } = await client.query(
        `INSERT INTO state AS s (scope, key, value, version, updated_at, expires_at)
         SELECT $1, k, $3, nextval('state_version'), $4, $5 FROM unnest($2::text[]) AS k
         ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at
         WHERE s.expires_at IS NOT NULL AND s.expires_at <= $4`,
        [scope, [...new Set(keys)], body, now, Math.floor(expiresAt)],
      );
      // One of them was there (or another instance added it meanwhile): none is added.
      if ((rowCount ?? 0) !== new Set(keys).size) throw new Rollback(false);
      return true;
    });
  }

  async stateScopes(): Promise<StateScope[]> {
    const { rows } = await this.query<{ scope: string; keys: number; updated_at: number }>(
      "reading state",
      "SELECT scope, count(*)::int AS keys, max(updated_at) AS updated_at FROM state WHERE expires_at IS NULL OR expires_at > $1 GROUP BY scope ORDER BY scope",
      [this.now()],
    );
    return rows.map((r) => ({ scope: r.scope, keys: r.keys, updatedAt: r.updated_at }));
  }

  async stateEntries(scope: string, limit: number): Promise<StateEntry[]> {
    const { rows } = await this.query<{
      key: string;
      value: Buffer;
      updated_at: number;
      expires_at: number | null;
    }>(
      "reading state",
      "SELECT key, value, updated_at, expires_at FROM state WHERE scope = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY key LIMIT $3",
      [scope, this.now(), Math.max(0, Math.floor(limit))],
    );
    return rows.map((r) => ({
      key: r.key,
      value: decodeMsg(r.value, this.key).v,
      updatedAt: r.updated_at,
      expiresAt: r.expires_at,
    }));
  }

  /** Retention, by one instance at a time (the others find the lock taken and skip this round). */
  async purge(now = this.now()): Promise<{ delivered: number; dedupe: number; state: number }> {
    return this.transaction("running retention", async (client) => {
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtext('pms-ehr purge'), hashtext(current_schema())) AS locked",
      );
      if (!rows[0].locked) return { delivered: 0, dedupe: 0, state: 0 };
      const count = async (sql: string, values: unknown[]) => (await client.query(sql, values)).rowCount ?? 0;
      return {
        delivered: await count("DELETE FROM messages WHERE state = 3 AND done_at < $1", [
          now - this.keepDeliveredMs,
        ]),
        dedupe: await count("DELETE FROM dedupe WHERE expires_at <= $1", [now]),
        state: await count("DELETE FROM state WHERE expires_at <= $1", [now]),
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.housekeeping) clearInterval(timer);
    if (this.statsTimer) clearTimeout(this.statsTimer);
    for (const queue of [...this.queues.values()]) queue.detach();
    await Promise.all([this.enqueues.idle(), this.dones.idle()]);
    this.closed = true;
    await this.pool.end();
  }
}

/**
 * A waiting message `m` may go now only as its key's head: no message of its key in flight, none
 * earlier waiting. Two probes, each a lookup in one index (messages_one_per_key, messages_key), so
 * that the cost per candidate does not grow with the key's backlog.
 */
const HEAD = `(m.key IS NULL OR (
  NOT EXISTS (SELECT 1 FROM messages e WHERE e.queue = m.queue AND e.key = m.key AND e.state = 1)
  AND NOT EXISTS (SELECT 1 FROM messages e WHERE e.queue = m.queue AND e.key = m.key AND e.state = 0 AND e.seq < m.seq)))`;

/** Thrown inside a transaction to roll it back and answer `result`. */
class Rollback<T> {
  constructor(readonly result: T) {}
}

/** Transaction-level locks on the keys of a queue, in hash order: the order enqueue() takes them in. */
async function lockKeys(client: PoolClient, queue: string, keys: string[]): Promise<void> {
  const { rows } = await client.query<{ h: number }>(
    "SELECT DISTINCT hashtext($1 || chr(1) || k) AS h FROM unnest($2::text[]) AS k ORDER BY 1",
    [queue, keys],
  );
  for (const { h } of rows)
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pms-ehr key'), $1)", [h]);
}

interface Held {
  attempt: number;
  enqueuedAt: number;
}

/** A queue of a PostgreSQL store as one instance holds it. */
class PgQueue implements QueueHandle {
  private readonly listeners = new Set<() => void>();
  /** This handle's deliveries not yet finished, by id. */
  private readonly held = new Map<number, Held>();
  /** Identifies this holder's leases, so that releaseAll gives back only its own. */
  private readonly holder = randomUUID();
  private detached = false;
  private stats_: QueueStats;
  /** When the next message is due (epoch ms) as last read; undefined: none waits. */
  private nextAt: number | undefined;
  private readonly seenPending = new Map<string, Promise<EnqueueResult>>();

  constructor(
    private readonly store: PgMessageStore,
    readonly name: string,
    readonly options: QueueOptions,
    private readonly onDetach: () => void,
  ) {
    this.stats_ = {
      queue: name,
      depth: 0,
      inFlight: 0,
      oldestAgeMs: 0,
      deadLetters: 0,
      deliveredTotal: 0,
      deadTotal: 0,
    };
    // Until the first read, look now: what other instances left waiting may be due.
    this.nextAt = 0;
  }

  private ready(): void {
    for (const listener of this.listeners) listener();
  }

  onReady(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  cached(stats: QueueStats): void {
    this.stats_ = stats;
  }

  /** Something this instance did may have made a message due: look again now. */
  changed(wake: boolean): void {
    this.nextAt = this.store.time();
    this.store.statsSoon();
    if (wake) this.ready();
  }

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const store = this.store;
    const key = input.key ?? null;
    const dedupe = input.dedupe ?? null;
    if (dedupe !== null) {
      const first = this.seenPending.get(dedupe);
      if (first) {
        const earlier = await first.catch(() => undefined);
        // The first copy failed to commit: this one is stored in its place.
        if (earlier) return { id: earlier.id, enqueuedAt: store.time(), duplicate: true };
      }
    }
    const now = store.time();
    const written = store
      .enqueue({
        queue: this.name,
        key,
        dedupe,
        body: store.encode(JSON.stringify(input.msg)),
        until: dedupe === null ? null : now + this.options.dedupeWindowMs,
      })
      .then((r) => ({ id: r.id, enqueuedAt: now, duplicate: r.duplicate }));
    if (dedupe !== null) this.seenPending.set(dedupe, written);
    try {
      const result = await written;
      if (!result.duplicate && !this.detached) this.changed(true);
      return result;
    } finally {
      if (dedupe !== null && this.seenPending.get(dedupe) === written) this.seenPending.delete(dedupe);
    }
  }

  async claim(max: number, visibilityMs: number): Promise<Delivery[]> {
    if (this.detached || max <= 0) return [];
    const store = this.store;
    const now = store.time();
    const { rows } = await store.query<{
      id: number;
      key: string | null;
      attempt: number;
      enqueued_at: number;
      body: Buffer;
    }>(
      "claiming messages",
      `WITH expired AS (
         SELECT m.id FROM messages m
         WHERE m.queue = $1 AND m.state = 1 AND m.lease_until <= $2
         ORDER BY m.lease_until
         LIMIT $3
         FOR UPDATE OF m SKIP LOCKED),
       due AS (
         SELECT m.id FROM messages m
         WHERE m.queue = $1 AND m.state = 0 AND m.next_at <= $2 AND ${HEAD}
         ORDER BY m.next_at, m.seq
         LIMIT $3
         FOR UPDATE OF m SKIP LOCKED),
       picked AS (SELECT id FROM expired UNION ALL SELECT id FROM due LIMIT $3)
       UPDATE messages m SET state = 1, attempt = m.attempt + 1, lease_until = $2 + $4, leased_by = $5,
         first_try_at = coalesce(m.first_try_at, $2), last_try_at = $2
       FROM picked WHERE m.id = picked.id
       RETURNING m.id, m.key, m.attempt, m.enqueued_at, m.body`,
      [this.name, now, max, visibilityMs, this.holder],
    );
    rows.sort((a, b) => a.id - b.id);
    const out: Delivery[] = [];
    for (const row of rows) {
      const late = overdue(this.options, row.attempt, row.enqueued_at, now);
      if (late) {
        // Taken, but not delivered: the attempt the claim counted is not one.
        this.kill(row.id, row.attempt, late, row.attempt - 1).catch(() => undefined);
        continue;
      }
      let msg: Record<string, unknown>;
      try {
        msg = store.decode(row.body);
      } catch (err) {
        // Unreadable (wrong key, damaged row): a dead letter an operator can see, not a crash loop.
        const failure = {
          code: (err as PackError).code ?? CODES.QUEUE_CORRUPT,
          message: (err as Error).message,
        };
        this.kill(row.id, row.attempt, failure, row.attempt).catch(() => undefined);
        continue;
      }
      this.held.set(row.id, { attempt: row.attempt, enqueuedAt: row.enqueued_at });
      out.push({ id: row.id, key: row.key, attempt: row.attempt, enqueuedAt: row.enqueued_at, msg });
    }
    if (rows.length < max) await this.readNextDue().catch(() => undefined);
    return out;
  }

  /** The next time a key's head or a keyless message is due, or a lease runs out; heads only, so that a blocked key's backlog does not read as due. */
  private async readNextDue(): Promise<void> {
    const { rows } = await this.store.query<{ at: number | null }>(
      "reading the next due time",
      `SELECT least(
         (SELECT m.next_at FROM messages m WHERE m.queue = $1 AND m.state = 0 AND ${HEAD}
          ORDER BY m.next_at, m.seq LIMIT 1),
         (SELECT min(lease_until) FROM messages WHERE queue = $1 AND state = 1)) AS at`,
      [this.name],
    );
    this.nextAt = rows[0]?.at ?? undefined;
  }

  /** A dead letter, with the deliveries it had (`attempts`), if this attempt still holds it. */
  private async kill(id: number, attempt: number, failure: Failure, attempts: number): Promise<boolean> {
    this.held.delete(id);
    const { rows } = await this.store.query(
      "recording a dead letter",
      `WITH dead AS (
         UPDATE messages SET state = 2, done_at = $3, error_code = $4, error_message = $5, attempt = $6,
           lease_until = NULL, leased_by = NULL
         WHERE id = $1 AND attempt = $2 AND state = 1 RETURNING queue),
       counted AS (INSERT INTO totals (queue, dead) SELECT queue, 1 FROM dead
         ON CONFLICT (queue) DO UPDATE SET dead = totals.dead + 1)
       SELECT 1 FROM dead`,
      [id, attempt, this.store.time(), failure.code, failure.message.slice(0, 500), attempts],
    );
    this.changed(true);
    return rows.length > 0;
  }

  inFlight(): number {
    return this.held.size;
  }

  async complete(id: number, attempt: number): Promise<boolean> {
    const held = this.held.get(id);
    if (!held || held.attempt !== attempt) return false;
    // Should the write fail, the row stays in flight in the database and is delivered again once its lease runs out.
    this.held.delete(id);
    const done = await this.store.complete(id, attempt);
    this.changed(true);
    return done;
  }

  async fail(
    id: number,
    attempt: number,
    failure: Failure,
    decide: (attempt: number, enqueuedAt: number) => Decision,
  ): Promise<FailOutcome> {
    const held = this.held.get(id);
    if (!held || held.attempt !== attempt) return { outcome: "stale" };
    const message = failure.message.slice(0, 500);
    const decision = decide(held.attempt, held.enqueuedAt);
    if ("dead" in decision) {
      const killed = await this.kill(id, attempt, { code: failure.code, message }, attempt);
      return killed ? { outcome: "dead", reason: decision.dead } : { outcome: "stale" };
    }
    this.held.delete(id);
    const { rowCount } = await this.store.query(
      "recording a retry",
      `UPDATE messages SET state = 0, next_at = $3, error_code = $4, error_message = $5, lease_until = NULL, leased_by = NULL
       WHERE id = $1 AND attempt = $2 AND state = 1`,
      [id, attempt, decision.retryAt, failure.code, message],
    );
    if ((rowCount ?? 0) === 0) return { outcome: "stale" };
    this.nextAt = Math.min(this.nextAt ?? Infinity, decision.retryAt);
    this.ready();
    return { outcome: "retry", retryAt: decision.retryAt };
  }

  async releaseAll(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held.keys()];
    this.held.clear();
    const now = this.store.time();
    await this.store.query(
      "giving deliveries back",
      `UPDATE messages SET state = 0, next_at = $3, lease_until = NULL, leased_by = NULL
       WHERE id = ANY($1::bigint[]) AND state = 1 AND leased_by = $2`,
      [ids, this.holder, now],
    );
    this.changed(true);
  }

  nextDueInMs(): number | undefined {
    if (this.nextAt === undefined) return undefined;
    return Math.max(0, this.nextAt - this.store.time());
  }

  stats(): QueueStats {
    return { ...this.stats_, inFlight: Math.max(this.stats_.inFlight, this.held.size) };
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.listeners.clear();
    this.onDetach();
  }
}

export function openPgStore(options: PgStoreOptions): PgMessageStore {
  return new PgMessageStore(options);
}
