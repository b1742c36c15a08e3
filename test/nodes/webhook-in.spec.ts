/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import express from "express";
import helper from "node-red-node-test-helper";
import type { NodeAPI } from "node-red";
import webhookInNode from "../../nodes/webhook-in/webhook-in";
import webhookVerifyNode from "../../nodes/webhook-verify/webhook-verify";
import { optionsOf } from "../../nodes/webhook-in/config";
import { signWebhook } from "../../lib/webhook/schemes";

// Core http in and http response: the module registers both, and core's CORS preflight route.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const httpNodes = require("@node-red/nodes/core/network/21-httpin.js");

helper.init(require.resolve("node-red"));
/** The helper's own settings object, put back after this file: helper.settings() replaces it. */
const helperSettings = (helper as unknown as { _settings: unknown })._settings;

const TAB = "tab-webhook-in";
const SECRET = "whsec_" + Buffer.from("node-test-webhook-in-secret-32by").toString("base64");

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
 * The test helper gives each load a fresh RED.httpNode (an Express app) but serves it nowhere.
 * Loaded first, this mounts it in a root app as Node-RED's server does when httpAdminRoot and
 * httpNodeRoot are both "/" (the default): the editor's app, which parses JSON and forms, comes
 * first; then the nodes' app, under `mountPath`.
 */
let root: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
let httpNode: express.Express | undefined;
let mountPath = "/";
const captureHttpNode = (RED: NodeAPI): void => {
  const app = express();
  const editor = express();
  editor.use(express.json({ limit: "5mb" }), express.urlencoded({ limit: "5mb", extended: true }));
  app.use("/", editor);
  app.use(mountPath, RED.httpNode);
  httpNode = RED.httpNode as unknown as express.Express;
  root = app;
};
let server: Server;
let port = 0;

async function load(nodes: Msg[], options: { settings?: Msg; credentials?: Msg } = {}): Promise<void> {
  helper.settings(options.settings ?? {});
  const flow = [
    { id: TAB, type: "tab", label: "webhook-in" },
    ...nodes.map((n) => ({ x: 0, y: 0, z: TAB, wires: [], ...n })),
  ];
  await helper.load(
    [captureHttpNode as any, webhookInNode, webhookVerifyNode, httpNodes],
    flow as any,
    (options.credentials ?? {}) as any,
  );
  for (const n of nodes.filter((m) => m.type === "helper")) {
    helper.getNode(n.id).on("input", (m: Msg) => sink.emit(n.id, m));
  }
}

/** webhook-in at /hooks wired to a helper "out" (and whatever `wires` adds). */
function webhookIn(props: Msg = {}, wires: string[] = ["out"]): Msg[] {
  return [
    { id: "in", type: "webhook-in", url: "/hooks", method: "post", ...props, wires: [wires] },
    { id: "out", type: "helper" },
  ];
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (its FIN, or a reset). */
  closed: boolean;
  /** Request body bytes this client managed to write. */
  written: number;
}

/**
 * One request over a raw connection: the head, then `body` (bytes, or a writer that feeds the
 * socket until told the connection is gone). Resolves with the answer once the server closes
 * the connection, or once a complete answer is in when `keepAlive` (the server keeps it open).
 */
async function raw(
  head: string,
  body?: Buffer | ((socket: Socket, gone: () => boolean) => Promise<number>),
  keepAlive = false,
): Promise<RawAnswer> {
  const socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  let gone = false;
  const ended = new Promise<void>((resolve) => {
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      if (keepAlive && complete(Buffer.concat(chunks))) resolve();
    });
    socket.on("error", () => undefined);
    const close = (): void => {
      gone = true;
      resolve();
    };
    socket.on("end", close);
    socket.on("close", close);
  });
  socket.write(head);
  let written = 0;
  if (Buffer.isBuffer(body)) {
    socket.write(body);
    written = body.length;
  } else if (body) {
    written = await body(socket, () => gone);
  }
  await ended;
  const text = Buffer.concat(chunks).toString("latin1");
  socket.destroy();
  return { ...parse(text), closed: gone, written };
}

function complete(bytes: Buffer): boolean {
  const text = bytes.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  return length !== null && text.length - end - 4 >= Number(length[1]);
}

function parse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = text.slice(0, end < 0 ? text.length : end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0),
    headers,
    body: end < 0 ? "" : text.slice(end + 4),
  };
}

function head(path: string, headers: Record<string, string>, method = "POST"): string {
  const lines = Object.entries({ host: "127.0.0.1", ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}

/** Writes 64 KiB chunks (chunked encoding) until the server closes, at most `max` of them. */
function chunkedFlood(max: number) {
  return async (socket: Socket, gone: () => boolean): Promise<number> => {
    const block = Buffer.alloc(65536, 0x61);
    const framed = Buffer.concat([Buffer.from("10000\r\n"), block, Buffer.from("\r\n")]);
    let written = 0;
    for (let i = 0; i < max && !gone(); i++) {
      if (!socket.write(framed) && !gone()) {
        await new Promise<void>((resume) => {
          const go = (): void => {
            socket.off("drain", go);
            socket.off("close", go);
            socket.off("end", go);
            resume();
          };
          socket.on("drain", go);
          socket.on("close", go);
          socket.on("end", go);
        });
      }
      written += block.length;
    }
    return written;
  };
}

/** Writes one byte every 100 ms until the server closes, at most `max` bytes. */
function trickle(max: number) {
  return async (socket: Socket, gone: () => boolean): Promise<number> => {
    let written = 0;
    for (let i = 0; i < max && !gone(); i++) {
      socket.write("a");
      written++;
      await new Promise((r) => setTimeout(r, 100));
    }
    return written;
  };
}

/** The next message at a helper node, or a rejection after 3 s. */
function next(id: string): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message at ${id}`)), 3000);
    sink.once(id, (m: Msg) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
}

/** POSTs a small body that must reach "out": the first message there then proves nothing came before. */
async function expectOnlyNextReaches(path = "/hooks"): Promise<void> {
  const got = next("out");
  const answer = raw(head(path, { "content-length": "5", connection: "close" }), Buffer.from("probe"));
  const msg = await got;
  expect(Buffer.from(msg.payload).toString()).to.equal("probe");
  msg.res._res.end();
  await answer;
}

function logged(level: number, pattern: RegExp): string[] {
  const spy = helper.log() as unknown as { args?: Array<[{ level?: number; msg?: unknown }]> };
  return (spy.args ?? [])
    .map(([entry]) => entry)
    .filter((e) => e.level === level && pattern.test(String(e.msg)))
    .map((e) => String(e.msg));
}
const WARN = 30;
const ERROR = 20;

describe("webhook-in node", function () {
  this.timeout(15000);

  before(async () => {
    server = createServer((req, res) => {
      if (root) root(req, res);
      else res.writeHead(503).end();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    (helper as unknown as { _settings: unknown })._settings = helperSettings;
  });
  beforeEach(() => statuses.clear());
  afterEach(async () => {
    sink.removeAllListeners();
    await helper.unload();
    root = undefined;
    httpNode = undefined;
    mountPath = "/";
  });

  describe("config", () => {
    it("defaults to POST, 1 MiB, 30 s and 32 at once, and puts a leading / on the URL", () => {
      expect(optionsOf({ url: "pms/webhooks" })).to.deep.equal({
        url: "/pms/webhooks",
        method: "post",
        maxBytes: 1048576,
        timeoutMs: 30000,
        maxConcurrent: 32,
      });
      expect(
        optionsOf({ url: "/h", method: "PUT", maxBytes: "10", timeout: 2, maxConcurrent: "3" }),
      ).to.deep.equal({ url: "/h", method: "put", maxBytes: 10, timeoutMs: 2000, maxConcurrent: 3 });
    });

    for (const [what, props] of [
      ["no URL", { url: " " }],
      ["a URL with a space", { url: "/a b" }],
      ["a URL with a query", { url: "/hooks?x=1" }],
      ["a URL with a fragment", { url: "/hooks#x" }],
      ["a URL with a parameter", { url: "/hooks/:source" }],
      ["a URL with a wildcard", { url: "/hooks/*" }],
      ["method GET", { url: "/h", method: "get" }],
      ["max bytes 0", { url: "/h", maxBytes: "0" }],
      ["max bytes 1MB", { url: "/h", maxBytes: "1MB" }],
      ["timeout 0", { url: "/h", timeout: "0" }],
      ["timeout 1.5", { url: "/h", timeout: "1.5" }],
      ["max at once -1", { url: "/h", maxConcurrent: "-1" }],
    ] as Array<[string, Msg]>) {
      it(`refuses ${what} with WEBHOOK_CONFIG`, () => {
        expect(() => optionsOf(props))
          .to.throw()
          .with.property("code", "WEBHOOK_CONFIG");
      });
    }

    it("deployed with a bad config, logs WEBHOOK_CONFIG's message, shows bad config and serves no route", async () => {
      await load(webhookIn({ maxBytes: "lots" }));
      expect(logged(ERROR, /max bytes must be an integer >= 1/)).to.have.length(1);
      expect(statuses.get("in")?.at(-1)).to.deep.equal({ fill: "red", shape: "ring", text: "bad config" });
      const answer = await raw(
        head("/hooks", { "content-length": "2", connection: "close" }),
        Buffer.from("{}"),
      );
      expect(answer.status).to.equal(404);
    });

    it("with httpNodeRoot false, warns and serves nothing", async () => {
      await load(webhookIn(), { settings: { httpNodeRoot: false } });
      expect(logged(WARN, /httpNodeRoot is false/)).to.have.length(1);
      expect(statuses.get("in")?.at(-1)?.text).to.equal("no httpNodeRoot");
      const answer = await raw(
        head("/hooks", { "content-length": "2", connection: "close" }),
        Buffer.from("{}"),
      );
      expect(answer.status).to.equal(404);
    });
  });

  describe("a body within the limits", () => {
    it("goes out as core http in sends it (raw Buffer, req, res) and core http response answers it", async () => {
      await load([
        ...webhookIn({}, ["out", "reply"]),
        { id: "reply", type: "http response", statusCode: "201", headers: {} },
      ]);
      const bytes = Buffer.from([0x7b, 0x22, 0xc3, 0xa9, 0x22, 0x3a, 0x30, 0x7d, 0x00, 0xff]);
      const got = next("out");
      const answer = await raw(
        head("/hooks?x=1", {
          "content-type": "application/octet-stream",
          "content-length": String(bytes.length),
          "x-dup": "a",
          "X-Dup": "b",
        }),
        bytes,
        true,
      );
      const msg = await got;
      expect(Buffer.isBuffer(msg.payload)).to.equal(true);
      expect(msg.payload).to.deep.equal(bytes);
      expect(msg.req.method).to.equal("POST");
      expect(msg.req.originalUrl).to.equal("/hooks?x=1");
      expect(msg.req.query).to.deep.equal({ x: "1" });
      expect(msg.req.body).to.deep.equal(bytes);
      expect(Object.keys(msg.req)).to.include("headers");
      expect(msg.req.rawHeaders).to.include.members(["x-dup", "a", "X-Dup", "b"]);
      expect(msg.res._res.headersSent).to.be.a("boolean");
      expect(msg._msgid).to.be.a("string").and.equal(msg.res._res._msgid);
      expect(answer.status).to.equal(201);
      expect(Buffer.from(answer.body, "latin1")).to.deep.equal(bytes);
      expect(statuses.get("in")?.at(-1)).to.deep.equal({ fill: "green", shape: "dot", text: "received" });
    });

    it("delivers an empty body as an empty Buffer, and a chunked body whole", async () => {
      await load(webhookIn({ url: "hooks/pms", method: "put" }));
      let got = next("out");
      const empty = raw(head("/hooks/pms", { "content-length": "0", connection: "close" }, "PUT"));
      let msg = await got;
      expect(msg.payload).to.deep.equal(Buffer.alloc(0));
      msg.res._res.end();
      await empty;

      got = next("out");
      const chunked = raw(
        head("/hooks/pms", { "transfer-encoding": "chunked", connection: "close" }, "PUT"),
        Buffer.from("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
      );
      msg = await got;
      expect(msg.payload.toString()).to.equal("abcde");
      msg.res._res.end();
      await chunked;
    });

    it("gets JSON and form bodies raw although the editor's app parses them first, and leaves other routes parsed", async () => {
      await load([
        ...webhookIn(),
        { id: "core", type: "http in", url: "/core", method: "post", wires: [["out"]] },
      ]);
      for (const [type, text] of [
        ["application/json", '{ "spaced" :  1 }'],
        ["application/x-www-form-urlencoded", "a=1&b=%C3%A9"],
      ]) {
        const got = next("out");
        const answer = raw(
          head("/HOOKS/?x=1", {
            "content-type": type,
            "content-length": String(text.length),
            connection: "close",
          }),
          Buffer.from(text),
        );
        const msg = await got;
        expect(msg.payload.toString(), type).to.equal(text);
        msg.res._res.end();
        await answer;
      }
      const got = next("out");
      const answer = raw(
        head("/core", { "content-type": "application/json", "content-length": "7", connection: "close" }),
        Buffer.from('{"a":1}'),
      );
      const msg = await got;
      expect(msg.payload).to.deep.equal({ a: 1 });
      msg.res._res.end();
      await answer;
    });

    it("keeps JSON raw under an httpNodeRoot other than the editor's", async () => {
      mountPath = "/api";
      await load(webhookIn());
      const got = next("out");
      const answer = raw(
        head("/api/hooks", {
          "content-type": "application/json",
          "content-length": "9",
          connection: "close",
        }),
        Buffer.from('{ "a":1 }'),
      );
      const msg = await got;
      expect(msg.payload.toString()).to.equal('{ "a":1 }');
      msg.res._res.end();
      await answer;
    });

    it("feeds webhook-verify unchanged: 202 for a signed delivery, 401 for a tampered one", async () => {
      await load(
        [
          ...webhookIn({}, ["verify"]),
          {
            id: "verify",
            type: "webhook-verify",
            scheme: "standard-webhooks",
            tolerance: "300",
            maxBytes: "4096",
            maxIds: "100",
            respond: true,
            integration: "",
            store: "",
            wires: [["out"], ["rejected"]],
          },
          { id: "rejected", type: "helper" },
        ],
        { credentials: { verify: { secrets: SECRET } } },
      );
      const body = JSON.stringify({ eventType: "patient.updated", resourceId: "pat-00042" });
      const signed = signWebhook({ scheme: "standard-webhooks", secret: SECRET, id: "msg_in_1", body });
      const verified = next("out");
      const ok = await raw(
        head("/hooks", { ...signed, "content-length": String(Buffer.byteLength(body)), connection: "close" }),
        Buffer.from(body),
      );
      expect(ok.status).to.equal(202);
      expect((await verified).payload).to.deep.equal(JSON.parse(body));

      const tampered = body.replace("00042", "00043");
      const rejected = next("rejected");
      const bad = await raw(
        head("/hooks", { ...signed, "content-length": String(tampered.length), connection: "close" }),
        Buffer.from(tampered),
      );
      expect(bad.status).to.equal(401);
      expect((await rejected).webhook.code).to.equal("WEBHOOK_SIGNATURE");
    });

    it("feeds webhook-verify with reply 202 off, and core http response answers after it", async () => {
      await load(
        [
          ...webhookIn({}, ["verify"]),
          {
            id: "verify",
            type: "webhook-verify",
            scheme: "github",
            tolerance: "300",
            maxBytes: "4096",
            maxIds: "100",
            respond: false,
            integration: "",
            store: "",
            wires: [["reply"], []],
          },
          { id: "reply", type: "http response", statusCode: "200", headers: {} },
        ],
        { credentials: { verify: { secrets: "github secret" } } },
      );
      const body = JSON.stringify({ action: "opened" });
      const signed = signWebhook({ scheme: "github", secret: "github secret", id: "d-1", body });
      const answer = await raw(
        head("/hooks", { ...signed, "content-length": String(body.length), connection: "close" }),
        Buffer.from(body),
      );
      expect(answer.status).to.equal(200);
      expect(JSON.parse(answer.body)).to.deep.equal({ action: "opened" });
    });
  });

  describe("limits", () => {
    it("answers 413 to a Content-Length over max bytes before reading, closes, and sends nothing", async () => {
      await load(webhookIn({ maxBytes: "4096" }));
      const answer = await raw(head("/hooks", { "content-length": String(256 * 1024 * 1024) }));
      expect(answer.status).to.equal(413);
      expect(answer.headers.connection).to.equal("close");
      expect(JSON.parse(answer.body)).to.deep.equal({ error: "payload too large" });
      expect(answer.closed).to.equal(true);
      expect(statuses.get("in")?.at(-1)).to.deep.equal({
        fill: "yellow",
        shape: "ring",
        text: "413 too large",
      });
      await expectOnlyNextReaches();
    });

    it("answers 413 to a chunked body once it passes max bytes, and closes before much more is sent", async () => {
      await load(webhookIn({ maxBytes: "4096" }));
      // 4096 chunks of 64 KiB would be 256 MiB; the server closes after the first.
      const answer = await raw(head("/hooks", { "transfer-encoding": "chunked" }), chunkedFlood(4096));
      expect(answer.status).to.equal(413);
      expect(answer.closed).to.equal(true);
      expect(answer.written).to.be.below(64 * 1024 * 1024);
      await expectOnlyNextReaches();
    });

    it("answers 408 to a body still arriving when the body timeout ends, and closes", async () => {
      await load(webhookIn({ timeout: "1" }));
      const started = Date.now();
      const answer = await raw(head("/hooks", { "content-length": "1000" }), trickle(100));
      const took = Date.now() - started;
      expect(answer.status).to.equal(408);
      expect(JSON.parse(answer.body)).to.deep.equal({ error: "request timeout" });
      expect(answer.closed).to.equal(true);
      expect(answer.written).to.be.within(5, 30);
      expect(took).to.be.within(900, 5000);
      expect(statuses.get("in")?.at(-1)?.text).to.equal("408 too slow");
      await expectOnlyNextReaches();
    });

    it("answers 503 with Retry-After, unread, to a request past max at once", async () => {
      const reached = new EventEmitter();
      await load(webhookIn({ maxConcurrent: "1", timeout: "5" }), {
        settings: {
          httpNodeMiddleware: (_req: unknown, _res: unknown, next: () => void) => {
            reached.emit("request");
            next();
          },
        },
      });
      const reading = once(reached, "request");
      const slow = connect({ host: "127.0.0.1", port });
      slow.on("error", () => undefined);
      slow.write(head("/hooks", { "content-length": "10" }));
      await reading;
      const busy = await raw(head("/hooks", { "content-length": String(1024) }));
      expect(busy.status).to.equal(503);
      expect(busy.headers["retry-after"]).to.equal("1");
      expect(busy.closed).to.equal(true);
      expect(statuses.get("in")?.at(-1)?.text).to.equal("503 busy");
      // Once the first body is in, the node reads again.
      const first = next("out");
      slow.write("0123456789");
      const msg = await first;
      expect(msg.payload.toString()).to.equal("0123456789");
      msg.res._res.end();
      slow.destroy();
    });
  });

  describe("settings as core http in", () => {
    it("runs httpNodeMiddleware first: a refusal there is answered without the body being read", async () => {
      let bodyRead = false;
      const auth = (req: express.Request, res: express.Response, next: () => void): void => {
        if (req.headers.authorization === "Bearer letmein") return next();
        res.status(401).set("Connection", "close").end();
        bodyRead = req.readableLength > 0 || req.readableEnded;
      };
      await load(webhookIn(), { settings: { httpNodeMiddleware: [auth] } });
      const refused = await raw(head("/hooks", { "content-length": String(64 * 1024 * 1024) }));
      expect(refused.status).to.equal(401);
      expect(bodyRead).to.equal(false);

      const got = next("out");
      const answer = raw(
        head("/hooks", { authorization: "Bearer letmein", "content-length": "2", connection: "close" }),
        Buffer.from("{}"),
      );
      const msg = await got;
      expect(msg.payload.toString()).to.equal("{}");
      msg.res._res.end();
      await answer;
    });

    it("answers 500 and warns when an httpNodeMiddleware fails, as core http in does", async () => {
      const failing = (_req: unknown, _res: unknown, next: (err?: Error) => void): void =>
        next(new Error("middleware broke"));
      await load(webhookIn(), { settings: { httpNodeMiddleware: failing } });
      const answer = await raw(head("/hooks", { "content-length": "2" }), Buffer.from("{}"));
      expect(answer.status).to.equal(500);
      expect(answer.closed).to.equal(true);
      expect(logged(WARN, /middleware broke/)).to.have.length(1);
    });

    it("answers 500 and logs WEBHOOK_BODY_CONSUMED when a middleware read the body", async () => {
      const reader = (req: express.Request, _res: express.Response, next: () => void): void => {
        req.on("data", () => undefined);
        req.on("end", next);
      };
      await load(webhookIn(), { settings: { httpNodeMiddleware: reader } });
      const answer = await raw(
        head("/hooks", { "content-type": "application/json", "content-length": "2" }),
        Buffer.from("{}"),
      );
      expect(answer.status).to.equal(500);
      expect(answer.closed).to.equal(true);
      const errors = (helper.log() as unknown as { args: Array<[{ level: number; msg: unknown }]> }).args
        .map(([e]) => e)
        .filter((e) => e.level === ERROR && (e.msg as { code?: string })?.code === "WEBHOOK_BODY_CONSUMED");
      expect(errors).to.have.length(1);
      expect(statuses.get("in")?.at(-1)?.text).to.equal("body consumed");
    });

    it("adds core's CORS headers when httpNodeCors is set", async () => {
      await load(webhookIn(), { settings: { httpNodeCors: { origin: "https://portal.example.org" } } });
      const got = next("out");
      const answer = raw(
        head("/hooks", { origin: "https://portal.example.org", "content-length": "2", connection: "close" }),
        Buffer.from("{}"),
      );
      const msg = await got;
      msg.res._res.end();
      expect((await answer).headers["access-control-allow-origin"]).to.equal("https://portal.example.org");
    });

    it("warns, and adds no CORS headers, when httpNodeCors is set but core's handler is not there", async () => {
      helper.settings({ httpNodeCors: { origin: "*" } });
      await helper.load([captureHttpNode as any, webhookInNode], [
        { id: TAB, type: "tab", label: "t" },
        { id: "in", z: TAB, type: "webhook-in", url: "/hooks", wires: [] },
      ] as any);
      expect(logged(WARN, /httpNodeCors is set but core's CORS handler was not found/)).to.have.length(1);
    });
  });

  describe("deploys", () => {
    it("removes its route when it stops, and only its own", async () => {
      await load([
        ...webhookIn(),
        { id: "core", type: "http in", url: "/core", method: "post", wires: [["reply"]] },
        { id: "reply", type: "http response", statusCode: "204", headers: {} },
      ]);
      const app = httpNode as unknown as { _router: { stack: Array<{ route?: { path: string } }> } };
      const paths = (): string[] => app._router.stack.flatMap((l) => (l.route ? [l.route.path] : []));
      expect(paths()).to.include.members(["/hooks", "/core"]);
      await helper.getNode("in").close(false);
      expect(paths()).to.not.include("/hooks");
      expect(paths()).to.include("/core");
      const gone = await raw(
        head("/hooks", { "content-length": "2", connection: "close" }),
        Buffer.from("{}"),
      );
      expect(gone.status).to.equal(404);
    });

    it("answers 503 to a body still arriving when it stops, so the sender retries", async () => {
      const reached = new EventEmitter();
      await load(webhookIn(), {
        settings: {
          httpNodeMiddleware: (_req: unknown, _res: unknown, next: () => void) => {
            reached.emit("request");
            next();
          },
        },
      });
      const reading = once(reached, "request");
      const answer = raw(head("/hooks", { "content-length": "100" }), Buffer.from("partial"));
      await reading;
      await helper.getNode("in").close(false);
      const result = await answer;
      expect(result.status).to.equal(503);
      expect(result.headers["retry-after"]).to.equal("1");
      expect(result.closed).to.equal(true);
    });
  });
});
