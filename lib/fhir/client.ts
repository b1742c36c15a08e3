import { performance } from "node:perf_hooks";
import { CODES, fhirHttpCode, isFhirHttpCode } from "../error-codes";
import { Authenticator, type Credential } from "./auth";
import { planUpserts, runUpserts, type UpsertPlan, type UpsertProgress } from "./bulk";
import { summarizeCapabilities } from "./capabilities";
import { MAX_AUTH_RESPONSE_BYTES, resolveSettings, type Settings } from "./config";
import { FhirError, outcomeFor, outcomeSummary } from "./errors";
import { Transport, type HttpResponse } from "./http";
import { abortError, Limiter } from "./limiter";
import { nextLink, PageMerger } from "./paging";
import { describeRequest, planInteraction, resolveUrl, type PlannedRequest } from "./request";
import { parseBody, responseFacts } from "./response";
import { isRetryableStatus, parseRetryAfter, retryDelay } from "../http/retry";
import { KeyedSerializer } from "./serialize";
import type {
  CapabilitySummary,
  ClientStats,
  FhirMeta,
  FhirServerConfig,
  InteractionHooks,
  InteractionInput,
  InteractionResult,
  UpsertManyInput,
  UpsertManyResult,
} from "./types";

interface Exchange {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  retrySafe: boolean;
}

interface Answer {
  res: HttpResponse;
  body: unknown;
  attempts: number;
}

/** Upper bound on the wait for requests in flight when the client closes (Node-RED allows 15 s). */
const CLOSE_GRACE_MS = 10_000;

/** `promise`, or FHIR_ABORTED as soon as `signal` fires (the shared work behind it goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

/**
 * A FHIR R4 REST client for one server: a keep-alive pool of at most `maxConcurrent`
 * connections, a FIFO limit on requests in flight, auth with a shared token, retries where a
 * repeat cannot write twice, and writes serialised per business key.
 */
export class FhirClient {
  private readonly settings: Settings;
  private readonly transport: Transport;
  private authTransport: Transport | undefined;
  private readonly limiter: Limiter;
  private readonly writes = new KeyedSerializer();
  private readonly auth: Authenticator;
  private readonly lifetime = new AbortController();
  private closed = false;
  private closing: Promise<void> | undefined;
  private requestCount = 0;
  private retryCount = 0;
  private readonly random: () => number;

  /** Throws FhirError FHIR_CONFIG for an unusable configuration (see validateConfig). */
  constructor(
    private readonly config: FhirServerConfig,
    options: { random?: () => number } = {},
  ) {
    this.settings = resolveSettings(config);
    this.random = options.random ?? Math.random;
    this.transport = new Transport({
      origin: this.settings.base.origin,
      connections: this.settings.maxConcurrent,
      tls: config.tls,
      timeoutMs: this.settings.timeout,
      maxResponseBytes: this.settings.maxResponseBytes,
    });
    this.limiter = new Limiter(this.settings.maxConcurrent);
    this.auth = new Authenticator({
      config,
      base: this.settings.base,
      timeoutMs: this.settings.timeout,
      retries: this.settings.retries,
      retryBaseMs: this.settings.retryBaseMs,
      retryMaxMs: this.settings.retryMaxMs,
      tokenRenewSkewSeconds: this.settings.tokenRenewSkewSeconds,
      send: (req) => this.authSend(req),
      sleep: (ms) => this.sleep(ms),
      random: this.random,
    });
  }

  /** The normalised service base URL (no trailing slash). */
  get baseUrl(): string {
    return resolveUrl(this.settings.base, "");
  }

  /** Validates `input`, then performs it: FhirError (with `meta`) on any failure. */
  async interaction(input: InteractionInput, hooks: InteractionHooks = {}): Promise<InteractionResult> {
    const start = performance.now();
    let planned: PlannedRequest;
    try {
      planned = planInteraction(input);
    } catch (err) {
      throw this.withMeta(err, { status: 0, durationMs: 0, request: { method: "", url: "" }, attempts: 0 });
    }
    const exchange: Exchange = {
      method: planned.method,
      url: resolveUrl(this.settings.base, planned.path),
      headers: planned.headers,
      body: planned.body,
      retrySafe: planned.retrySafe,
    };
    if (this.closed) {
      throw this.withMeta(new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed"), {
        status: 0,
        durationMs: 0,
        request: { method: exchange.method, url: exchange.url },
        attempts: 0,
      });
    }
    return this.writes.run(planned.writeKey, async () => {
      if (input.operation === "search-all") return this.searchAll(exchange, planned.maxPages!, hooks, start);
      const answer = await this.send(exchange, hooks, start);
      const meta = this.successMeta(answer, exchange, start);
      if (input.operation === "capabilities") {
        const smart = await this.auth.smartConfiguration().catch(() => undefined);
        return { body: this.summarize(answer.body, smart, meta), meta };
      }
      return { body: answer.body, meta };
    });
  }

  /**
   * Conditional upserts of one resource or many, as batch or transaction Bundles of
   * `bundleSize` (see lib/fhir/bulk.ts). Every resource is checked before anything is sent
   * (FHIR_BAD_INPUT). A Bundle of conditional upserts and searches is safe to send again, so it
   * is retried like a read. FhirError (with `meta` holding the results so far) on a failure that
   * is not one record's own.
   */
  async upsertMany(input: UpsertManyInput, hooks: InteractionHooks = {}): Promise<UpsertManyResult> {
    const start = performance.now();
    const url = resolveUrl(this.settings.base, "");
    const progress: UpsertProgress = { written: [], refused: [], bundles: 0 };
    let status = 0;
    let attempts = 0;
    const meta = (): FhirMeta => ({
      status,
      durationMs: elapsed(start),
      request: { method: "POST", url },
      attempts,
      bundles: progress.bundles,
      written: progress.written,
      refused: progress.refused,
    });
    let plan: UpsertPlan;
    try {
      plan = planUpserts(input);
    } catch (err) {
      throw this.withMeta(err, meta());
    }
    if (this.closed)
      throw this.withMeta(new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed"), meta());
    const post = { Accept: "application/fhir+json", "Content-Type": "application/fhir+json" };
    const write = { ...post, Prefer: `return=${plan.prefer}` };
    try {
      await runUpserts(
        plan,
        async (bundle, writes) => {
          const exchange: Exchange = {
            method: "POST",
            url,
            headers: writes ? write : post,
            body: JSON.stringify(bundle),
            retrySafe: true,
          };
          const answer = await this.send(exchange, hooks, start);
          status = answer.res.status;
          attempts += answer.attempts;
          return { body: answer.body };
        },
        progress,
      );
    } catch (err) {
      const failed = (err as { meta?: FhirMeta }).meta;
      if (failed) {
        status = failed.status;
        attempts += failed.attempts ?? 0;
      }
      const m = meta();
      if (failed?.outcome !== undefined) m.outcome = failed.outcome;
      if (failed?.retryAfterMs !== undefined) m.retryAfterMs = failed.retryAfterMs;
      // The error of this call, not the one send() gave its own meta.
      const own =
        err instanceof FhirError
          ? new FhirError(err.code, err.message, err.details, { cause: err.cause })
          : err;
      if (own instanceof FhirError && err instanceof Error && err.stack) own.stack = err.stack;
      throw this.withMeta(own, m);
    }
    return {
      written: progress.written,
      refused: progress.refused,
      references: plan.references,
      meta: meta(),
    };
  }

  /** GET metadata (and smart-configuration when the server has one), summarised. */
  async capabilities(): Promise<CapabilitySummary> {
    const result = await this.interaction({ operation: "capabilities" });
    return result.body as CapabilitySummary;
  }

  stats(): ClientStats {
    return {
      connectionsOpened: this.transport.connectionsOpened,
      connectionsOpen: this.transport.connectionsOpen,
      connectionsPeak: this.transport.connectionsPeak,
      inFlight: this.limiter.inFlight,
      queued: this.limiter.queued,
      tokenFetches: this.auth.tokens?.fetches ?? 0,
      requests: this.requestCount,
      retries: this.retryCount,
    };
  }

  /**
   * Rejects queued interactions and backoff waits with FHIR_CLOSED, lets requests in flight
   * finish (up to min(timeout, 10 s)), then closes every socket.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      const err = new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed");
      this.limiter.close(err);
      this.lifetime.abort(err);
      this.auth.tokens?.clear();
      const grace = Math.min(this.settings.timeout, CLOSE_GRACE_MS);
      this.closing = Promise.all([
        this.transport.close(grace),
        this.authTransport?.close(grace) ?? Promise.resolve(),
      ]).then(() => undefined);
    }
    return this.closing;
  }

  private summarize(statement: unknown, smart: unknown, meta: FhirMeta): CapabilitySummary {
    try {
      return summarizeCapabilities(statement, smart);
    } catch (err) {
      throw this.withMeta(err, meta);
    }
  }

  private async searchAll(
    first: Exchange,
    maxPages: number,
    hooks: InteractionHooks,
    start: number,
  ): Promise<InteractionResult> {
    const merger = new PageMerger();
    const fetched = new Set<string>();
    let exchange = first;
    let attempts = 0;
    let truncated = false;
    let answer: Answer;
    for (;;) {
      fetched.add(exchange.url);
      answer = await this.send(exchange, hooks, start, { pages: merger.pages, attemptsBefore: attempts });
      attempts += answer.attempts;
      const body = answer.body as { resourceType?: unknown } | undefined;
      if (body?.resourceType !== "Bundle") {
        throw this.withMeta(new FhirError(CODES.FHIR_BAD_RESPONSE, "a search page is not a Bundle"), {
          ...this.baseMeta(answer.res.status, first, start, attempts),
          pages: merger.pages + 1,
        });
      }
      merger.add(body);
      const next = nextLink(body);
      if (!next) break;
      const url = this.followable(next, first, start, attempts, merger.pages);
      if (fetched.has(url)) break;
      if (merger.pages >= maxPages) {
        truncated = true;
        break;
      }
      exchange = {
        method: "GET",
        url,
        headers: { Accept: first.headers.Accept ?? "application/fhir+json" },
        retrySafe: true,
      };
    }
    const meta: FhirMeta = {
      ...this.baseMeta(answer.res.status, first, start, attempts),
      pages: merger.pages,
    };
    if (truncated) meta.truncated = true;
    return { body: merger.bundle(first.url), meta };
  }

  /** A next link resolved against the base; only links to the FHIR server's own origin get our credentials. */
  private followable(link: string, first: Exchange, start: number, attempts: number, pages: number): string {
    let url: URL;
    try {
      url = new URL(link, `${this.baseUrl}/`);
    } catch {
      url = new URL("invalid:");
    }
    if (url.origin !== this.settings.base.origin) {
      throw this.withMeta(
        new FhirError(
          CODES.FHIR_PAGING,
          "the server's next link points to another origin; it is not followed, so credentials stay with the FHIR server",
        ),
        { ...this.baseMeta(200, first, start, attempts), pages },
      );
    }
    return url.href;
  }

  /** One request with auth, the limiter, retries and the 401 token renewal; FhirError with meta on failure. */
  private async send(
    ex: Exchange,
    hooks: InteractionHooks,
    start: number,
    paging?: { pages: number; attemptsBefore: number },
  ): Promise<Answer> {
    const { retries, timeout } = this.settings;
    const signal = hooks.signal;
    let attempts = 0;
    let renewed = false;
    const fail = (err: unknown, status: number, extra: Partial<FhirMeta> = {}) =>
      this.withMeta(err, {
        ...this.baseMeta(status, ex, start, attempts + (paging?.attemptsBefore ?? 0)),
        ...(paging ? { pages: paging.pages } : {}),
        ...extra,
      });

    for (;;) {
      let credential: Credential;
      try {
        credential = await untilAborted(this.auth.credential(), signal);
      } catch (err) {
        throw fail(err, 0);
      }
      const headers = credential.authorization
        ? { ...ex.headers, Authorization: credential.authorization }
        : ex.headers;

      let release: () => void;
      try {
        release = await this.limiter.acquire(signal);
      } catch (err) {
        throw fail(err, 0);
      }
      let res: HttpResponse | undefined;
      let failure: unknown;
      attempts++;
      this.requestCount++;
      try {
        res = await this.transport.send({
          method: ex.method,
          url: ex.url,
          headers,
          body: ex.body,
          timeoutMs: timeout,
          signal,
        });
      } catch (err) {
        failure = err;
      } finally {
        release();
      }

      if (!res) {
        const code = (failure as { code?: string }).code;
        const transient = code === CODES.FHIR_NETWORK || code === CODES.FHIR_TIMEOUT;
        if (transient && ex.retrySafe && attempts <= retries) {
          await this.backoff(
            attempts,
            undefined,
            code === CODES.FHIR_TIMEOUT ? "timeout" : "network",
            hooks,
            fail,
          );
          continue;
        }
        throw fail(failure, 0);
      }

      if (res.status === 401 && credential.token && !renewed) {
        renewed = true;
        this.auth.invalidate(credential.token);
        hooks.onRetry?.({ attempt: attempts, delayMs: 0, reason: "401" });
        continue;
      }
      if (isRetryableStatus(res.status) && ex.retrySafe && attempts <= retries) {
        const after = parseRetryAfter(res.headers["retry-after"]);
        await this.backoff(attempts, after, String(res.status), hooks, fail);
        continue;
      }

      let body: unknown;
      try {
        body = parseBody(res);
      } catch (err) {
        throw fail(err, res.status);
      }
      if (res.status >= 400) {
        const outcome = outcomeFor(res.status, res.statusText, body);
        const codes = outcomeSummary(outcome);
        const err = new FhirError(
          fhirHttpCode(res.status),
          `${describeRequest(ex.method, ex.url, this.settings.base)} answered HTTP ${res.status}${codes ? ` (${codes})` : ""}`,
          outcome,
        );
        const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
        throw fail(err, res.status, {
          outcome,
          ...responseFacts(res, undefined),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      return { res, body, attempts };
    }
  }

  private async backoff(
    attempt: number,
    retryAfterMs: number | undefined,
    reason: string,
    hooks: InteractionHooks,
    fail: (err: unknown, status: number) => FhirError,
  ): Promise<void> {
    const { retryBaseMs, retryMaxMs } = this.settings;
    const policy = { baseMs: retryBaseMs, maxMs: retryMaxMs, longRetryAfter: "wait-cap" } as const;
    const delayMs = retryDelay(attempt, retryAfterMs, policy, this.random);
    this.retryCount++;
    hooks.onRetry?.({ attempt, delayMs, reason });
    try {
      await this.sleep(delayMs, hooks.signal);
    } catch (err) {
      throw fail(err, 0);
    }
  }

  /** A timer that the client's close (FHIR_CLOSED) or the caller's signal (FHIR_ABORTED) cuts short. */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const life = this.lifetime.signal;
      if (life.aborted) return reject(new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed"));
      if (signal?.aborted) return reject(abortError(signal));
      const done = () => {
        life.removeEventListener("abort", onClose);
        signal?.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      const onClose = () => {
        clearTimeout(timer);
        done();
        reject(new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed"));
      };
      const onAbort = () => {
        clearTimeout(timer);
        done();
        reject(abortError(signal!));
      };
      life.addEventListener("abort", onClose, { once: true });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private authSend(req: Parameters<Transport["send"]>[0]): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed"));
    this.authTransport ??= new Transport({
      connections: 2,
      tls: this.config.tls,
      timeoutMs: this.settings.timeout,
      maxResponseBytes: Math.min(this.settings.maxResponseBytes, MAX_AUTH_RESPONSE_BYTES),
    });
    return this.authTransport.send({ ...req, signal: this.lifetime.signal }).catch((err: unknown) => {
      // The lifetime signal is what cut it short: report the close, not an abort by the caller.
      if (this.closed)
        throw new FhirError(CODES.FHIR_CLOSED, "the FHIR client is closed", undefined, { cause: err });
      throw err;
    });
  }

  private baseMeta(status: number, ex: Exchange, start: number, attempts: number): FhirMeta {
    return { status, durationMs: elapsed(start), request: { method: ex.method, url: ex.url }, attempts };
  }

  private successMeta(answer: Answer, ex: Exchange, start: number): FhirMeta {
    return {
      ...this.baseMeta(answer.res.status, ex, start, answer.attempts),
      ...responseFacts(answer.res, answer.body),
    };
  }

  /**
   * The error with this interaction's meta. One error object can reach several interactions (a
   * shared token fetch, the limiter closing): the first keeps it, the others get a copy.
   */
  private withMeta(err: unknown, meta: FhirMeta): FhirError {
    if (!(err instanceof FhirError)) {
      const wrapped = new FhirError(
        CODES.FHIR_ERROR,
        err instanceof Error ? err.message : String(err),
        undefined,
        {
          cause: err,
        },
      );
      wrapped.meta = meta;
      return wrapped;
    }
    if (err.details !== undefined && meta.outcome === undefined && isFhirHttpCode(err.code)) {
      meta.outcome = err.details;
    }
    if (!err.meta) {
      err.meta = meta;
      return err;
    }
    const copy = new FhirError(err.code, err.message, err.details, { cause: err.cause, meta });
    if (err.stack) copy.stack = err.stack;
    return copy;
  }
}
