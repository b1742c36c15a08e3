import { PackError } from "../errors";
import { CONTEXT_KEY_MAX, CONTEXT_KEY_RULE, isContextKey } from "../context-key";
import { CODES } from "../error-codes";
import { readNumber, type NumberRule } from "../number-prop";
import type { AlertTransition, IntegrationSnapshot, QueueAlertTransition, QueueSnapshot } from "./monitor";

/** What health-monitor sends on its alert output (msg.payload). */
export type AlertPayload =
  | ({ kind: "integration"; metrics?: IntegrationSnapshot } & AlertTransition)
  | ({ kind: "queue"; metrics?: QueueSnapshot } & QueueAlertTransition);

/** An alert as an e-mail: subject and plain-text body. Figures and error codes only, never record data. */
export interface AlertMail {
  topic: string;
  text: string;
}

/** One entry of the alert log a health-monitor keeps in context. */
export interface AlertLogEntry {
  at: string;
  /** The integration, or `queue:<store>/<queue>`. */
  integration: string;
  alert: "raise" | "clear";
  /** The integration's state after the alert (queues have none). */
  state?: string;
  to?: string;
  topic: string;
  text: string;
}

/** How many alerts a log keeps at most (the newest). */
export const MAX_ALERTS_KEPT = 1000;
export const DEFAULT_ALERTS_KEPT = 50;

const pct = (x: unknown): string => (typeof x === "number" ? `${(x * 100).toFixed(1)} %` : "n/a");
const ms = (x: unknown): string => (typeof x === "number" ? `${Math.round(x)} ms` : "n/a");

/** The subject and body of an e-mail for `alert`; `dashboard` is the dashboard's address, when served. */
export function alertMail(alert: AlertPayload, dashboard?: string): AlertMail {
  const raised = alert.alert === "raise";
  const why = `${raised ? "Why" : "It had been raised for"}: ${alert.reasons.join("; ") || "n/a"}`;
  const footer = dashboard ? ["", `Dashboard: ${dashboard}`] : [];
  if (alert.kind === "queue") {
    const name = `${alert.store}/${alert.queue}`;
    const q = alert.metrics;
    return {
      topic: `[PMS-EHR] ${raised ? "ALERT" : "recovered"}: queue ${name}`,
      text: [
        `queue ${name}: alert ${raised ? "raised" : "cleared"} at ${alert.time}`,
        why,
        "",
        "Last report of the queue:",
        `  waiting          ${q ? q.depth : "n/a"}`,
        `  in flight        ${q ? q.inFlight : "n/a"}`,
        `  oldest message   ${q ? `${Math.round(q.oldestAgeMs / 1000)} s` : "n/a"}`,
        `  dead letters     ${q ? q.deadLetters : "n/a"}`,
        ...footer,
      ].join("\n"),
    };
  }
  const m = alert.metrics;
  return {
    topic: `[PMS-EHR] ${raised ? "ALERT" : "recovered"}: ${alert.integration} is ${alert.state}`,
    text: [
      `${alert.integration}: ${alert.previousState} -> ${alert.state} at ${alert.time}`,
      why,
      "",
      `Over the last ${m ? `${m.total} calls` : "window"}:`,
      `  success rate     ${pct(m?.successRate)}`,
      `  latency p50/p95  ${ms(m?.latencyMs?.p50)} / ${ms(m?.latencyMs?.p95)}`,
      `  failures in a row ${m ? m.consecutiveFailures : "n/a"}`,
      `  last error       ${m?.lastError ? `${m.lastError.error} at ${m.lastError.time}` : "none"}`,
      ...footer,
    ].join("\n"),
  };
}

/** The log entry for an alert and its e-mail. */
export function alertLogEntry(alert: AlertPayload, mail: AlertMail, to?: string): AlertLogEntry {
  const entry: AlertLogEntry = {
    at: alert.time,
    integration: alert.kind === "queue" ? `queue:${alert.store}/${alert.queue}` : alert.integration,
    alert: alert.alert,
    topic: mail.topic,
    text: mail.text,
  };
  if (alert.kind === "integration") entry.state = alert.state;
  if (to) entry.to = to;
  return entry;
}

/**
 * The log with `entry` appended, keeping the newest `kept`. A stored value that is not a list
 * (nothing yet, or something else under the key) starts a new log.
 */
export function appendAlert(log: unknown, entry: AlertLogEntry, kept: number): AlertLogEntry[] {
  const out = Array.isArray(log) ? (log as AlertLogEntry[]).slice() : [];
  out.push(entry);
  return out.length > kept ? out.slice(out.length - kept) : out;
}

/** The rule of the alerts-kept property, for health-monitor's node and editor. */
export const ALERTS_KEPT: NumberRule = { min: 1, max: MAX_ALERTS_KEPT, form: "any" };

/** The number of alerts to keep, from a node property: empty is the default, else 1..1000. */
export function parseAlertsKept(raw: unknown): number {
  const text = String(raw ?? "").trim();
  if (text === "") return DEFAULT_ALERTS_KEPT;
  const n = readNumber(text, ALERTS_KEPT);
  if (n === undefined) {
    throw new PackError(
      CODES.HEALTH_CONFIG,
      `alerts kept must be a whole number from 1 to ${MAX_ALERTS_KEPT}, not ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/** A flow context key from a node property: empty (off) or a plain identifier (lib/context-key). */
export function parseContextKey(raw: unknown, what: string): string | undefined {
  const text = String(raw ?? "").trim();
  if (text === "") return undefined;
  if (!isContextKey(text)) {
    throw new PackError(
      CODES.HEALTH_CONFIG,
      `${what} must be a context key, ${CONTEXT_KEY_RULE} of up to ${CONTEXT_KEY_MAX} characters, not ${JSON.stringify(raw)}`,
    );
  }
  return text;
}
