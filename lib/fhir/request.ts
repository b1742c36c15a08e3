import { badInput } from "./errors";
import {
  FHIR_OPERATIONS,
  FHIR_PREFER,
  RESOURCE_TYPE_NAME,
  type FhirParams,
  type InteractionInput,
} from "./types";
import { isObject } from "../object";
import { httpUrlProblem } from "../http/url-rule";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One HTTP request planned from an InteractionInput, before auth and the base URL are added. */
export interface PlannedRequest {
  method: HttpMethod;
  /** Relative to the service base: "Patient/1", "Patient?identifier=..", "" for the base itself. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** May be sent again after a 429/502/503/504 or a network error without risk of a double write. */
  retrySafe: boolean;
  /** Business key for writes that servers race on (conditional create, upsert). */
  writeKey?: string;
  /** search-all: pages to follow at most. */
  maxPages?: number;
}

const RESOURCE_TYPE = RESOURCE_TYPE_NAME;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const OPERATION_NAME = /^\$?[A-Za-z][A-Za-z0-9_-]*$/;
/** Above this many characters of query a search goes as POST [type]/_search (proxies cap URL length). */
export const SEARCH_POST_THRESHOLD = 1900;
export const DEFAULT_MAX_PAGES = 100;

const FHIR_JSON = "application/fhir+json";

function checkType(value: unknown, operation: string, required: boolean): string | undefined {
  if (value === undefined || value === null || value === "") {
    if (required) throw badInput(`${operation}: resourceType is required`);
    return undefined;
  }
  if (typeof value !== "string" || !RESOURCE_TYPE.test(value)) {
    throw badInput(`${operation}: resourceType must be a FHIR resource type name such as "Patient"`);
  }
  return value;
}

function checkId(value: unknown, what: string, operation: string, required: boolean): string | undefined {
  if (value === undefined || value === null || value === "") {
    if (required) throw badInput(`${operation}: ${what} is required`);
    return undefined;
  }
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) value = String(value);
  if (typeof value !== "string" || !FHIR_ID.test(value)) {
    throw badInput(`${operation}: ${what} must be a FHIR id (1-64 of A-Z a-z 0-9 - .)`);
  }
  // The FHIR pattern allows them, but "." and ".." are path segments a URL resolves away.
  if (/^\.+$/.test(value)) throw badInput(`${operation}: ${what} must not be only dots`);
  return value;
}

function checkHeaderText(value: unknown, what: string, operation: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw badInput(`${operation}: ${what} must be a string`);
  if (/[\r\n\0]/.test(value)) throw badInput(`${operation}: ${what} must not contain line breaks`);
  return value.trim();
}

const PREFER_OPERATIONS = new Set(["create", "update", "upsert", "patch", "transaction", "batch"]);

function checkPrefer(value: unknown, operation: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (!PREFER_OPERATIONS.has(operation)) {
    throw badInput(
      `${operation}: prefer applies to create, update, upsert, patch, transaction and batch only`,
    );
  }
  if (typeof value !== "string" || !(FHIR_PREFER as readonly string[]).includes(value)) {
    throw badInput(`${operation}: prefer must be one of ${FHIR_PREFER.join(", ")}`);
  }
  return value;
}

/** If-Match takes an ETag; a bare version id "3" becomes W/"3". */
export function normalizeIfMatch(value: string): string {
  if (/^(W\/)?".*"$/.test(value)) return value;
  return `W/"${value}"`;
}

/** Encodes search/operation parameters as a query string (without "?"). */
export function encodeParams(params: FhirParams | string | undefined, operation = "search"): string {
  if (params === undefined || params === null || params === "") return "";
  if (typeof params === "string") {
    if (/[\r\n#\0]/.test(params)) throw badInput(`${operation}: params must not contain line breaks or "#"`);
    return params.trim().replace(/^\?/, "");
  }
  if (!isObject(params)) throw badInput(`${operation}: params must be an object or a query string`);
  const parts: string[] = [];
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined || raw === null) continue;
    if (key === "") throw badInput(`${operation}: params has an empty name`);
    const values = Array.isArray(raw) ? raw : [raw];
    for (const v of values) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        throw badInput(`${operation}: params.${key} must be a string, number, boolean or an array of them`);
      }
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(v))}`);
    }
  }
  return parts.join("&");
}

export interface ParsedIdentifier {
  /** undefined: any system; "": explicitly no system. */
  system?: string;
  value: string;
}

/** "system|value", "|value" (no system), "value" (any system), or {system, value}. */
export function parseIdentifier(identifier: unknown): ParsedIdentifier {
  if (typeof identifier === "string") {
    const text = identifier.trim();
    const bar = text.indexOf("|");
    const parsed: ParsedIdentifier =
      bar < 0 ? { value: text } : { system: text.slice(0, bar), value: text.slice(bar + 1) };
    if (parsed.value === "") throw badInput('upsert: identifier has no value (expected "system|value")');
    return parsed;
  }
  if (isObject(identifier)) {
    const { system, value } = identifier;
    if (system !== undefined && system !== null && typeof system !== "string") {
      throw badInput("upsert: identifier.system must be a string");
    }
    if (typeof value !== "string" || value.trim() === "") {
      throw badInput("upsert: identifier.value must be a non-empty string");
    }
    return system === undefined || system === null || system === ""
      ? { value: value.trim() }
      : { system, value: value.trim() };
  }
  throw badInput('upsert: identifier must be "system|value" or {system, value}');
}

function escapeToken(part: string): string {
  return part.replace(/[\\|,$]/g, (c) => `\\${c}`);
}

/** The token search value for an identifier, escaped per FHIR search rules (not yet URL-encoded). */
export function identifierToken(id: ParsedIdentifier): string {
  if (id.system === undefined) return escapeToken(id.value);
  return `${escapeToken(id.system)}|${escapeToken(id.value)}`;
}

/** The identifier an upsert matches on: the explicit one, else the body's first identifier. */
export function upsertIdentifier(input: InteractionInput, body: Record<string, unknown>): ParsedIdentifier {
  if (input.identifier !== undefined && input.identifier !== null && input.identifier !== "") {
    return parseIdentifier(input.identifier);
  }
  const ids = body.identifier;
  if (Array.isArray(ids) && ids.length > 0 && isObject(ids[0])) {
    const first = ids[0];
    if (typeof first.value === "string" && first.value.trim() !== "") {
      return parseIdentifier({ system: first.system as string | undefined, value: first.value });
    }
  }
  throw badInput("upsert: no identifier (set identifier, or give the resource an identifier with a value)");
}

/** A stable key for a type plus search: parameters decoded, sorted and re-encoded. */
export function conditionalKey(resourceType: string, query: string): string {
  const pairs = [...new URLSearchParams(query.replace(/^\?/, ""))].sort((a, b) =>
    a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1,
  );
  return `${resourceType}?${new URLSearchParams(pairs).toString()}`;
}

function resourceBody(input: InteractionInput, operation: string): Record<string, unknown> {
  if (!isObject(input.body)) throw badInput(`${operation}: the body must be a FHIR resource (an object)`);
  return input.body;
}

/** resourceType from the input, else from the body; the two must agree. */
function typeFor(input: InteractionInput, body: Record<string, unknown>, operation: string): string {
  const fromInput = checkType(input.resourceType, operation, false);
  const fromBody = body.resourceType;
  if (fromBody !== undefined && (typeof fromBody !== "string" || !RESOURCE_TYPE.test(fromBody))) {
    throw badInput(`${operation}: the body's resourceType is not a resource type name`);
  }
  if (fromInput && fromBody && fromInput !== fromBody) {
    throw badInput(
      `${operation}: resourceType ${fromInput} does not match the body's resourceType ${fromBody}`,
    );
  }
  const type = fromInput ?? (fromBody as string | undefined);
  if (!type) throw badInput(`${operation}: resourceType is required (or a resourceType in the body)`);
  return type;
}

function withQuery(path: string, query: string): string {
  return query ? `${path}?${query}` : path;
}

function searchRequest(type: string, query: string): PlannedRequest {
  const accept = { Accept: FHIR_JSON };
  if (query.length > SEARCH_POST_THRESHOLD) {
    return {
      method: "POST",
      path: `${type}/_search`,
      headers: { ...accept, "Content-Type": "application/x-www-form-urlencoded" },
      body: query,
      retrySafe: true,
    };
  }
  return { method: "GET", path: withQuery(type, query), headers: accept, retrySafe: true };
}

/**
 * Validates an interaction and plans its HTTP request. Throws FhirError FHIR_BAD_INPUT with a
 * message that names the problem; nothing is sent.
 */
export function planInteraction(input: InteractionInput): PlannedRequest {
  if (!isObject(input)) throw badInput("the interaction must be an object");
  const op = input.operation;
  if (typeof op !== "string" || !(FHIR_OPERATIONS as readonly string[]).includes(op)) {
    throw badInput(`unknown operation ${JSON.stringify(op)} (expected one of ${FHIR_OPERATIONS.join(", ")})`);
  }
  const read = { Accept: FHIR_JSON };
  const prefer = checkPrefer(input.prefer, op);
  const post = { Accept: FHIR_JSON, "Content-Type": FHIR_JSON };
  const write = { ...post, Prefer: `return=${prefer ?? "representation"}` };
  const ifMatch = checkHeaderText(input.ifMatch, "ifMatch", op);
  const withIfMatch = (h: Record<string, string>) =>
    ifMatch ? { ...h, "If-Match": normalizeIfMatch(ifMatch) } : h;

  switch (op) {
    case "read": {
      const type = checkType(input.resourceType, op, true)!;
      const id = checkId(input.id, "id", op, true)!;
      return { method: "GET", path: `${type}/${id}`, headers: read, retrySafe: true };
    }
    case "vread": {
      const type = checkType(input.resourceType, op, true)!;
      const id = checkId(input.id, "id", op, true)!;
      const vid = checkId(input.versionId, "versionId", op, true)!;
      return { method: "GET", path: `${type}/${id}/_history/${vid}`, headers: read, retrySafe: true };
    }
    case "search":
    case "search-all": {
      const type = checkType(input.resourceType, op, true)!;
      const planned = searchRequest(type, encodeParams(input.params, op));
      if (op === "search-all") {
        const maxPages = input.maxPages ?? DEFAULT_MAX_PAGES;
        if (typeof maxPages !== "number" || !Number.isInteger(maxPages) || maxPages < 1) {
          throw badInput("search-all: maxPages must be a whole number of at least 1");
        }
        planned.maxPages = maxPages;
      }
      return planned;
    }
    case "create": {
      const body = resourceBody(input, op);
      const type = typeFor(input, body, op);
      const ifNoneExist = checkHeaderText(input.ifNoneExist, "ifNoneExist", op)?.replace(/^\?/, "");
      const headers: Record<string, string> = { ...write };
      if (ifNoneExist) headers["If-None-Exist"] = ifNoneExist;
      return {
        method: "POST",
        path: type,
        headers,
        body: JSON.stringify({ ...body, resourceType: type }),
        retrySafe: Boolean(ifNoneExist),
        writeKey: ifNoneExist ? conditionalKey(type, ifNoneExist) : undefined,
      };
    }
    case "update": {
      const body = resourceBody(input, op);
      const type = typeFor(input, body, op);
      const id = checkId(input.id ?? body.id, "id", op, true)!;
      if (body.id !== undefined && body.id !== id) {
        throw badInput(`update: id ${id} does not match the body's id`);
      }
      return {
        method: "PUT",
        path: `${type}/${id}`,
        headers: withIfMatch(write),
        body: JSON.stringify({ ...body, resourceType: type, id }),
        retrySafe: true,
      };
    }
    case "upsert": {
      const body = resourceBody(input, op);
      const type = typeFor(input, body, op);
      const query = `identifier=${encodeURIComponent(identifierToken(upsertIdentifier(input, body)))}`;
      return {
        method: "PUT",
        path: `${type}?${query}`,
        headers: withIfMatch(write),
        body: JSON.stringify({ ...body, resourceType: type }),
        retrySafe: true,
        writeKey: conditionalKey(type, query),
      };
    }
    case "patch": {
      const type = checkType(input.resourceType, op, true)!;
      const id = checkId(input.id, "id", op, true)!;
      if (!Array.isArray(input.body)) {
        throw badInput("patch: the body must be a JSON Patch array of operations");
      }
      for (const [i, step] of input.body.entries()) {
        if (!isObject(step) || typeof step.op !== "string" || typeof step.path !== "string") {
          throw badInput(`patch: operation ${i} must be an object with "op" and "path"`);
        }
      }
      return {
        method: "PATCH",
        path: `${type}/${id}`,
        headers: withIfMatch({ ...write, "Content-Type": "application/json-patch+json" }),
        body: JSON.stringify(input.body),
        retrySafe: Boolean(ifMatch),
      };
    }
    case "delete": {
      const type = checkType(input.resourceType, op, true)!;
      const id = checkId(input.id, "id", op, true)!;
      return { method: "DELETE", path: `${type}/${id}`, headers: withIfMatch(read), retrySafe: true };
    }
    case "transaction":
    case "batch": {
      const body = input.body;
      if (!isObject(body) || body.resourceType !== "Bundle") {
        throw badInput(`${op}: the body must be a Bundle`);
      }
      if (body.type !== op) throw badInput(`${op}: the Bundle's type must be "${op}"`);
      if (body.entry !== undefined && !Array.isArray(body.entry)) {
        throw badInput(`${op}: Bundle.entry must be an array`);
      }
      return {
        method: "POST",
        path: "",
        headers: prefer ? write : post,
        body: JSON.stringify(body),
        retrySafe: false,
      };
    }
    case "history": {
      const type = checkType(input.resourceType, op, false);
      const id = checkId(input.id, "id", op, false);
      if (id && !type) throw badInput("history: an id needs a resourceType");
      const base = type ? (id ? `${type}/${id}/_history` : `${type}/_history`) : "_history";
      return {
        method: "GET",
        path: withQuery(base, encodeParams(input.params, op)),
        headers: read,
        retrySafe: true,
      };
    }
    case "capabilities":
      return { method: "GET", path: "metadata", headers: read, retrySafe: true };
    case "operation": {
      const name = input.operationName;
      if (typeof name !== "string" || !OPERATION_NAME.test(name)) {
        throw badInput('operation: operationName is required, e.g. "$everything"');
      }
      const opName = name.startsWith("$") ? name : `$${name}`;
      const type = checkType(input.resourceType, op, false);
      const id = checkId(input.id, "id", op, false);
      if (id && !type) throw badInput("operation: an id needs a resourceType");
      const path = type ? (id ? `${type}/${id}/${opName}` : `${type}/${opName}`) : opName;
      const query = encodeParams(input.params, op);
      if (input.body === undefined || input.body === null) {
        return { method: "GET", path: withQuery(path, query), headers: read, retrySafe: true };
      }
      if (!isObject(input.body) || typeof input.body.resourceType !== "string") {
        throw badInput("operation: the body must be a FHIR resource, usually Parameters");
      }
      return {
        method: "POST",
        path: withQuery(path, query),
        headers: { Accept: FHIR_JSON, "Content-Type": FHIR_JSON },
        body: JSON.stringify(input.body),
        retrySafe: false,
      };
    }
  }
  throw badInput(`unknown operation ${JSON.stringify(op)}`);
}

/** Throws FhirError FHIR_BAD_INPUT when the interaction cannot be sent; sends nothing. */
export function validateInteraction(input: InteractionInput): void {
  planInteraction(input);
}

/** The service base without trailing slashes; throws FHIR_BAD_INPUT for anything but http(s). */
export function normalizeBaseUrl(baseUrl: string): URL {
  const text = String(baseUrl ?? "");
  const problem = httpUrlProblem(text);
  if (problem !== undefined) throw badInput(`baseUrl ${problem}`);
  const url = new URL(text.trim());
  url.search = "";
  url.hash = "";
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}

/** base + relative path ("" for the base itself). */
export function resolveUrl(base: URL, path: string): string {
  const root = base.href.replace(/\/+$/, "");
  return path === "" ? root : `${root}/${path}`;
}

/** The request line for error messages: no query string (search values can be PHI). */
export function describeRequest(method: string, url: string, base: URL): string {
  const root = base.href.replace(/\/+$/, "");
  // Under the base only at a path boundary: https://x/fhir2/Patient is not under https://x/fhir.
  const under = url === root || url.startsWith(`${root}/`) || url.startsWith(`${root}?`);
  let rest = under ? url.slice(root.length).replace(/^\//, "") : new URL(url).pathname;
  rest = rest.split("?")[0] ?? "";
  return `${method} ${rest === "" ? "[base]" : rest}`;
}
