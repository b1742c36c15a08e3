import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import type { LegacyRequest, PagingOptions, QueryValue } from "../../lib/legacy/client";
import { fillPathTemplate } from "../../lib/legacy/template";
import { numberProp } from "../shared/props";

export const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

/** The hmac-request properties as stored in the flow (editor values are strings). */
export interface HmacRequestProps {
  method?: string;
  path?: string;
  /** Where path comes from: str (missing: str), msg, flow, global, env or jsonata. */
  pathType?: string;
  paging?: string;
  pageParam?: string;
  pageSizeParam?: string;
  pageSize?: string | number;
  itemsProperty?: string;
  pagingOutput?: string;
}

export interface RequestPlan {
  method: string;
  pathTemplate: string;
  paging?: PagingOptions;
  /** One msg per item (with msg.parts) instead of one msg holding every item. */
  each: boolean;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

/** Validates the node's properties once, at deploy. */
export function planOf(props: HmacRequestProps): RequestPlan {
  const method = (text(props.method) || "GET").toUpperCase();
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new PackError(CODES.LEGACY_CONFIG, `method must be one of ${METHODS.join(", ")}`);
  }
  const pathTemplate = text(props.path) || "/";
  const paging = text(props.paging) || "none";
  if (paging !== "none" && paging !== "pages")
    throw new PackError(CODES.LEGACY_CONFIG, `paging must be none or pages`);
  if (paging === "none") return { method, pathTemplate, each: false };
  if (method !== "GET") throw new PackError(CODES.LEGACY_CONFIG, "paging needs the GET method");
  const pageSize = numberProp(props.pageSize, 100, { name: "page size", code: CODES.LEGACY_CONFIG, min: 1 });
  return {
    method,
    pathTemplate,
    each: text(props.pagingOutput) === "each",
    paging: {
      pageParam: text(props.pageParam) || "page",
      pageSizeParam: text(props.pageSizeParam) || "pageSize",
      pageSize,
      itemsProperty: text(props.itemsProperty) || "items",
    },
  };
}

function queryOf(params: unknown): Record<string, QueryValue> | undefined {
  if (params === undefined || params === null) return undefined;
  if (typeof params === "string") {
    const out: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(params.startsWith("?") ? params.slice(1) : params)) {
      (out[k] ??= []).push(v);
    }
    return out;
  }
  if (typeof params !== "object" || Array.isArray(params)) {
    throw new PackError(CODES.LEGACY_BAD_INPUT, "msg.params must be an object or a query string");
  }
  const out: Record<string, QueryValue> = {};
  for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
    const ok = (x: unknown) => typeof x === "string" || typeof x === "number" || typeof x === "boolean";
    if (v === undefined || v === null || ok(v)) out[k] = v as QueryValue;
    else if (Array.isArray(v) && v.every(ok)) out[k] = v as Array<string | number | boolean>;
    else
      throw new PackError(
        CODES.LEGACY_BAD_INPUT,
        `msg.params.${k} must be a string, number, boolean or an array of them`,
      );
  }
  return out;
}

function headersOf(headers: unknown): Record<string, string> | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof headers !== "object" || Array.isArray(headers))
    throw new PackError(CODES.LEGACY_BAD_INPUT, "msg.headers must be an object");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else throw new PackError(CODES.LEGACY_BAD_INPUT, `msg.headers.${k} must be a string or number`);
  }
  return out;
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * A path evaluated for one msg (`from` says where it came from), checked as the editor checks a
 * written one (it starts with "/"), and without a "." or ".." segment, which would climb out of
 * the API's base path.
 */
export function pathFrom(value: unknown, from: string): string {
  const bad = (what: string) => new PackError(CODES.LEGACY_BAD_INPUT, `path from ${from} ${what}`);
  if (value === undefined || value === null || value === "") throw bad("has no value");
  if (typeof value !== "string")
    throw bad(`must be a string, got ${Array.isArray(value) ? "an array" : `a ${typeof value}`}`);
  const path = value.trim();
  if (!path.startsWith("/")) throw bad('must start with "/"');
  const segments = path.split(/[?#]/, 1)[0].split("/");
  if (segments.some((s) => DOT_SEGMENT.test(s))) throw bad('may not hold a "." or ".." segment');
  return path;
}

/**
 * The request of one msg: path placeholders filled (in `pathTemplate`, the path evaluated for the
 * msg, or else the node's), msg.params, msg.payload and msg.headers.
 */
export function requestOf(
  plan: RequestPlan,
  msg: Record<string, unknown>,
  pathTemplate = plan.pathTemplate,
): LegacyRequest {
  return {
    method: plan.method,
    path: fillPathTemplate(pathTemplate, msg),
    query: queryOf(msg.params),
    body: ["POST", "PUT", "PATCH"].includes(plan.method) ? msg.payload : undefined,
    headers: headersOf(msg.headers),
  };
}
