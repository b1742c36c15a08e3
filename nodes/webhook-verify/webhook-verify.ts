import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportHealth } from "../../lib/health/bus";
import { headersFromObject, headersFromRaw, type HeaderValues } from "../../lib/legacy/pms-hmac";
import { WebhookVerifier, type Outcome, type SeenPersistence } from "../../lib/webhook/verifier";
import { okKind, openNodeState, releaseState, type NodeState } from "../shared/state";
import { onInput, type Send } from "../shared/input";
import { status } from "../shared/status";
import { optionsOf, type WebhookVerifyOptions, type WebhookVerifyProps } from "./config";

interface WebhookVerifyDef extends NodeDef, WebhookVerifyProps {}

interface WebhookCredentials {
  secrets?: string;
}

/** The parts of Express's request and response that this node uses. */
interface HttpRequest {
  method?: string;
  originalUrl?: string;
  url?: string;
  rawHeaders?: string[];
  headers?: Record<string, string | string[] | undefined>;
}
/** http in's `msg.res._res`: an Express response, so also a Node http.ServerResponse. */
interface HttpResponse {
  headersSent?: boolean;
  writeHead(code: number, headers: Record<string, string>): HttpResponse;
  end(body: string): void;
}

interface WebhookMeta {
  scheme: string;
  id?: string;
  timestamp?: string;
  eventType?: string;
  reason?: string;
  code?: string;
  status?: number;
}

type WebhookMsg = NodeMessageInFlow & {
  req?: HttpRequest;
  res?: { _res?: HttpResponse };
  webhook?: WebhookMeta;
};

const SOURCE = "webhook-verify";
const SEEN_KEY = "webhookSeenIds";

/** The fixed answers, serialized once; none says anything of the secrets or of which check failed. */
const REPLY_BODY: Record<number, string> = {
  202: JSON.stringify({ status: "accepted" }),
  400: JSON.stringify({ error: "bad request" }),
  401: JSON.stringify({ error: "unauthorized" }),
  413: JSON.stringify({ error: "payload too large" }),
  500: JSON.stringify({ error: "server error" }),
  503: JSON.stringify({ error: "service unavailable" }),
};
const DUPLICATE_BODY = JSON.stringify({ status: "accepted", duplicate: true });

/**
 * Answers the sender unless someone already has; true when this call sent the answer. Written
 * with Node's own writeHead/end: Express's send would hash the body for an ETag on every reply.
 */
function reply(res: HttpResponse | undefined, code: number, body = REPLY_BODY[code]): boolean {
  if (!res || res.headersSent) return false;
  res.writeHead(code, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
  });
  res.end(body);
  return true;
}

function headersOf(req: HttpRequest): HeaderValues {
  if (Array.isArray(req.rawHeaders)) return headersFromRaw(req.rawHeaders);
  return headersFromObject(req.headers ?? {});
}

/** Ids one by one where the store can look one up (the state file), else the whole list under one key. */
function seenPersistence(state: NodeState): SeenPersistence {
  const keyed = state.expiring?.("node", "seen");
  if (keyed) {
    const addIfAbsent = keyed.addIfAbsent;
    return {
      has: async (keys) => {
        for (const key of keys) if ((await keyed.get(key)) !== undefined) return true;
        return false;
      },
      add: (keys, untilMs) =>
        Promise.all(keys.map((key) => keyed.set(key, 1, untilMs))).then(() => undefined),
      addIfAbsent: addIfAbsent && ((keys, untilMs) => addIfAbsent(keys, 1, untilMs)),
    };
  }
  const kept = state.scope("node");
  return {
    load: () => kept.get(SEEN_KEY),
    save: (snapshot) => kept.set(SEEN_KEY, snapshot),
  };
}

export = function (RED: NodeAPI) {
  function WebhookVerify(this: Node<WebhookCredentials>, def: WebhookVerifyDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node<WebhookCredentials>, def: WebhookVerifyDef): void {
    let options: WebhookVerifyOptions | undefined;
    let verifier: WebhookVerifier | undefined;
    let configError: string | undefined;
    let state: NodeState | undefined;
    let shown = "";
    function show(asked: "ok" | "working" | "degraded" | "failed", text: string): void {
      const kind = asked === "ok" ? okKind(state) : asked;
      const key = `${kind}:${text}`;
      if (key === shown) return;
      shown = key;
      status[kind](node, text);
    }

    try {
      options = optionsOf(def);
      state = openNodeState(RED, node, options.store, {
        code: CODES.WEBHOOK_CONFIG,
        what: "seen delivery ids",
        messageStore: true,
      });
      const persistence = seenPersistence(state);
      verifier = new WebhookVerifier({
        scheme: options.scheme,
        secrets: node.credentials?.secrets,
        toleranceSeconds: options.toleranceSeconds,
        maxBytes: options.maxBytes,
        maxIds: options.maxIds,
        persistence,
      });
    } catch (err) {
      configError = (err as Error).message;
      node.error(`webhook-verify ${def.name || node.id}: ${configError}`);
      show("failed", "bad config");
    }
    if (state?.durable === false) show("degraded", "state in memory");

    /** Where the last verified timestamp was written as ISO text: deliveries come in bursts of equal seconds. */
    let isoOf = { ms: NaN, text: "" };
    function iso(ms: number): string {
      if (ms !== isoOf.ms) isoOf = { ms, text: new Date(ms).toISOString() };
      return isoOf.text;
    }

    function storeFailed(
      msg: WebhookMsg,
      res: HttpResponse,
      integration: string,
      started: number,
      err: unknown,
    ): never {
      if (reply(res, 503)) delete msg.res;
      show("failed", "store error");
      reportHealth({
        integration,
        success: false,
        durationMs: performance.now() - started,
        error: (err as PackError).code ?? CODES.WEBHOOK_ERROR,
        source: SOURCE,
      });
      throw err;
    }

    function answer(
      msg: WebhookMsg,
      send: Send,
      res: HttpResponse,
      opts: WebhookVerifyOptions,
      outcome: Outcome,
      durationMs: number,
    ): void {
      if (outcome.kind === "rejected") {
        reply(res, outcome.status);
        delete msg.res;
        msg.webhook = {
          scheme: opts.scheme,
          reason: outcome.reason,
          code: outcome.code,
          status: outcome.status,
        };
        reportHealth({
          integration: opts.integration,
          success: false,
          durationMs,
          error: outcome.code,
          source: SOURCE,
        });
        show("degraded", `${outcome.status} ${outcome.reason}`);
        send([null, msg]);
        return;
      }

      msg.webhook = {
        scheme: opts.scheme,
        id: outcome.id,
        timestamp: outcome.timestampMs === undefined ? undefined : iso(outcome.timestampMs),
        eventType: outcome.eventType,
      };
      msg.payload = outcome.payload;
      if (outcome.eventType !== undefined) msg.topic = outcome.eventType;
      reportHealth({ integration: opts.integration, success: true, durationMs, source: SOURCE });

      if (outcome.kind === "duplicate") {
        reply(res, 202, DUPLICATE_BODY);
        delete msg.res;
        Object.assign(msg.webhook, { reason: outcome.reason, code: outcome.code, status: 202 });
        show("ok", "duplicate");
        send([null, msg]);
        return;
      }
      if (opts.respond) {
        reply(res, 202);
        delete msg.res;
      }
      show("ok", "verified");
      send([msg, null]);
    }

    // Synchronous unless seen ids are persisted: no promise or extra tick per delivery.
    onInput<WebhookMsg>(node, CODES.WEBHOOK_ERROR, (msg, send) => {
      const res = msg.res?._res;
      if (!verifier || !options) {
        if (reply(res, 500)) delete msg.res;
        throw new PackError(CODES.WEBHOOK_CONFIG, `webhook-verify is not usable: ${configError}`);
      }
      const req = msg.req;
      if (!req || !res) {
        show("failed", "no http in");
        throw new PackError(
          CODES.WEBHOOK_NO_REQUEST,
          "webhook-verify needs msg.req and msg.res: wire it directly after a webhook-in or http in node",
        );
      }
      const raw = msg.payload;
      if (!Buffer.isBuffer(raw) && typeof raw !== "string") {
        if (reply(res, 500)) delete msg.res;
        show("failed", "not raw body");
        reportHealth({
          integration: options.integration,
          success: false,
          durationMs: 0,
          error: CODES.WEBHOOK_NOT_RAW,
          source: SOURCE,
        });
        throw new PackError(
          CODES.WEBHOOK_NOT_RAW,
          'msg.payload is not the raw request body: use webhook-in, or tick "Do not parse request body" in ' +
            "the http in node (Node-RED 4.1 or later), and let nothing change msg.payload before webhook-verify",
        );
      }
      const opts = options;
      const started = performance.now();
      let result: Outcome | Promise<Outcome>;
      try {
        result = verifier.verify({
          method: req.method ?? "POST",
          pathWithQuery: req.originalUrl ?? req.url ?? "/",
          headers: headersOf(req),
          body: Buffer.isBuffer(raw) ? raw : Buffer.from(raw, "utf8"),
        });
      } catch (err) {
        return storeFailed(msg, res, opts.integration, started, err);
      }
      if (!(result instanceof Promise)) {
        answer(msg, send, res, opts, result, performance.now() - started);
        return;
      }
      return result.then(
        (outcome) => answer(msg, send, res, opts, outcome, performance.now() - started),
        (err: unknown) => storeFailed(msg, res, opts.integration, started, err),
      );
    });

    node.on("close", (removed: boolean, done: () => void) => {
      shown = "";
      status.clear(node);
      const held = state;
      state = undefined;
      releaseState(node, held, removed, done);
    });
  }

  RED.nodes.registerType<Node<WebhookCredentials>, WebhookVerifyDef, unknown, WebhookCredentials>(
    "webhook-verify",
    WebhookVerify,
    {
      credentials: { secrets: { type: "password" } },
    },
  );
};
