import { CODES } from "../error-codes";
import { PackError } from "../errors";

/** What a migration needs of a PostgreSQL connection (a `pg` Client or pool client). */
export interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/**
 * The schema, one step per version, run in order inside one transaction. A step is never edited
 * once released: a change is a new step. Tables are created in the store's schema (the
 * transaction's search_path); functions keep that search_path whoever calls them.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE SEQUENCE message_id;
  CREATE SEQUENCE key_seq;
  CREATE SEQUENCE state_version;
  CREATE TABLE messages (
    id bigint PRIMARY KEY DEFAULT nextval('message_id'),
    queue text NOT NULL,
    key text,
    seq bigint NOT NULL DEFAULT nextval('key_seq'),
    state smallint NOT NULL,
    attempt int NOT NULL DEFAULT 0,
    enqueued_at bigint NOT NULL,
    next_at bigint NOT NULL,
    lease_until bigint,
    leased_by uuid,
    first_try_at bigint,
    last_try_at bigint,
    done_at bigint,
    error_code text,
    error_message text,
    body bytea NOT NULL
  );
  CREATE INDEX messages_due ON messages (queue, next_at, seq) WHERE state = 0;
  CREATE INDEX messages_lease ON messages (queue, lease_until) WHERE state = 1;
  CREATE INDEX messages_key ON messages (queue, key, seq) WHERE state IN (0, 1) AND key IS NOT NULL;
  CREATE UNIQUE INDEX messages_one_per_key ON messages (queue, key) WHERE state = 1 AND key IS NOT NULL;
  CREATE INDEX messages_dead ON messages (queue, done_at) WHERE state = 2;
  CREATE INDEX messages_delivered ON messages (done_at) WHERE state = 3;
  CREATE TABLE dedupe (
    queue text NOT NULL,
    dedupe_id text NOT NULL,
    message_id bigint NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (queue, dedupe_id)
  );
  CREATE INDEX dedupe_expiry ON dedupe (expires_at);
  CREATE TABLE totals (
    queue text PRIMARY KEY,
    delivered bigint NOT NULL DEFAULT 0,
    dead bigint NOT NULL DEFAULT 0
  );
  CREATE TABLE state (
    scope text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    version bigint NOT NULL,
    updated_at bigint NOT NULL,
    expires_at bigint,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX state_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;
  CREATE TABLE meta (name text PRIMARY KEY, value bytea NOT NULL);
  -- One call per group commit. The keys' advisory locks are taken in hash order (no deadlock)
  -- before any seq is drawn, so that within a key seq order is commit order across instances.
  CREATE FUNCTION enqueue(p_queue text[], p_key text[], p_dedupe text[], p_body bytea[], p_now bigint, p_until bigint[])
  RETURNS TABLE (n int, id bigint, duplicate boolean)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE
    h int;
    i int;
    v_id bigint;
    v_first bigint;
  BEGIN
    FOR h IN
      SELECT DISTINCT hashtext(t.q || chr(1) || t.k) FROM unnest(p_queue, p_key) AS t(q, k)
      WHERE t.k IS NOT NULL ORDER BY 1
    LOOP
      PERFORM pg_advisory_xact_lock(hashtext('pms-ehr key'), h);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_queue, 1), 0) LOOP
      v_id := nextval('message_id');
      IF p_dedupe[i] IS NOT NULL THEN
        -- An id whose window ran out is taken over; a live one makes this a duplicate.
        INSERT INTO dedupe AS d VALUES (p_queue[i], p_dedupe[i], v_id, p_until[i])
          ON CONFLICT (queue, dedupe_id) DO UPDATE
          SET message_id = EXCLUDED.message_id, expires_at = EXCLUDED.expires_at
          WHERE d.expires_at <= p_now
          RETURNING d.message_id INTO v_first;
        IF v_first IS NULL THEN
          SELECT d.message_id INTO v_first FROM dedupe d
          WHERE d.queue = p_queue[i] AND d.dedupe_id = p_dedupe[i];
          n := i;
          id := v_first;
          duplicate := true;
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;
      INSERT INTO messages (id, queue, key, state, enqueued_at, next_at, body)
      VALUES (v_id, p_queue[i], p_key[i], 0, p_now, p_now, p_body[i]);
      n := i;
      id := v_id;
      duplicate := false;
      RETURN NEXT;
    END LOOP;
  END $$;
  `,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** A schema name the pack may create and use: lower-case letters, digits and _, as PostgreSQL folds them. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema) || schema.startsWith("pg_")) {
    throw new PackError(
      CODES.QUEUE_CONFIG,
      `schema ${JSON.stringify(schema)} is not a usable schema name: lower-case letters, digits and _, not starting with a digit or pg_, at most 63`,
    );
  }
  return schema;
}

/**
 * Brings `schema` to PG_SCHEMA_VERSION, creating it if need be. Safe when several instances start at
 * once: a transaction-level advisory lock per schema is taken before any DDL, so one migrates and
 * the others then find it done. All or nothing: PostgreSQL's DDL is transactional. A schema written
 * by a newer pack is refused (QUEUE_CONFIG) and left as it is.
 */
export async function migrate(client: SqlClient, schemaIn: string): Promise<{ from: number; to: number }> {
  const schema = checkSchemaName(schemaIn);
  let began = false;
  try {
    await client.query("BEGIN");
    began = true;
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pms-ehr migrate'), hashtext($1))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_version (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)",
    );
    await client.query("INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING");
    const { rows } = await client.query("SELECT version FROM schema_version FOR UPDATE");
    const from = Number(rows[0].version);
    if (from > PG_SCHEMA_VERSION) {
      throw new PackError(
        CODES.QUEUE_CONFIG,
        `the message store schema ${schema} was written by a newer version of the pack (schema ${from}, this pack knows ${PG_SCHEMA_VERSION})`,
      );
    }
    for (let v = from; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
    if (from < PG_SCHEMA_VERSION) {
      await client.query("UPDATE schema_version SET version = $1", [PG_SCHEMA_VERSION]);
    }
    await client.query("COMMIT");
    return { from, to: PG_SCHEMA_VERSION };
  } catch (err) {
    if (began) await client.query("ROLLBACK").catch(() => undefined);
    if (err instanceof PackError) throw err;
    throw new PackError(
      CODES.QUEUE_STORE,
      `migrating the message store schema ${schema}: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}
