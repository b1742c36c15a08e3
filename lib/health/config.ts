import { CODES, type ErrorCode } from "../error-codes";
import { PackError } from "../errors";

export type HealthState = "unknown" | "healthy" | "warning" | "critical";
export type LatencyStat = "mean" | "p50" | "p95" | "p99";

/** Worse states rank higher; unknown (no data) ranks lowest. */
export const STATE_RANK: Record<HealthState, number> = { unknown: 0, healthy: 1, warning: 2, critical: 3 };

export interface Thresholds {
  /** healthy: success rate >= this and latency <= healthyLatencyMs. */
  healthyRate: number;
  healthyLatencyMs: number;
  /** warning: success rate >= this and latency <= warningLatencyMs; below either: critical. */
  warningRate: number;
  warningLatencyMs: number;
  /** An alert is raised when the success rate falls below this, ... */
  alertRate: number;
  /** ... the latency exceeds this, ... */
  alertLatencyMs: number;
  /** ... or this many calls in a row have failed (0: never on that ground). */
  alertConsecutive: number;
  /** Which latency figure the thresholds compare. */
  latencyStat: LatencyStat;
  /** Fewer events than this in the window: rate and latency are shown but not judged. */
  minEvents: number;
  /** Seconds a better state (or a cleared alert condition) must last before it is reported. */
  holdSeconds: number;
  /** A queue alert is raised when a queue's oldest message is older than this (ms; 0: off), ... */
  queueMaxAgeMs: number;
  /** ... or when it holds at least this many dead letters (0: off). */
  queueMaxDead: number;
}

export interface HealthConfig {
  windowSeconds: number;
  /** Names to watch; empty: every integration. */
  integrations: string[];
  thresholds: Thresholds;
  /** Integrations tracked at most; events of further ones are dropped. */
  maxIntegrations: number;
  /** Queues (store, queue) tracked at most; a stale one makes room for a new one, else reports of further ones are dropped. */
  maxQueues: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  healthyRate: 0.98,
  healthyLatencyMs: 2000,
  warningRate: 0.95,
  warningLatencyMs: 5000,
  alertRate: 0.95,
  alertLatencyMs: 5000,
  alertConsecutive: 5,
  latencyStat: "mean",
  minEvents: 1,
  holdSeconds: 30,
  queueMaxAgeMs: 0,
  queueMaxDead: 0,
};

export const DEFAULT_WINDOW_SECONDS = 300;
export const DEFAULT_MAX_INTEGRATIONS = 200;
export const DEFAULT_MAX_QUEUES = 200;
/** The longest queue age an alert can wait for: 30 days. */
export const MAX_QUEUE_AGE_SECONDS = 2592000;

/** Node properties arrive as strings (or numbers); empty means the default. */
export type RawValue = string | number | undefined | null;

function num(
  raw: RawValue,
  fallback: number,
  what: string,
  min: number,
  max: number,
  integer = false,
): number {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) return fallback;
  const v = typeof raw === "number" ? raw : Number(raw.trim());
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new PackError(
      CODES.HEALTH_CONFIG,
      `${what} must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}, not ${JSON.stringify(raw)}`,
    );
  }
  return v;
}

export interface RawHealthConfig {
  integrations?: string | string[];
  window?: RawValue;
  healthyRate?: RawValue;
  healthyLatency?: RawValue;
  warningRate?: RawValue;
  warningLatency?: RawValue;
  alertRate?: RawValue;
  alertLatency?: RawValue;
  alertConsecutive?: RawValue;
  latencyStat?: string;
  minEvents?: RawValue;
  hold?: RawValue;
  maxIntegrations?: RawValue;
  /** Seconds; empty or 0: no alert on age. */
  queueMaxAge?: RawValue;
  /** Dead letters; empty or 0: no alert on dead letters. */
  queueMaxDead?: RawValue;
  maxQueues?: RawValue;
}

export function parseIntegrationList(raw: string | string[] | undefined): string[] {
  const list = Array.isArray(raw) ? raw : String(raw ?? "").split(/[,\n]/);
  const out: string[] = [];
  for (const item of list) {
    const name = String(item).trim();
    if (name === "") continue;
    checkIntegrationName(name, CODES.HEALTH_CONFIG);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

export function checkIntegrationName(name: unknown, code: ErrorCode): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw new PackError(code, "integration must be a non-empty string");
  }
  const n = name.trim();
  // eslint-disable-next-line no-control-regex
  if (n.length > 100 || /[\u0000-\u001f\u007f]/.test(n)) {
    throw new PackError(code, "integration must be at most 100 printable characters");
  }
  return n;
}

/** Node properties to a checked configuration (CODES.HEALTH_CONFIG on anything out of range). */
export function parseHealthConfig(raw: RawHealthConfig): HealthConfig {
  const d = DEFAULT_THRESHOLDS;
  const stat = (raw.latencyStat ?? "").trim() || d.latencyStat;
  if (!["mean", "p50", "p95", "p99"].includes(stat)) {
    throw new PackError(
      CODES.HEALTH_CONFIG,
      `latency statistic must be mean, p50, p95 or p99, not ${JSON.stringify(stat)}`,
    );
  }
  const t: Thresholds = {
    healthyRate: num(raw.healthyRate, d.healthyRate, "healthy success rate", 0, 1),
    healthyLatencyMs: num(raw.healthyLatency, d.healthyLatencyMs, "healthy latency (ms)", 0, 86400000),
    warningRate: num(raw.warningRate, d.warningRate, "warning success rate", 0, 1),
    warningLatencyMs: num(raw.warningLatency, d.warningLatencyMs, "warning latency (ms)", 0, 86400000),
    alertRate: num(raw.alertRate, d.alertRate, "alert success rate", 0, 1),
    alertLatencyMs: num(raw.alertLatency, d.alertLatencyMs, "alert latency (ms)", 0, 86400000),
    alertConsecutive: num(
      raw.alertConsecutive,
      d.alertConsecutive,
      "alert consecutive failures",
      0,
      1e6,
      true,
    ),
    latencyStat: stat as LatencyStat,
    minEvents: num(raw.minEvents, d.minEvents, "minimum events", 1, 1e9, true),
    holdSeconds: num(raw.hold, d.holdSeconds, "hold (s)", 0, 86400),
    queueMaxAgeMs: Math.round(
      num(raw.queueMaxAge, d.queueMaxAgeMs / 1000, "queue max age (s)", 0, MAX_QUEUE_AGE_SECONDS) * 1000,
    ),
    queueMaxDead: num(raw.queueMaxDead, d.queueMaxDead, "queue max dead letters", 0, 1e9, true),
  };
  if (t.warningRate > t.healthyRate) {
    throw new PackError(CODES.HEALTH_CONFIG, "the warning success rate must not be above the healthy one");
  }
  if (t.warningLatencyMs < t.healthyLatencyMs) {
    throw new PackError(CODES.HEALTH_CONFIG, "the warning latency must not be below the healthy one");
  }
  return {
    windowSeconds: num(raw.window, DEFAULT_WINDOW_SECONDS, "window (s)", 1, 86400, true),
    integrations: parseIntegrationList(raw.integrations),
    thresholds: t,
    maxIntegrations: num(raw.maxIntegrations, DEFAULT_MAX_INTEGRATIONS, "max integrations", 1, 10000, true),
    maxQueues: num(raw.maxQueues, DEFAULT_MAX_QUEUES, "max queues", 1, 10000, true),
  };
}
