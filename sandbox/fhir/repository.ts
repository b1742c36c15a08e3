import type { Filter, FhirPathAtom, SearchRequest, SortRule, WithId } from "@medplum/core";
import {
  OperationOutcomeError,
  Operator,
  badRequest,
  deepClone,
  evalFhirPath,
  gone,
  parseFhirPath,
  matchesSearchRequest,
  notFound,
  preconditionFailed,
} from "@medplum/core";
import type { CreateResourceOptions, ReadHistoryOptions, UpdateResourceOptions } from "@medplum/fhir-router";
import { MemoryRepository } from "@medplum/fhir-router";
import type { Bundle, OperationOutcome, Resource } from "@medplum/fhirtypes";
import { randomUUID } from "node:crypto";
import { PatchError, applyJsonPatch } from "./json-patch";
import { assertNoConditionalReferences } from "./references";
import { isKnownResourceType, searchParametersOf } from "./schema";
import type { Verdict } from "./validation";
import { judge } from "./validation";

/** A verdict reached before the write (see ValidationPool), used when it was reached for the id written. */
export interface Judged {
  verdict?: Verdict;
}

export type HistoryMethod = "POST" | "PUT" | "PATCH" | "DELETE";

/** One version of one resource, as history shows it. `resource` is absent for a deletion. */
export interface VersionRecord {
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: string;
  readonly lastUpdated: string;
  readonly method: HistoryMethod;
  /** "201" when this version brought the resource into existence, else "200" (or "204" for DELETE). */
  readonly status: string;
  readonly resource?: WithId<Resource>;
}

interface UndoEntry {
  key: string;
  record: VersionRecord;
  previous: WithId<Resource> | undefined;
  previousTombstone: VersionRecord | undefined;
}

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** OperationOutcome ids this sandbox adds to Medplum's (which map ids to statuses). */
export const UNPROCESSABLE_ID = "unprocessable-entity";
export const CONFLICT_PATCH_ID = "conflict";

export function unprocessable(text: string, issues?: OperationOutcome["issue"]): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    id: UNPROCESSABLE_ID,
    issue: issues?.length ? issues : [{ severity: "error", code: "processing", details: { text } }],
  };
}

export function conflictOutcome(text: string): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    id: CONFLICT_PATCH_ID,
    issue: [{ severity: "error", code: "conflict", details: { text } }],
  };
}

export function goneOutcome(resourceType: string, id: string): OperationOutcome {
  return {
    ...gone,
    issue: [
      { severity: "error", code: "deleted", details: { text: `${resourceType}/${id} has been deleted` } },
    ],
  };
}

/** Reads the version from an If-Match value: W/"3", "3" or 3. "*" (any version) gives undefined. */
export function parseETag(value: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === "*" || text === "") return undefined;
  const quoted = /^(?:W\/)?"([^"]*)"$/.exec(text);
  return quoted ? quoted[1] : text;
}

/**
 * Medplum's MemoryRepository, completed for a sandbox that must behave like a real server:
 *
 * - versions count 1, 2, 3 per resource and `meta.lastUpdated` strictly increases;
 * - a deleted resource answers 410 Gone, keeps its history, and comes back on update;
 * - history exists at instance, type and system level, deletions included;
 * - resources are validated against the R4 structure definitions (HTTP 422 when invalid);
 * - a search clones only the page it returns, and `identifier` / `_id` searches use an index;
 * - the `*Stored` methods, which the HTTP routes use, answer with stored versions themselves
 *   (shared, never to be changed) where the Medplum-shaped methods answer with copies;
 * - `withTransaction` rolls every write back when its callback throws.
 *
 * The storage here replaces MemoryRepository's own maps, which are private; everything else
 * (conditional create/update/delete, references, batch processing in the router) is Medplum's.
 */
export class SandboxRepository extends MemoryRepository {
  readonly validate: boolean;
  private readonly live = new Map<string, Map<string, WithId<Resource>>>();
  private readonly tombstones = new Map<string, VersionRecord>();
  private readonly instanceHistory = new Map<string, VersionRecord[]>();
  private readonly typeHistory = new Map<string, VersionRecord[]>();
  private systemHistory: VersionRecord[] = [];
  /** type -> token key -> ids, for the `identifier` search parameter. */
  private readonly identifierIndex = new Map<string, Map<string, Set<string>>>();
  /** The index keys of each indexed version. */
  private readonly indexedKeys = new WeakMap<Resource, string[]>();
  /** type -> id -> position in the type's live map, to keep indexed results in storage order. */
  private readonly position = new Map<string, Map<string, number>>();
  private nextPosition = 0;
  private lastTimestamp = 0;
  private undoLog: UndoEntry[] | undefined;

  constructor(options: { validate?: boolean } = {}) {
    super();
    this.validate = options.validate ?? true;
  }

  override clear(): void {
    super.clear();
    this.live.clear();
    this.tombstones.clear();
    this.instanceHistory.clear();
    this.typeHistory.clear();
    this.systemHistory = [];
    this.identifierIndex.clear();
    this.position.clear();
  }

  override generateId(): string {
    return randomUUID();
  }

  /** The stored resource (not a copy: callers must not change it), or undefined. */
  current(resourceType: string, id: string): WithId<Resource> | undefined {
    return this.live.get(resourceType)?.get(id);
  }

  isDeleted(resourceType: string, id: string): boolean {
    return this.tombstones.has(`${resourceType}/${id}`);
  }

  /** Number of live resources, all types. */
  count(): number {
    let n = 0;
    for (const byId of this.live.values()) n += byId.size;
    return n;
  }

  override async createResource<T extends Resource>(
    resource: T,
    options?: CreateResourceOptions,
  ): Promise<WithId<T>> {
    return deepClone(this.createStored(resource, options)) as WithId<T>;
  }

  /** Creates `resource` under the id it carries (update as create, or a conditional update's create). */
  createWithId<T extends Resource>(resource: T & { id: string }): WithId<T> {
    return deepClone(this.createWithIdStored(resource)) as WithId<T>;
  }

  override async updateResource<T extends Resource>(
    resource: T,
    options?: UpdateResourceOptions,
  ): Promise<WithId<T>> {
    return deepClone(this.updateStored(resource, options)) as WithId<T>;
  }

  override async patchResource<T extends Resource>(
    resourceType: T["resourceType"],
    id: string,
    patch: unknown,
  ): Promise<WithId<T>> {
    return deepClone(this.patchStored(resourceType, id, patch)) as WithId<T>;
  }

  override async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    return deepClone(this.readStored(resourceType, id)) as WithId<T>;
  }

  /*
   * The *Stored methods do what the method of the same name without the suffix does, and answer
   * with the stored version itself instead of a copy. A stored version is never changed (every
   * write stores a new object), so the HTTP routes, which only serialize what they answer, share
   * it: a copy per answer cost as much as the write's own copy of its input. Callers must not
   * change what these return.
   */

  createStored(resource: Resource, options?: CreateResourceOptions & Judged): WithId<Resource> {
    const id = options?.assignedId && resource.id ? resource.id : this.generateId();
    return this.write(resource, id, "POST", options?.verdict);
  }

  createWithIdStored(resource: Resource & { id: string }, options?: Judged): WithId<Resource> {
    return this.write(resource, resource.id, "PUT", options?.verdict);
  }

  updateStored(resource: Resource, options?: UpdateResourceOptions & Judged): WithId<Resource> {
    if (!resource.id)
      throw new OperationOutcomeError(badRequest("Missing id", `${resource.resourceType}.id`));
    if (options?.ifMatch !== undefined) {
      const existing = this.current(resource.resourceType, resource.id);
      if (!existing || existing.meta?.versionId !== options.ifMatch) {
        throw new OperationOutcomeError(
          versionMismatch(resource.resourceType, resource.id, options.ifMatch, existing),
        );
      }
    }
    return this.write(resource, resource.id, "PUT", options?.verdict);
  }

  patchStored(resourceType: string, id: string, patch: unknown): WithId<Resource> {
    // applyJsonPatch works on a copy of its document, so the stored version is safe to pass.
    const existing = this.readStored(resourceType, id);
    let patched: Resource;
    try {
      patched = applyJsonPatch(existing, patch);
    } catch (err) {
      if (err instanceof PatchError) {
        throw new OperationOutcomeError(
          err.kind === "conflict" ? conflictOutcome(err.message) : badRequest(err.message),
        );
      }
      throw err;
    }
    if (
      patched === null ||
      typeof patched !== "object" ||
      patched.resourceType !== resourceType ||
      patched.id !== id
    ) {
      throw new OperationOutcomeError(unprocessable("A patch must not change resourceType or id"));
    }
    return this.write(patched, id, "PATCH");
  }

  /** The current version; 410 when deleted, 404 when it never existed. */
  readStored(resourceType: string, id: string): WithId<Resource> {
    const resource = this.current(resourceType, id);
    if (resource) return resource;
    if (this.isDeleted(resourceType, id)) throw new OperationOutcomeError(goneOutcome(resourceType, id));
    throw new OperationOutcomeError(notFoundOutcome(resourceType, id));
  }

  override async readVersion<T extends Resource>(
    resourceType: string,
    id: string,
    versionId: string,
  ): Promise<WithId<T>> {
    return deepClone(this.readVersionStored(resourceType, id, versionId)) as WithId<T>;
  }

  readVersionStored(resourceType: string, id: string, versionId: string): WithId<Resource> {
    const versions = this.instanceHistory.get(`${resourceType}/${id}`);
    if (!versions) throw new OperationOutcomeError(notFoundOutcome(resourceType, id));
    const record = versions.find((v) => v.versionId === versionId);
    if (!record) {
      throw new OperationOutcomeError({
        ...notFound,
        issue: [
          {
            severity: "error",
            code: "not-found",
            details: { text: `${resourceType}/${id} has no version ${versionId}` },
          },
        ],
      });
    }
    if (!record.resource) throw new OperationOutcomeError(goneOutcome(resourceType, id));
    return record.resource;
  }

  override async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
    options?: ReadHistoryOptions,
  ): Promise<Bundle<WithId<T>>> {
    const records = this.versions({ resourceType, id });
    const offset = options?.offset ?? 0;
    const page = records.slice(offset, options?.limit === undefined ? undefined : offset + options.limit);
    return {
      resourceType: "Bundle",
      type: "history",
      total: records.length,
      entry: page.map((r) => ({ resource: r.resource && (deepClone(r.resource) as WithId<T>) })),
    };
  }

  /**
   * Versions, newest first: of one resource (resourceType and id), of one type (resourceType),
   * or of everything. Throws 404 for a resource that never existed.
   */
  versions(scope: { resourceType?: string; id?: string; since?: string }): VersionRecord[] {
    let records: VersionRecord[];
    if (scope.resourceType && scope.id) {
      const versions = this.instanceHistory.get(`${scope.resourceType}/${scope.id}`);
      if (!versions) throw new OperationOutcomeError(notFoundOutcome(scope.resourceType, scope.id));
      records = versions;
    } else if (scope.resourceType) {
      records = this.typeHistory.get(scope.resourceType) ?? [];
    } else {
      records = this.systemHistory;
    }
    const out: VersionRecord[] = [];
    for (let i = records.length - 1; i >= 0; i--) {
      if (scope.since !== undefined && records[i].lastUpdated < scope.since) break;
      out.push(records[i]);
    }
    return out;
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    this.delete(resourceType, id);
  }

  /**
   * Deletes a live resource and returns the deletion's version record; returns undefined when
   * the resource is already deleted; throws 404 when it never existed.
   */
  delete(resourceType: string, id: string): VersionRecord | undefined {
    const key = `${resourceType}/${id}`;
    const existing = this.current(resourceType, id);
    if (!existing) {
      if (this.tombstones.has(key)) return undefined;
      throw new OperationOutcomeError(notFoundOutcome(resourceType, id));
    }
    const record: VersionRecord = {
      resourceType,
      id,
      versionId: String((this.instanceHistory.get(key)?.length ?? 0) + 1),
      lastUpdated: this.timestamp(),
      method: "DELETE",
      status: "204",
    };
    this.apply(key, record, existing);
    return record;
  }

  override async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const matches = this.match(searchRequest);
    return {
      resourceType: "Bundle",
      type: "searchset",
      total: matches.length,
      entry: pageOf(matches, searchRequest).map((resource) => ({
        resource: deepClone(resource) as WithId<T>,
      })),
    };
  }

  /** The page of matches a search answers (its offset and count applied), stored versions, not copied. */
  page(searchRequest: SearchRequest): WithId<Resource>[] {
    return pageOf(this.match(searchRequest), searchRequest);
  }

  /** All stored resources that match, sorted by the request's sort rules, not copied. */
  match(searchRequest: SearchRequest): WithId<Resource>[] {
    const byId = this.live.get(searchRequest.resourceType);
    if (!byId) return [];
    const { resources: candidates, answered } = this.candidates(searchRequest, byId);
    // String parameters are matched here with FHIR's rules (starts-with, :exact, :contains);
    // @medplum/core matches every string search as "contains". The rest is Medplum's matcher.
    const params = searchParametersOf(searchRequest.resourceType);
    const stringFilters: { expression: string; operator: Operator; values: string[] }[] = [];
    const otherFilters: SearchRequest["filters"] = [];
    for (const filter of searchRequest.filters ?? []) {
      if (filter === answered) continue;
      const param = params[filter.code];
      if (param?.type === "string" && param.expression && STRING_OPERATORS.has(filter.operator)) {
        stringFilters.push({
          expression: param.expression,
          operator: filter.operator,
          values: splitValues(filter.value),
        });
      } else {
        otherFilters.push(filter);
      }
    }
    const rest: SearchRequest = { ...searchRequest, filters: otherFilters };
    const out: WithId<Resource>[] = [];
    for (const resource of candidates) {
      if (!stringFilters.every((f) => matchesString(resource, f.expression, f.operator, f.values))) continue;
      if (otherFilters.length && !matchesSearchRequest(resource, rest)) continue;
      out.push(resource);
    }
    return searchRequest.sortRules?.length
      ? sortResources(out, searchRequest.resourceType, searchRequest.sortRules)
      : out;
  }

  override async withTransaction<TResult>(
    callback: (client: undefined) => Promise<TResult>,
  ): Promise<TResult> {
    if (this.undoLog) return callback(undefined);
    const undo: UndoEntry[] = [];
    this.undoLog = undo;
    try {
      const result = await callback(undefined);
      return result;
    } catch (err) {
      this.rollback(undo);
      throw err;
    } finally {
      this.undoLog = undefined;
    }
  }

  private write(input: Resource, id: string, method: HistoryMethod, verdict?: Verdict): WithId<Resource> {
    const resourceType = input.resourceType;
    if (!isKnownResourceType(resourceType)) {
      throw new OperationOutcomeError(badRequest(`Unknown resource type ${JSON.stringify(resourceType)}`));
    }
    if (!FHIR_ID.test(id)) {
      throw new OperationOutcomeError(
        badRequest(`Invalid resource id ${JSON.stringify(id)}`, `${resourceType}.id`),
      );
    }
    const key = `${resourceType}/${id}`;
    const previous = this.current(resourceType, id);
    const stored = JSON.parse(JSON.stringify(input)) as WithId<Resource>;
    stored.id = id;
    const versionId = String((this.instanceHistory.get(key)?.length ?? 0) + 1);
    const lastUpdated = this.timestamp();
    stored.meta = { ...stored.meta, versionId, lastUpdated };
    assertNoConditionalReferences(stored);
    // An update that stores what the current version holds (a sync sending an unchanged record
    // again) gets the current version's verdict: it passed, and nothing it was judged on changed.
    if (this.validate && !(previous && sameContent(stored, previous))) {
      const judged = verdict?.id === id ? verdict : judge(stored);
      if (judged.invalid) throw new OperationOutcomeError(unprocessable("Invalid resource", judged.issues));
    }
    const record: VersionRecord = {
      resourceType,
      id,
      versionId,
      lastUpdated,
      method,
      status: previous ? "200" : "201",
      resource: stored,
    };
    this.apply(key, record, previous);
    return stored;
  }

  private apply(key: string, record: VersionRecord, previous: WithId<Resource> | undefined): void {
    const { resourceType, id } = record;
    this.undoLog?.push({ key, record, previous, previousTombstone: this.tombstones.get(key) });
    this.setLive(resourceType, id, record.resource, previous);
    if (record.resource) this.tombstones.delete(key);
    else this.tombstones.set(key, record);
    push(this.instanceHistory, key, record);
    push(this.typeHistory, resourceType, record);
    this.systemHistory.push(record);
  }

  private rollback(undo: UndoEntry[]): void {
    for (let i = undo.length - 1; i >= 0; i--) {
      const { key, record, previous, previousTombstone } = undo[i];
      const { resourceType, id } = record;
      this.setLive(resourceType, id, previous, record.resource);
      if (previousTombstone) this.tombstones.set(key, previousTombstone);
      else this.tombstones.delete(key);
      const versions = this.instanceHistory.get(key);
      versions?.pop();
      if (versions?.length === 0) this.instanceHistory.delete(key);
      this.typeHistory.get(resourceType)?.pop();
      this.systemHistory.pop();
    }
  }

  private setLive(
    resourceType: string,
    id: string,
    next: WithId<Resource> | undefined,
    before: WithId<Resource> | undefined,
  ): void {
    let byId = this.live.get(resourceType);
    if (!byId) {
      byId = new Map();
      this.live.set(resourceType, byId);
    }
    let positions = this.position.get(resourceType);
    if (!positions) {
      positions = new Map();
      this.position.set(resourceType, positions);
    }
    if (before) this.unindex(before);
    if (next) {
      if (!byId.has(id)) positions.set(id, this.nextPosition++);
      byId.set(id, next);
      this.index(next);
    } else {
      byId.delete(id);
      positions.delete(id);
    }
  }

  private timestamp(): string {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return new Date(this.lastTimestamp).toISOString();
  }

  private identifierKeys(resource: Resource): string[] {
    const param = searchParametersOf(resource.resourceType).identifier;
    if (param?.type !== "token" || !param.expression) return [];
    const keys: string[] = [];
    for (const value of evalFhirPath(compiled(param.expression), resource)) {
      const ident = value as { system?: unknown; value?: unknown };
      if (typeof ident?.value !== "string") continue;
      const v = ident.value.toLowerCase();
      keys.push(`v:${v}`);
      if (typeof ident.system === "string") keys.push(`s:${ident.system.toLowerCase()}|${v}`);
    }
    return keys;
  }

  private index(resource: WithId<Resource>): void {
    const keys = this.identifierKeys(resource);
    // Kept for unindex: a stored version never changes, so neither do its keys.
    this.indexedKeys.set(resource, keys);
    if (!keys.length) return;
    let byKey = this.identifierIndex.get(resource.resourceType);
    if (!byKey) {
      byKey = new Map();
      this.identifierIndex.set(resource.resourceType, byKey);
    }
    for (const key of keys) {
      let ids = byKey.get(key);
      if (!ids) {
        ids = new Set();
        byKey.set(key, ids);
      }
      ids.add(resource.id);
    }
  }

  private unindex(resource: WithId<Resource>): void {
    const byKey = this.identifierIndex.get(resource.resourceType);
    if (!byKey) return;
    for (const key of this.indexedKeys.get(resource) ?? this.identifierKeys(resource)) {
      const ids = byKey.get(key);
      ids?.delete(resource.id);
      if (ids?.size === 0) byKey.delete(key);
    }
  }

  /**
   * The resources worth testing against the filters: the ids an `_id` or `identifier`
   * equality filter names when there is one (in storage order), else every resource of the type.
   * `answered` is the filter whose ids these are when the index answers it exactly, which needs no
   * second test against each resource: an `identifier` filter, when every stored resource was
   * validated (so that each identifier's system and value are strings, as the index and Medplum's
   * matcher both read them).
   */
  private candidates(
    searchRequest: SearchRequest,
    byId: Map<string, WithId<Resource>>,
  ): { resources: Iterable<WithId<Resource>>; answered?: Filter } {
    let ids: Set<string> | undefined;
    let chosen: Filter | undefined;
    for (const filter of searchRequest.filters ?? []) {
      if (filter.operator !== Operator.EQUALS || filter.value.includes("\\")) continue;
      let found: Set<string> | undefined;
      if (filter.code === "_id") {
        found = new Set(filter.value.split(","));
      } else if (filter.code === "identifier") {
        found = this.lookupIdentifiers(searchRequest.resourceType, filter.value);
      }
      if (found && (!ids || found.size < ids.size)) {
        ids = found;
        chosen = filter;
      }
    }
    if (!ids) return { resources: byId.values() };
    const positions = this.position.get(searchRequest.resourceType);
    const out: WithId<Resource>[] = [];
    for (const id of ids) {
      const resource = byId.get(id);
      if (resource) out.push(resource);
    }
    if (out.length > 1) out.sort((a, b) => (positions?.get(a.id) ?? 0) - (positions?.get(b.id) ?? 0));
    const answered = chosen?.code === "identifier" && this.validate ? chosen : undefined;
    return { resources: out, answered };
  }

  /**
   * The ids an `identifier` equality filter matches, as Medplum's token matcher decides: `value`
   * matches an identifier's value, `system|value` its system and value, each case-insensitively
   * (and lowercased apart, as Medplum does); undefined for the forms left to the matcher.
   */
  private lookupIdentifiers(resourceType: string, value: string): Set<string> | undefined {
    const byKey = this.identifierIndex.get(resourceType);
    const ids = new Set<string>();
    for (const part of value.split(",")) {
      const bar = part.indexOf("|");
      let key: string;
      if (bar < 0) key = `v:${part.toLowerCase()}`;
      else if (bar > 0 && bar < part.length - 1 && part.indexOf("|", bar + 1) < 0)
        key = `s:${part.slice(0, bar).toLowerCase()}|${part.slice(bar + 1).toLowerCase()}`;
      else return undefined;
      for (const id of byKey?.get(key) ?? []) ids.add(id);
    }
    return ids;
  }
}

const STRING_OPERATORS: ReadonlySet<Operator> = new Set([Operator.EQUALS, Operator.EXACT, Operator.CONTAINS]);
/** Parts of complex values that are not text a person would search for. */
const NOT_TEXT = new Set(["use", "type", "period", "extension", "id", "system", "rank"]);
const parsedExpressions = new Map<string, FhirPathAtom>();

function compiled(expression: string): FhirPathAtom {
  let atom = parsedExpressions.get(expression);
  if (!atom) {
    atom = parseFhirPath(expression);
    parsedExpressions.set(expression, atom);
  }
  return atom;
}

/** Comma-separated alternatives; "\\," is a literal comma. */
function splitValues(value: string): string[] {
  return value.split(/(?<!\\),/).map((v) => v.replace(/\\,/g, ","));
}

function texts(value: unknown, out: string[]): void {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const item of value) texts(item, out);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) if (!NOT_TEXT.has(key)) texts(item, out);
  }
}

/** Case- and accent-insensitive form, as FHIR asks for string search. */
function fold(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase();
}

function matchesString(
  resource: Resource,
  expression: string,
  operator: Operator,
  wanted: string[],
): boolean {
  const found: string[] = [];
  texts(evalFhirPath(compiled(expression), resource), found);
  if (operator === Operator.EXACT) return found.some((text) => wanted.includes(text));
  const folded = found.map(fold);
  return wanted.some((w) => {
    const target = fold(w);
    return folded.some((text) =>
      operator === Operator.CONTAINS ? text.includes(target) : text.startsWith(target),
    );
  });
}

/**
 * The resource as JSON without the two elements every write assigns, meta.versionId and
 * meta.lastUpdated: always valid (an id and an instant this repository makes), and read by no
 * R4 invariant of the resource itself (dom-4 reads those of contained resources).
 */
function contentText(resource: Resource): string {
  const { versionId: _versionId, lastUpdated: _lastUpdated, ...meta } = resource.meta ?? {};
  return JSON.stringify({ ...resource, meta });
}

/** True when two versions of one resource hold the same JSON, apart from what contentText leaves out. */
function sameContent(next: Resource, previous: Resource): boolean {
  return contentText(next) === contentText(previous);
}

function pageOf<T>(matches: T[], request: SearchRequest): T[] {
  const offset = request.offset ?? 0;
  return matches.slice(offset, request.count === undefined ? undefined : offset + request.count);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function notFoundOutcome(resourceType: string, id: string): OperationOutcome {
  return {
    ...notFound,
    issue: [{ severity: "error", code: "not-found", details: { text: `${resourceType}/${id} not found` } }],
  };
}

function versionMismatch(
  resourceType: string,
  id: string,
  expected: string,
  existing: Resource | undefined,
): OperationOutcome {
  const text = existing
    ? `${resourceType}/${id} is at version ${existing.meta?.versionId}, not ${expected}`
    : `${resourceType}/${id} does not exist, so version ${expected} cannot match`;
  return { ...preconditionFailed, issue: [{ severity: "error", code: "conflict", details: { text } }] };
}

type SortKey = string | number | undefined;

function sortKey(resource: Resource, expression: string): SortKey {
  const first = evalFhirPath(compiled(expression), resource)[0];
  if (first === undefined || first === null) return undefined;
  if (typeof first === "string" || typeof first === "number") return first;
  if (typeof first === "boolean") return first ? 1 : 0;
  const obj = first as Record<string, unknown>;
  for (const field of ["family", "value", "code", "start", "reference", "text"]) {
    if (typeof obj[field] === "string" || typeof obj[field] === "number")
      return obj[field] as string | number;
  }
  return JSON.stringify(first);
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const sa = String(a).toLowerCase();
  const sb = String(b).toLowerCase();
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Sorts by every rule in turn (the first rule decides first); ties keep storage order. */
function sortResources(
  resources: WithId<Resource>[],
  resourceType: string,
  rules: SortRule[],
): WithId<Resource>[] {
  const params = searchParametersOf(resourceType);
  const expressions = rules.map((rule) => {
    const expression = params[rule.code]?.expression;
    if (!expression) throw new OperationOutcomeError(badRequest(`Unknown sort parameter ${rule.code}`));
    return expression;
  });
  const keyed = resources.map((resource, index) => ({
    resource,
    index,
    keys: expressions.map((expression) => sortKey(resource, expression)),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < rules.length; i++) {
      const c = compareKeys(a.keys[i], b.keys[i]);
      if (c === 0) continue;
      // Resources without a value sort last in either direction.
      const missing = a.keys[i] === undefined || b.keys[i] === undefined;
      return rules[i].descending && !missing ? -c : c;
    }
    return a.index - b.index;
  });
  return keyed.map((k) => k.resource);
}
