import { OperationOutcomeError, isOk } from "@medplum/core";
import type { FhirRequest, FhirResponse, HttpMethod } from "@medplum/fhir-router";
import type { OperationOutcome, Resource } from "@medplum/fhirtypes";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TokenService } from "./auth";
import { capabilityStatement, smartConfiguration } from "./capability";
import { FaultQueue, checkFault } from "./faults";
import { SandboxRepository } from "./repository";
import type { SandboxRequestConfig } from "./routes";
import { TransactionFailure, WRITTEN, createSandboxRouter, preferredReturn, statusOf } from "./routes";
import { loadFhirDefinitions } from "./schema";
import { queryFromString } from "./search";
import { ValidationPool } from "./validation";

export interface SandboxClient {
  clientId: string;
  clientSecret?: string;
  /** Public keys for private_key_jwt (SMART Backend Services), as a JWKS. */
  jwks?: { keys: object[] };
  /** Space-separated scopes this client may get; when absent, it gets what it asks for. */
  scope?: string;
}

export interface FhirSandboxOptions {
  /** 0 = ephemeral (default 0). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** Require a bearer token on FHIR routes (default false). `/metadata` and the SMART configuration stay open. */
  auth?: boolean;
  /** Lifetime of issued access tokens in seconds (default 300). */
  tokenLifetimeSeconds?: number;
  clients?: SandboxClient[];
  /** Accept HTTP Basic for these users when auth is on. */
  basicUsers?: Record<string, string>;
  /** Accept these bearer tokens as valid forever when auth is on. */
  staticTokens?: string[];
  /** Validate resources against the R4 structure definitions on every write, 422 when invalid (default true). */
  validate?: boolean;
  /**
   * Worker threads that validate the writes of a large batch or transaction alongside the request
   * thread (default: one per core beyond the first, at most 4; 0 = all on the request thread).
   */
  validationWorkers?: number;
  /** Search and history page size when `_count` is absent (default 20). */
  defaultCount?: number;
  /** Largest page served (default 1000). */
  maxCount?: number;
  /** Largest request body in bytes (default 32 MiB); more is a 413. */
  maxBodyBytes?: number;
}

export interface FaultSpec {
  status?: 429 | 500 | 502 | 503 | 504;
  /** Retry-After header: seconds, or an HTTP-date string. */
  retryAfter?: number | string;
  /** Destroy the socket without a response. */
  drop?: boolean;
  /** Wait this long first (then apply the rest of the fault, or answer normally). */
  delayMs?: number;
  /** Apply status/drop after the request has been processed (a write then happened, but its answer is lost). */
  after?: boolean;
  /** Which requests the fault hits: FHIR routes (default), the token endpoint, or either. */
  target?: "fhir" | "token" | "any";
}

export interface SandboxStats {
  /** Every request except the /$sandbox control routes. */
  requests: number;
  /** TCP connections accepted. */
  connections: number;
  tokensIssued: number;
  fhirRequests: number;
  tokenRequests: number;
  faultsInjected: number;
}

export interface FhirSandbox {
  /** FHIR base, http://127.0.0.1:PORT/fhir/R4. */
  url: string;
  /** http://127.0.0.1:PORT/oauth2/token. */
  tokenUrl: string;
  port: number;
  faults: {
    next(count: number, fault: FaultSpec): void;
    clear(): void;
    /** Every FHIR request answers 503 until `ms` from now (the token endpoint stays up): an outage. */
    outage(ms: number): void;
  };
  registerClient(client: SandboxClient): void;
  stats(): SandboxStats;
  /** Empties the repository (resources, history, deletions). */
  reset(): Promise<void>;
  /** Makes every issued token invalid now (to test renewal). */
  expireTokens(): void;
  /** Closes the listener and every socket. */
  close(): Promise<void>;
  /** The repository itself, for tests that seed or inspect data without HTTP. */
  readonly repository: SandboxRepository;
  /** The workers that validate large batches, for tests that wait for them. */
  readonly validators: ValidationPool;
}

export const FHIR_BASE_PATH = "/fhir/R4";
export const TOKEN_PATH = "/oauth2/token";
const FHIR_JSON = "application/fhir+json; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH"]);
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const HOST_HEADER = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string = "invalid",
  ) {
    super(message);
  }
}

/** Runs tasks one at a time, in arrival order. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function outcome(
  code: string,
  text: string,
  severity: "error" | "fatal" | "warning" | "information" = "error",
): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    issue: [{ severity, code: code as "invalid", details: { text } }],
  };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      reject(new HttpError(413, `The body exceeds ${limit} bytes`, "too-costly"));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HttpError(413, `The body exceeds ${limit} bytes`, "too-costly"));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(new HttpError(400, "The client closed the request before its body ended"));
    });
  });
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new HttpError(400, "The request body is empty");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, `Malformed JSON: ${(err as Error).message}`, "structure");
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  type = FHIR_JSON,
): void {
  if (res.destroyed || res.headersSent) return;
  if (body === undefined) {
    // 204 and 304 carry no body and, for 304, no length of their own.
    res.writeHead(status, status === 204 || status === 304 ? headers : { ...headers, "Content-Length": "0" });
    res.end();
    return;
  }
  const payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body), "utf8");
  res.writeHead(status, { ...headers, "Content-Type": type, "Content-Length": String(payload.length) });
  res.end(payload);
}

/** Starts a FHIR R4 sandbox server on loopback (by default on an ephemeral port). */
export async function startFhirSandbox(options: FhirSandboxOptions = {}): Promise<FhirSandbox> {
  checkOptions(options);
  const validators = new ValidationPool(options.validationWorkers);
  loadFhirDefinitions();
  const host = options.host ?? "127.0.0.1";
  const maxBodyBytes = options.maxBodyBytes ?? 32 * 1024 * 1024;
  const repo = new SandboxRepository({ validate: options.validate ?? true });
  const router = createSandboxRouter(
    repo,
    { defaultCount: options.defaultCount ?? 20, maxCount: options.maxCount ?? 1000 },
    validators,
  );
  const tokens = new TokenService({
    lifetimeSeconds: options.tokenLifetimeSeconds ?? 300,
    clients: options.clients,
    staticTokens: options.staticTokens,
    basicUsers: options.basicUsers,
  });
  const faults = new FaultQueue();
  const lock = new Mutex();
  const stats: SandboxStats = {
    requests: 0,
    connections: 0,
    tokensIssued: 0,
    fhirRequests: 0,
    tokenRequests: 0,
    faultsInjected: 0,
  };
  const sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  const capabilityCache = new Map<string, string>();
  let closed = false;
  let listenPort = 0;
  let outageUntil = 0;

  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const defaultOrigin = (): string => `http://${urlHost}:${listenPort}`;
  const originOf = (req: IncomingMessage): string => {
    const hostHeader = req.headers.host;
    return hostHeader && HOST_HEADER.test(hostHeader) ? `http://${hostHeader}` : defaultOrigin();
  };

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          sleepers.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      entry.timer.unref();
      sleepers.add(entry);
    });
  }

  /** Applies the part of a fault that comes before processing; true when the request is finished. */
  async function faultBefore(
    fault: FaultSpec | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<boolean> {
    if (!fault) return false;
    stats.faultsInjected++;
    if (fault.delayMs) await sleep(fault.delayMs);
    if (closed) {
      req.socket.destroy();
      return true;
    }
    if (fault.after) return false;
    return faultRespond(fault, req, res);
  }

  function faultRespond(fault: FaultSpec, req: IncomingMessage, res: ServerResponse): boolean {
    if (fault.drop) {
      req.socket.destroy();
      return true;
    }
    if (fault.status) {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) {
        headers["Retry-After"] =
          typeof fault.retryAfter === "number" ? String(Math.round(fault.retryAfter)) : fault.retryAfter;
      }
      const code = fault.status === 429 ? "throttled" : fault.status === 500 ? "exception" : "transient";
      send(res, fault.status, outcome(code, `Injected fault: HTTP ${fault.status}`), headers);
      return true;
    }
    return false;
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    const json = async (): Promise<Record<string, unknown>> => {
      const body = await readBody(req, 1024 * 1024);
      const value = body.length ? parseJson(body) : {};
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new HttpError(400, "The body must be a JSON object");
      }
      return value as Record<string, unknown>;
    };
    try {
      if (path === "/$sandbox/faults" && method === "POST") {
        const body = await json();
        const count = body.count ?? 1;
        try {
          checkFault(count, body.fault);
        } catch (err) {
          throw new HttpError(400, (err as Error).message);
        }
        faults.next(count as number, body.fault as FaultSpec);
        send(res, 204, undefined);
      } else if (path === "/$sandbox/faults" && method === "DELETE") {
        faults.clear();
        send(res, 204, undefined);
      } else if (path === "/$sandbox/reset" && method === "POST") {
        await sandbox.reset();
        send(res, 204, undefined);
      } else if (path === "/$sandbox/expire-tokens" && method === "POST") {
        tokens.expireAll();
        send(res, 204, undefined);
      } else if (path === "/$sandbox/clients" && method === "POST") {
        const body = await json();
        try {
          tokens.register(body as unknown as SandboxClient);
        } catch (err) {
          throw new HttpError(400, (err as Error).message);
        }
        send(res, 204, undefined);
      } else if (path === "/$sandbox/stats" && method === "GET") {
        send(
          res,
          200,
          { ...sandbox.stats(), resources: repo.count(), pendingFaults: faults.pending() },
          {},
          JSON_TYPE,
        );
      } else {
        throw new HttpError(404, `No sandbox control route ${method} ${path}`, "not-found");
      }
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      send(res, err.status, { error: err.message }, {}, JSON_TYPE);
    }
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.tokenRequests++;
    if (await faultBefore(faults.take("token"), req, res)) return;
    if (req.method !== "POST") {
      send(
        res,
        405,
        { error: "invalid_request", error_description: "Use POST" },
        { Allow: "POST" },
        JSON_TYPE,
      );
      return;
    }
    const body = await readBody(req, 64 * 1024);
    const audiences = [...new Set([sandbox.tokenUrl, `${originOf(req)}${TOKEN_PATH}`])];
    const result = await tokens.token(req.headers, body.toString("utf8"), audiences);
    stats.tokensIssued = tokens.issued;
    send(res, result.status, result.body, result.headers, JSON_TYPE);
  }

  function unauthorized(res: ServerResponse, reason: string, hadCredentials: boolean): void {
    const challenge = hadCredentials
      ? `Bearer realm="fhir-sandbox", error="invalid_token", error_description="${reason.replace(/"/g, "'")}"`
      : 'Bearer realm="fhir-sandbox"';
    send(res, 401, outcome("login", reason), { "WWW-Authenticate": challenge });
  }

  async function handleFhir(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
  ): Promise<void> {
    stats.fhirRequests++;
    if (Date.now() < outageUntil) {
      faultRespond({ status: 503 }, req, res);
      return;
    }
    const fault = faults.take("fhir");
    if (await faultBefore(fault, req, res)) return;
    const origin = originOf(req);
    const baseUrl = `${origin}${FHIR_BASE_PATH}`;
    let rel: string;
    try {
      rel = decodeURIComponent(path.slice(FHIR_BASE_PATH.length)).replace(/^\/+|\/+$/g, "");
    } catch {
      throw new HttpError(400, "Malformed URL");
    }
    const method = req.method ?? "GET";

    if (rel === "metadata") {
      if (method !== "GET") throw new HttpError(405, "metadata supports GET only", "not-supported");
      let text = capabilityCache.get(origin);
      if (!text) {
        text = JSON.stringify(capabilityStatement(baseUrl, `${origin}${TOKEN_PATH}`, Boolean(options.auth)));
        if (capabilityCache.size >= 16) capabilityCache.clear();
        capabilityCache.set(origin, text);
      }
      finish(req, res, fault, 200, text, {});
      return;
    }

    if (options.auth) {
      const check = tokens.check(firstHeader(req.headers.authorization));
      if (!check.ok) {
        unauthorized(res, check.reason, check.hadCredentials);
        return;
      }
    }

    if (!METHODS.has(method)) throw new HttpError(405, `Method ${method} is not supported`, "not-supported");
    const route = router.find(method as HttpMethod, rel);
    if (!route) {
      const allowed = [...METHODS].filter((m) => router.find(m as HttpMethod, rel));
      if (allowed.length) throw new HttpError(405, `${method} is not allowed here`, "not-supported");
      throw new HttpError(404, `No FHIR interaction at ${method} ${rel || "/"}`, "not-found");
    }

    let body: unknown;
    if (WRITE_METHODS.has(method)) {
      const raw = await readBody(req, maxBodyBytes);
      const type = mediaType(req);
      if (method === "POST" && rel.endsWith("/_search")) {
        if (raw.length && type !== "application/x-www-form-urlencoded") {
          throw new HttpError(415, "POST _search needs application/x-www-form-urlencoded", "not-supported");
        }
        body = queryFromString(raw.toString("utf8"));
      } else if (method === "PATCH") {
        if (type !== "application/json-patch+json" && type !== "application/json") {
          throw new HttpError(415, "PATCH supports application/json-patch+json only", "not-supported");
        }
        body = parseJson(raw);
      } else {
        if (type && type !== "application/fhir+json" && type !== "application/json") {
          throw new HttpError(
            415,
            `Unsupported content type ${type}; use application/fhir+json`,
            "not-supported",
          );
        }
        body = parseJson(raw);
      }
    }

    const prefer = firstHeader(req.headers.prefer) ?? "";
    const config: SandboxRequestConfig = {
      baseUrl,
      strict: /handling=strict/.test(prefer),
      transactions: false,
    };
    const fhirReq: FhirRequest = {
      method: method as HttpMethod,
      url: rel,
      pathname: route.path,
      params: route.params,
      query: search ? queryFromString(search) : {},
      body,
      headers: req.headers,
      config,
    };

    let response: FhirResponse;
    let failureStatus: number | undefined;
    try {
      response = await lock.run(() => route.handler(fhirReq, repo, router));
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      response = [err.outcome];
      if (err instanceof TransactionFailure) failureStatus = err.status;
    }
    const [result, resource] = response;
    const status = failureStatus ?? statusOf(result);
    if (status >= 400 || !isOk(result)) {
      finish(req, res, fault, status, result, {});
      return;
    }

    const headers: Record<string, string> = {};
    const versionId = resource?.meta?.versionId;
    const isResource = resource && resource.resourceType !== "Bundle" && resource.id && versionId;
    if (isResource) {
      headers.ETag = `W/"${versionId}"`;
      if (resource.meta?.lastUpdated)
        headers["Last-Modified"] = new Date(resource.meta.lastUpdated).toUTCString();
      const location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${versionId}`;
      if (status === 201) headers.Location = location;
      else if (WRITE_METHODS.has(method)) headers["Content-Location"] = location;
    }
    if (method === "DELETE" && !resource) {
      finish(req, res, fault, 204, undefined, headers);
      return;
    }
    if (method === "GET" && isResource && notModified(req, resource)) {
      finish(req, res, fault, 304, undefined, headers);
      return;
    }
    if (WRITE_METHODS.has(method) && isResource) {
      const wanted = preferredReturn(prefer);
      if (wanted === "minimal") {
        finish(req, res, fault, status, undefined, headers);
        return;
      }
      if (wanted === "OperationOutcome") {
        finish(req, res, fault, status, WRITTEN, headers);
        return;
      }
    }
    finish(req, res, fault, status, resource, headers);
  }

  /** Sends the answer, unless an `after` fault replaces it. */
  function finish(
    req: IncomingMessage,
    res: ServerResponse,
    fault: FaultSpec | undefined,
    status: number,
    body: unknown,
    headers: Record<string, string>,
  ): void {
    if (fault?.after && faultRespond(fault, req, res)) return;
    send(res, status, body, headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const search = q < 0 ? "" : raw.slice(q + 1);
    if (path.startsWith("/$sandbox/")) {
      await handleControl(req, res, path);
      return;
    }
    stats.requests++;
    try {
      if (path === TOKEN_PATH) {
        await handleToken(req, res);
      } else if (
        path === "/.well-known/smart-configuration" ||
        path === `${FHIR_BASE_PATH}/.well-known/smart-configuration`
      ) {
        if (req.method !== "GET") throw new HttpError(405, "GET only", "not-supported");
        send(
          res,
          200,
          smartConfiguration(`${originOf(req)}${TOKEN_PATH}`),
          { "Cache-Control": "no-store" },
          JSON_TYPE,
        );
      } else if (path === FHIR_BASE_PATH || path.startsWith(`${FHIR_BASE_PATH}/`)) {
        await handleFhir(req, res, path, search);
      } else {
        throw new HttpError(404, `Nothing at ${path}; the FHIR base is ${FHIR_BASE_PATH}`, "not-found");
      }
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, outcome(err.code, err.message));
        return;
      }
      throw err;
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (req.socket.destroyed) return;
      console.error("fhir sandbox: internal error", err);
      send(res, 500, outcome("exception", `Internal error: ${(err as Error)?.message ?? String(err)}`));
    });
  });
  server.on("connection", () => {
    stats.connections++;
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  listenPort = (server.address() as AddressInfo).port;

  const sandbox: FhirSandbox = {
    url: `${defaultOrigin()}${FHIR_BASE_PATH}`,
    tokenUrl: `${defaultOrigin()}${TOKEN_PATH}`,
    port: listenPort,
    repository: repo,
    validators,
    faults: {
      next: (count, fault) => faults.next(count, fault),
      clear: () => {
        faults.clear();
        outageUntil = 0;
      },
      outage: (ms) => {
        outageUntil = Date.now() + ms;
      },
    },
    registerClient: (client) => tokens.register(client),
    stats: () => ({ ...stats, tokensIssued: tokens.issued }),
    reset: () => lock.run(async () => repo.clear()),
    expireTokens: () => tokens.expireAll(),
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) {
          resolve();
          return;
        }
        closed = true;
        for (const sleeper of sleepers) {
          clearTimeout(sleeper.timer);
          sleeper.wake();
        }
        sleepers.clear();
        server.close(() => {
          validators.close().then(() => resolve(), resolve);
        });
        server.closeAllConnections();
      }),
  };
  return sandbox;
}

function checkOptions(options: FhirSandboxOptions): void {
  const positive = (name: string, value: number | undefined, integer: boolean): void => {
    if (value === undefined) return;
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      throw new TypeError(`${name} must be a positive ${integer ? "integer" : "number"}`);
    }
  };
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535)
  ) {
    throw new TypeError("port must be an integer from 0 to 65535");
  }
  positive("tokenLifetimeSeconds", options.tokenLifetimeSeconds, false);
  positive("defaultCount", options.defaultCount, true);
  positive("maxCount", options.maxCount, true);
  positive("maxBodyBytes", options.maxBodyBytes, true);
}

function notModified(req: IncomingMessage, resource: Resource): boolean {
  const ifNoneMatch = firstHeader(req.headers["if-none-match"]);
  if (ifNoneMatch !== undefined) {
    const tag = `W/"${resource.meta?.versionId}"`;
    return ifNoneMatch
      .split(",")
      .map((s) => s.trim())
      .some((candidate) => candidate === "*" || candidate === tag || `W/${candidate}` === tag);
  }
  const ifModifiedSince = firstHeader(req.headers["if-modified-since"]);
  if (ifModifiedSince !== undefined && resource.meta?.lastUpdated) {
    const since = Date.parse(ifModifiedSince);
    const modified = Math.floor(Date.parse(resource.meta.lastUpdated) / 1000) * 1000;
    return !Number.isNaN(since) && modified <= since;
  }
  return false;
}
