import { randomUUID } from "node:crypto";
import { once, setMaxListeners } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import {
  PMS_APPOINTMENT_STATUSES,
  type PmsAppointment,
  type PmsAppointmentStatus,
  type PmsPatient,
} from "../../lib/mapping/records";
import { headersFromRaw, PMS_DEFAULT_HEADERS, verifyPmsRequest } from "../../lib/legacy/pms-hmac";
import { signWebhook, type WebhookScheme } from "../../lib/webhook/schemes";
import { generatePmsData, type PmsData } from "./data";

/**
 * The sandbox practice management system: a REST API that verifies `pms-hmac` on every call
 * (with the same lib/legacy code that hmac-request signs with), seeded data, and a webhook
 * emitter that signs in any of the four schemes (with lib/webhook, as webhook-verify checks).
 */

export const WEBHOOK_EVENTS = [
  "patient.created",
  "patient.updated",
  "appointment.scheduled",
  "appointment.completed",
  "appointment.cancelled",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookTarget {
  url: string;
  scheme: WebhookScheme;
  secret: string;
  /** Attempts per event, the first included (default 5). */
  maxAttempts?: number;
  /** Wait before the first retry, doubled each time (default 500 ms). */
  backoffMs?: number;
  /** The longest wait between two attempts (default: no limit). */
  maxBackoffMs?: number;
  /** Per attempt (default 10000 ms). */
  timeoutMs?: number;
}

export interface PmsSimulatorOptions {
  port?: number;
  host?: string;
  apiKey: string;
  apiSecret: string;
  seed?: number;
  patients?: number;
  appointments?: number;
  providers?: number;
  /** First updatedAt of the seeded data (see generatePmsData). */
  start?: string;
  webhook?: WebhookTarget;
  /** Accepted clock skew of signed requests, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The clock for updatedAt and event timestamps (default Date.now). */
  now?: () => number;
}

export interface Charge {
  id: string;
  patientId: string;
  appointmentId?: string;
  code: string;
  amount: number;
  currency: string;
  description?: string;
  postedAt: string;
}

/** What a webhook POST carries. */
export interface WebhookEvent {
  eventType: string;
  resourceType: "patient" | "appointment";
  resourceId: string;
  timestamp: string;
  data: unknown;
}

export interface DeliveryResult {
  /** The delivery id (webhook-id, X-GitHub-Delivery); the same on every attempt. */
  id: string;
  eventType: string;
  delivered: boolean;
  attempts: number;
  /** The last answer's status (none after a network error). */
  status?: number;
  error?: string;
}

export interface PmsStats {
  requests: number;
  /** Requests refused for a missing or wrong key, signature or timestamp. */
  unauthorized: number;
  byRoute: Record<string, number>;
  webhooks: { emitted: number; delivered: number; failed: number; attempts: number; pending: number };
}

export interface PmsSimulator {
  url: string;
  port: number;
  /** The live records: changes through the API and the helpers below show here. */
  data: PmsData;
  charges: Charge[];
  deliveries: DeliveryResult[];
  /** Signs and POSTs one event to the webhook target, retrying with backoff; resolves when done. */
  emit(eventType: string, record: PmsPatient | PmsAppointment): Promise<DeliveryResult | undefined>;
  createPatient(patient: Omit<PmsPatient, "updatedAt" | "id"> & { id?: string }): Promise<PmsPatient>;
  /** Applies the changes, bumps updatedAt, and emits patient.updated. */
  updatePatient(id: string, changes: Partial<Omit<PmsPatient, "id">>): Promise<PmsPatient>;
  /** Sets the status to completed, bumps updatedAt, and emits appointment.completed. */
  completeAppointment(id: string): Promise<PmsAppointment>;
  cancelAppointment(id: string): Promise<PmsAppointment>;
  /** Points the emitter elsewhere (or nowhere). */
  configureWebhook(target: WebhookTarget | undefined): void;
  /** Failures to answer instead of the API, for tests of what a pipeline does when the PMS fails. */
  faults: {
    /** The next `count` signed requests that match answer `status` (a Retry-After when given) and change nothing. */
    next(count: number, fault: PmsFault): void;
    clear(): void;
  };
  stats(): PmsStats;
  close(): Promise<void>;
}

/** An injected failure: which requests it hits and what they get. */
export interface PmsFault {
  status: number;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  /** e.g. "POST /charges" (the route's name in stats().byRoute); default: every route. */
  route?: string;
  /** Only requests whose body contains this text. */
  bodyIncludes?: string;
}

const MAX_BODY = 1_048_576;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Updated = { updatedAt: string; id: string };

/**
 * A list's records in paging order, (updatedAt, id), without those whose updatedAt does not
 * parse (no modifiedSince admits them). Sorting the list on every page request cost more than
 * the rest of the request: the view keeps the order and sorts again only when the list changed.
 * The records are the live objects, which PATCH, the helpers and tests change in place, so
 * `of` compares the list with what the view was built from (each record's identity, updatedAt
 * and id) on every call: a pass over the list, against a sort that parsed two dates per comparison.
 */
class SortedView<T extends Updated> {
  private source: readonly T[] | undefined;
  private seen: T[] = [];
  private stamps: string[] = [];
  private ids: string[] = [];
  private sorted: T[] = [];
  private times: number[] = [];

  /** The view of `records`, rebuilt when they differ from the last call's. */
  of(records: readonly T[]): { sorted: readonly T[]; times: readonly number[] } {
    if (!this.matches(records)) this.rebuild(records);
    return { sorted: this.sorted, times: this.times };
  }

  private matches(records: readonly T[]): boolean {
    if (records !== this.source || records.length !== this.seen.length) return false;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r !== this.seen[i] || r.updatedAt !== this.stamps[i] || r.id !== this.ids[i]) return false;
    }
    return true;
  }

  private rebuild(records: readonly T[]): void {
    this.source = records;
    this.seen = records.slice();
    this.stamps = records.map((r) => r.updatedAt);
    this.ids = records.map((r) => r.id);
    const keyed: { record: T; time: number }[] = [];
    for (const record of records) {
      const time = Date.parse(record.updatedAt);
      if (!Number.isNaN(time)) keyed.push({ record, time });
    }
    // Stable: records equal in both keys keep their list order, as Array.prototype.sort did.
    keyed.sort(
      (a, b) => a.time - b.time || (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0),
    );
    this.sorted = keyed.map((k) => k.record);
    this.times = keyed.map((k) => k.time);
  }
}

function intParam(value: string | null, name: string, fallback: number, min: number, max: number): number {
  if (value === null || value === "") return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

/** First index whose time is at least `since` (times ascending). */
function firstAtOrAfter(times: readonly number[], since: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One page of `view`'s records with updatedAt >= modifiedSince (inclusive, so that records sharing
 * the watermark's instant are never skipped), and that `keep` accepts, in (updatedAt, id) order.
 */
function pageOf<T extends Updated>(
  view: { sorted: readonly T[]; times: readonly number[] },
  query: URLSearchParams,
  keep?: (record: T) => boolean,
) {
  const since = query.get("modifiedSince");
  let sinceMs = -Infinity;
  if (since !== null && since !== "") {
    sinceMs = Date.parse(since);
    if (Number.isNaN(sinceMs)) throw new HttpError(400, "modifiedSince must be an ISO-8601 date-time");
  }
  const page = intParam(query.get("page"), "page", 1, 1, 1_000_000);
  const pageSize = intParam(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
  const from = firstAtOrAfter(view.times, sinceMs);
  const start = (page - 1) * pageSize;
  if (!keep) {
    return {
      items: view.sorted.slice(from + start, from + start + pageSize),
      page,
      pageSize,
      total: view.sorted.length - from,
    };
  }
  const items: T[] = [];
  let total = 0;
  for (let i = from; i < view.sorted.length; i++) {
    const record = view.sorted[i];
    if (!keep(record)) continue;
    if (total >= start && total < start + pageSize) items.push(record);
    total++;
  }
  return { items, page, pageSize, total };
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function jsonBody(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "body must be JSON");
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new HttpError(400, "body must be a JSON object");
  return value as Record<string, unknown>;
}

function capabilities(target: WebhookTarget | undefined, toleranceSeconds: number): unknown {
  const paged = ["modifiedSince", "page", "pageSize"];
  return {
    name: "HealthBridge PMS simulator",
    version: "1",
    auth: {
      scheme: "pms-hmac",
      headers: { ...PMS_DEFAULT_HEADERS },
      encoding: ["hex", "base64"],
      toleranceSeconds,
      canonical: "METHOD + pathWithQuery + timestamp + body",
    },
    paging: {
      pageParam: "page",
      pageSizeParam: "pageSize",
      firstPage: 1,
      defaultPageSize: DEFAULT_PAGE_SIZE,
      maxPageSize: MAX_PAGE_SIZE,
      envelope: { items: "array", page: "number", pageSize: "number", total: "number" },
      order: ["updatedAt", "id"],
      modifiedSince: "inclusive (updatedAt >= modifiedSince)",
    },
    endpoints: [
      { method: "GET", path: "/patients", query: paged },
      { method: "GET", path: "/patients/{id}" },
      { method: "GET", path: "/appointments", query: [...paged, "patientId"] },
      { method: "GET", path: "/appointments/{id}" },
      { method: "POST", path: "/appointments" },
      { method: "PATCH", path: "/appointments/{id}", body: ["status"] },
      { method: "POST", path: "/charges", headers: ["Idempotency-Key"] },
      { method: "GET", path: "/health", signed: false },
      { method: "GET", path: "/capabilities", signed: false },
    ],
    webhooks: {
      configured: target !== undefined,
      url: target?.url,
      scheme: target?.scheme,
      events: [...WEBHOOK_EVENTS],
      body: ["eventType", "resourceType", "resourceId", "timestamp", "data"],
      retries: target
        ? { maxAttempts: target.maxAttempts ?? 5, backoffMs: target.backoffMs ?? 500 }
        : undefined,
    },
  };
}

export async function startPmsSimulator(options: PmsSimulatorOptions): Promise<PmsSimulator> {
  if (!options.apiKey || !options.apiSecret)
    throw new Error("the PMS simulator needs an apiKey and an apiSecret");
  const now = options.now ?? Date.now;
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const data = generatePmsData({
    seed: options.seed,
    patients: options.patients,
    appointments: options.appointments,
    providers: options.providers,
    start: options.start,
  });
  const charges: Charge[] = [];
  const chargeKeys = new Map<string, Charge>();
  const deliveries: DeliveryResult[] = [];
  let target = options.webhook;
  const closing = new AbortController();
  // Every delivery in flight listens for the close: a burst of webhooks is more than the default 10.
  setMaxListeners(0, closing.signal);
  const counts: PmsStats = {
    requests: 0,
    unauthorized: 0,
    byRoute: {},
    webhooks: { emitted: 0, delivered: 0, failed: 0, attempts: 0, pending: 0 },
  };
  const sequence = { appointment: data.appointments.length, patient: data.patients.length, charge: 0 };
  const patientOrder = new SortedView<PmsPatient>();
  const appointmentOrder = new SortedView<PmsAppointment>();

  /** A new updatedAt: the clock, but always after the record's previous one. */
  function bump(previous?: string): string {
    const t = Math.max(now(), previous ? Date.parse(previous) + 1 : -Infinity);
    return new Date(t).toISOString();
  }

  function findPatient(id: string): PmsPatient {
    const p = data.patients.find((x) => x.id === id);
    if (!p) throw new HttpError(404, "patient not found");
    return p;
  }
  function findAppointment(id: string): PmsAppointment {
    const a = data.appointments.find((x) => x.id === id);
    if (!a) throw new HttpError(404, "appointment not found");
    return a;
  }

  async function emit(
    eventType: string,
    record: PmsPatient | PmsAppointment,
  ): Promise<DeliveryResult | undefined> {
    const to = target;
    if (!to) return undefined;
    const resourceType = "patientId" in record ? "appointment" : "patient";
    const event: WebhookEvent = {
      eventType,
      resourceType,
      resourceId: record.id,
      timestamp: new Date(now()).toISOString(),
      data: record,
    };
    const body = Buffer.from(JSON.stringify(event), "utf8");
    const url = new URL(to.url);
    const result: DeliveryResult = {
      id: to.scheme === "standard-webhooks" ? `msg_${randomUUID().replace(/-/g, "")}` : randomUUID(),
      eventType,
      delivered: false,
      attempts: 0,
    };
    deliveries.push(result);
    counts.webhooks.emitted++;
    counts.webhooks.pending++;
    const maxAttempts = Math.max(1, to.maxAttempts ?? 5);
    try {
      for (let attempt = 1; attempt <= maxAttempts && !closing.signal.aborted; attempt++) {
        result.attempts = attempt;
        counts.webhooks.attempts++;
        // Signed per attempt: a retry carries a fresh timestamp and the same delivery id.
        const headers = signWebhook({
          scheme: to.scheme,
          secret: to.secret,
          body,
          id: result.id,
          timestamp: new Date(now()),
          method: "POST",
          pathWithQuery: url.pathname + url.search,
          eventType,
        });
        // A timer of its own, not AbortSignal.timeout: a timeout signal that only AbortSignal.any
        // refers to can be garbage-collected before it fires (seen in the full test run), and a delivery
        // whose request Node-RED dropped (a deploy) then waits forever.
        const attemptAbort = new AbortController();
        const onClose = (): void => attemptAbort.abort(closing.signal.reason);
        closing.signal.addEventListener("abort", onClose, { once: true });
        const timer = setTimeout(() => attemptAbort.abort(new Error("timeout")), to.timeoutMs ?? 10_000);
        try {
          const res = await request(url, {
            method: "POST",
            headers: { "content-type": "application/json", "user-agent": "pms-simulator/1", ...headers },
            body,
            signal: attemptAbort.signal,
          });
          await res.body.dump();
          result.status = res.statusCode;
          delete result.error;
          if (res.statusCode >= 200 && res.statusCode < 300) {
            result.delivered = true;
            counts.webhooks.delivered++;
            return result;
          }
        } catch (err) {
          result.error = (err as { code?: string }).code ?? (err as Error).name;
          delete result.status;
        } finally {
          clearTimeout(timer);
          closing.signal.removeEventListener("abort", onClose);
        }
        if (attempt < maxAttempts) {
          const wait = Math.min((to.backoffMs ?? 500) * 2 ** (attempt - 1), to.maxBackoffMs ?? Infinity);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            closing.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
          });
        }
      }
      counts.webhooks.failed++;
      return result;
    } finally {
      counts.webhooks.pending--;
    }
  }

  /** Fire and forget from request handlers: the API answers without waiting for the webhook. */
  function emitLater(eventType: string, record: PmsPatient | PmsAppointment): void {
    void emit(eventType, structuredClone(record));
  }

  /** Changes an appointment's status; the event it calls for, if any. */
  function applyStatus(id: string, status: PmsAppointmentStatus): [PmsAppointment, string | undefined] {
    const appt = findAppointment(id);
    appt.status = status;
    appt.updatedAt = bump(appt.updatedAt);
    const eventType =
      status === "completed"
        ? "appointment.completed"
        : status === "cancelled"
          ? "appointment.cancelled"
          : undefined;
    return [appt, eventType];
  }

  async function setStatus(id: string, status: PmsAppointmentStatus): Promise<PmsAppointment> {
    const [appt, eventType] = applyStatus(id, status);
    if (eventType) await emit(eventType, structuredClone(appt));
    return appt;
  }

  function validAppointment(body: Record<string, unknown>): PmsAppointment {
    const { patientId, providerId, scheduledTime, duration, reason } = body;
    if (typeof patientId !== "string") throw new HttpError(400, "patientId is required");
    findPatient(patientId);
    if (typeof providerId !== "string" || !data.providers.some((p) => p.id === providerId)) {
      throw new HttpError(422, "providerId does not name a provider");
    }
    if (typeof scheduledTime !== "string" || Number.isNaN(Date.parse(scheduledTime))) {
      throw new HttpError(400, "scheduledTime must be an ISO-8601 date-time");
    }
    if (typeof duration !== "number" || !Number.isInteger(duration) || duration < 1 || duration > 480) {
      throw new HttpError(400, "duration must be whole minutes from 1 to 480");
    }
    if (reason !== undefined && typeof reason !== "string")
      throw new HttpError(400, "reason must be a string");
    const taken = data.appointments.some(
      (a) =>
        a.providerId === providerId &&
        a.status !== "cancelled" &&
        Date.parse(a.scheduledTime) === Date.parse(scheduledTime),
    );
    if (taken) throw new HttpError(409, "the provider is already booked at that time");
    sequence.appointment++;
    const appt: PmsAppointment = {
      id: `appt-${String(sequence.appointment).padStart(6, "0")}`,
      patientId,
      providerId,
      scheduledTime,
      duration,
      status: "scheduled",
      updatedAt: bump(),
    };
    if (reason) appt.reason = reason;
    return appt;
  }

  function validCharge(body: Record<string, unknown>): Charge {
    const { patientId, appointmentId, code, amount, currency, description } = body;
    if (typeof patientId !== "string") throw new HttpError(400, "patientId is required");
    findPatient(patientId);
    if (appointmentId !== undefined) {
      if (typeof appointmentId !== "string") throw new HttpError(400, "appointmentId must be a string");
      if (findAppointment(appointmentId).patientId !== patientId) {
        throw new HttpError(422, "the appointment belongs to another patient");
      }
    }
    if (typeof code !== "string" || code.trim() === "") throw new HttpError(400, "code is required");
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount <= 0) {
      throw new HttpError(400, "amount must be a positive number");
    }
    if (currency !== undefined && (typeof currency !== "string" || !/^[A-Z]{3}$/.test(currency))) {
      throw new HttpError(400, "currency must be an ISO 4217 code");
    }
    if (description !== undefined && typeof description !== "string") {
      throw new HttpError(400, "description must be a string");
    }
    sequence.charge++;
    const charge: Charge = {
      id: `chg-${String(sequence.charge).padStart(6, "0")}`,
      patientId,
      code,
      amount,
      currency: (currency as string | undefined) ?? "USD",
      postedAt: new Date(now()).toISOString(),
    };
    if (appointmentId) charge.appointmentId = appointmentId as string;
    if (description) charge.description = description as string;
    return charge;
  }

  const faults: Array<{ fault: PmsFault; left: number }> = [];

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const requestTarget = req.url ?? "/";
    const url = new URL(requestTarget, "http://pms.invalid");
    const segments = url.pathname.split("/").filter(Boolean);
    const routeName = `${method} /${segments[0] ?? ""}${segments.length > 1 ? "/:id" : ""}`;
    counts.requests++;
    counts.byRoute[routeName] = (counts.byRoute[routeName] ?? 0) + 1;

    if (method === "GET" && url.pathname === "/health") {
      send(res, 200, {
        status: "ok",
        patients: data.patients.length,
        appointments: data.appointments.length,
      });
      return;
    }
    if (method === "GET" && url.pathname === "/capabilities") {
      send(res, 200, capabilities(target, toleranceSeconds));
      return;
    }

    const body = await readBody(req);
    const auth = verifyPmsRequest({
      method,
      pathWithQuery: requestTarget,
      body,
      headers: headersFromRaw(req.rawHeaders),
      secrets: [options.apiSecret],
      apiKey: options.apiKey,
      toleranceSeconds,
      nowMs: now(),
    });
    if (!auth.ok) {
      counts.unauthorized++;
      send(res, 401, { error: "unauthorized" }, { "www-authenticate": 'PMS-HMAC realm="pms"' });
      return;
    }
    const fault = faults.find(
      (f) =>
        f.left > 0 &&
        (f.fault.route === undefined || f.fault.route === routeName) &&
        (f.fault.bodyIncludes === undefined || body.toString("utf8").includes(f.fault.bodyIncludes)),
    );
    if (fault) {
      fault.left--;
      const headers: Record<string, string> =
        fault.fault.retryAfter === undefined ? {} : { "retry-after": String(fault.fault.retryAfter) };
      send(res, fault.fault.status, { error: "injected fault" }, headers);
      return;
    }

    const [collection, id, extra] = segments.map((s) => decodeURIComponent(s));
    if (extra !== undefined) throw new HttpError(404, "not found");
    if (collection === "patients") {
      if (method !== "GET") throw new HttpError(405, "method not allowed");
      send(
        res,
        200,
        id === undefined ? pageOf(patientOrder.of(data.patients), url.searchParams) : findPatient(id),
      );
      return;
    }
    if (collection === "appointments") {
      if (id === undefined && method === "GET") {
        const patientId = url.searchParams.get("patientId");
        // Filtering the sorted list gives the order sorting the filtered list did (the sort is stable).
        const keep = patientId ? (a: PmsAppointment) => a.patientId === patientId : undefined;
        send(res, 200, pageOf(appointmentOrder.of(data.appointments), url.searchParams, keep));
        return;
      }
      if (id === undefined && method === "POST") {
        const appt = validAppointment(jsonBody(body));
        data.appointments.push(appt);
        send(res, 201, appt, { location: `/appointments/${encodeURIComponent(appt.id)}` });
        emitLater("appointment.scheduled", appt);
        return;
      }
      if (id !== undefined && method === "GET") {
        send(res, 200, findAppointment(id));
        return;
      }
      if (id !== undefined && method === "PATCH") {
        const changes = jsonBody(body);
        const status = changes.status;
        if (!(PMS_APPOINTMENT_STATUSES as readonly unknown[]).includes(status)) {
          throw new HttpError(400, `status must be one of ${PMS_APPOINTMENT_STATUSES.join(", ")}`);
        }
        const unknown = Object.keys(changes).filter((k) => k !== "status");
        if (unknown.length) throw new HttpError(400, "only status can be changed");
        const [appt, eventType] = applyStatus(id, status as PmsAppointmentStatus);
        send(res, 200, appt);
        if (eventType) emitLater(eventType, appt);
        return;
      }
      throw new HttpError(405, "method not allowed");
    }
    if (collection === "charges" && id === undefined) {
      if (method !== "POST") throw new HttpError(405, "method not allowed");
      const key = req.headers["idempotency-key"];
      if (typeof key === "string" && chargeKeys.has(key)) {
        send(res, 200, chargeKeys.get(key));
        return;
      }
      const charge = validCharge(jsonBody(body));
      charges.push(charge);
      if (typeof key === "string") chargeKeys.set(key, charge);
      send(res, 201, charge, { location: `/charges/${charge.id}` });
      return;
    }
    throw new HttpError(404, "not found");
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : "internal error";
      if (!res.headersSent) send(res, status, { error: message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    data,
    charges,
    deliveries,
    emit,
    async createPatient(patient) {
      sequence.patient++;
      const record = {
        ...patient,
        id: patient.id ?? `pat-${String(sequence.patient).padStart(5, "0")}`,
        updatedAt: bump(),
      } as PmsPatient;
      if (data.patients.some((p) => p.id === record.id)) throw new Error(`patient ${record.id} exists`);
      data.patients.push(record);
      await emit("patient.created", structuredClone(record));
      return record;
    },
    async updatePatient(id, changes) {
      const patient = findPatient(id);
      Object.assign(patient, changes, { id: patient.id });
      patient.updatedAt = bump(patient.updatedAt);
      await emit("patient.updated", structuredClone(patient));
      return patient;
    },
    completeAppointment: (id) => setStatus(id, "completed"),
    cancelAppointment: (id) => setStatus(id, "cancelled"),
    configureWebhook(next) {
      target = next;
    },
    faults: {
      next(count, fault) {
        faults.push({ fault: { ...fault }, left: count });
      },
      clear() {
        faults.length = 0;
      },
    },
    stats() {
      return structuredClone(counts);
    },
    async close() {
      closing.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
