import { CODES } from "../error-codes";
import { FhirError } from "./errors";
import type { CapabilitySummary } from "./types";

type Json = Record<string, unknown>;

const SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service";
const OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";
const BULK_DATA_CANONICAL = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data";
const BACKPORT_PREFIX = "http://hl7.org/fhir/uv/subscriptions-backport/";
const WEBSOCKET_EXTENSION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket";

function obj(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function uniq(values: Iterable<string | undefined>): string[] {
  const out: string[] = [];
  for (const v of values) if (v && !out.includes(v)) out.push(v);
  return out;
}

function opName(op: unknown): string | undefined {
  const name = str(obj(op)?.name);
  if (!name) return undefined;
  return name.startsWith("$") ? name : `$${name}`;
}

/** Every extension below `node` (any depth), for the few facts servers hang on extensions. */
function allExtensions(node: unknown, out: Json[] = [], depth = 0): Json[] {
  if (depth > 8) return out;
  if (Array.isArray(node)) {
    for (const item of node) allExtensions(item, out, depth + 1);
  } else if (obj(node)) {
    for (const [key, value] of Object.entries(node as Json)) {
      if (key === "extension" || key === "modifierExtension") {
        for (const ext of arr(value)) if (obj(ext)) out.push(ext as Json);
      }
      if (typeof value === "object" && value !== null) allExtensions(value, out, depth + 1);
    }
  }
  return out;
}

function extensionValue(ext: Json): string | undefined {
  const coding = obj(ext.valueCoding);
  return (
    str(ext.valueCode) ??
    str(ext.valueString) ??
    str(ext.valueUri) ??
    str(ext.valueUrl) ??
    str(ext.valueCanonical) ??
    str(coding?.code)
  );
}

function conditionalFlags(resource: Json): string[] {
  const out: string[] = [];
  if (resource.conditionalCreate === true) out.push("create");
  const read = str(resource.conditionalRead);
  if (read && read !== "not-supported") out.push("read");
  if (resource.conditionalUpdate === true) out.push("update");
  if (resource.conditionalPatch === true) out.push("patch");
  const del = str(resource.conditionalDelete);
  if (del && del !== "not-supported") out.push("delete");
  return out;
}

/**
 * What a client needs to know from a CapabilityStatement (and the server's
 * `.well-known/smart-configuration`, when given): versions, per type interactions, search
 * parameters, operations and conditional support, security, bulk data, subscriptions.
 */
export function summarizeCapabilities(statement: unknown, smartConfig?: unknown): CapabilitySummary {
  const cs = obj(statement);
  if (!cs || cs.resourceType !== "CapabilityStatement") {
    throw new FhirError(CODES.FHIR_BAD_RESPONSE, "the server's metadata is not a CapabilityStatement");
  }
  const rests = arr(cs.rest)
    .map(obj)
    .filter((r): r is Json => r !== undefined);
  const rest = rests.find((r) => r.mode === "server") ?? rests[0] ?? {};
  const software = obj(cs.software);

  const resources: CapabilitySummary["resources"] = {};
  const bulkExport: string[] = [];
  for (const r of arr(rest.resource)) {
    const resource = obj(r);
    const type = str(resource?.type);
    if (!resource || !type) continue;
    const operations = uniq(arr(resource.operation).map(opName));
    resources[type] = {
      interactions: uniq(arr(resource.interaction).map((i) => str(obj(i)?.code))),
      searchParams: uniq(arr(resource.searchParam).map((p) => str(obj(p)?.name))),
      operations,
      conditional: conditionalFlags(resource),
    };
    if (operations.includes("$export")) bulkExport.push(`${type}/$export`);
  }
  const operations = uniq(arr(rest.operation).map(opName));
  if (operations.includes("$export")) bulkExport.unshift("$export");

  const instantiates = uniq(arr(cs.instantiates).map(str));
  const bulkData = bulkExport.length > 0 || instantiates.some((c) => c.split("|")[0] === BULK_DATA_CANONICAL);

  const security = obj(rest.security) ?? {};
  const services: string[] = [];
  let smartCoded = false;
  for (const s of arr(security.service)) {
    const concept = obj(s);
    for (const c of arr(concept?.coding)) {
      const coding = obj(c);
      const code = str(coding?.code);
      if (code) services.push(code);
      if (code === "SMART-on-FHIR" && (!coding?.system || coding.system === SECURITY_SERVICE_SYSTEM)) {
        smartCoded = true;
      }
    }
    const text = str(concept?.text);
    if (text && services.length === 0) services.push(text);
    if (text && /smart/i.test(text)) smartCoded = true;
  }
  let tokenUrl: string | undefined;
  let authorizeUrl: string | undefined;
  let oauthUris = false;
  for (const e of arr(security.extension)) {
    const ext = obj(e);
    if (ext?.url !== OAUTH_URIS) continue;
    oauthUris = true;
    for (const s of arr(ext.extension)) {
      const sub = obj(s);
      if (sub?.url === "token") tokenUrl = str(sub.valueUri) ?? str(sub.valueUrl) ?? tokenUrl;
      if (sub?.url === "authorize") authorizeUrl = str(sub.valueUri) ?? str(sub.valueUrl) ?? authorizeUrl;
    }
  }
  const smart = obj(smartConfig);
  if (smart) {
    tokenUrl = str(smart.token_endpoint) ?? tokenUrl;
    authorizeUrl = str(smart.authorization_endpoint) ?? authorizeUrl;
  }

  const subscription = resources.Subscription;
  const channelTypes: string[] = [];
  const topics: string[] = [];
  let backport = instantiates.some((c) => c.startsWith(BACKPORT_PREFIX));
  for (const ext of allExtensions(rest)) {
    const url = str(ext.url) ?? "";
    if (url.startsWith(BACKPORT_PREFIX)) backport = true;
    if (url === WEBSOCKET_EXTENSION) channelTypes.push("websocket");
    else if (/channel-?type$/i.test(url)) {
      const value = extensionValue(ext);
      if (value) channelTypes.push(value);
    } else if (/subscriptiontopic-canonical$/i.test(url)) {
      const value = extensionValue(ext);
      if (value) topics.push(value);
    }
  }
  for (const p of arr(cs.implementationGuide).map(str)) if (p?.startsWith(BACKPORT_PREFIX)) backport = true;

  return {
    fhirVersion: str(cs.fhirVersion),
    software: software ? { name: str(software.name), version: str(software.version) } : undefined,
    formats: uniq(arr(cs.format).map(str)),
    resources,
    interactions: uniq(arr(rest.interaction).map((i) => str(obj(i)?.code))),
    operations,
    security: {
      smart: smartCoded || oauthUris || smart !== undefined,
      services: uniq(services),
      tokenUrl,
      authorizeUrl,
      cors: typeof security.cors === "boolean" ? security.cors : undefined,
      capabilities: smart ? uniq(arr(smart.capabilities).map(str)) : undefined,
      tokenEndpointAuthMethods: smart
        ? uniq(arr(smart.token_endpoint_auth_methods_supported).map(str))
        : undefined,
      scopesSupported: smart ? uniq(arr(smart.scopes_supported).map(str)) : undefined,
    },
    bulkData,
    bulkExport,
    subscriptions: {
      supported: subscription !== undefined,
      channelTypes: uniq(channelTypes.filter((c) => c !== "")),
      topics: uniq(topics),
      backport,
    },
    instantiates,
    smartConfiguration: smart,
    statement,
  };
}
