import { Agent, request } from "undici";
import type { Dispatcher } from "undici";
import { CODES, legacyHttpCode } from "../error-codes";
import { PackError } from "../errors";
import { readCapped } from "../http/body";
import { isIdempotentMethod, isRetryableStatus, parseRetryAfter, retryDelay, sleep } from "../http/retry";
import type { BackoffPolicy } from "../http/retry";
import type { PmsHeaderNames, SignatureEncoding } from "./pms-hmac";
import { PMS_DEFAULT_HEADERS, signPmsRequest } from "./pms-hmac";

export type LegacyScheme = "pms-hmac";

export interface LegacyCredentials {
  apiKey?: string;
  apiSecret?: string;
}

export interface LegacyApiConfig {
  baseUrl: string;
  scheme?: LegacyScheme;
  headerNames?: Partial<PmsHeaderNames>;
  encoding?: SignatureEncoding;
  /** Per attempt, in ms (default 30000). */
  timeout?: number;
  /** Retries after the first attempt, for idempotent methods only (default 3). */
  retries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Largest response body read, bytes (default 64 MiB): a larger one is LEGACY_RESPONSE_TOO_LARGE. */
  maxResponseBytes?: number;
  credentials: LegacyCredentials;
}

export type QueryValue = string | number | boolean | null | undefined | Array<string | number | boolean>;

export interface LegacyRequest {
  method: string;
  /** Relative to the base URL's path; may carry a query string of its own. */
  path: string;
  query?: Record<string, QueryValue>;
  /** Serialized once: a Buffer or string is sent as is, anything else as JSON. */
  body?: unknown;
  /** Extra headers; they never replace the signature headers. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface LegacyRequestInfo {
  method: string;
  url: string;
  attempts: number;
}

export interface LegacyResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body is JSON, the text otherwise, null when empty. */
  body: unknown;
  durationMs: number;
  request: LegacyRequestInfo;
}

export interface RetryNotice {
  /** The retry about to happen, from 1. */
  retry: number;
  delayMs: number;
  /** HTTP status or error code that caused it. */
  cause: string;
}

export interface OutcomeNotice {
  success: boolean;
  durationMs: number;
  error?: string;
}

export interface ClientHooks {
  onRetry?(notice: RetryNotice): void;
  /** One call per logical request (after its retries). */
  onOutcome?(notice: OutcomeNotice): void;
}

export interface PagingOptions {
  pageParam?: string;
  pageSizeParam?: string;
  pageSize?: number;
  firstPage?: number;
  /** Property of an object response that holds the page's items (an array response is the items). */
  itemsProperty?: string;
  maxPages?: number;
}

export interface PagedResult {
  items: unknown[];
  pages: number;
  durationMs: number;
  /** The last page's response. */
  last: LegacyResponse;
}

const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Set by the transport; a value copied from elsewhere (e.g. an earlier response's headers) would break the request. */
const TRANSPORT_HEADERS = [
  "content-length",
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "proxy-connection",
];
const DEFAULT_RETRIES = 3;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

export function validateConfig(config: LegacyApiConfig): void {
  let url: URL;
  try {
    url = new URL(config.baseUrl);
  } catch {
    throw new PackError(CODES.LEGACY_CONFIG, "legacy API base URL is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PackError(CODES.LEGACY_CONFIG, "legacy API base URL must be http or https");
  }
  if ((config.scheme ?? "pms-hmac") !== "pms-hmac") {
    throw new PackError(CODES.LEGACY_CONFIG, `unsupported signature scheme ${String(config.scheme)}`);
  }
  if (!config.credentials.apiKey || !config.credentials.apiSecret) {
    throw new PackError(CODES.LEGACY_CONFIG, "legacy API key and secret are required");
  }
}

/** The bytes that are both signed and sent, and the content type they imply. */
export function serializeBody(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body), "utf8");
}

export function buildUrl(baseUrl: string, path: string, query?: Record<string, QueryValue>): URL {
  const relative = path.startsWith("/") ? path : `/${path}`;
  const url = new URL(trimSlash(baseUrl) + relative);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
  }
  return url;
}

function parseBody(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A client for one legacy PMS API signed with `pms-hmac`: signing, timeouts, retries, paging. */
export class LegacyClient {
  private readonly agent: Agent;
  private readonly headerNames: PmsHeaderNames;
  private readonly reserved: Set<string>;
  private readonly closing = new AbortController();

  constructor(
    readonly config: LegacyApiConfig,
    private readonly random: () => number = Math.random,
  ) {
    validateConfig(config);
    this.headerNames = { ...PMS_DEFAULT_HEADERS, ...config.headerNames };
    this.reserved = new Set(
      [
        this.headerNames.apiKey,
        this.headerNames.timestamp,
        this.headerNames.signature,
        ...TRANSPORT_HEADERS,
      ].map((h) => h.toLowerCase()),
    );
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });
  }

  private get policy(): BackoffPolicy {
    return { baseMs: this.config.retryBaseMs ?? 250, maxMs: this.config.retryMaxMs ?? 30_000 };
  }

  /** One signed request, retried when it is idempotent and the failure is transient. */
  async request(req: LegacyRequest, hooks: ClientHooks = {}): Promise<LegacyResponse> {
    const started = performance.now();
    try {
      const response = await this.send(req, hooks, started);
      hooks.onOutcome?.({ success: true, durationMs: response.durationMs });
      return response;
    } catch (err) {
      hooks.onOutcome?.({
        success: false,
        durationMs: performance.now() - started,
        error: errorCode(err) ?? CODES.LEGACY_ERROR,
      });
      throw err;
    }
  }

  private async send(req: LegacyRequest, hooks: ClientHooks, started: number): Promise<LegacyResponse> {
    const method = req.method.toUpperCase();
    const url = buildUrl(this.config.baseUrl, req.path, req.query);
    const body = ["GET", "HEAD"].includes(method) ? undefined : serializeBody(req.body);
    const pathWithQuery = url.pathname + url.search;
    const retries = isIdempotentMethod(method) ? Math.max(0, this.config.retries ?? DEFAULT_RETRIES) : 0;
    const info: LegacyRequestInfo = { method, url: url.href, attempts: 0 };
    const signal = req.signal ? AbortSignal.any([req.signal, this.closing.signal]) : this.closing.signal;

    for (let attempt = 0; ; attempt++) {
      info.attempts = attempt + 1;
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      let failure: PackError;
      try {
        const response = await this.attempt(method, url, pathWithQuery, body, req.headers, signal);
        status = response.status;
        if (status < 400) return { ...response, durationMs: performance.now() - started, request: info };
        retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
        failure = new PackError(legacyHttpCode(status), `legacy API answered HTTP ${status} to ${method}`, {
          status,
          body: response.body,
          request: info,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      } catch (err) {
        if (signal.aborted && !(err instanceof PackError && err.code === CODES.LEGACY_TIMEOUT)) {
          throw new PackError(
            CODES.LEGACY_ABORTED,
            "legacy API request aborted",
            { request: info },
            { cause: err },
          );
        }
        failure =
          err instanceof PackError
            ? err
            : new PackError(
                CODES.LEGACY_NETWORK,
                `legacy API unreachable (${errorCode(err) ?? "network error"})`,
                {
                  request: info,
                },
              );
      }
      const retryable =
        failure.code !== CODES.LEGACY_RESPONSE_TOO_LARGE &&
        (status === undefined || isRetryableStatus(status));
      const delayMs =
        retryable && attempt < retries
          ? retryDelay(attempt + 1, retryAfterMs, this.policy, this.random)
          : undefined;
      if (delayMs === undefined) throw failure;
      hooks.onRetry?.({
        retry: attempt + 1,
        delayMs,
        cause: status === undefined ? failure.code : String(status),
      });
      try {
        await sleep(delayMs, signal);
      } catch (err) {
        throw new PackError(
          CODES.LEGACY_ABORTED,
          "legacy API request aborted",
          { request: info },
          { cause: err },
        );
      }
    }
  }

  private async attempt(
    method: string,
    url: URL,
    pathWithQuery: string,
    body: Buffer | undefined,
    extra: Record<string, string> | undefined,
    signal: AbortSignal,
  ): Promise<Omit<LegacyResponse, "durationMs" | "request">> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    for (const [name, value] of Object.entries(extra ?? {})) {
      if (this.reserved.has(name.toLowerCase())) continue;
      for (const existing of Object.keys(headers))
        if (existing === name.toLowerCase()) delete headers[existing];
      headers[name] = String(value);
    }
    // Signed per attempt, so that a retry carries a fresh timestamp.
    Object.assign(
      headers,
      signPmsRequest({
        apiKey: this.config.credentials.apiKey,
        apiSecret: this.config.credentials.apiSecret as string,
        method,
        pathWithQuery,
        body,
        encoding: this.config.encoding,
        headerNames: this.headerNames,
      }),
    );
    const timeout = AbortSignal.timeout(this.config.timeout ?? DEFAULT_TIMEOUT);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal: AbortSignal.any([signal, timeout]),
        dispatcher: this.agent,
      });
    } catch (err) {
      if (timeout.aborted && !signal.aborted) {
        throw new PackError(
          CODES.LEGACY_TIMEOUT,
          `legacy API did not answer within ${this.config.timeout ?? DEFAULT_TIMEOUT} ms`,
        );
      }
      throw err;
    }
    let text: string | undefined;
    const max = this.config.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    try {
      text = await readCapped(res, max);
    } catch (err) {
      if (timeout.aborted && !signal.aborted) {
        throw new PackError(
          CODES.LEGACY_TIMEOUT,
          `legacy API did not answer within ${this.config.timeout ?? DEFAULT_TIMEOUT} ms`,
        );
      }
      throw err;
    }
    if (text === undefined) {
      // Not retried: the same request would get the same answer.
      throw new PackError(
        CODES.LEGACY_RESPONSE_TOO_LARGE,
        `legacy API answer to ${method} is larger than ${max} bytes (maxResponseBytes): not read`,
        { maxResponseBytes: max, status: res.statusCode },
      );
    }
    return { status: res.statusCode, headers: res.headers, body: parseBody(text) };
  }

  /**
   * Follows page / pageSize parameters from the first page until a page comes back empty or
   * short, and returns every item. Any failing page fails the whole call (no partial result).
   */
  async paginate(
    req: LegacyRequest,
    paging: PagingOptions = {},
    hooks: ClientHooks = {},
  ): Promise<PagedResult> {
    const pageParam = paging.pageParam || "page";
    const sizeParam = paging.pageSizeParam || "pageSize";
    const pageSize = paging.pageSize ?? 100;
    const first = paging.firstPage ?? 1;
    const maxPages = paging.maxPages ?? 1000;
    const itemsProperty = paging.itemsProperty ?? "items";
    if (!Number.isInteger(pageSize) || pageSize < 1)
      throw new PackError(CODES.LEGACY_CONFIG, "page size must be >= 1");
    const started = performance.now();
    const items: unknown[] = [];
    for (let n = 0; ; n++) {
      if (n >= maxPages) {
        throw new PackError(
          CODES.LEGACY_PAGING,
          `more than ${maxPages} pages; is the API ignoring "${pageParam}"?`,
        );
      }
      const response = await this.request(
        { ...req, query: { ...req.query, [pageParam]: first + n, [sizeParam]: pageSize } },
        hooks,
      );
      const body = response.body as Record<string, unknown> | unknown[] | null;
      const page = Array.isArray(body)
        ? body
        : body && typeof body === "object"
          ? body[itemsProperty]
          : undefined;
      if (!Array.isArray(page)) {
        throw new PackError(CODES.LEGACY_PAGING, `page ${first + n} has no "${itemsProperty}" array`, {
          status: response.status,
          request: response.request,
        });
      }
      items.push(...page);
      if (page.length < pageSize) {
        return { items, pages: n + 1, durationMs: performance.now() - started, last: response };
      }
    }
  }

  /** Aborts requests in flight and closes pooled connections. */
  async close(): Promise<void> {
    this.closing.abort(new PackError(CODES.LEGACY_ABORTED, "legacy API client closed"));
    await this.agent.destroy();
  }
}
