/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import helper from "node-red-node-test-helper";
import { createServer } from "node:net";
import type { Client } from "pg";
import durableQueueNode from "../../nodes/durable-queue/durable-queue";
import messageStoreNode from "../../nodes/message-store/message-store";
import queueDoneNode from "../../nodes/queue-done/queue-done";
import { startPostgres, type PgServer } from "../support/pg";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require("@node-red/nodes/core/common/25-catch.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-pg";
type Msg = Record<string, any>;

describe("message-store with backend postgres (a real server)", function () {
  this.timeout(60_000);
  let server: PgServer | undefined;
  let admin: Client;
  let schemas = 0;
  const accepted: Msg[] = [];
  const delivered: Msg[] = [];
  const caught: Msg[] = [];

  before(async function () {
    server = await startPostgres(this);
    admin = await server.connect();
  });

  after(async () => {
    await admin?.end();
    await server?.destroy();
  });

  beforeEach(() => {
    accepted.length = 0;
    delivered.length = 0;
    caught.length = 0;
  });

  afterEach(async () => {
    await helper.unload();
  });

  async function load(storeProps: Record<string, unknown>, extra: Msg[] = []) {
    const flow: Msg[] = [
      { id: TAB, type: "tab", label: "pg" },
      {
        id: "store",
        type: "message-store",
        name: "pg store",
        backend: "postgres",
        pgHost: "127.0.0.1",
        pgPort: String(server!.port),
        pgDatabase: "postgres",
        pgUser: "postgres",
        ...storeProps,
      },
      {
        id: "queue",
        type: "durable-queue",
        z: TAB,
        store: "store",
        queue: "q",
        key: "payload.key",
        keyType: "msg",
        concurrency: "4",
        maxAttempts: "3",
        maxAge: "1",
        visibility: "60",
        wires: [["accepted"], ["done"]],
      },
      { id: "accepted", type: "helper", z: TAB },
      { id: "done", type: "queue-done", z: TAB, result: "success", wires: [["delivered"]] },
      { id: "delivered", type: "helper", z: TAB },
      { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", z: TAB },
      ...extra,
      // A node without a position would be read as a config node.
    ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
    await helper.load(
      [messageStoreNode, durableQueueNode, queueDoneNode, catchNode],
      flow as any,
      {
        store: { pgPassword: "not checked: trust authentication on loopback" },
      } as any,
    );
    helper.getNode("accepted").on("input", (m: Msg) => accepted.push(m));
    helper.getNode("delivered").on("input", (m: Msg) => delivered.push(m));
    helper.getNode("caught").on("input", (m: Msg) => caught.push(m));
  }

  async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("accepts after the commit, delivers through queue-done, and the admin API names the backend", async () => {
    const schema = `node_${++schemas}`;
    await load({ pgSchema: schema });
    const queue = helper.getNode("queue");
    for (let i = 0; i < 10; i++) queue.receive({ payload: { key: `p${i % 3}`, n: i } });
    await until("10 accepted", () => accepted.length === 10);
    await until("10 delivered", () => delivered.length === 10);
    for (const key of ["p0", "p1", "p2"]) {
      const order = delivered.filter((m) => m.payload.key === key).map((m) => m.payload.n);
      expect(order, key).to.deep.equal([...order].sort((a, b) => a - b));
    }
    const left = async () =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.messages`)).rows[0].n;
    for (let i = 0; i < 100 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await left(), "every delivered message deleted").to.equal(0);
    const list = await helper.request().get("/pms-ehr/queues").expect(200);
    expect(list.body.stores).to.have.length(1);
    expect(list.body.stores[0]).to.include({
      id: "store",
      name: "pg store",
      backend: "postgres",
      encrypted: false,
    });
    expect(list.body.stores[0].queues[0]).to.include({
      queue: "q",
      depth: 0,
      deliveredTotal: 10,
      open: true,
    });
    expect(caught).to.deep.equal([]);
  });

  it("answers a database it cannot reach with QUEUE_STORE on every message: nothing is accepted", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    await load({ pgPort: String(port), pgSchema: "unreachable" });
    helper.getNode("queue").receive({ payload: { key: "k", n: 1 } });
    await until("the error", () => caught.length === 1);
    expect(caught[0].error.code).to.equal("QUEUE_STORE");
    expect(caught[0].error.message).to.match(/ECONNREFUSED/);
    expect(accepted).to.deep.equal([]);
  });

  it("refuses an unusable schema name and a second store on the same schema with QUEUE_CONFIG", async () => {
    await load({ pgSchema: "Bad-Name" });
    helper.getNode("queue").receive({ payload: { n: 1 } });
    await until("the error", () => caught.length === 1);
    expect(caught[0].error.code).to.equal("QUEUE_CONFIG");
    expect(caught[0].error.message).to.include('schema "Bad-Name" is not a usable schema name');
    await helper.unload();
    caught.length = 0;

    const schema = `node_${++schemas}`;
    await load({ pgSchema: schema }, [
      {
        id: "store2",
        type: "message-store",
        name: "second",
        backend: "postgres",
        pgHost: "127.0.0.1",
        pgPort: String(server!.port),
        pgSchema: schema,
      },
      {
        id: "queue2",
        type: "durable-queue",
        z: TAB,
        store: "store2",
        queue: "q2",
        wires: [[], []],
      },
    ]);
    helper.getNode("queue2").receive({ payload: { n: 1 } });
    await until("the error", () => caught.length === 1);
    expect(caught[0].error.code).to.equal("QUEUE_CONFIG");
    expect(caught[0].error.message).to.include(
      `the database schema ${schema} is already used by message store "pg store"`,
    );
  });
});
