import type { WithId } from "@medplum/core";
import {
  OperationOutcomeError,
  allOk,
  badRequest,
  created,
  getStatus,
  multipleMatches,
  notFound,
  preconditionFailed,
} from "@medplum/core";
import type { FhirRequest, FhirRequestConfig, FhirResponse, HttpMethod } from "@medplum/fhir-router";
import { FhirRouter } from "@medplum/fhir-router";
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from "@medplum/fhirtypes";
import { randomUUID } from "node:crypto";
import type { Prevalidate, SandboxRouteOptions } from "./batch";
import { processBundle } from "./batch";
import { conditionalReferences, unresolvedOutcome } from "./references";
import type { SandboxRepository, VersionRecord } from "./repository";
import { UNPROCESSABLE_ID, conflictOutcome, parseETag } from "./repository";
import { isKnownResourceType, knownResourceTypes } from "./schema";
import type { ParsedSearch, Query, SearchOptions } from "./search";
import { pairsOf, parseCriteria, parseSearch, queryFromString, subset } from "./search";
import type { ValidationPool } from "./validation";

/** What the HTTP adapter passes to every handler (and the batch processor passes on to entries). */
export interface SandboxRequestConfig extends FhirRequestConfig {
  /** Absolute service base of this request, e.g. http://127.0.0.1:8080/fhir/R4. */
  baseUrl: string;
  /** `Prefer: handling=strict`: unknown search parameters are an error. */
  strict?: boolean;
}

/** A transaction entry failed: the transaction is rolled back and answers with this status. */
export class TransactionFailure extends OperationOutcomeError {
  readonly status: number;
  constructor(outcome: OperationOutcome, status: number) {
    super(outcome);
    this.status = status;
  }
}

/** HTTP status for an outcome: Medplum's mapping plus the ids this sandbox adds. */
export function statusOf(outcome: OperationOutcome): number {
  if (outcome.id === UNPROCESSABLE_ID) return 422;
  return getStatus(outcome);
}

const etag = (versionId: string | undefined): string => `W/"${versionId ?? ""}"`;

function header(req: FhirRequest, name: string): string | undefined {
  const value = req.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

function configOf(req: FhirRequest): SandboxRequestConfig {
  const config = req.config as SandboxRequestConfig | undefined;
  if (!config?.baseUrl) throw new Error("request config lacks baseUrl");
  return config;
}

function assertType(resourceType: string): void {
  if (!isKnownResourceType(resourceType)) {
    throw new OperationOutcomeError({
      ...notFound,
      issue: [
        {
          severity: "error",
          code: "not-supported",
          details: { text: `Unknown resource type ${JSON.stringify(resourceType)}` },
        },
      ],
    });
  }
}

function bodyResource(req: FhirRequest, resourceType: string): Resource {
  const body = req.body as Resource | undefined;
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new OperationOutcomeError(badRequest("The request body must be a FHIR resource"));
  }
  if (body.resourceType !== resourceType) {
    throw new OperationOutcomeError(
      badRequest(`Incorrect resource type: expected ${resourceType}, found ${body.resourceType ?? "none"}`),
    );
  }
  return body;
}

function mismatch(text: string): OperationOutcome {
  return { ...preconditionFailed, issue: [{ severity: "error", code: "conflict", details: { text } }] };
}

/**
 * A relative path of plain characters, then a query of printable ASCII without a fragment: what
 * the URL parser does to such a query (percent-encode `"` `'` `<` `>`) URLSearchParams undoes, so
 * it reads the query the same without the parser. Not so for spaces and controls (trimmed or
 * dropped by the parser), non-ASCII characters (which Node's URLSearchParams mangles when the
 * query also holds a malformed escape) or a query starting with "?" (which URLSearchParams drops).
 */
const PLAIN_PATH_AND_QUERY = /^(?!\/\/)[\w$./-]*\?(?!\?)[!"$-~]*$/;

/**
 * Medplum's router, reading the query of a plain URL without the URL parser. The batch processor
 * finds the route of every entry three times, and Medplum's Router parses each query with
 * `new URL(path, base).searchParams`, twice the cost of URLSearchParams over the query. Any other
 * URL (spaces, controls, a fragment, an absolute or odd path) goes to Medplum's own find.
 */
class SandboxRouter extends FhirRouter {
  override find(method: HttpMethod, url: string): ReturnType<FhirRouter["find"]> {
    const q = url.indexOf("?");
    if (q < 0 || !PLAIN_PATH_AND_QUERY.test(url)) return super.find(method, url);
    const route = super.find(method, url.slice(0, q));
    if (!route) return route;
    // As Medplum builds it: keys in order of first appearance, a repeated key's values in an array.
    const query: Record<string, string | string[]> = Object.create(null);
    for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
      const existing = query[key];
      if (existing === undefined) query[key] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else query[key] = [existing, value];
    }
    return { ...route, query };
  }
}

/**
 * Builds the FhirRouter the sandbox serves: Medplum's router, with handlers that add what its
 * defaults leave out (410 for deleted resources, If-Match on every write, 201 for
 * update-as-create, paging links, type and system history, atomic transactions), and the
 * sandbox's batch processor, which validates what a batch writes on `validators` when given.
 */
export function createSandboxRouter(
  repo: SandboxRepository,
  searchOptions: SearchOptions,
  validators?: ValidationPool,
): FhirRouter {
  const router = new SandboxRouter();
  // Medplum's defaults (including $graphql) go; every interaction below is registered anew.
  router.router.routes.length = 0;

  /** Throws 412 unless the If-Match header (if any) names the current version of the resource. */
  function checkIfMatch(req: FhirRequest, resourceType: string, id: string): void {
    const value = header(req, "if-match");
    if (value === undefined) return;
    const current = repo.current(resourceType, id);
    if (value.trim() === "*") {
      if (!current) throw new OperationOutcomeError(mismatch(`${resourceType}/${id} does not exist`));
      return;
    }
    const wanted = parseETag(value);
    if (!current || current.meta?.versionId !== wanted) {
      throw new OperationOutcomeError(
        mismatch(
          current
            ? `${resourceType}/${id} is at version ${current.meta?.versionId}, not ${wanted}`
            : `${resourceType}/${id} does not exist, so version ${wanted} cannot match`,
        ),
      );
    }
  }

  function searchBundle(
    req: FhirRequest,
    path: string,
    parsed: ParsedSearch,
    matches: WithId<Resource>[],
  ): Bundle {
    const base = configOf(req).baseUrl;
    const { count, offset } = parsed;
    const total = matches.length;
    const page = count === 0 ? [] : matches.slice(offset, offset + count);
    const link = pageLinks(`${base}/${path}`, parsed.applied, count);
    const links: BundleLink[] = [link("self", offset)];
    if (count > 0) {
      links.push(link("first", 0));
      if (offset > 0) links.push(link("previous", Math.max(0, offset - count)));
      if (offset + count < total) links.push(link("next", offset + count));
      links.push(link("last", total === 0 ? 0 : Math.floor((total - 1) / count) * count));
    }
    return {
      resourceType: "Bundle",
      id: randomUUID(),
      meta: { lastUpdated: new Date().toISOString() },
      type: "searchset",
      ...(parsed.omitTotal ? {} : { total }),
      link: links,
      // Stored versions, shared (never changed; subset copies what it changes): the answer is only serialized.
      entry: page.map((stored) => ({
        fullUrl: `${base}/${stored.resourceType}/${stored.id}`,
        resource: parsed.elements ? subset(stored, parsed.elements) : stored,
        search: { mode: "match" },
      })),
    };
  }

  async function searchType(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    let query: Query = req.query;
    if (req.method === "POST") {
      query = { ...req.query };
      for (const [key, value] of pairsOf((req.body as Query | undefined) ?? {})) {
        const existing = query[key];
        query[key] = existing === undefined ? value : ([] as string[]).concat(existing, value);
      }
    }
    const parsed = parseSearch(resourceType, query, Boolean(configOf(req).strict), searchOptions);
    return [allOk, searchBundle(req, resourceType, parsed, repo.match(parsed.request))];
  }

  async function searchSystem(req: FhirRequest): Promise<FhirResponse> {
    const typeParam = pairsOf(req.query)
      .filter(([key]) => key === "_type")
      .flatMap(([, value]) => value.split(","))
      .filter(Boolean);
    for (const type of typeParam) assertType(type);
    const types = typeParam.length ? [...new Set(typeParam)] : knownResourceTypes();
    const rest: Query = { ...req.query };
    delete rest._type;
    const strict = Boolean(configOf(req).strict);
    const matches: WithId<Resource>[] = [];
    let parsed: ParsedSearch | undefined;
    for (const type of types) {
      const perType = parseSearch(type, rest, strict && typeParam.length > 0, searchOptions);
      parsed ??= perType;
      matches.push(...repo.match(perType.request));
    }
    if (!parsed) throw new OperationOutcomeError(badRequest("No resource types to search"));
    if (typeParam.length) parsed.applied.unshift(["_type", types.join(",")]);
    return [allOk, searchBundle(req, "", parsed, matches)];
  }

  function historyBundle(
    req: FhirRequest,
    path: string,
    scope: { resourceType?: string; id?: string },
  ): Bundle {
    const base = configOf(req).baseUrl;
    let count = searchOptions.defaultCount;
    let offset = 0;
    let since: string | undefined;
    const applied: [string, string][] = [];
    for (const [key, value] of pairsOf(req.query)) {
      if (key === "_count" || key === "_offset") {
        if (!/^\d{1,9}$/.test(value))
          throw new OperationOutcomeError(badRequest(`${key} must be a non-negative integer`));
        if (key === "_count") count = Math.min(Number(value), searchOptions.maxCount);
        else offset = Number(value);
      } else if (key === "_since") {
        const time = Date.parse(value);
        if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time)) {
          throw new OperationOutcomeError(badRequest("_since must be a FHIR instant"));
        }
        since = new Date(time).toISOString();
        applied.push([key, value]);
      }
    }
    const records = repo.versions({ ...scope, since });
    const total = records.length;
    const link = pageLinks(`${base}/${path}`, applied, count);
    const links: BundleLink[] = [link("self", offset)];
    if (count > 0) {
      if (offset > 0) links.push(link("previous", Math.max(0, offset - count)));
      if (offset + count < total) links.push(link("next", offset + count));
    }
    return {
      resourceType: "Bundle",
      id: randomUUID(),
      meta: { lastUpdated: new Date().toISOString() },
      type: "history",
      total,
      link: links,
      entry: records.slice(offset, offset + count).map((r) => historyEntry(base, r)),
    };
  }

  async function create(
    req: FhirRequest,
    _r: unknown,
    _rt: unknown,
    options?: SandboxRouteOptions,
  ): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    const resource = bodyResource(req, resourceType);
    const assignedId = Boolean(options?.batch);
    if (!assignedId) delete resource.id;
    const ifNoneExist = header(req, "if-none-exist");
    if (ifNoneExist !== undefined) {
      const text = ifNoneExist.includes("?") ? ifNoneExist.slice(ifNoneExist.indexOf("?") + 1) : ifNoneExist;
      const criteria = parseCriteria(resourceType, queryFromString(text), searchOptions);
      const result = await repo.conditionalCreate(resource, criteria, { assignedId });
      return [result.outcome, result.resource];
    }
    return [created, repo.createStored(resource, { assignedId, verdict: options?.verdict })];
  }

  async function read(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType, id } = req.params;
    assertType(resourceType);
    return [allOk, repo.readStored(resourceType, id)];
  }

  async function vread(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType, id, vid } = req.params;
    assertType(resourceType);
    return [allOk, repo.readVersionStored(resourceType, id, vid)];
  }

  async function update(
    req: FhirRequest,
    _r: unknown,
    _rt: unknown,
    options?: SandboxRouteOptions,
  ): Promise<FhirResponse> {
    const { resourceType, id } = req.params;
    assertType(resourceType);
    const resource = bodyResource(req, resourceType);
    if (resource.id !== id) {
      throw new OperationOutcomeError(
        badRequest(
          `The resource id (${resource.id ?? "none"}) must match the URL (${id})`,
          `${resourceType}.id`,
        ),
      );
    }
    checkIfMatch(req, resourceType, id);
    const existed = repo.current(resourceType, id) !== undefined;
    const result = repo.updateStored(resource, { verdict: options?.verdict });
    return [existed ? allOk : created, result];
  }

  async function conditionalUpdate(
    req: FhirRequest,
    _r: unknown,
    _rt: unknown,
    options?: SandboxRouteOptions,
  ): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    const resource = bodyResource(req, resourceType);
    const matches = repo.match(parseCriteria(resourceType, req.query, searchOptions));
    if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
    if (matches.length === 0) {
      if (header(req, "if-match") !== undefined) {
        throw new OperationOutcomeError(
          mismatch("No resource matches the criteria, so If-Match cannot match"),
        );
      }
      if (resource.id) {
        if (repo.current(resourceType, resource.id)) {
          throw new OperationOutcomeError(
            conflictOutcome(`${resourceType}/${resource.id} exists but does not match the criteria`),
          );
        }
        return [
          created,
          repo.createWithIdStored({ ...resource, id: resource.id }, { verdict: options?.verdict }),
        ];
      }
      return [created, repo.createStored(resource, { verdict: options?.verdict })];
    }
    const target = matches[0];
    if (resource.id && resource.id !== target.id) {
      throw new OperationOutcomeError(
        badRequest(`The resource id ${resource.id} differs from the matching ${resourceType}/${target.id}`),
      );
    }
    checkIfMatch(req, resourceType, target.id);
    return [allOk, repo.updateStored({ ...resource, id: target.id }, { verdict: options?.verdict })];
  }

  async function patch(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType, id } = req.params;
    assertType(resourceType);
    checkIfMatch(req, resourceType, id);
    return [allOk, repo.patchStored(resourceType, id, req.body)];
  }

  async function conditionalPatch(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    const matches = repo.match(parseCriteria(resourceType, req.query, searchOptions));
    if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
    if (matches.length === 0) {
      throw new OperationOutcomeError({
        ...notFound,
        issue: [
          { severity: "error", code: "not-found", details: { text: "No resource matches the criteria" } },
        ],
      });
    }
    checkIfMatch(req, resourceType, matches[0].id);
    return [allOk, repo.patchStored(resourceType, matches[0].id, req.body)];
  }

  async function remove(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType, id } = req.params;
    assertType(resourceType);
    checkIfMatch(req, resourceType, id);
    repo.delete(resourceType, id);
    return [allOk];
  }

  async function conditionalRemove(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    const matches = repo.match(parseCriteria(resourceType, req.query, searchOptions));
    if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
    if (matches.length === 1) {
      checkIfMatch(req, resourceType, matches[0].id);
      repo.delete(resourceType, matches[0].id);
    }
    return [allOk];
  }

  async function historyInstance(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType, id } = req.params;
    assertType(resourceType);
    return [allOk, historyBundle(req, `${resourceType}/${id}/_history`, { resourceType, id })];
  }

  async function historyType(req: FhirRequest): Promise<FhirResponse> {
    const { resourceType } = req.params;
    assertType(resourceType);
    return [allOk, historyBundle(req, `${resourceType}/_history`, { resourceType })];
  }

  async function historySystem(req: FhirRequest): Promise<FhirResponse> {
    return [allOk, historyBundle(req, "_history", {})];
  }

  async function batch(req: FhirRequest): Promise<FhirResponse> {
    const bundle = req.body as Bundle | undefined;
    if (!bundle || bundle.resourceType !== "Bundle") {
      throw new OperationOutcomeError(badRequest("POST to the base needs a batch or transaction Bundle"));
    }
    if (bundle.type !== "batch" && bundle.type !== "transaction") {
      throw new OperationOutcomeError(
        badRequest(`Bundle.type must be batch or transaction, not ${bundle.type}`),
      );
    }
    const base = configOf(req).baseUrl;
    const prefer = preferredReturn(header(req, "prefer"));
    const responseType = bundle.type === "batch" ? "batch-response" : "transaction-response";
    const entries = bundle.entry ?? [];
    if (entries.length === 0) {
      return [allOk, { resourceType: "Bundle", id: randomUUID(), type: responseType, entry: [] }];
    }
    const methods = entries.map((e) => e.request?.method);
    const prevalidate: Prevalidate | undefined =
      repo.validate && validators ? (items) => validators.judge(items) : undefined;
    if (bundle.type === "batch") {
      const result = await processBundle(bundle, req, repo, router, prevalidate);
      return [allOk, finishResponse(result, methods, base, prefer)];
    }
    assertDistinctTargets(entries);
    resolveConditionalReferences(entries);
    // The entries run as a batch's do, inside a repository transaction that any failure rolls back.
    const result = await repo.withTransaction(async () => {
      const response = await processBundle(bundle, req, repo, router, prevalidate);
      finishResponse(response, methods, base, prefer);
      response.entry?.forEach((entry, i) => {
        const status = Number.parseInt(entry.response?.status ?? "500", 10);
        if (status >= 300) {
          const outcome = entry.response?.outcome ?? badRequest("Transaction entry failed");
          throw new TransactionFailure(
            {
              ...outcome,
              issue: (outcome.issue ?? []).map((issue) => ({
                ...issue,
                expression: issue.expression ?? [`Bundle.entry[${i}]`],
                diagnostics: `Bundle.entry[${i}] (${methods[i]} ${entries[i].request?.url}) failed; the transaction was rolled back`,
              })),
            },
            status,
          );
        }
      });
      return response;
    });
    return [allOk, result];
  }

  /**
   * A transaction's conditional references, each replaced by the one resource its search finds in
   * what the server holds before the transaction (a resource the transaction itself writes is
   * referred to by its entry's fullUrl). None or several: the transaction fails.
   */
  function resolveConditionalReferences(entries: BundleEntry[]): void {
    entries.forEach((entry, i) => {
      for (const ref of conditionalReferences(entry.resource)) {
        const expression = `Bundle.entry[${i}].resource.${ref.path}`;
        if (!isKnownResourceType(ref.resourceType)) {
          throw new TransactionFailure(
            badRequest(`Unknown resource type ${JSON.stringify(ref.resourceType)}`, expression),
            400,
          );
        }
        let matches: WithId<Resource>[];
        try {
          matches = repo.match(parseCriteria(ref.resourceType, queryFromString(ref.query), searchOptions));
        } catch (err) {
          if (!(err instanceof OperationOutcomeError)) throw err;
          const issue = (err.outcome.issue ?? []).map((x) => ({ ...x, expression: [expression] }));
          throw new TransactionFailure({ ...err.outcome, issue }, statusOf(err.outcome));
        }
        if (matches.length !== 1) {
          throw new TransactionFailure(
            unresolvedOutcome(matches.length, expression),
            matches.length > 1 ? 412 : 400,
          );
        }
        ref.set(`${ref.resourceType}/${matches[0].id}`);
      }
    });
  }

  router.add("POST", "", batch, "batch");
  router.add("GET", "", searchSystem, "search-system");
  router.add("GET", "_history", historySystem, "history-system");
  router.add("GET", ":resourceType", searchType, "search-type");
  router.add("POST", ":resourceType/_search", searchType, "search-type");
  router.add("GET", ":resourceType/_history", historyType, "history-type");
  router.add("POST", ":resourceType", create, "create");
  router.add("GET", ":resourceType/:id", read, "read");
  router.add("GET", ":resourceType/:id/_history", historyInstance, "history-instance");
  router.add("GET", ":resourceType/:id/_history/:vid", vread, "vread");
  router.add("PUT", ":resourceType/:id", update, "update");
  router.add("PUT", ":resourceType", conditionalUpdate, "update");
  router.add("PATCH", ":resourceType/:id", patch, "patch");
  router.add("PATCH", ":resourceType", conditionalPatch, "patch");
  router.add("DELETE", ":resourceType/:id", remove, "delete");
  router.add("DELETE", ":resourceType", conditionalRemove, "delete");
  return router;
}

/**
 * Builds the paging links of one search or history answer: `applied` (which never holds `_count`
 * or `_offset`), then `_count`, then `_offset` when past the first page, as URLSearchParams would
 * write them with set(), the query encoded once per answer rather than once per link.
 */
function pageLinks(
  target: string,
  applied: [string, string][],
  count: number,
): (relation: string, at: number) => BundleLink {
  const query = new URLSearchParams(applied).toString();
  const prefix = `${target}?${query}${query ? "&" : ""}_count=${count}`;
  return (relation, at) => ({ relation, url: at > 0 ? `${prefix}&_offset=${at}` : prefix });
}

function historyEntry(base: string, record: VersionRecord): BundleEntry {
  const { resourceType, id, versionId } = record;
  return {
    fullUrl: `${base}/${resourceType}/${id}`,
    ...(record.resource ? { resource: record.resource } : {}),
    request: {
      method: record.method,
      url: record.method === "POST" ? resourceType : `${resourceType}/${id}`,
    },
    response: {
      status: record.status,
      etag: etag(versionId),
      lastModified: record.lastUpdated,
      ...(record.resource ? { location: `${resourceType}/${id}/_history/${versionId}` } : {}),
    },
  };
}

/** FHIR forbids two entries of one transaction acting on the same resource. */
function assertDistinctTargets(entries: BundleEntry[]): void {
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const method = entry.request?.method;
    const url = entry.request?.url;
    if (!url || method === "GET" || method === "HEAD" || method === "POST" || url.includes("?")) return;
    const target = url.split("/").slice(0, 2).join("/");
    if (seen.has(target)) {
      throw new OperationOutcomeError(
        badRequest(
          `Bundle.entry[${i}]: ${target} is the target of an earlier entry`,
          `Bundle.entry[${i}].request.url`,
        ),
      );
    }
    seen.add(target);
  });
}

export type PreferredReturn = "minimal" | "representation" | "OperationOutcome";

/** What a `Prefer` header asks a write to answer with (its return=), if anything. */
export function preferredReturn(prefer: string | undefined): PreferredReturn | undefined {
  const wanted = /return=(minimal|representation|OperationOutcome)/.exec(prefer ?? "")?.[1];
  return wanted as PreferredReturn | undefined;
}

/** The body of a write answered with `Prefer: return=OperationOutcome`. */
export const WRITTEN: OperationOutcome = {
  resourceType: "OperationOutcome",
  issue: [{ severity: "information", code: "informational", details: { text: "OK" } }],
};

/**
 * Gives every entry of a batch/transaction response the status, location and ETag HTTP would,
 * and to a successful write entry the body `Prefer: return=` asks for (as for a single write).
 */
function finishResponse(
  bundle: Bundle,
  methods: (string | undefined)[],
  base: string,
  prefer?: PreferredReturn,
): Bundle {
  bundle.id = randomUUID();
  bundle.entry?.forEach((entry, i) => {
    const response = entry.response ?? { status: "500" };
    entry.response = response;
    const outcome = response.outcome;
    const status = outcome ? statusOf(outcome) : Number.parseInt(response.status, 10);
    response.status = String(methods[i] === "DELETE" && status === 200 ? 204 : status);
    const resource = entry.resource;
    if (status < 300) {
      delete response.outcome;
      delete response.location;
      const versionId = resource?.meta?.versionId;
      if (resource?.id && versionId && methods[i] !== "GET") {
        entry.fullUrl = `${base}/${resource.resourceType}/${resource.id}`;
        response.location = `${resource.resourceType}/${resource.id}/_history/${versionId}`;
        response.etag = etag(versionId);
        if (resource.meta?.lastUpdated) response.lastModified = resource.meta.lastUpdated;
      }
      const write = methods[i] === "POST" || methods[i] === "PUT" || methods[i] === "PATCH";
      if (write && (prefer === "minimal" || prefer === "OperationOutcome")) {
        delete entry.resource;
        if (prefer === "OperationOutcome") response.outcome = WRITTEN;
      }
    }
  });
  return bundle;
}
