import { expect } from "chai";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { once } from "node:events";
import type { Client } from "pg";
import { encodeFrame, MllpDecoder } from "../../lib/hl7";
import type { DeliveryResult, PmsSimulator } from "../../sandbox/pms/server";
import { mllpPort } from "../support/mllp-port";
import { startPostgres, type PgServer } from "../support/pg";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";
import {
  PATIENT_SYSTEM,
  allOf,
  loadPipeline,
  startServices,
  storedBy,
  waitFor,
  type Services,
} from "../flows/support";

/**
 * Two real Node-RED processes share one PostgreSQL message store behind a round-robin balancer, as
 * docs/scale-out.md's topology has them. One is killed with SIGKILL mid-stream: every webhook answered
 * 2xx reaches the sandbox EHR once, one message of a key is delivered at a time and in order across
 * the two, and the survivor delivers what the dead one held once its visibility runs out.
 */

const NAME = "pms-webhook-to-ehr";
const EVENTS = 2000;
const KEYS = 20;
const PER_KEY = 25;
const SCHEMA = "scale_out";
const VISIBILITY_S = "5";

/** A load balancer as nginx does it by default: round robin, and the next target when one refuses the connection. */
async function startBalancer(targets: () => string[]): Promise<{ url: string; close(): Promise<void> }> {
  let next = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const list = targets();
      const first = next++ % list.length;
      const attempt = (n: number): void => {
        const target = new URL(req.url ?? "/", list[(first + n) % list.length]);
        const out = request(
          target,
          { method: req.method, headers: { ...req.headers, host: target.host }, agent: false },
          (answer: IncomingMessage) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on("error", (err: NodeJS.ErrnoException) => {
          // Nothing was answered: a refused or reset connection goes to the other target once.
          if (
            !res.headersSent &&
            n + 1 < list.length &&
            (err.code === "ECONNREFUSED" || err.code === "ECONNRESET")
          ) {
            attempt(n + 1);
          } else if (!res.headersSent) {
            res.writeHead(502).end();
          } else res.destroy();
        });
        out.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the "ordered" flow delivers to: it records each message's key and number as it arrives. */
async function startSink(): Promise<{
  url: string;
  got: Array<{ key: string; n: number }>;
  close(): Promise<void>;
}> {
  const got: Array<{ key: string; n: number }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { key, n } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { key: string; n: number };
      got.push({ key, n });
      // A destination that takes a moment, so that messages of a key wait behind each other.
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"), 40);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The shipped pipeline on the shared store, plus a tab whose queue's deliveries a sink records in order. */
function flows(pgPort: number, sinkUrl: string): FlowNode[] {
  const pipeline = loadPipeline(NAME).map((n) => {
    if (n.type === "message-store") {
      return { ...n, backend: "postgres", pgHost: "127.0.0.1", pgPort: String(pgPort), pgSchema: SCHEMA };
    }
    // Shorter than the shipped 300 s, so that the takeover comes within the test.
    if (n.type === "durable-queue") return { ...n, visibility: VISIBILITY_S };
    return n;
  });
  const store = pipeline.find((n) => n.type === "message-store")!.id;
  const z = "ordered-tab";
  const at = { z, x: 100, y: 100 };
  const mAt = { z: "m-tab", x: 100, y: 100 };
  return [
    ...pipeline,
    { id: z, type: "tab", label: "ordered" },
    { id: "o-in", type: "http in", ...at, url: "/ordered", method: "post", wires: [["o-queue"]] },
    {
      id: "o-queue",
      type: "durable-queue",
      ...at,
      store,
      queue: "ordered",
      key: "payload.key",
      keyType: "msg",
      dedupe: "payload.id",
      concurrency: "8",
      maxAttempts: "10",
      maxAge: "1",
      backoffBase: "0.1",
      backoffCap: "1",
      visibility: VISIBILITY_S,
      wires: [["o-202"], ["o-post"]],
    },
    { id: "o-202", type: "http response", ...at, statusCode: "202", wires: [] },
    // A message the store could not take is answered 503, so that the sender tries again.
    { id: "o-refused", type: "catch", ...at, scope: ["o-queue"], uncaught: false, wires: [["o-503"]] },
    { id: "o-503", type: "http response", ...at, statusCode: "503", wires: [] },
    {
      id: "o-post",
      type: "http request",
      ...at,
      method: "POST",
      ret: "txt",
      url: `${sinkUrl}/`,
      wires: [["o-done"]],
    },
    { id: "o-done", type: "queue-done", ...at, result: "success", wires: [] },
    { id: "o-catch", type: "catch", ...at, scope: ["o-post"], uncaught: false, wires: [["o-failed"]] },
    { id: "o-failed", type: "queue-done", ...at, result: "failure", wires: [] },
    // An HL7 listener on each instance whose de-duplication window is the shared store; what it hands
    // on reaches the sink as {key: "mllp", n: MSH-10}.
    { id: "m-tab", type: "tab", label: "mllp" },
    {
      id: "m-in",
      type: "mllp-in",
      ...mAt,
      host: "127.0.0.1",
      port: "0",
      ack: "auto",
      dedupe: "300",
      dedupeStore: `message-store:${store}`,
      wires: [["m-body"]],
    },
    {
      id: "m-body",
      type: "change",
      ...mAt,
      rules: [
        {
          t: "set",
          p: "payload",
          pt: "msg",
          to: '{"key": "mllp", "n": $number(hl7.controlId)}',
          tot: "jsonata",
        },
      ],
      wires: [["m-post"]],
    },
    {
      id: "m-post",
      type: "http request",
      ...mAt,
      method: "POST",
      ret: "txt",
      url: `${sinkUrl}/`,
      wires: [[]],
    },
  ];
}

describe("scale-out: two Node-RED instances on one PostgreSQL store, one killed mid-stream", function () {
  this.timeout(600_000);
  let pg: PgServer;
  let db: Client;
  let services: Services;
  let pms: PmsSimulator;
  let sink: Awaited<ReturnType<typeof startSink>>;
  let balancer: Awaited<ReturnType<typeof startBalancer>>;
  const runtimes: Runtime[] = [];
  let alive: Runtime[] = [];

  before(async function () {
    pg = await startPostgres(this);
    db = await pg.connect();
    services = await startServices({ pms: { patients: EVENTS, appointments: 1 } });
    pms = services.pms!;
    sink = await startSink();
    const flow = flows(pg.port, sink.url);
    // One after the other: the first creates the schema, the second finds it (the migration spec races them).
    for (let i = 0; i < 2; i++) {
      runtimes.push(
        await startRuntime({ flows: flow, credentials: services.credentials(flow), env: services.env }),
      );
    }
    for (const rt of runtimes) await rt.waitForLog(/PostgreSQL .* ready/, 30_000);
    alive = [...runtimes];
    balancer = await startBalancer(() => alive.map((rt) => rt.url));
  });

  /** Message n of a key to the "ordered" flow through the balancer: the answer's status, 0 for none. */
  function sendOrdered(key: string, n: number): Promise<number> {
    return fetch(`${balancer.url}/ordered`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: `${key}-${n}`, key, n }),
    }).then(
      (r) => r.status,
      () => 0,
    );
  }

  after(async function () {
    await balancer?.close();
    for (const rt of runtimes) await rt.stop().catch(() => undefined);
    await sink?.close();
    await services?.close();
    await db?.end().catch(() => undefined);
    await pg?.destroy();
  });

  it(`delivers each of ${EVENTS} signed webhooks answered 2xx to the EHR once, and ${KEYS} keys' messages in order, across a kill -9`, async function () {
    pms.configureWebhook({
      url: `${balancer.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
      maxAttempts: 200,
      backoffMs: 200,
      maxBackoffMs: 1000,
      timeoutMs: 10_000,
    });
    services.fhir.faults.next(100_000, { delayMs: 5 });
    const results: DeliveryResult[] = [];
    const acknowledged = (): number => results.filter((r) => r.delivered).length;
    const webhooks = Promise.all(
      Array.from({ length: 16 }, async (_, s) => {
        for (let i = s; i < EVENTS; i += 16) {
          const r = await pms.emit("patient.updated", structuredClone(pms.data.patients[i]));
          if (r) results.push(r);
        }
      }),
    );
    // Each key's messages are sent one after the other (the next once the last was answered 202).
    const accepted: Array<{ key: string; n: number }> = [];
    const ordered = Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        const key = `patient-${k}`;
        for (let n = 1; n <= PER_KEY; n++) {
          for (let tries = 1; ; tries++) {
            const status = await sendOrdered(key, n);
            if (status === 202) break;
            if (tries >= 200)
              throw new Error(`${key} ${n}: not accepted after ${tries} tries (last ${status})`);
            await new Promise((r) => setTimeout(r, 100));
          }
          accepted.push({ key, n });
        }
      }),
    );

    const t0 = Date.now();
    const stage = (what: string): void =>
      console.log(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
    // Both streams under way: webhooks answered, ordered messages delivered and more waiting behind them.
    await waitFor("both streams under way", () => acknowledged() >= 100 && sink.got.length >= 150, 180_000);

    const [victim, survivor] = runtimes;
    const heldByVictim = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE state = 1`,
    );
    const orderedWaiting = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE queue = 'ordered' AND state IN (0, 1)`,
    );
    const orderedWaitingAtKill = orderedWaiting.rows[0].n;
    stage(`${acknowledged()} answered 2xx, ${accepted.length} ordered accepted: kill -9 of instance A`);
    alive = [survivor];
    await victim.kill();
    const ackedAtKill = acknowledged();
    await Promise.all([webhooks, ordered]);
    stage(`every sender done: ${acknowledged()} webhooks answered 2xx, ${accepted.length} ordered accepted`);
    await waitFor(
      "both queues drained by the survivor",
      async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE state IN (0, 1)`,
        );
        return rows[0].n === 0;
      },
      180_000,
    );
    services.fhir.faults.clear();
    stage("drained");

    // The webhooks: every one answered 2xx is in the EHR, under one resource per PMS id.
    expect(results).to.have.length(EVENTS);
    expect(acknowledged(), "the sender's retries got every event in").to.equal(EVENTS);
    const stored = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
    const perIdentifier = new Map<string, number>();
    for (const p of allOf(services.fhir, "Patient")) {
      const id = (p as { identifier?: Array<{ system?: string; value?: string }> }).identifier?.find(
        (i) => i.system === PATIENT_SYSTEM,
      )?.value;
      if (id) perIdentifier.set(id, (perIdentifier.get(id) ?? 0) + 1);
    }
    const missing = pms.data.patients.filter((p) => !stored.has(p.id)).map((p) => p.id);
    const doubled = [...perIdentifier].filter(([, n]) => n !== 1);
    const dead = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE state = 2`,
    );

    // The ordered queue: per key, what the sink got never goes back (a repeat of the message in flight at
    // the kill is allowed, at least once), and every accepted message arrived.
    const byKey = new Map<string, number[]>();
    for (const { key, n } of sink.got) byKey.set(key, [...(byKey.get(key) ?? []), n]);
    const outOfOrder = [...byKey].filter(([, ns]) => ns.some((n, i) => i > 0 && n < ns[i - 1]));
    const notArrived = accepted.filter(({ key, n }) => !(byKey.get(key) ?? []).includes(n));
    const repeats = sink.got.length - new Set(sink.got.map(({ key, n }) => `${key}/${n}`)).size;
    console.log(
      `      webhooks: ${EVENTS} sent, answered 2xx before the kill ${ackedAtKill}; in flight at the kill: ${heldByVictim.rows[0].n}; ` +
        `sender attempts ${results.reduce((n, r) => n + r.attempts, 0)}; missing ${missing.length}; doubled ${doubled.length}; dead letters ${dead.rows[0].n}. ` +
        `ordered: ${orderedWaitingAtKill} queued at the kill, ${accepted.length} accepted, ${sink.got.length} delivered (${repeats} repeats), out of order ${outOfOrder.length}, not arrived ${notArrived.length}`,
    );
    expect(heldByVictim.rows[0].n, "deliveries were in flight when A was killed").to.be.greaterThan(0);
    expect(orderedWaitingAtKill, "ordered messages were waiting when A was killed").to.be.greaterThan(0);
    expect(missing).to.deep.equal([]);
    expect(doubled).to.deep.equal([]);
    expect(dead.rows[0].n).to.equal(0);
    expect(accepted).to.have.length(KEYS * PER_KEY);
    expect(notArrived).to.deep.equal([]);
    expect(outOfOrder).to.deep.equal([]);
    expect(repeats, "only what A held when it died (at most its 8 delivery slots) comes twice").to.be.at.most(
      8,
    );
  });

  it("answers a webhook delivered to one instance and replayed to the other as a duplicate: stored and written once", async () => {
    const [, survivor] = runtimes;
    // A is dead: bring it back on its user directory, so that the replay goes to the other process.
    await runtimes[0].restart();
    await runtimes[0].waitForLog(/PostgreSQL .* ready/, 30_000);
    alive = [...runtimes];
    const before = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.dedupe`);
    const body = JSON.stringify({ id: "replay-1", key: "replayed", n: 1 });
    const post = (rt: Runtime) =>
      fetch(`${rt.url}/ordered`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }).then((r) => r.status);
    expect(await post(runtimes[0])).to.equal(202);
    expect(await post(survivor)).to.equal(202);
    await waitFor("the replayed message delivered", () => sink.got.some((g) => g.key === "replayed"), 30_000);
    await waitFor(
      "nothing left",
      async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE state IN (0, 1)`,
          )
        ).rows[0].n === 0,
      30_000,
    );
    expect(sink.got.filter((g) => g.key === "replayed")).to.deep.equal([{ key: "replayed", n: 1 }]);
    const after = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.dedupe`);
    expect(after.rows[0].n - before.rows[0].n, "one dedupe id stored").to.equal(1);
  });
  it("answers an HL7 message one instance accepted and the sender resent to the other with the first ACK, byte for byte: handed on once", async () => {
    alive = [...runtimes];
    const [portA, portB] = [await mllpPort(runtimes[0], "m-in"), await mllpPort(runtimes[1], "m-in")];
    const adt = (id: string) =>
      `MSH|^~\\&|PMS|CLINIC|EHR|HB|20240301091500||ADT^A08^ADT_A01|${id}|P|2.5.1\rEVN|A08|20240301091500\rPID|1||${id}^^^CLINIC^MR||Roe^Rita||19800101|F\r`;
    const first = await mllpExchange(portA, [adt("7001")]);
    // The entry is written after the ACK is sent: a sender resends after its own timeout, later than that.
    await waitFor(
      "the accepted message's entry in the shared store",
      async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${SCHEMA}.state WHERE scope = 'node:m-in/mllp-dedupe'`,
          )
        ).rows[0].n === 1,
      10_000,
    );
    const resent = await mllpExchange(portB, [adt("7001"), adt("7002")]);
    expect(resent[0], "the first instance's ACK").to.equal(first[0]);
    expect(resent[1]).to.match(/\rMSA\|AA\|7002(\r|$)/);
    await waitFor("7002 handed on", () => sink.got.some((g) => g.key === "mllp" && g.n === 7002), 10_000);
    expect(sink.got.filter((g) => g.key === "mllp").map((g) => g.n)).to.deep.equal([7001, 7002]);
  });

  it("gives no acknowledgement while the database is down, and takes and delivers traffic again once it is back", async () => {
    alive = [...runtimes];
    const answers: Array<{ at: number; status: number; key: string; n: number }> = [];
    let stop = false;
    const senders = Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        const key = `outage-${k}`;
        for (let n = 1; !stop; n++) {
          const status = await sendOrdered(key, n);
          answers.push({ at: Date.now(), status, key, n });
          if (status !== 202) await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    await waitFor("traffic flowing", () => answers.filter((a) => a.status === 202).length >= 50, 30_000);
    await pg.stop();
    // A commit that finished just before the stop may still be answered in the next moments.
    await new Promise((r) => setTimeout(r, 300));
    const downFrom = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const downTo = Date.now();
    await pg.start();
    await waitFor(
      "202s again",
      () => answers.filter((a) => a.at > downTo && a.status === 202).length >= 50,
      60_000,
    );
    stop = true;
    await senders;
    const whileDown = answers.filter((a) => a.at >= downFrom && a.at <= downTo);
    const ackedWhileDown = whileDown.filter((a) => a.status >= 200 && a.status < 300);
    const acked = answers.filter((a) => a.status === 202);
    await db.end().catch(() => undefined);
    db = await pg.connect();
    await waitFor(
      "every accepted message delivered",
      () => acked.every((a) => sink.got.some((g) => g.key === a.key && g.n === a.n)),
      60_000,
    );
    console.log(
      `      during the 3 s outage: ${whileDown.length} answers, ${ackedWhileDown.length} of them 2xx (by status: ${JSON.stringify(
        whileDown.reduce<Record<number, number>>(
          (m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }),
          {},
        ),
      )}); ${acked.length} accepted in all, each delivered`,
    );
    expect(whileDown.length, "the senders kept trying while it was down").to.be.greaterThan(0);
    expect(ackedWhileDown).to.deep.equal([]);
  });
});

/** Sends each text on one new connection, each after the ACK of the one before: the ACKs' texts. */
async function mllpExchange(port: number, texts: string[]): Promise<string[]> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  await once(socket, "connect");
  const acks: string[] = [];
  const decoder = new MllpDecoder({ frame: (b) => acks.push(b.toString("utf8")) });
  socket.on("data", (d: Buffer) => decoder.push(d));
  try {
    for (const [i, text] of texts.entries()) {
      socket.write(encodeFrame(text));
      await waitFor(`the ACK of message ${i + 1}`, () => acks.length > i, 10_000);
    }
  } finally {
    socket.destroy();
  }
  return acks;
}
