import { expect } from "chai";
import { startPostgres, type PgServer } from "../support/pg";

/** The real server the PostgreSQL backend's tests run against, and the faults they need of it. */
describe("a real PostgreSQL server for the tests (test/support/pg.ts)", function () {
  this.timeout(120_000);
  let server: PgServer | undefined;

  before(async function () {
    server = await startPostgres(this);
  });

  after(async () => {
    await server?.destroy();
  });

  it("answers on loopback at its URL, as a PostgreSQL 13 or later, in UTF-8", async () => {
    const client = await server!.connect();
    try {
      const { rows } = await client.query<{ v: string; enc: string }>(
        "SELECT current_setting('server_version_num') AS v, current_setting('server_encoding') AS enc",
      );
      expect(Number(rows[0].v)).to.be.at.least(130000);
      expect(rows[0].enc).to.equal("UTF8");
      expect(server!.url).to.equal(`postgres://postgres@127.0.0.1:${server!.port}/postgres`);
    } finally {
      await client.end();
    }
  });

  it("keeps committed rows through a fast stop and a kill -9, and refuses connections while down", async () => {
    const client = await server!.connect();
    await client.query("CREATE TABLE kept (n int PRIMARY KEY)");
    await client.query("INSERT INTO kept VALUES (1)");
    const errors: Error[] = [];
    const lost = new Promise<void>((resolve) =>
      client.on("error", (err) => {
        errors.push(err);
        resolve();
      }),
    );
    await server!.stop();
    await lost;
    expect(errors[0].message).to.match(/terminating connection due to administrator command|terminated/);
    const refused = await server!.connect().then(
      (c) => c.end().then(() => "connected"),
      (err: Error & { code?: string }) => err.code ?? err.message,
    );
    expect(refused).to.equal("ECONNREFUSED");

    await server!.start();
    const second = await server!.connect();
    await second.query("INSERT INTO kept VALUES (2)");
    second.on("error", () => undefined);
    await server!.kill();
    await server!.start();
    const third = await server!.connect();
    try {
      const { rows } = await third.query<{ n: number }>("SELECT n FROM kept ORDER BY n");
      expect(rows.map((r) => r.n)).to.deep.equal([1, 2]);
    } finally {
      await third.end();
      await second.end().catch(() => undefined);
    }
  });
});
