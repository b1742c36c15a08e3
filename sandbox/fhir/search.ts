import type { SearchRequest } from "@medplum/core";
import { OperationOutcomeError, badRequest, parseSearchRequest } from "@medplum/core";
import { searchParametersOf } from "./schema";

export type Query = Record<string, string | string[] | undefined>;

export interface SearchOptions {
  /** Page size when `_count` is absent. */
  defaultCount: number;
  /** Largest page served; a larger `_count` is cut to this. */
  maxCount: number;
}

export interface ParsedSearch {
  request: SearchRequest;
  /** The parameters that took effect, in request order, for `Bundle.link` (paging ones excluded). */
  applied: [string, string][];
  count: number;
  offset: number;
  /** `_total=none`: leave `Bundle.total` out. */
  omitTotal: boolean;
  /** `_elements`: top-level elements to keep. */
  elements?: string[];
  /** Names of parameters that were ignored (unknown or unsupported). */
  ignored: string[];
}

/** Types whose matching @medplum/core implements; others (number, quantity, composite, special) match nothing there. */
const MATCHABLE_TYPES = new Set(["string", "token", "reference", "date", "uri"]);
const MODIFIERS: Record<string, ReadonlySet<string>> = {
  string: new Set(["", "missing", "exact", "contains"]),
  token: new Set(["", "missing", "not"]),
  reference: new Set(["", "missing", "not"]),
  date: new Set(["", "missing"]),
  uri: new Set(["", "missing"]),
};
const IGNORED_QUIETLY = new Set(["_format", "_pretty"]);

export function pairsOf(query: Query): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) pairs.push([key, v]);
    else pairs.push([key, value]);
  }
  return pairs;
}

function nonNegativeInt(name: string, value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer`));
  return Number(value);
}

/**
 * Turns query parameters into a SearchRequest for `resourceType`. Unknown or unsupported
 * parameters are ignored (and left out of the self link) unless `strict`, when they are a 400,
 * as FHIR's `Prefer: handling=strict` asks. Bad values (a malformed `_count`, date or sort) are
 * always a 400.
 */
export function parseSearch(
  resourceType: string,
  query: Query,
  strict: boolean,
  options: SearchOptions,
): ParsedSearch {
  const params = searchParametersOf(resourceType);
  const applied: [string, string][] = [];
  const filters: [string, string][] = [];
  const ignored: string[] = [];
  let count = options.defaultCount;
  let offset = 0;
  let omitTotal = false;
  let elements: string[] | undefined;
  let sort: string | undefined;

  const ignore = (key: string, why: string): void => {
    if (strict) throw new OperationOutcomeError(badRequest(`Search parameter ${key}: ${why}`));
    ignored.push(key);
  };

  for (const [key, value] of pairsOf(query)) {
    const colon = key.indexOf(":");
    const code = colon < 0 ? key : key.slice(0, colon);
    const modifier = colon < 0 ? "" : key.slice(colon + 1);
    switch (code) {
      case "_count":
        count = Math.min(nonNegativeInt("_count", value), options.maxCount);
        continue;
      case "_offset":
        offset = nonNegativeInt("_offset", value);
        continue;
      case "_sort":
        for (const field of value.split(",")) {
          const name = field.startsWith("-") ? field.slice(1) : field;
          if (!params[name]?.expression)
            throw new OperationOutcomeError(badRequest(`Unknown sort parameter ${name}`));
        }
        sort = value;
        applied.push([key, value]);
        continue;
      case "_total":
        if (!["none", "estimate", "accurate"].includes(value)) {
          throw new OperationOutcomeError(badRequest("_total must be none, estimate or accurate"));
        }
        omitTotal = value === "none";
        applied.push([key, value]);
        continue;
      case "_summary":
        if (value === "count") {
          count = 0;
          applied.push([key, value]);
        } else if (value !== "false") {
          ignore(key, `_summary=${value} is not supported`);
        }
        continue;
      case "_elements":
        elements = value
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        applied.push([key, value]);
        continue;
      default:
        break;
    }
    if (IGNORED_QUIETLY.has(code)) continue;
    const param = params[code];
    if (!param || key.includes(".") || code === "_has") {
      ignore(key, `not supported for ${resourceType}`);
      continue;
    }
    if (!MATCHABLE_TYPES.has(param.type ?? "") || !MODIFIERS[param.type ?? ""]?.has(modifier)) {
      ignore(key, `${param.type} parameters${modifier ? ` with :${modifier}` : ""} are not supported`);
      continue;
    }
    filters.push([key, value]);
    applied.push([key, value]);
  }

  const qs = new URLSearchParams(filters);
  if (sort) qs.append("_sort", sort);
  const text = qs.toString();
  const request = parseSearchRequest(text ? `${resourceType}?${text}` : resourceType);
  request.count = count;
  request.offset = offset;
  return { request, applied, count, offset, omitTotal, elements, ignored };
}

/** Parses conditional criteria (If-None-Exist, `PUT Type?...`): unknown parameters are a 400, and some criterion is required. */
export function parseCriteria(resourceType: string, query: Query, options: SearchOptions): SearchRequest {
  const parsed = parseSearch(resourceType, query, true, options);
  if (!parsed.request.filters?.length) {
    throw new OperationOutcomeError(
      badRequest("Conditional interactions need at least one search criterion"),
    );
  }
  const request = parsed.request;
  request.count = undefined;
  request.offset = undefined;
  request.sortRules = undefined;
  return request;
}

export function queryFromString(text: string): Query {
  const query: Query = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[key] = [existing, value];
  }
  return query;
}

/** Keeps only the named top-level elements (plus the mandatory ones) and marks the copy SUBSETTED. */
export function subset<T extends { resourceType: string; meta?: { tag?: unknown[] } }>(
  resource: T,
  elements: string[],
): T {
  const keep = new Set(["resourceType", "id", "meta", ...elements]);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) if (keep.has(key)) out[key] = value;
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [
    ...(meta.tag ?? []),
    { system: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", code: "SUBSETTED" },
  ];
  out.meta = meta;
  return out as T;
}
