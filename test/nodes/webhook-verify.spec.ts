/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter, once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { request } from "undici";
import helper from "node-red-node-test-helper";
import { stateInContext, useContextState } from "../support/state";
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import messageStoreNode from "../../nodes/message-store/message-store";
import webhookVerifyNode from "../../nodes/webhook-verify/webhook-verify";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import { signWebhook } from "../../lib/webhook/schemes";

helper.init(require.resolve("node-red"));

const TAB = "tab-webhook";
const SECRET = "whsec_" + Buffer.from("node-test-webhook-secret-32bytes").toString("base64");

type Msg = Record<string, any>;
interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

const sink = new EventEmitter();
const statuses = new Map<string, StatusCall[]>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  statuses.set(e.id, [...(statuses.get(e.id) ?? []), e.status]);
});

/**
 * The test helper cannot reach http-in routes, so this Express app stands in for http in: it
 * hands webhook-verify the same msg (req, res wrapper with _res, raw Buffer payload) that
 * http in sends with "Do not parse request body" on; /parsed parses JSON as http in does
 * with it off. The full http in path runs in test/e2e/webhook.spec.ts.
 */
let server: Server;
let base: string;
let target = "verify";
const app = express();
const toNode = (req: express.Request, res: express.Response) => {
  helper
    .getNode(target)
    .receive({ _msgid: `m${Date.now()}`, req, res: { _res: res }, payload: req.body } as any);
};
app.post("/hook", express.raw({ type: () => true, limit: "10mb" }), toNode);
app.post("/parsed", express.json(), toNode);

async function load(
  verify: Msg,
  credentials: Msg | null = { secrets: SECRET },
  extra: Msg[] = [],
): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "webhook" },
    {
      id: "verify",
      z: TAB,
      type: "webhook-verify",
      scheme: "standard-webhooks",
      tolerance: "300",
      maxBytes: "2048",
      maxIds: "100",
      respond: true,
      integration: "",
      store: "",
      wires: [["ok"], ["rejected"]],
      ...verify,
    },
    { id: "ok", type: "helper", z: TAB },
    { id: "rejected", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
    ...extra,
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load(
    [webhookVerifyNode, messageStoreNode],
    flow as any,
    (credentials ? { verify: credentials } : {}) as any,
  );
  for (const id of ["ok", "rejected", "caught"]) helper.getNode(id).on("input", (m: Msg) => sink.emit(id, m));
}

interface Result {
  status: number;
  body: any;
  port?: "ok" | "rejected" | "caught";
  msg?: Msg;
}

/** POSTs a delivery; resolves with the HTTP answer and the msg that left the node (or reached Catch). */
async function post(
  headers: Record<string, string>,
  body: string,
  path = "/hook",
  replyFromFlow?: (msg: Msg) => void,
): Promise<Result> {
  const left = new Promise<{ port: Result["port"]; msg: Msg }>((resolve) => {
    for (const port of ["ok", "rejected", "caught"] as const) {
      sink.once(port, (msg: Msg) => {
        sink.removeAllListeners();
        if (replyFromFlow) replyFromFlow(msg);
        resolve({ port, msg });
      });
    }
  });
  const res = await request(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await res.body.text();
  const { port, msg } = await left;
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, port, msg };
}

function signed(id: string, body: string, at = new Date()): Record<string, string> {
  return signWebhook({ scheme: "standard-webhooks", secret: SECRET, id, body, timestamp: at });
}

function healthEvents(): { events: HealthEvent[]; stop: () => void } {
  const events: HealthEvent[] = [];
  const listener = (e: HealthEvent) => events.push(e);
  healthBus().on(HEALTH_EVENT, listener);
  return { events, stop: () => healthBus().removeListener(HEALTH_EVENT, listener) };
}

const EVENT = JSON.stringify({
  eventType: "patient.updated",
  resourceId: "pat-00007",
  data: { lastName: "Ó Súilleabháin" },
});

describe("webhook-verify node", function () {
  stateInContext();
  this.timeout(10000);

  before(async () => {
    server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    statuses.clear();
    target = "verify";
  });
  afterEach(async () => {
    sink.removeAllListeners();
    await helper.unload();
  });

  it("answers a verified delivery 202 at once and sends it on output 1, parsed, without msg.res", async () => {
    await load({});
    const health = healthEvents();
    const r = await post(signed("msg_a", EVENT), EVENT);
    health.stop();
    expect(r.status).to.equal(202);
    expect(r.body).to.deep.equal({ status: "accepted" });
    expect(r.port).to.equal("ok");
    expect(r.msg?.payload).to.deep.equal(JSON.parse(EVENT));
    expect(r.msg?.topic).to.equal("patient.updated");
    expect(r.msg?.webhook).to.deep.include({
      scheme: "standard-webhooks",
      id: "msg_a",
      eventType: "patient.updated",
    });
    expect(r.msg?.webhook.timestamp).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
    expect(r.msg?.res).to.equal(undefined);
    expect(r.msg?.req).to.be.an("object");
    expect(health.events).to.have.length(1);
    expect(health.events[0]).to.deep.include({
      integration: "webhook",
      success: true,
      source: "webhook-verify",
    });
    expect(statuses.get("verify")?.at(-1)).to.deep.equal({ fill: "green", shape: "dot", text: "verified" });
  });

  it("with respond off, leaves the answer to the flow (msg.res kept)", async () => {
    await load({ respond: false });
    const r = await post(signed("msg_b", EVENT), EVENT, "/hook", (msg) => {
      msg.res._res.status(200).json({ stored: true });
    });
    expect(r.port).to.equal("ok");
    expect(r.status).to.equal(200);
    expect(r.body).to.deep.equal({ stored: true });
  });

  it("rejects a tampered body 401 on output 2, with a body that says nothing of the secret", async () => {
    await load({ integration: "pms-webhooks" });
    const health = healthEvents();
    const r = await post(signed("msg_c", EVENT), EVENT.replace("pat-00007", "pat-00008"));
    health.stop();
    expect(r.status).to.equal(401);
    expect(r.body).to.deep.equal({ error: "unauthorized" });
    expect(r.port).to.equal("rejected");
    expect(r.msg?.webhook).to.deep.equal({
      scheme: "standard-webhooks",
      reason: "signature",
      code: "WEBHOOK_SIGNATURE",
      status: 401,
    });
    expect(Buffer.isBuffer(r.msg?.payload)).to.equal(true);
    expect(r.msg?.res).to.equal(undefined);
    expect(health.events[0]).to.deep.include({
      integration: "pms-webhooks",
      success: false,
      error: "WEBHOOK_SIGNATURE",
    });
    expect(statuses.get("verify")?.at(-1)).to.deep.include({ fill: "yellow", text: "401 signature" });
  });

  it("answers a repeated delivery 202 as already accepted and sends it on output 2 only", async () => {
    await load({});
    const first = await post(signed("msg_d", EVENT), EVENT);
    const retry = await post(signed("msg_d", EVENT), EVENT);
    expect(first.port).to.equal("ok");
    expect(retry.status).to.equal(202);
    expect(retry.body).to.deep.equal({ status: "accepted", duplicate: true });
    expect(retry.port).to.equal("rejected");
    expect(retry.msg?.webhook).to.deep.include({
      id: "msg_d",
      reason: "duplicate",
      code: "WEBHOOK_DUPLICATE",
      status: 202,
    });
    expect(retry.msg?.payload).to.deep.equal(JSON.parse(EVENT));
  });

  it("answers missing headers 400, stale timestamps 401 and oversized bodies 413", async () => {
    await load({});
    const missing = await post({ "webhook-id": "msg_e" }, EVENT);
    expect([missing.status, missing.msg?.webhook.reason]).to.deep.equal([400, "missing-headers"]);
    const stale = await post(signed("msg_f", EVENT, new Date(Date.now() - 400_000)), EVENT);
    expect([stale.status, stale.msg?.webhook.reason]).to.deep.equal([401, "stale"]);
    const big = JSON.stringify({ pad: "x".repeat(3000) });
    const large = await post(signed("msg_g", big), big);
    expect([large.status, large.body, large.msg?.webhook.reason]).to.deep.equal([
      413,
      { error: "payload too large" },
      "too-large",
    ]);
  });

  it("fails a parsed (non-raw) body with WEBHOOK_NOT_RAW, answering 500", async () => {
    await load({});
    const r = await post(signed("msg_h", EVENT), EVENT, "/parsed");
    expect(r.status).to.equal(500);
    expect(r.port).to.equal("caught");
    expect(r.msg?.error.code).to.equal("WEBHOOK_NOT_RAW");
    expect(r.msg?.error.message).to.contain("Do not parse request body");
    expect(statuses.get("verify")?.at(-1)).to.deep.include({ fill: "red", text: "not raw body" });
  });

  it("fails a msg that did not come from http in with WEBHOOK_NO_REQUEST", async () => {
    await load({});
    const caught = new Promise<Msg>((resolve) => sink.once("caught", resolve));
    helper.getNode("verify").receive({ payload: Buffer.from(EVENT) } as any);
    expect((await caught).error.code).to.equal("WEBHOOK_NO_REQUEST");
  });

  it("fails every delivery with WEBHOOK_CONFIG when no secret is configured, answering 500", async () => {
    await load({}, null);
    expect(statuses.get("verify")?.[0]).to.deep.include({ fill: "red", text: "bad config" });
    const r = await post(signed("msg_i", EVENT), EVENT);
    expect(r.status).to.equal(500);
    expect(r.msg?.error.code).to.equal("WEBHOOK_CONFIG");
  });

  it("fails with WEBHOOK_CONFIG for a Standard Webhooks secret that is not base64, never echoing it", async () => {
    await load({}, { secrets: "whsec_this is not base64" });
    const r = await post(signed("msg_j", EVENT), EVENT);
    expect(r.msg?.error.code).to.equal("WEBHOOK_CONFIG");
    expect(r.msg?.error.message).to.not.contain("this is not base64");
  });

  it("accepts any of several secrets, one per line (rotation)", async () => {
    const next = "whsec_" + Buffer.from("the-next-webhook-secret-32-bytes").toString("base64");
    await load({}, { secrets: `${next}\n${SECRET}\n` });
    expect((await post(signed("msg_k", EVENT), EVENT)).port).to.equal("ok");
    const withNext = signWebhook({ scheme: "standard-webhooks", secret: next, id: "msg_l", body: EVENT });
    expect((await post(withNext, EVENT)).port).to.equal("ok");
  });

  it("clears its status on close", async () => {
    await load({});
    await post(signed("msg_m", EVENT), EVENT);
    await helper.unload();
    expect(statuses.get("verify")?.at(-1)).to.deep.equal({});
    await load({});
  });

  describe("where seen ids live", () => {
    let userDir: string;
    beforeEach(() => {
      userDir = mkdtempSync(join(tmpdir(), "pms-ehr-webhook-state-"));
      helper.settings({ userDir });
    });
    afterEach(async () => {
      await helper.unload();
      useContextState();
      rmSync(userDir, { recursive: true, force: true });
    });

    it("by default keeps them in the pack's state file, one row per id until its replay window closes: a replay after a restart is a duplicate", async () => {
      await load({});
      const at = new Date();
      expect((await post(signed("msg_state", EVENT, at), EVENT)).port).to.equal("ok");
      expect(statuses.get("verify")?.at(-1)).to.deep.equal({ fill: "green", shape: "dot", text: "verified" });
      await helper.unload();
      const db = new Database(join(userDir, "pms-ehr-state.db"), { readonly: true });
      const rows = db.prepare("SELECT scope, key, expires_at FROM state").all() as Array<
        Record<string, unknown>
      >;
      db.close();
      // Open until a replay would fail the timestamp check: the verification time plus the tolerance.
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ scope: "node:verify/seen", key: "id:msg_state" });
      expect(rows[0].expires_at).to.be.within(at.getTime() + 300_000, Date.now() + 300_000);
      await load({});
      const replay = await post(signed("msg_state", EVENT, at), EVENT);
      expect(replay.body).to.deep.equal({ status: "accepted", duplicate: true });
      expect(replay.port).to.equal("rejected");
    });

    it("keeps them in a message store's state table when its store names one: a replay is a duplicate", async () => {
      const file = join(userDir, "shared.db");
      const extra = [{ id: "ms", type: "message-store", name: "shared", backend: "sqlite", file }];
      await load({ store: "message-store:ms" }, undefined, extra);
      const at = new Date();
      expect((await post(signed("msg_shared", EVENT, at), EVENT)).port).to.equal("ok");
      const replay = await post(signed("msg_shared", EVENT, at), EVENT);
      expect(replay.body).to.deep.equal({ status: "accepted", duplicate: true });
      await helper.unload();
      expect(existsSync(join(userDir, "pms-ehr-state.db")), "not the state file").to.equal(false);
      const db = new Database(file, { readonly: true });
      const rows = db.prepare("SELECT scope, key FROM state").all();
      db.close();
      expect(rows).to.deep.equal([{ scope: "node:verify/seen", key: "id:msg_shared" }]);
    });

    it("keeps them in memory only when asked, with a yellow status and one warning", async () => {
      await load({ store: "memory" });
      expect(statuses.get("verify")?.at(-1)).to.deep.equal({
        fill: "yellow",
        shape: "ring",
        text: "state in memory",
      });
      expect((await post(signed("msg_mem", EVENT), EVENT)).port).to.equal("ok");
      expect(statuses.get("verify")?.at(-1)).to.deep.equal({
        fill: "yellow",
        shape: "ring",
        text: "verified",
      });
      const warned = (helper.log().args as unknown[][])
        .map((a) => a[0] as { level?: number; msg?: unknown })
        .filter((e) => e.level === 30 && String(e.msg).includes("in memory"))
        .map((e) => String(e.msg));
      expect(warned).to.deep.equal([
        'keeps its seen delivery ids in memory (store "memory" chosen): a restart forgets them',
      ]);
      expect(existsSync(join(userDir, "pms-ehr-state.db"))).to.equal(false);
    });
  });
});
