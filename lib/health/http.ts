import { randomBytes } from "node:crypto";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { healthPathProblem, normalHealthPath } from "./path";
import { dashboardHeaders, renderDashboard } from "./dashboard";
import type { HealthMonitor } from "./monitor";
import { PROMETHEUS_CONTENT_TYPE, toPrometheus } from "./prometheus";

/**
 * Checks a health-monitor path (lib/health/path.ts, which the editor uses too). Returns it
 * without a trailing slash.
 */
export function validateHealthPath(raw: string): string {
  const problem = healthPathProblem(raw);
  if (problem !== undefined) throw new PackError(CODES.HEALTH_CONFIG, problem);
  return normalHealthPath(raw);
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AnswerContext {
  /** Where the page is: the monitor's path, or its `/dashboard` below it. */
  page: "data" | "dashboard";
  /** The monitor's path (validated). */
  path: string;
  /** The admin API's mount point as the request saw it (`req.baseUrl`): "" or e.g. "/admin". */
  adminRoot: string;
  /** Whether the requested URL path ended in "/" (relative URLs then resolve one level deeper). */
  trailingSlash?: boolean;
  refreshSeconds?: number;
  title?: string;
}

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === "string" ? v : undefined;
}

function json(status: number, value: unknown): HttpAnswer {
  return {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" },
    body: JSON.stringify(value),
  };
}

/**
 * The answer to a GET of the monitor's path: JSON (default; `series=1` adds the per-bucket
 * series, `history=1` the last 24 h in periods of 15 min), `format=prometheus`, or `format=html` (the dashboard, also at `<path>/dashboard`;
 * `refresh=<seconds>` sets how often it reloads its data, default 5).
 */
export function answerHealthRequest(
  monitor: HealthMonitor,
  query: Record<string, unknown>,
  ctx: AnswerContext,
): HttpAnswer {
  const format = ctx.page === "dashboard" ? "html" : (first(query.format) ?? "json").toLowerCase();
  if (format === "json") {
    const yes = (v: unknown): boolean => ["1", "true", "yes"].includes((first(v) ?? "").toLowerCase());
    return json(200, monitor.snapshot({ series: yes(query.series), history: yes(query.history) }));
  }
  if (format === "prometheus") {
    return {
      status: 200,
      headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store" },
      body: toPrometheus(monitor.snapshot()),
    };
  }
  if (format === "html") {
    const refresh = Number(first(query.refresh));
    const refreshSeconds =
      Number.isInteger(refresh) && refresh >= 1 && refresh <= 3600 ? refresh : (ctx.refreshSeconds ?? 5);
    const last = ctx.path.slice(ctx.path.lastIndexOf("/") + 1);
    const nonce = randomBytes(16).toString("base64");
    return {
      status: 200,
      headers: dashboardHeaders(nonce),
      body: renderDashboard({
        src:
          ctx.page === "dashboard"
            ? `${ctx.trailingSlash ? "../" : ""}../${last}?format=json&series=1&history=1`
            : `${ctx.trailingSlash ? `../${last}` : ""}?format=json&series=1&history=1`,
        authKey: `auth-tokens${ctx.adminRoot.replace(/\/$/, "").replace(/\//g, "-")}`,
        refreshSeconds,
        nonce,
        title: ctx.title ?? "Integration health",
      }),
    };
  }
  return json(400, { error: "format must be json, prometheus or html", code: CODES.HEALTH_BAD_INPUT });
}
