import type { WithId } from "@medplum/core";
import {
  OperationOutcomeError,
  badRequest,
  getReferenceString,
  getStatus,
  isOk,
  multipleMatches,
  normalizeOperationOutcome,
  notFound,
  parseSearchRequest,
} from "@medplum/core";
import type { FhirRequest, FhirRouteOptions, FhirRouter, HttpMethod } from "@medplum/fhir-router";
import type {
  Bundle,
  BundleEntry,
  OperationOutcome,
  ParametersParameter,
  Resource,
} from "@medplum/fhirtypes";
import type { IncomingHttpHeaders } from "node:http";
import type { SandboxRepository } from "./repository";
import { FHIR_ID } from "./repository";
import type { JudgeItem, Verdict } from "./validation";

/** What the sandbox's route handlers take: Medplum's batch flag, and the verdict of a prevalidated entry. */
export interface SandboxRouteOptions extends FhirRouteOptions {
  verdict?: Verdict;
}

/** Judges the resources batch entries write (each as it will be stored under `id`), all at once. */
export type Prevalidate = (items: JudgeItem[]) => Promise<Array<Verdict | undefined>>;

type Route = NonNullable<ReturnType<FhirRouter["find"]>>;

/** Entries run in this order of their interaction, each group in bundle order (as Medplum runs them). */
const ORDER = [
  "transaction",
  "batch",
  "delete",
  "create",
  "update",
  "patch",
  "operation",
  "search-system",
  "search-type",
  "read",
  "vread",
  "history-system",
  "history-type",
  "history-instance",
];

const LOCAL_REFERENCE = /urn(:|%3A)uuid(:|%3A)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const LOCAL_FULL_URL = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function entryResponse(outcome: OperationOutcome, resource?: Resource): BundleEntry {
  return {
    response: {
      outcome,
      status: getStatus(outcome).toString(),
      location: isOk(outcome) && resource?.id ? getReferenceString(resource as WithId<Resource>) : undefined,
    },
    resource,
  };
}

/**
 * Runs the entries of a batch or transaction Bundle (a transaction's atomicity is the caller's)
 * as Medplum's `processBatch` in its batch mode does, and with its answers: the same identity
 * resolution (ids assigned to creates and upserts up front, conditional URLs resolved to the one
 * match), urn:uuid references rewritten, the same order, the same outcomes per entry. Unlike it,
 * each entry's route is looked up once rather than three times, a conditional entry is searched
 * once before it runs rather than twice, entries are copied only when a urn:uuid needs rewriting,
 * and no batch events are dispatched (Medplum serializes the whole bundle for one). When `prevalidate` is given, the
 * resources that creates and updates write are validated together before the first entry runs,
 * so that validation can use every core.
 */
export async function processBundle(
  bundle: Bundle,
  req: FhirRequest,
  repo: SandboxRepository,
  router: FhirRouter,
  prevalidate?: Prevalidate,
): Promise<Bundle> {
  const entries = bundle.entry ?? [];
  const results: BundleEntry[] = new Array(entries.length);
  const routes: Array<Route | undefined> = new Array(entries.length);
  const resolved: Record<string, string> = Object.create(null);
  const groups = new Map<string, number[]>(ORDER.map((interaction) => [interaction, []]));
  let rewrites = false;

  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const method = entry.request?.method;
    if (!method) {
      results[i] = entryResponse(
        badRequest("Missing Bundle entry request method", `Bundle.entry[${i}].request.method`),
      );
      continue;
    }
    const request = entry.request!;
    if (!request.url) {
      results[i] = entryResponse(
        badRequest("Missing Bundle entry request URL", `Bundle.entry[${i}].request.url`),
      );
      continue;
    }
    const url = request.url;
    let route = router.find(method as HttpMethod, url);
    const interaction = route?.data?.interaction;
    if (!route || !interaction) {
      results[i] = entryResponse(notFound);
      continue;
    }
    let identity: { placeholder: string; reference: string } | undefined;
    try {
      identity = resolveIdentity(entry, interaction, i, repo);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      results[i] = entryResponse(err.outcome);
      continue;
    }
    if (identity) {
      resolved[identity.placeholder] = identity.reference;
      if (LOCAL_FULL_URL.test(identity.placeholder)) rewrites = true;
      if (request.url !== url) route = router.find(method as HttpMethod, request.url);
    }
    const group = route?.data?.interaction && groups.get(route.data.interaction);
    if (!group) {
      throw new OperationOutcomeError(
        badRequest(`Invalid REST interaction in batch: ${method} ${request.url}`),
      );
    }
    routes[i] = route;
    group.push(i);
  }

  const ordering = [...groups.values()].flat();
  const rewrite = (value: unknown): unknown => rewriteIds(value, resolved);
  const prepared = ordering.map((i) => (rewrites ? (rewrite(entries[i]) as BundleEntry) : entries[i]));
  const verdicts = prevalidate ? await judgeWrites(prepared, prevalidate) : [];

  for (let n = 0; n < ordering.length; n++) {
    const i = ordering[n];
    const entry = prepared[n];
    try {
      let route = routes[i];
      if (entry.request!.url !== entries[i].request!.url) {
        route = router.find(entry.request!.method as HttpMethod, entry.request!.url);
      }
      if (!route) throw new OperationOutcomeError(notFound);
      const options: SandboxRouteOptions = { batch: true, verdict: verdicts[n] };
      const [outcome, resource] = await route.handler(
        batchRequest(entry, route, req, rewrite),
        repo,
        router,
        options,
      );
      results[i] = entryResponse(outcome, resource);
    } catch (err) {
      if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 429) {
        // Rate limited: the rest of the batch is not attempted.
        for (let m = n; m < ordering.length; m++) results[ordering[m]] = entryResponse(err.outcome);
        break;
      }
      results[i] = entryResponse(normalizeOperationOutcome(err));
    }
  }
  return { resourceType: "Bundle", type: `${bundle.type}-response` as Bundle["type"], entry: results };
}

/**
 * Where an entry writes: a create or an upsert that creates gets its id now (so urn:uuid
 * references to it can be rewritten), a conditional URL becomes the reference of its one match.
 */
function resolveIdentity(
  entry: BundleEntry,
  interaction: string,
  index: number,
  repo: SandboxRepository,
): { placeholder: string; reference: string } | undefined {
  const placeholder = entry.fullUrl ?? "";
  const request = entry.request!;
  if (interaction === "create") {
    if (request.ifNoneExist) {
      const existing = repo.page(parseSearchRequest(`${request.url}?${request.ifNoneExist}`));
      if (existing.length === 1) return { placeholder, reference: getReferenceString(existing[0]) };
    }
    if (!entry.resource) return undefined;
    entry.resource.id = repo.generateId();
    return { placeholder, reference: getReferenceString(entry.resource as WithId<Resource>) };
  }
  if (interaction !== "delete" && interaction !== "update" && interaction !== "patch") return undefined;
  if (!request.url.includes("?")) {
    return request.url.includes("/") ? { placeholder, reference: request.url } : undefined;
  }
  const search = parseSearchRequest(request.url);
  search.count = 2;
  search.offset = 0;
  search.sortRules = undefined;
  const matches = repo.page(search);
  if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
  const target = matches[0];
  if (!target) {
    if (request.method === "DELETE") return undefined;
    if (request.method !== "PUT") {
      throw new OperationOutcomeError(
        badRequest(
          `Conditional ${request.method} did not match any resources`,
          `Bundle.entry[${index}].request.url`,
        ),
      );
    }
    if (!entry.resource) return undefined;
    if (entry.resource.id)
      throw new OperationOutcomeError(badRequest("Cannot provide ID for create by update"));
    entry.resource.id = repo.generateId();
    return { placeholder, reference: getReferenceString(entry.resource as WithId<Resource>) };
  }
  const reference = getReferenceString(target);
  request.url = reference;
  if (entry.resource) entry.resource.id = target.id;
  return { placeholder, reference };
}

/** A copy of `value` with every urn:uuid that names an entry of the bundle replaced by where it was written. */
function rewriteIds(value: unknown, resolved: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteIds(item, resolved));
  if (typeof value === "string") {
    const local = LOCAL_REFERENCE.exec(value)?.[0];
    if (!local) return value;
    const reference = resolved[local.replaceAll("%3A", ":")];
    return reference ? value.replaceAll(local, reference) : value;
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteIds(v, resolved)]));
  }
  return value;
}

/**
 * The verdicts for the entries whose handler writes their resource as it stands (plain creates
 * and updates, conditional or not), from one call to `prevalidate`. Creates with If-None-Exist
 * and patches write something else, and are validated when written.
 */
async function judgeWrites(
  prepared: BundleEntry[],
  prevalidate: Prevalidate,
): Promise<Array<Verdict | undefined>> {
  const positions: number[] = [];
  const items: JudgeItem[] = [];
  prepared.forEach((entry, n) => {
    const { method, ifNoneExist } = entry.request!;
    const resource = entry.resource;
    if ((method !== "PUT" && (method !== "POST" || ifNoneExist)) || !resource || typeof resource !== "object")
      return;
    const id = typeof resource.id === "string" && FHIR_ID.test(resource.id) ? resource.id : undefined;
    if (!id) return;
    positions.push(n);
    items.push({ resource, id });
  });
  const verdicts: Array<Verdict | undefined> = new Array(prepared.length);
  if (items.length === 0) return verdicts;
  const judged = await prevalidate(items);
  positions.forEach((n, k) => {
    verdicts[n] = judged[k];
  });
  return verdicts;
}

/** The request a route handler sees for an entry, as if it had come over HTTP. */
function batchRequest(
  entry: BundleEntry,
  route: Route,
  req: FhirRequest,
  rewrite: (value: unknown) => unknown,
): FhirRequest {
  const request = entry.request!;
  const headers = Object.create(null) as IncomingHttpHeaders;
  if (request.ifNoneExist) headers["if-none-exist"] = request.ifNoneExist;
  if (request.ifMatch) headers["if-match"] = request.ifMatch;
  if (request.ifNoneMatch) headers["if-none-match"] = request.ifNoneMatch;
  if (request.ifModifiedSince) headers["if-modified-since"] = request.ifModifiedSince;
  return {
    method: request.method as HttpMethod,
    url: route.query ? request.url.slice(0, request.url.indexOf("?")) : request.url,
    pathname: "",
    params: route.params ?? Object.create(null),
    query: route.query ?? Object.create(null),
    body: request.method === "PATCH" ? rewrite(patchBody(entry)) : entry.resource,
    headers,
    config: req.config,
  };
}

/** The JSON Patch of a PATCH entry: a Binary holding it, or FHIR Parameters of operations. */
function patchBody(entry: BundleEntry): unknown[] {
  const resource = entry.resource;
  let body: unknown;
  if (resource?.resourceType === "Binary") {
    if (!resource.data) throw new OperationOutcomeError(badRequest("Missing entry.resource.data"));
    body = JSON.parse(Buffer.from(resource.data, "base64").toString("utf8"));
  } else if (resource?.resourceType === "Parameters") {
    if (resource.parameter) {
      body = resource.parameter.filter((p) => p.name === "operation").map(patchOperation);
    }
  } else {
    throw new OperationOutcomeError(badRequest("Patch entry must include a Binary or Parameters resource"));
  }
  if (!Array.isArray(body))
    throw new OperationOutcomeError(badRequest("Decoded PATCH body must be an array"));
  return body;
}

function patchOperation(param: ParametersParameter): Record<string, unknown> {
  const parts = param.part ?? [];
  const op = parts.find((p) => p.name === "op")?.valueCode;
  if (!op) throw new OperationOutcomeError(badRequest("PATCH Parameters missing op"));
  const out: Record<string, unknown> = { op };
  if (op === "add" || op === "replace" || op === "test") {
    for (const part of parts) {
      if (part.name === "path") out.path = part.valueString;
      else if (part.name === "value") out.value = JSON.parse(part.valueString ?? "");
    }
  } else if (op === "copy" || op === "move") {
    for (const part of parts) {
      if (part.name === "path") out.path = part.valueString;
      else if (part.name === "from") out.from = part.valueString;
    }
  } else if (op === "remove") {
    out.path = parts.find((p) => p.name === "path")?.valueString;
  }
  return out;
}
