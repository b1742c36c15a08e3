import type { NodeMessage } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import {
  FHIR_BUNDLE_MODES,
  FHIR_OPERATIONS,
  RESOURCE_TYPE_NAME,
  type BundleMode,
  type FhirOperation,
  type FhirParams,
  type InteractionInput,
  type UpsertManyInput,
} from "../../lib/fhir/types";
import { isObject } from "../../lib/object";
import { numberProp } from "../shared/props";
import type { TypedProperty } from "../shared/typed";

/** The fhir-request properties as they are stored in the flow. */
export interface RequestProps {
  operation?: string;
  resourceType?: string;
  /** Where resourceType comes from: str (missing: str), msg, flow, global, env or jsonata. */
  resourceTypeType?: string;
  searchParams?: string;
  searchParamsType?: string;
  operationName?: string;
  operationNameType?: string;
  maxPages?: string | number;
  output?: string;
  /** upsert: "" (one PUT per msg, the default), "batch" or "transaction" (Bundles of upserts). */
  bundle?: string;
  /** upsert in Bundles: upserts per Bundle (default 100). */
  bundleSize?: string | number;
  /** upsert in Bundles: resource types created once and never updated, comma- or space-separated ("Task"). */
  createOnly?: string;
}

export const DEFAULT_MAX_PAGES = 100;

/** Operations whose request body is msg.payload. */
const WITH_BODY: ReadonlySet<FhirOperation> = new Set([
  "create",
  "update",
  "upsert",
  "patch",
  "transaction",
  "batch",
]);
/** Operations that take search or operation parameters. */
const TAKES_PARAMS: ReadonlySet<FhirOperation> = new Set(["search", "search-all", "history", "operation"]);
/** Operations that ignore the resource type. */
const NO_TYPE: ReadonlySet<FhirOperation> = new Set(["transaction", "batch", "capabilities"]);
/** The operation name rule of lib/fhir/request.ts, checked here to name where a bad name came from. */
const OPERATION_NAME = /^\$?[A-Za-z][A-Za-z0-9_-]*$/;

function bad(message: string): PackError {
  return new PackError(CODES.FHIR_BAD_INPUT, message);
}

function nonEmpty(v: unknown): boolean {
  return v !== undefined && v !== null && v !== "";
}

/** A msg property that must be a non-empty string (numbers are taken as their text). */
function stringProp(name: string, v: unknown): string | undefined {
  if (!nonEmpty(v)) return undefined;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v !== "string") throw bad(`msg.${name} must be a string, got ${describe(v)}`);
  const t = v.trim();
  return t === "" ? undefined : t;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (Buffer.isBuffer(v)) return "a Buffer";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

export function parseOperation(value: unknown): FhirOperation {
  const op = typeof value === "string" ? value.trim() : "";
  if (!(FHIR_OPERATIONS as readonly string[]).includes(op)) {
    throw bad(`unknown operation "${String(value)}": use one of ${FHIR_OPERATIONS.join(", ")}`);
  }
  return op as FhirOperation;
}

type ParamMap = Map<string, string[]>;

function fromQuery(query: string): ParamMap {
  const map: ParamMap = new Map();
  const q = query.trim().replace(/^\?/, "");
  if (q === "") return map;
  for (const [k, v] of new URLSearchParams(q)) {
    const list = map.get(k);
    if (list) list.push(v);
    else map.set(k, [v]);
  }
  return map;
}

function fromObject(obj: Record<string, unknown>, prefix = "msg.params."): ParamMap {
  const map: ParamMap = new Map();
  for (const [k, raw] of Object.entries(obj)) {
    if (raw === undefined || raw === null) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    const list: string[] = [];
    for (const v of values) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        throw bad(`${prefix}${k} must be a string, number, boolean or an array of them`);
      }
      list.push(String(v));
    }
    map.set(k, list);
  }
  return map;
}

/** msg.params (object or query string) over the node's searchParams, key by key. */
export function mergeParams(configured: string | undefined, fromMsg: unknown): FhirParams | undefined {
  const merged = fromQuery(configured ?? "");
  if (nonEmpty(fromMsg)) {
    let over: ParamMap;
    if (typeof fromMsg === "string") over = fromQuery(fromMsg);
    else if (isObject(fromMsg)) over = fromObject(fromMsg);
    else throw bad(`msg.params must be an object or a query string, got ${describe(fromMsg)}`);
    for (const [k, v] of over) merged.set(k, v);
  }
  if (merged.size === 0) return undefined;
  const out: FhirParams = {};
  for (const [k, v] of merged) out[k] = v.length === 1 ? v[0] : v;
  return out;
}

/** The properties a msg, flow, global, env or JSONata source may give. */
export interface TypedRequestProps {
  resourceType: TypedProperty;
  searchParams: TypedProperty;
  operationName: TypedProperty;
}

/** A msg override that is set: stringProp takes it (or throws) rather than the node's property. */
function overrides(v: unknown): boolean {
  return nonEmpty(v) && !(typeof v === "string" && v.trim() === "");
}

/** An evaluated name: no value leaves the property unset, a string must fit `rule`. */
function nameFrom(prop: TypedProperty, value: unknown, rule: RegExp, what: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string")
    throw bad(`${prop.label} from ${prop.from} must be a string, got ${describe(value)}`);
  const name = value.trim();
  if (name !== "" && !rule.test(name)) throw bad(`${prop.label} from ${prop.from} must be ${what}`);
  return name;
}

/** Evaluated search params: a query string, or an object of them as msg.params takes it. */
function queryFrom(prop: TypedProperty, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (!isObject(value)) {
    throw bad(`${prop.label} from ${prop.from} must be an object or a query string, got ${describe(value)}`);
  }
  const query = new URLSearchParams();
  for (const [k, list] of fromObject(value, `${prop.label} from ${prop.from}: parameter `)) {
    for (const v of list) query.append(k, v);
  }
  return query.toString();
}

/**
 * The node's properties for one msg: each one whose source is not "str" evaluated now, only when
 * the operation uses it and the msg does not override it, and checked as the editor checks a
 * written value. A "str" property is left as written (the client checks it per msg, as before).
 */
export async function propsFor(
  props: RequestProps,
  typed: TypedRequestProps,
  msg: NodeMessage,
): Promise<RequestProps> {
  const operation = parseOperation(props.operation);
  const out: RequestProps = { ...props };
  const { resourceType, searchParams, operationName } = typed;
  if (resourceType.source !== "str" && !NO_TYPE.has(operation) && !overrides(msg.resourceType)) {
    out.resourceType = nameFrom(
      resourceType,
      await resourceType.evaluate(msg),
      RESOURCE_TYPE_NAME,
      'a FHIR resource type name such as "Patient"',
    );
  }
  if (searchParams.source !== "str" && TAKES_PARAMS.has(operation)) {
    out.searchParams = queryFrom(searchParams, await searchParams.evaluate(msg));
  }
  if (operationName.source !== "str" && operation === "operation" && !overrides(msg.operationName)) {
    out.operationName = nameFrom(
      operationName,
      await operationName.evaluate(msg),
      OPERATION_NAME,
      'an operation name such as "$everything"',
    );
  }
  return out;
}

function identifierOf(v: unknown): InteractionInput["identifier"] {
  if (!nonEmpty(v)) return undefined;
  if (typeof v === "string" || isObject(v)) return v as InteractionInput["identifier"];
  throw bad(`msg.identifier must be "system|value" or {system, value}, got ${describe(v)}`);
}

/**
 * The interaction one msg asks for: the node's properties with the documented msg overrides
 * (msg.resourceType, msg.id, msg.versionId, msg.params, msg.payload, msg.ifMatch,
 * msg.ifNoneExist, msg.prefer, msg.identifier, msg.operationName). Throws FHIR_BAD_INPUT for msg properties
 * of the wrong kind; the client's validateInteraction checks the interaction itself.
 */
export function buildInteraction(props: RequestProps, msg: Record<string, unknown>): InteractionInput {
  const operation = parseOperation(props.operation);
  const input: InteractionInput = { operation };

  if (WITH_BODY.has(operation)) {
    if (!nonEmpty(msg.payload)) throw bad(`${operation} needs a body in msg.payload`);
    if (typeof msg.payload !== "object" || Buffer.isBuffer(msg.payload)) {
      throw bad(`${operation} needs an object in msg.payload, got ${describe(msg.payload)}`);
    }
    input.body = msg.payload;
  } else if (operation === "operation" && isObject(msg.payload)) {
    // Anything else (an inject timestamp, a string) means an operation without a body, sent as GET.
    input.body = msg.payload;
  }

  const resourceType =
    stringProp("resourceType", msg.resourceType) ?? (props.resourceType?.trim() || undefined);
  if (resourceType !== undefined) input.resourceType = resourceType;
  const id = stringProp("id", msg.id);
  if (id !== undefined) input.id = id;
  const versionId = stringProp("versionId", msg.versionId);
  if (versionId !== undefined) input.versionId = versionId;

  if (TAKES_PARAMS.has(operation)) {
    const params = mergeParams(props.searchParams, msg.params);
    if (params !== undefined) input.params = params;
  }

  const ifMatch = stringProp("ifMatch", msg.ifMatch);
  if (ifMatch !== undefined) input.ifMatch = ifMatch;
  const ifNoneExist = stringProp("ifNoneExist", msg.ifNoneExist);
  if (ifNoneExist !== undefined) input.ifNoneExist = ifNoneExist;
  const prefer = stringProp("prefer", msg.prefer);
  if (prefer !== undefined) input.prefer = prefer as InteractionInput["prefer"];
  if (operation === "upsert") {
    const identifier = identifierOf(msg.identifier);
    if (identifier !== undefined) input.identifier = identifier;
  }

  if (operation === "operation") {
    const name = stringProp("operationName", msg.operationName) ?? (props.operationName?.trim() || undefined);
    if (name === undefined)
      throw bad("operation needs an operation name (msg.operationName), e.g. $everything");
    input.operationName = name;
  }
  if (operation === "search-all") {
    const rule = { name: "maxPages", code: CODES.FHIR_BAD_INPUT, min: 1 };
    input.maxPages = numberProp(props.maxPages, DEFAULT_MAX_PAGES, rule);
  }
  return input;
}

const METHODS: Record<FhirOperation, string> = {
  read: "GET",
  vread: "GET",
  search: "GET",
  "search-all": "GET",
  history: "GET",
  capabilities: "GET",
  create: "POST",
  transaction: "POST",
  batch: "POST",
  update: "PUT",
  upsert: "PUT",
  patch: "PATCH",
  delete: "DELETE",
  operation: "POST",
};

/** "GET Patient", "POST Bundle", "GET metadata": what the status shows while a request runs. */
export function workingLabel(input: InteractionInput): string {
  const method =
    input.operation === "operation" && input.body === undefined ? "GET" : METHODS[input.operation];
  let target: string;
  if (input.operation === "capabilities") target = "metadata";
  else if (input.operation === "operation") target = input.operationName ?? "";
  else if (input.operation === "transaction" || input.operation === "batch") target = "Bundle";
  else target = input.resourceType ?? (input.operation === "history" ? "_history" : "");
  return `${method} ${target}`.trim();
}

/** The node's bundle property: undefined for a plain upsert (one PUT per msg). */
export function parseBundle(value: unknown): BundleMode | undefined {
  const mode = typeof value === "string" ? value.trim() : "";
  if (mode === "" || mode === "none") return undefined;
  if (!(FHIR_BUNDLE_MODES as readonly string[]).includes(mode)) {
    throw bad(`unknown bundle "${String(value)}": use batch, transaction or none`);
  }
  return mode as BundleMode;
}

/** The create-only resource types of the node's property: "Task, Flag" -> ["Task", "Flag"]. */
export function parseCreateOnly(value: unknown): string[] {
  const text = typeof value === "string" ? value.trim() : "";
  if (text === "") return [];
  const types = text.split(/[\s,]+/).filter((t) => t !== "");
  const bad = types.find((t) => !RESOURCE_TYPE_NAME.test(t));
  if (bad !== undefined) {
    throw new PackError(
      CODES.FHIR_BAD_INPUT,
      `create only must list FHIR resource types such as Task, not ${JSON.stringify(bad.slice(0, 40))}`,
    );
  }
  return types;
}

/**
 * An upsert in Bundles: msg.payload (one resource or an array), msg.references, msg.prefer and
 * msg.resourceType over the node's properties. undefined when the node does plain upserts.
 */
export function buildUpsertMany(
  props: RequestProps,
  msg: Record<string, unknown>,
): UpsertManyInput | undefined {
  if (parseOperation(props.operation) !== "upsert") return undefined;
  const bundle = parseBundle(props.bundle);
  if (bundle === undefined) return undefined;
  if (nonEmpty(msg.identifier)) {
    throw bad(
      "msg.identifier applies to a single upsert: in Bundles each resource is matched by its own identifier",
    );
  }
  const payload = msg.payload;
  if (!Array.isArray(payload) && !isObject(payload)) {
    const got = payload === undefined || payload === null ? "nothing" : describe(payload);
    throw bad(`upsert in Bundles needs a resource or an array of them in msg.payload, got ${got}`);
  }
  const input: UpsertManyInput = { resources: payload, bundle, bundleSize: props.bundleSize };
  const createOnly = parseCreateOnly(props.createOnly);
  if (createOnly.length > 0) input.createOnly = createOnly;
  const resourceType =
    stringProp("resourceType", msg.resourceType) ?? (props.resourceType?.trim() || undefined);
  if (resourceType !== undefined) input.resourceType = resourceType;
  const prefer = stringProp("prefer", msg.prefer);
  if (prefer !== undefined) input.prefer = prefer as UpsertManyInput["prefer"];
  if (nonEmpty(msg.references)) {
    if (!isObject(msg.references)) {
      throw bad(`msg.references must be an object, got ${describe(msg.references)}`);
    }
    input.references = msg.references as Record<string, string>;
  }
  return input;
}
