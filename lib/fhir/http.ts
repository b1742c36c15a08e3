import { STATUS_CODES } from "node:http";
import { Agent, Pool, type Dispatcher } from "undici";
import { CODES } from "../error-codes";
import { readCapped } from "../http/body";
import { FhirError } from "./errors";
import type { TlsOptions } from "./types";

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function connectOptions(tls: TlsOptions | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!tls) return out;
  for (const key of ["ca", "cert", "key", "passphrase", "servername"] as const) {
    const v = tls[key];
    if (v !== undefined && v !== null && v !== "") out[key] = v;
  }
  if (typeof tls.rejectUnauthorized === "boolean") out.rejectUnauthorized = tls.rejectUnauthorized;
  return out;
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/**
 * Keep-alive HTTP over undici. With `origin` set it is one Pool for that origin with at most
 * `connections` sockets (the FHIR server); without, an Agent for any origin (token endpoints).
 */
export class Transport {
  private readonly dispatcher: Dispatcher & { close(): Promise<void>; destroy(err?: Error): Promise<void> };
  private opened = 0;
  private open = 0;
  private peak = 0;
  private closing = false;
  private readonly maxResponseBytes: number;

  constructor(options: {
    origin?: string;
    connections: number;
    tls?: TlsOptions;
    timeoutMs: number;
    /** Largest response body read; a larger one is FHIR_RESPONSE_TOO_LARGE (default: no limit). */
    maxResponseBytes?: number;
  }) {
    this.maxResponseBytes = options.maxResponseBytes ?? Number.POSITIVE_INFINITY;
    const common = {
      connections: options.connections,
      connect: { ...connectOptions(options.tls), timeout: options.timeoutMs },
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
    };
    this.dispatcher = options.origin ? new Pool(options.origin, common) : new Agent(common);
    this.dispatcher.on("connect", () => {
      this.opened++;
      this.open++;
      if (this.open > this.peak) this.peak = this.open;
    });
    this.dispatcher.on("disconnect", () => {
      this.open = Math.max(0, this.open - 1);
    });
  }

  /** Sockets opened since the start (a socket closed when idle and opened again counts twice). */
  get connectionsOpened(): number {
    return this.opened;
  }

  get connectionsOpen(): number {
    return this.open;
  }

  /** Most sockets open at one time. */
  get connectionsPeak(): number {
    return this.peak;
  }

  /** Throws FhirError FHIR_TIMEOUT, FHIR_ABORTED, FHIR_CLOSED or FHIR_NETWORK; HTTP errors are responses. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    if (this.closing) throw new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed");
    if (req.signal?.aborted) throw new FhirError(CODES.FHIR_ABORTED, "the FHIR interaction was aborted");
    const url = new URL(req.url);
    try {
      // undici's own timers bound the wait for headers and each pause in the body: cheaper than
      // an AbortController and a timer per request, and a stalled server cannot hold a slot longer.
      const res = await this.dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      const text = await this.readBody(res, req.method);
      return {
        status: res.statusCode,
        statusText: STATUS_CODES[res.statusCode] ?? "",
        headers: res.headers,
        text,
      };
    } catch (err) {
      if (err instanceof FhirError) throw err;
      if (TIMEOUT_CODES.has((err as { code?: string })?.code ?? "")) {
        throw new FhirError(CODES.FHIR_TIMEOUT, `no complete answer within ${req.timeoutMs} ms`, undefined, {
          cause: err,
        });
      }
      if (req.signal?.aborted) {
        throw new FhirError(CODES.FHIR_ABORTED, "the FHIR interaction was aborted", undefined, {
          cause: err,
        });
      }
      if (this.closing)
        throw new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed", undefined, { cause: err });
      throw new FhirError(CODES.FHIR_NETWORK, `network error: ${networkReason(err)}`, undefined, {
        cause: err,
      });
    }
  }

  /** The body as text, read no further than maxResponseBytes (its declared length is checked first). */
  private async readBody(res: Dispatcher.ResponseData, method: string): Promise<string> {
    const text = await readCapped(res, this.maxResponseBytes);
    if (text !== undefined) return text;
    const max = this.maxResponseBytes;
    throw new FhirError(
      CODES.FHIR_RESPONSE_TOO_LARGE,
      `the ${method} response body is larger than ${max} bytes (the server's maxResponseBytes): not read`,
      { maxResponseBytes: max, status: res.statusCode },
    );
  }

  /** Lets requests in flight finish for up to `graceMs`, then cuts their sockets. */
  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const graceful = this.dispatcher.close().then(() => true);
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const done = await Promise.race([graceful, expired]);
    clearTimeout(timer);
    if (!done) await this.dispatcher.destroy(new Error("FHIR client closed")).catch(() => undefined);
  }
}

/** A short reason from an undici/socket error: its code and message, never request data. */
function networkReason(err: unknown): string {
  const e = err as {
    code?: unknown;
    message?: unknown;
    cause?: { code?: unknown; message?: unknown };
  } | null;
  const inner = e?.cause && typeof e.cause === "object" ? e.cause : undefined;
  const code =
    typeof inner?.code === "string" ? inner.code : typeof e?.code === "string" ? e.code : undefined;
  const message =
    typeof inner?.message === "string" && inner.message !== ""
      ? inner.message
      : typeof e?.message === "string"
        ? e.message
        : String(err);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}
