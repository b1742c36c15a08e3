import { CODES, fhirHttpCode } from "../error-codes";
import { badInput, FhirError } from "./errors";
import {
  FHIR_BUNDLE_MODES,
  FHIR_PREFER,
  RESOURCE_TYPE_NAME,
  type BundleMode,
  type FhirPrefer,
  type RefusedEntry,
  type UpsertManyInput,
  type WrittenEntry,
} from "./types";
import { isObject } from "../object";
import { randomUUID } from "node:crypto";

/**
 * Many conditional upserts (PUT Type?identifier=system|value) sent as batch or transaction
 * Bundles: planning, reference resolution and the reading of per-entry answers. Sending is the
 * caller's (FhirClient.upsertMany): everything here is pure.
 */

export const DEFAULT_BUNDLE_SIZE = 100;
export const MAX_BUNDLE_SIZE = 1000;

/** Dead-letter codes of a record whose conditional reference finds no resource, or several. */
export const REFERENCE_NOT_FOUND = CODES.SYNC_REFERENCE_NOT_FOUND;
export const REFERENCE_AMBIGUOUS = CODES.SYNC_REFERENCE_AMBIGUOUS;

const RESOURCE_TYPE = RESOURCE_TYPE_NAME;
const CONDITIONAL = /^[A-Z][A-Za-z]+\?/;
const LOCATION = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

export interface PlannedUpsert {
  /** Position in msg.payload (0 for a single resource). */
  index: number;
  resource: Record<string, unknown>;
  /** The identifier value the upsert matches on: how results and dead letters name the record. */
  id: string;
  /** "Type?identifier=system|value" as a conditional reference to this record is written. */
  key: string;
  /** The entry's request.url: the key with its search value escaped and URL-encoded. */
  url: string;
  /** Created when none has the identifier, never updated (POST with If-None-Exist). */
  createOnly: boolean;
}

export interface UpsertPlan {
  mode: BundleMode;
  prefer: FhirPrefer;
  /** The entries, already cut into bundles (a bundle never holds one identifier twice). */
  bundles: PlannedUpsert[][];
  /** Conditional reference -> literal reference; extended as records are written. */
  references: Record<string, string>;
}

export interface UpsertProgress {
  written: WrittenEntry[];
  refused: RefusedEntry[];
  bundles: number;
}

export interface BundleAnswer {
  body: unknown;
}

/** Sends one Bundle (writes: with Prefer return=<prefer>) and answers its parsed body. */
export type BundleSender = (bundle: Record<string, unknown>, writes: boolean) => Promise<BundleAnswer>;

function escapeToken(part: string): string {
  return part.replace(/[\\|,$]/g, (c) => `\\${c}`);
}

function bundleSizeOf(value: unknown): number {
  if (value === undefined || value === null || value === "") return DEFAULT_BUNDLE_SIZE;
  const n = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_BUNDLE_SIZE) {
    throw badInput(`upsert: bundleSize must be a whole number from 1 to ${MAX_BUNDLE_SIZE}`);
  }
  return n;
}

function planOne(
  value: unknown,
  index: number,
  type: string | undefined,
  createOnly: ReadonlySet<string>,
): PlannedUpsert {
  const at = `msg.payload[${index}]`;
  if (!isObject(value)) throw badInput(`upsert: ${at} is not a FHIR resource (an object)`);
  const resourceType = value.resourceType;
  if (typeof resourceType !== "string" || !RESOURCE_TYPE.test(resourceType)) {
    throw badInput(`upsert: ${at} has no resourceType`);
  }
  if (type !== undefined && resourceType !== type) {
    throw badInput(`upsert: ${at} is a ${resourceType}, not a ${type}`);
  }
  const ids = Array.isArray(value.identifier) ? (value.identifier as unknown[]) : [];
  const key = ids.find(
    (i): i is { system: string; value: string } =>
      isObject(i) &&
      typeof i.system === "string" &&
      i.system !== "" &&
      typeof i.value === "string" &&
      i.value !== "",
  );
  if (!key) throw badInput(`upsert: ${at} (${resourceType}) has no identifier with a system and a value`);
  const token = `${escapeToken(key.system)}|${escapeToken(key.value)}`;
  return {
    index,
    resource: value,
    id: key.value,
    key: `${resourceType}?identifier=${key.system}|${key.value}`,
    url: `${resourceType}?identifier=${encodeURIComponent(token)}`,
    createOnly: createOnly.has(resourceType),
  };
}

/**
 * Checks every resource before anything is sent and cuts them into bundles. Throws
 * FHIR_BAD_INPUT naming the first problem (by position and type: never a value, which may be PHI).
 */
const NOT_STRINGS = "upsert: msg.references must map to strings";
/**
 * References objects already checked in full. A batch sync hands one object from page to page,
 * growing by every record written (35,000 entries for 35,000 records): checking all of it on every
 * page cost a fifth of Node-RED's time. A value is checked again where it is used.
 */
const checkedReferences = new WeakSet<object>();

export function planUpserts(input: UpsertManyInput): UpsertPlan {
  if (!(FHIR_BUNDLE_MODES as readonly string[]).includes(input.bundle)) {
    throw badInput(`upsert: bundle must be one of ${FHIR_BUNDLE_MODES.join(", ")}`);
  }
  const size = bundleSizeOf(input.bundleSize);
  const prefer = input.prefer ?? "minimal";
  if (!(FHIR_PREFER as readonly string[]).includes(prefer)) {
    throw badInput(`upsert: prefer must be one of ${FHIR_PREFER.join(", ")}`);
  }
  const type = input.resourceType === undefined || input.resourceType === "" ? undefined : input.resourceType;
  if (type !== undefined && !RESOURCE_TYPE.test(type)) {
    throw badInput('upsert: resourceType must be a FHIR resource type name such as "Patient"');
  }
  const references = input.references ?? {};
  if (!isObject(references)) throw badInput("upsert: msg.references must be an object");
  if (!checkedReferences.has(references)) {
    for (const k in references) {
      if (typeof references[k] !== "string") throw badInput(NOT_STRINGS);
    }
    checkedReferences.add(references);
  }
  const createOnly = new Set<string>();
  if (input.createOnly !== undefined) {
    if (!Array.isArray(input.createOnly))
      throw badInput("upsert: createOnly must be a list of resource types");
    for (const t of input.createOnly) {
      if (typeof t !== "string" || !RESOURCE_TYPE.test(t)) {
        throw badInput('upsert: createOnly must list FHIR resource type names such as "Task"');
      }
      createOnly.add(t);
    }
  }
  const payload = input.resources;
  let list: unknown[];
  if (Array.isArray(payload)) list = payload;
  else if (isObject(payload)) list = [payload];
  else throw badInput("upsert: msg.payload must be a FHIR resource or an array of them");

  const bundles: PlannedUpsert[][] = [];
  let current: PlannedUpsert[] = [];
  let keys = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const planned = planOne(list[i], i, type, createOnly);
    // The same record twice in one bundle: the server may apply the two in either order.
    if (current.length === size || keys.has(planned.key)) {
      bundles.push(current);
      current = [];
      keys = new Set();
    }
    current.push(planned);
    keys.add(planned.key);
  }
  if (current.length > 0) bundles.push(current);
  return { mode: input.bundle, prefer, bundles, references };
}

/**
 * Calls `visit` with each object of the resource that holds a string `reference`, the reference,
 * and the path to it (the array is reused: read it during the call). Plain loops: this walks every
 * value of every record.
 */
function eachReference(
  resource: unknown,
  visit: (holder: Record<string, unknown>, ref: string, path: ReadonlyArray<string | number>) => void,
): void {
  const path: Array<string | number> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v !== "object" || v === null) continue;
        path.push(i);
        walk(v);
        path.pop();
      }
      return;
    }
    const obj = value as Record<string, unknown>;
    for (const key in obj) {
      const v = obj[key];
      path.push(key);
      if (typeof v === "object" && v !== null) walk(v);
      else if (key === "reference" && typeof v === "string") visit(obj, v, path);
      path.pop();
    }
  };
  walk(resource);
}

/** `contained[0].subject.reference`, as FHIRPath writes a path. */
function pathText(path: ReadonlyArray<string | number>): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i ? `.${p}` : p)).join("");
}

/**
 * Puts the literal reference of every record written earlier into the entries' resources (in
 * place) and answers the conditional references left, each once.
 */
export function substituteKnown(entries: PlannedUpsert[], references: Record<string, string>): string[] {
  const found = new Set<string>();
  for (const e of entries) {
    eachReference(e.resource, (holder, ref) => {
      if (!CONDITIONAL.test(ref)) return;
      const literal = references[ref];
      if (literal !== undefined && typeof literal !== "string") throw badInput(NOT_STRINGS);
      if (literal !== undefined) holder.reference = literal;
      else found.add(ref);
    });
  }
  return [...found];
}

/** One search per conditional reference, two results at most: one means found, two ambiguous. */
export function lookupBundle(refs: string[]): Record<string, unknown> {
  return {
    resourceType: "Bundle",
    type: "batch",
    entry: refs.map((url) => ({ request: { method: "GET", url: `${url}&_count=2` } })),
  };
}

/** The entry's request: a conditional update, or for a create-only type a conditional create. */
function requestOf(e: PlannedUpsert): Record<string, string> {
  if (!e.createOnly) return { method: "PUT", url: e.url };
  const query = e.url.slice(e.url.indexOf("?") + 1);
  return { method: "POST", url: e.url.slice(0, e.url.indexOf("?")), ifNoneExist: query };
}

/**
 * The write Bundle. In a transaction each entry gets a `urn:uuid` fullUrl, and a conditional
 * reference to another record of the same Bundle points at that entry instead (in place): the
 * server resolves it to the resource the transaction writes, which a search made before the
 * transaction could not find.
 */
export function writeBundle(entries: PlannedUpsert[], mode: BundleMode): Record<string, unknown> {
  if (mode !== "transaction") {
    return {
      resourceType: "Bundle",
      type: mode,
      entry: entries.map((e) => ({ resource: e.resource, request: requestOf(e) })),
    };
  }
  const fullUrls = new Map(entries.map((e) => [e.key, `urn:uuid:${randomUUID()}`]));
  for (const e of entries) {
    eachReference(e.resource, (holder, ref) => {
      const fullUrl = fullUrls.get(ref);
      if (fullUrl !== undefined) holder.reference = fullUrl;
    });
  }
  return {
    resourceType: "Bundle",
    type: mode,
    entry: entries.map((e) => ({
      fullUrl: fullUrls.get(e.key),
      resource: e.resource,
      request: requestOf(e),
    })),
  };
}

interface EntryAnswer {
  status: number;
  location?: string;
  outcome?: unknown;
  resource?: unknown;
}

/** A batch/transaction-response's entries; FHIR_BAD_RESPONSE when it is not one for `count` entries. */
function answersOf(body: unknown, count: number): Array<EntryAnswer | undefined> {
  const entries = isObject(body) && body.resourceType === "Bundle" ? body.entry : undefined;
  if (count > 0 && !Array.isArray(entries)) {
    throw new FhirError(
      CODES.FHIR_BAD_RESPONSE,
      "the server answered a Bundle request without a response Bundle",
    );
  }
  const out: Array<EntryAnswer | undefined> = [];
  for (let i = 0; i < count; i++) {
    const e = (entries as unknown[])[i] as { response?: Record<string, unknown>; resource?: unknown };
    const res = isObject(e) ? e.response : undefined;
    if (!isObject(res)) {
      out.push(undefined);
      continue;
    }
    out.push({
      status: parseInt(String(res.status), 10) || 0,
      location: typeof res.location === "string" ? res.location : undefined,
      outcome: res.outcome,
      resource: e.resource,
    });
  }
  return out;
}

/** Refused for good: a 4xx other than 408 and 429. */
function permanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** The outcome's first issue as "code at expression": never its text, which may quote PHI. */
export function issueText(outcome: unknown): string {
  const issues = isObject(outcome) && Array.isArray(outcome.issue) ? outcome.issue : [];
  const issue = isObject(issues[0]) ? issues[0] : {};
  const expression = Array.isArray(issue.expression) ? issue.expression.join(", ") : "";
  const code = typeof issue.code === "string" ? issue.code : "";
  return [code, expression].filter(Boolean).join(" at ");
}

/** An entry that the server could not settle: the whole message fails (it is safe to send again). */
function entryFailure(kind: string, i: number, answer: EntryAnswer | undefined): FhirError {
  const status = answer?.status ?? 0;
  return new FhirError(
    status ? fhirHttpCode(status) : CODES.FHIR_BAD_RESPONSE,
    `${kind} entry ${i} answered ${status || "nothing"}`,
    answer?.outcome,
  );
}

type Refusal = [code: string, text: string];

/** The answers to a lookup bundle: each reference's literal one, or why it has none. */
export function readLookups(
  refs: string[],
  body: unknown,
): { target: Map<string, string>; refused: Map<string, Refusal> } {
  const answers = answersOf(body, refs.length);
  const target = new Map<string, string>();
  const refused = new Map<string, Refusal>();
  for (let i = 0; i < refs.length; i++) {
    const a = answers[i];
    const status = a?.status ?? 0;
    if (a && status >= 200 && status < 300) {
      const entries = isObject(a.resource) && Array.isArray(a.resource.entry) ? a.resource.entry : [];
      const found: Array<Record<string, unknown>> = [];
      for (const e of entries as Array<{ search?: { mode?: unknown }; resource?: unknown }>) {
        if (e?.search?.mode !== "include" && isObject(e?.resource)) found.push(e.resource);
      }
      if (found.length === 1) target.set(refs[i], `${String(found[0].resourceType)}/${String(found[0].id)}`);
      else
        refused.set(
          refs[i],
          found.length ? [REFERENCE_AMBIGUOUS, "multiple-matches"] : [REFERENCE_NOT_FOUND, "not-found"],
        );
    } else if (a && permanent(status)) {
      refused.set(refs[i], [fhirHttpCode(status), issueText(a.outcome)]);
    } else {
      throw entryFailure("lookup", i, a);
    }
  }
  return { target, refused };
}

/**
 * Puts the found literal references in (in place). An entry with a reference that found none or
 * several is refused, named by the path of each such reference.
 */
export function applyLookups(
  entries: PlannedUpsert[],
  target: Map<string, string>,
  refused: Map<string, Refusal>,
): { keep: PlannedUpsert[]; refused: RefusedEntry[] } {
  const keep: PlannedUpsert[] = [];
  const out: RefusedEntry[] = [];
  for (const e of entries) {
    const problems: Array<[string, string, string]> = [];
    eachReference(e.resource, (holder, ref, path) => {
      if (!CONDITIONAL.test(ref)) return;
      const literal = target.get(ref);
      if (literal !== undefined) holder.reference = literal;
      else {
        const why = refused.get(ref) ?? [REFERENCE_NOT_FOUND, "not-found"];
        problems.push([why[0], why[1], pathText(path)]);
      }
    });
    if (problems.length === 0) keep.push(e);
    else
      out.push({
        index: e.index,
        id: e.id,
        code: problems[0][0],
        message: problems.map((p) => `${p[2]}: ${p[1]}`).join("; "),
      });
  }
  return { keep, refused: out };
}

/**
 * The answers to a write bundle: 2xx written (its location remembered in `references`), a 4xx
 * other than 408/429 refused; anything else throws, so the message fails and can be sent again.
 */
export function readWrites(
  entries: PlannedUpsert[],
  body: unknown,
  references: Record<string, string>,
  progress: UpsertProgress,
): void {
  const answers = answersOf(body, entries.length);
  for (let i = 0; i < entries.length; i++) {
    const a = answers[i];
    const e = entries[i];
    const status = a?.status ?? 0;
    if (a && status >= 200 && status < 300) {
      const written: WrittenEntry = { index: e.index, id: e.id, status };
      const location = a.location !== undefined ? LOCATION.exec(a.location) : null;
      if (location) {
        written.location = a.location;
        if (e.key.startsWith(`${location[1]}?`)) references[e.key] = `${location[1]}/${location[2]}`;
      }
      progress.written.push(written);
    } else if (a && permanent(status)) {
      progress.refused.push({
        index: e.index,
        id: e.id,
        code: fhirHttpCode(status),
        message: issueText(a.outcome),
      });
    } else {
      throw entryFailure("write", i, a);
    }
  }
}

/**
 * Sends the plan one bundle at a time. In a batch, conditional references that no earlier write
 * settles are looked up first with one batch of searches per bundle; in a transaction the server
 * resolves them itself (FHIR allows them there), and a refusal fails the whole transaction.
 */
export async function runUpserts(
  plan: UpsertPlan,
  send: BundleSender,
  progress: UpsertProgress,
): Promise<void> {
  for (const planned of plan.bundles) {
    let entries = planned;
    const refs = substituteKnown(entries, plan.references);
    if (plan.mode === "batch" && refs.length > 0) {
      progress.bundles++;
      const answer = await send(lookupBundle(refs), false);
      const { target, refused } = readLookups(refs, answer.body);
      const applied = applyLookups(entries, target, refused);
      progress.refused.push(...applied.refused);
      entries = applied.keep;
    }
    if (entries.length === 0) continue;
    progress.bundles++;
    const answer = await send(writeBundle(entries, plan.mode), true);
    readWrites(entries, answer.body, plan.references, progress);
  }
}
