import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from "express";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { BODY_ERROR_STATUS, readBody, type BodyErrorCode } from "../../lib/webhook/body";
import { status } from "../shared/status";
import { optionsOf, type WebhookInOptions, type WebhookInProps } from "./config";

interface WebhookInDef extends NodeDef, WebhookInProps {}

/** The settings.js entries that core http in also reads. */
interface HttpNodeSettings {
  httpNodeRoot?: string | false;
  httpNodeMiddleware?: RequestHandler | RequestHandler[];
  httpNodeCors?: unknown;
}

/** An entry of Express's router stack: a route with its handlers, or a middleware. */
interface Layer {
  handle?: unknown;
  route?: { path?: string; methods?: Record<string, boolean>; stack: Array<{ handle: unknown }> };
}

/** Fixed answers: none says which limit was passed or by how much. */
const REPLY_BODY: Record<number, string> = {
  408: JSON.stringify({ error: "request timeout" }),
  413: JSON.stringify({ error: "payload too large" }),
  500: JSON.stringify({ error: "server error" }),
  503: JSON.stringify({ error: "service unavailable" }),
};

const STATUS_TEXT: Record<BodyErrorCode, string> = {
  WEBHOOK_TOO_LARGE: "413 too large",
  WEBHOOK_BODY_TIMEOUT: "408 too slow",
  WEBHOOK_ABORTED: "sender aborted",
};

const pass: RequestHandler = (_req, _res, next) => next();

function routerStack(app: Express): Layer[] {
  return (app as unknown as { _router?: { stack?: Layer[] } })._router?.stack ?? [];
}

/**
 * Core http in answers CORS preflights with `RED.httpNode.options("*", cors(httpNodeCors))` and
 * runs that same handler on its routes. The `cors` package is core's dependency, not this pack's,
 * so the handler is taken from that route.
 */
function coreCorsHandler(app: Express): RequestHandler | undefined {
  for (const layer of routerStack(app)) {
    const route = layer.route;
    if (route?.path === "*" && route.methods?.options && typeof route.stack[0]?.handle === "function") {
      return route.stack[0].handle as RequestHandler;
    }
  }
  return undefined;
}

/** How long a refused connection stays half-closed before it is destroyed. */
const LINGER_MS = 1000;

/**
 * Answers `code` and closes the connection without reading any more of the body. Node ends a
 * `Connection: close` answer with socket.destroySoon(): a FIN, then a destroy once it is written,
 * which resets a connection whose sender is still sending, and a reset can discard the answer
 * before the sender reads it (undici loses most 413s so). Here the FIN goes out with the answer,
 * nothing more is read (the body stays in the kernel's buffers), and the socket is destroyed
 * LINGER_MS later. A second call (a timer and a redeploy at once) does nothing more.
 */
function refuse(req: Request, res: Response, code: number, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const socket = req.socket;
  socket.destroySoon = () => socket.end();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once("close", () => clearTimeout(linger));
  // Node dumps a body nobody has read once the answer is finished: it reads the socket at full
  // speed and discards (a 256 MiB upload within the linger second). Pausing the socket stops the
  // reading at its handle; the dump's own resume runs on the next tick and would undo a pause made
  // before it, so the pause waits for setImmediate.
  res.once("finish", () => setImmediate(() => socket.pause()));
  const body = REPLY_BODY[code];
  res.writeHead(code, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
    Connection: "close",
    ...headers,
  });
  res.end(body);
}

/** Set on a request to a webhook-in route before anything could read its body. */
const UNREAD = Symbol("webhook-in: body unread");
type GuardedRequest = Request & { _body?: boolean; [UNREAD]?: boolean };

/** "POST /pms/webhooks": Express's default matching ignores case, repeated and trailing slashes. */
function routeKey(method: string, path: string): string {
  const normal = path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
  return `${method.toUpperCase()} ${normal.toLowerCase()}`;
}

/** The app Node-RED's server runs (Express sets `parent` on a mounted app). */
function rootApp(app: Express): Express {
  let root = app as Express & { parent?: Express };
  while (root.parent) root = root.parent;
  return root;
}

/** The routes of webhook-in nodes under each root app, with how many nodes serve each. */
const guardedRoutes = new WeakMap<Express, Map<string, number>>();

/**
 * When httpAdminRoot and httpNodeRoot are the same (both "/" by default), the editor's app comes
 * first and its JSON and urlencoded parsers (up to apiMaxLength, 5 MB) read every such request,
 * before httpNodeAuth and before any node's route. A middleware first in the root app marks
 * requests to webhook-in routes as parsed (`req._body`, which body-parser honours), so that their
 * bodies stay on the wire until webhook-in reads them, behind httpNodeAuth. Core http in does the
 * same with its raw-body capture, but reads the whole body there.
 */
function guardRoutes(app: Express): Map<string, number> {
  const root = rootApp(app);
  const existing = guardedRoutes.get(root);
  if (existing) return existing;
  const routes = new Map<string, number>();
  const mark: RequestHandler = (req: GuardedRequest, _res, next) => {
    if (!req._body && routes.has(routeKey(req.method, req.url.split("?")[0]))) {
      req._body = true;
      req[UNREAD] = true;
    }
    next();
  };
  root.use(mark);
  const stack = routerStack(root);
  const at = stack.findIndex((layer) => layer.handle === mark);
  if (at > 0) stack.unshift(...stack.splice(at, 1));
  guardedRoutes.set(root, routes);
  return routes;
}

export = function (RED: NodeAPI) {
  const settings = RED.settings as unknown as HttpNodeSettings;

  function WebhookIn(this: Node, def: WebhookInDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: WebhookInDef): void {
    let shown = "";
    function show(kind: "ok" | "degraded" | "failed", text: string): void {
      const key = `${kind}:${text}`;
      if (key === shown) return;
      shown = key;
      status[kind](node, text);
    }

    if (settings.httpNodeRoot === false) {
      node.warn("webhook-in: httpNodeRoot is false in settings.js, so Node-RED serves no http routes");
      show("failed", "no httpNodeRoot");
      return;
    }
    let options: WebhookInOptions;
    try {
      options = optionsOf(def);
    } catch (err) {
      node.error(`webhook-in ${def.name || node.id}: ${(err as Error).message}`);
      show("failed", "bad config");
      return;
    }
    const opts = options;
    const app = RED.httpNode;

    const middleware =
      typeof settings.httpNodeMiddleware === "function" || Array.isArray(settings.httpNodeMiddleware)
        ? settings.httpNodeMiddleware
        : pass;
    let cors = pass;
    if (settings.httpNodeCors) {
      const found = coreCorsHandler(app);
      if (found) cors = found;
      else
        node.warn("webhook-in: httpNodeCors is set but core's CORS handler was not found; no CORS headers");
    }

    /** Requests whose body is being read, answered 503 if the node closes first. */
    const reading = new Set<{ req: Request; res: Response }>();
    let closed = false;

    function deliver(req: Request, res: Response, body: Buffer): void {
      const msgid = RED.util.generateId();
      (res as Response & { _msgid?: string })._msgid = msgid;
      // As core http in: Node computes req.headers lazily, which hides it from the debug sidebar.
      Object.defineProperty(req, "headers", { value: req.headers, enumerable: true });
      req.body = body;
      show("ok", "received");
      node.send({ _msgid: msgid, req, res: { _res: res }, payload: body });
    }

    const receive: RequestHandler = (req, res) => {
      if (reading.size >= opts.maxConcurrent) {
        refuse(req, res, 503, { "Retry-After": "1" });
        show("degraded", "503 busy");
        return;
      }
      const guarded = req as GuardedRequest;
      if (req.readableEnded || (guarded._body && !guarded[UNREAD])) {
        refuse(req, res, 500);
        show("failed", "body consumed");
        node.error(
          new PackError(
            CODES.WEBHOOK_BODY_CONSUMED,
            "the request body was read before webhook-in: by an httpNodeMiddleware, or by an http in " +
              "with raw body on at the same URL",
          ),
        );
        return;
      }
      const entry = { req, res };
      reading.add(entry);
      readBody(req, opts).then(
        (body) => {
          reading.delete(entry);
          if (!closed) deliver(req, res, body);
        },
        (err: PackError) => {
          reading.delete(entry);
          const code = err.code as BodyErrorCode;
          const answer = BODY_ERROR_STATUS[code];
          if (answer !== undefined) refuse(req, res, answer);
          if (!closed) show("degraded", STATUS_TEXT[code]);
        },
      );
    };

    // As core http in: an error from a middleware is warned about and answered 500.
    const failed: ErrorRequestHandler = (err, req, res, _next) => {
      node.warn(err);
      refuse(req, res, 500);
    };

    const routes = guardRoutes(app);
    const key = routeKey(opts.method, `${app.path()}${opts.url}`);
    routes.set(key, (routes.get(key) ?? 0) + 1);
    app[opts.method](opts.url, middleware, cors, receive, failed);

    node.on("close", (done: () => void) => {
      closed = true;
      const serving = (routes.get(key) ?? 1) - 1;
      if (serving > 0) routes.set(key, serving);
      else routes.delete(key);
      const stack = routerStack(app);
      for (let i = stack.length - 1; i >= 0; i--) {
        if (stack[i].route?.stack.some((layer) => layer.handle === receive)) stack.splice(i, 1);
      }
      for (const { req, res } of reading) refuse(req, res, 503, { "Retry-After": "1" });
      reading.clear();
      shown = "";
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("webhook-in", WebhookIn);
};
