import { CODES, type ErrorCode } from "../error-codes";
import { PackError } from "../errors";
import { readNumber, type NumberRule } from "../number-prop";

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

/**
 * The numeric properties' rules, for the node and the editor's validators. The thresholds
 * (parseHealthConfig) may be written any way JavaScript's Number() reads, as they have been
 * accepted from the start; the interval is read in plain form (nodes/shared/props).
 */
export const HEALTH_NUMBERS = {
  interval: { min: 0, max: 86400, integer: false },
  window: { min: 1, max: 86400, integer: true, form: "any" },
  healthyRate: { min: 0, max: 1, integer: false, form: "any" },
  healthyLatency: { min: 0, max: 86400000, integer: false, form: "any" },
  warningRate: { min: 0, max: 1, integer: false, form: "any" },
  warningLatency: { min: 0, max: 86400000, integer: false, form: "any" },
  alertRate: { min: 0, max: 1, integer: false, form: "any" },
  alertLatency: { min: 0, max: 86400000, integer: false, form: "any" },
  alertConsecutive: { min: 0, max: 1e6, integer: true, form: "any" },
  minEvents: { min: 1, max: 1e9, integer: true, form: "any" },
  hold: { min: 0, max: 86400, integer: false, form: "any" },
  queueMaxAge: { min: 0, max: MAX_QUEUE_AGE_SECONDS, integer: false, form: "any" },
  queueMaxDead: { min: 0, max: 1e9, integer: true, form: "any" },
  maxIntegrations: { min: 1, max: 10000, integer: true, form: "any" },
  maxQueues: { min: 1, max: 10000, integer: true, form: "any" },
} as const satisfies Record<string, NumberRule & { max: number }>;

function num(raw: RawValue, fallback: number, what: string, rule: NumberRule & { max: number }): number {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) return fallback;
  const v = readNumber(String(raw).trim(), rule);
  if (v === undefined) {
    throw new PackError(
      CODES.HEALTH_CONFIG,
      `${what} must be ${rule.integer ? "a whole number" : "a number"} from ${rule.min} to ${rule.max}, not ${JSON.stringify(raw)}`,
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
  const n = HEALTH_NUMBERS;
  const t: Thresholds = {
    healthyRate: num(raw.healthyRate, d.healthyRate, "healthy success rate", n.healthyRate),
    healthyLatencyMs: num(raw.healthyLatency, d.healthyLatencyMs, "healthy latency (ms)", n.healthyLatency),
    warningRate: num(raw.warningRate, d.warningRate, "warning success rate", n.warningRate),
    warningLatencyMs: num(raw.warningLatency, d.warningLatencyMs, "warning latency (ms)", n.warningLatency),
    alertRate: num(raw.alertRate, d.alertRate, "alert success rate", n.alertRate),
    alertLatencyMs: num(raw.alertLatency, d.alertLatencyMs, "alert latency (ms)", n.alertLatency),
    alertConsecutive: num(
      raw.alertConsecutive,
      d.alertConsecutive,
      "alert consecutive failures",
      n.alertConsecutive,
    ),
    latencyStat: stat as LatencyStat,
    minEvents: num(raw.minEvents, d.minEvents, "minimum events", n.minEvents),
    holdSeconds: num(raw.hold, d.holdSeconds, "hold (s)", n.hold),
    queueMaxAgeMs: Math.round(
      num(raw.queueMaxAge, d.queueMaxAgeMs / 1000, "queue max age (s)", n.queueMaxAge) * 1000,
    ),
    queueMaxDead: num(raw.queueMaxDead, d.queueMaxDead, "queue max dead letters", n.queueMaxDead),
  };
  if (t.warningRate > t.healthyRate) {
    throw new PackError(CODES.HEALTH_CONFIG, "the warning success rate must not be above the healthy one");
  }
  if (t.warningLatencyMs < t.healthyLatencyMs) {
    throw new PackError(CODES.HEALTH_CONFIG, "the warning latency must not be below the healthy one");
  }
  return {
    windowSeconds: num(raw.window, DEFAULT_WINDOW_SECONDS, "window (s)", n.window),
    integrations: parseIntegrationList(raw.integrations),
    thresholds: t,
    maxIntegrations: num(
      raw.maxIntegrations,
      DEFAULT_MAX_INTEGRATIONS,
      "max integrations",
      n.maxIntegrations,
    ),
    maxQueues: num(raw.maxQueues, DEFAULT_MAX_QUEUES, "max queues", n.maxQueues),
  };
}
