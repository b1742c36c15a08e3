import { expect } from "chai";
import type { Client } from "pg";
import { CODES } from "../../../lib/error-codes";
import { MIGRATIONS, PG_SCHEMA_VERSION, checkSchemaName, migrate } from "../../../lib/store/pg-migrations";
import { startPostgres, type PgServer } from "../../support/pg";

describe("lib/store/pg-migrations on a real PostgreSQL", function () {
  this.timeout(120_000);
  let server: PgServer | undefined;
  const clients: Client[] = [];

  before(async function () {
    server = await startPostgres(this);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  });

  after(async () => {
    await server?.destroy();
  });

  async function connect(): Promise<Client> {
    const client = await server!.connect();
    clients.push(client);
    return client;
  }

  async function tables(client: Client, schema: string): Promise<string[]> {
    const { rows } = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
      [schema],
    );
    return rows.map((r) => r.name);
  }

  async function codeOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
    return p.then(
      () => ({ message: "resolved" }),
      (err: Error & { code?: string }) => ({ code: err.code, message: err.message }),
    );
  }

  it("five instances migrating an empty database at once: one creates the schema, the others find it done", async () => {
    const five = await Promise.all([1, 2, 3, 4, 5].map(() => connect()));
    const results = await Promise.all(five.map((c) => migrate(c, "pms_ehr")));
    expect(results.filter((r) => r.from === 0)).to.have.length(1);
    expect(results.filter((r) => r.from === PG_SCHEMA_VERSION)).to.have.length(4);
    expect(results.every((r) => r.to === PG_SCHEMA_VERSION)).to.equal(true);
    const { rows } = await five[0].query("SELECT id, version FROM pms_ehr.schema_version");
    expect(rows).to.deep.equal([{ id: 1, version: PG_SCHEMA_VERSION }]);
    expect(await tables(five[0], "pms_ehr")).to.deep.equal([
      "dedupe",
      "messages",
      "meta",
      "schema_version",
      "state",
      "totals",
    ]);
  });

  it("a second run changes nothing, and each schema of a database is its own store", async () => {
    const client = await connect();
    expect(await migrate(client, "clinic_a")).to.deep.equal({ from: 0, to: PG_SCHEMA_VERSION });
    await client.query("INSERT INTO clinic_a.totals (queue, delivered) VALUES ('q', 7)");
    expect(await migrate(client, "clinic_a")).to.deep.equal({
      from: PG_SCHEMA_VERSION,
      to: PG_SCHEMA_VERSION,
    });
    expect((await client.query("SELECT delivered FROM clinic_a.totals")).rows).to.deep.equal([
      { delivered: "7" },
    ]);
    expect(await migrate(client, "clinic_b")).to.deep.equal({ from: 0, to: PG_SCHEMA_VERSION });
    expect((await client.query("SELECT count(*)::int AS n FROM clinic_b.totals")).rows).to.deep.equal([
      { n: 0 },
    ]);
    const { rows } = await client.query("SHOW search_path");
    expect(rows[0].search_path, "the session's search_path is left as it was").to.equal('"$user", public');
  });

  it("refuses a schema written by a newer pack with QUEUE_CONFIG, and leaves it as it is", async () => {
    const client = await connect();
    await migrate(client, "newer");
    await client.query("UPDATE newer.schema_version SET version = $1", [PG_SCHEMA_VERSION + 1]);
    const refused = await codeOf(migrate(client, "newer"));
    expect(refused).to.deep.equal({
      code: CODES.QUEUE_CONFIG,
      message: `the message store schema newer was written by a newer version of the pack (schema ${PG_SCHEMA_VERSION + 1}, this pack knows ${PG_SCHEMA_VERSION})`,
    });
    expect((await client.query("SELECT version FROM newer.schema_version")).rows).to.deep.equal([
      { version: PG_SCHEMA_VERSION + 1 },
    ]);
    expect(
      (await client.query("SELECT 1 AS ok")).rows,
      "the connection is usable: the transaction was ended",
    ).to.deep.equal([{ ok: 1 }]);
  });

  it("all or nothing: a step that fails leaves no table, no version row, and QUEUE_STORE naming the schema", async () => {
    const client = await connect();
    await client.query("CREATE SCHEMA clash");
    await client.query("CREATE TABLE clash.messages (id int)");
    const failed = await codeOf(migrate(client, "clash"));
    expect(failed.code).to.equal(CODES.QUEUE_STORE);
    expect(failed.message).to.equal(
      'migrating the message store schema clash: relation "messages" already exists',
    );
    expect(await tables(client, "clash")).to.deep.equal(["messages"]);
  });

  it("refuses a schema name it would have to quote, before any SQL", async () => {
    for (const bad of ["", "Pms", "1pms", "pg_catalog", "pms-ehr", 'x"; DROP TABLE y; --', "a".repeat(64)]) {
      expect(() => checkSchemaName(bad), bad)
        .to.throw()
        .with.property("code", CODES.QUEUE_CONFIG);
    }
    for (const good of ["pms_ehr", "_x", "a".repeat(63), "clinic_2"])
      expect(checkSchemaName(good)).to.equal(good);
    let queries = 0;
    const counting = { query: async () => ((queries += 1), { rows: [] }) };
    expect((await codeOf(migrate(counting, "Bad"))).code).to.equal(CODES.QUEUE_CONFIG);
    expect(queries).to.equal(0);
  });

  it("a lost connection mid-migration fails with QUEUE_STORE and the next instance migrates from scratch", async () => {
    const victim = await connect();
    victim.on("error", () => undefined);
    const killer = await connect();
    const { rows } = await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    // Hold the lock so that the victim waits inside its transaction, then end its session there.
    await killer.query("BEGIN");
    await killer.query("SELECT pg_advisory_xact_lock(hashtext('pms-ehr migrate'), hashtext('lost'))");
    const pending = codeOf(migrate(victim, "lost"));
    await waitFor(async () => {
      const r = await killer.query("SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted", [
        rows[0].pid,
      ]);
      return r.rows[0].n > 0;
    });
    const other = await connect();
    await other.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
    await killer.query("COMMIT");
    const lost = await pending;
    expect(lost.code).to.equal(CODES.QUEUE_STORE);
    expect(lost.message).to.match(/^migrating the message store schema lost: /);
    expect(await migrate(other, "lost")).to.deep.equal({ from: 0, to: PG_SCHEMA_VERSION });
  });

  it("has one step per version", () => {
    expect(PG_SCHEMA_VERSION).to.equal(MIGRATIONS.length).and.to.be.at.least(1);
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("condition not reached within 5 s");
}
