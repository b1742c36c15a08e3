import { expect } from "chai";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteMessageStore } from "../../../lib/store/sqlite";
import type { QueueOptions } from "../../../lib/store/types";

const OPTIONS: QueueOptions = { maxAttempts: 5, maxAgeMs: 3600_000, dedupeWindowMs: 0 };

/**
 * The SQLite store when a write it must make fails: a trigger another connection adds to the file
 * refuses the write, as a full disk or an I/O error would, and is dropped to let it through again.
 */
describe("lib/store SQLite message store under write faults", function () {
  let dir: string;
  let store: SqliteMessageStore;
  let admin: Database.Database;
  const clock = 1_000_000;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-faults-"));
    const file = join(dir, "queue.db");
    store = openSqliteStore({ file, now: () => clock, purgeIntervalMs: 0 });
    admin = new Database(file);
  });

  afterEach(async () => {
    admin.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const refuseDone = (): void =>
    void admin.exec(
      "CREATE TRIGGER refuse_done BEFORE DELETE ON messages BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END",
    );
  const allowDone = (): void => void admin.exec("DROP TRIGGER refuse_done");

  it("delivers a message whose done could not be recorded again before the next of its key, and counts it once", async () => {
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "A" }, key: "patient-1" });
    await q.enqueue({ msg: { payload: "B" }, key: "patient-1" });
    const [a] = await q.claim(10, 60_000);
    expect(a.msg.payload).to.equal("A");

    refuseDone();
    const done = q.complete(a.id, a.attempt);
    expect(await q.claim(10, 60_000), "B waits while A's done is being written").to.deep.equal([]);
    const err = await done.then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).to.equal("QUEUE_STORE");
    expect(q.stats()).to.include({ depth: 2, inFlight: 0 });

    allowDone();
    const again = await q.claim(10, 60_000);
    expect(again.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([["A", 2]]);
    expect(await q.complete(again[0].id, again[0].attempt)).to.equal(true);
    const next = await q.claim(10, 60_000);
    expect(next.map((d) => d.msg.payload)).to.deep.equal(["B"]);
    expect(await q.complete(next[0].id, next[0].attempt)).to.equal(true);
    expect(q.stats()).to.include({ depth: 0, deliveredTotal: 2 });
  });

  it("takes the same done once: a second complete of the attempt while the first is written is refused", async () => {
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "A" } });
    const [a] = await q.claim(10, 60_000);
    const [first, second] = await Promise.all([q.complete(a.id, a.attempt), q.complete(a.id, a.attempt)]);
    expect([first, second]).to.deep.equal([true, false]);
    expect(
      await q.fail(a.id, a.attempt, { code: "FHIR_NETWORK", message: "late" }, () => ({ retryAt: clock })),
    ).to.deep.equal({ outcome: "stale" });
    expect(q.stats()).to.include({ depth: 0, deliveredTotal: 1 });
  });
});
