import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { compareMarks, parseCursor, type Cursor, type Mark } from "./mark";
import { describe, formatInstant, parseInstant } from "./time";

export interface SelectOptions {
  /**
   * Dot path of a record's change time. Empty: `meta.lastUpdated` for the resources of a FHIR
   * Bundle, `updatedAt` for the records of an array.
   */
  timeField?: string;
  /** Dot path of a record's id (default `id`). */
  idField?: string;
  /** Only records of this `resourceType` are taken; empty: every resource of a Bundle's matches, every record of an array. */
  resourceType?: string;
  /** How many records a full page holds: a full page reports `more`. Absent: never `more`. */
  pageSize?: number;
}

export interface RunReport {
  /** Records after the checkpoint on this page. */
  total: number;
  /** The page was full and had new records: another page is waiting. */
  more: boolean;
  type?: string;
}

export interface Selection<T = unknown> {
  /** The records after (since, cursor), oldest first by (time, id). */
  records: T[];
  /** The (time, id) of the last record, to commit once every record is written; absent when none is new. */
  highWater?: string;
  cursor?: Cursor;
  run: RunReport;
}

const PATH = /^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/;
const TYPE = /^[A-Z][A-Za-z]{0,63}$/;

function checkPath(value: string | undefined, what: string): void {
  if (value !== undefined && value !== "" && (value.length > 200 || !PATH.test(value))) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, `${what} must be a dot path such as meta.lastUpdated`);
  }
}

/** Checks select options as a node checks its properties at start (CODES.CHECKPOINT_CONFIG). */
export function validateSelectOptions(options: SelectOptions): void {
  checkPath(options.timeField, "time field");
  checkPath(options.idField, "id field");
  if (options.resourceType !== undefined && options.resourceType !== "" && !TYPE.test(options.resourceType)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, "resource type must be a FHIR type name such as Patient");
  }
  const p = options.pageSize;
  if (p !== undefined && (!Number.isSafeInteger(p) || p < 1)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, "page size must be a whole number >= 1");
  }
}

function at(record: unknown, path: string): unknown {
  let v: unknown = record;
  for (const key of path.split(".")) {
    if (typeof v !== "object" || v === null || !Object.prototype.hasOwnProperty.call(v, key))
      return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The records of a page and whether it was a Bundle; a Bundle's `include` and `outcome` entries are not records. */
function recordsOf(page: unknown, resourceType: string): { records: unknown[]; bundle: boolean } {
  if (Array.isArray(page)) {
    return {
      records: resourceType ? page.filter((r) => isObject(r) && r.resourceType === resourceType) : page,
      bundle: false,
    };
  }
  if (isObject(page) && page.resourceType === "Bundle") {
    if (page.entry !== undefined && !Array.isArray(page.entry)) {
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, "msg.payload is a Bundle whose entry is not an array");
    }
    const records: unknown[] = [];
    for (const e of (page.entry as unknown[] | undefined) ?? []) {
      if (!isObject(e) || !isObject(e.resource)) continue;
      const mode = isObject(e.search) ? e.search.mode : undefined;
      if (resourceType ? e.resource.resourceType !== resourceType : mode !== undefined && mode !== "match")
        continue;
      records.push(e.resource);
    }
    return { records, bundle: true };
  }
  throw new PackError(
    CODES.CHECKPOINT_BAD_INPUT,
    `msg.payload must be an array of records or a FHIR Bundle, not ${describe(page)}`,
  );
}

/**
 * The records of one page that come after a checkpoint handed out by `get` (its `since` and
 * `cursor`), oldest first, with the (time, id) of the last: what a paging sync writes and then
 * commits. Times and ids compare as the checkpoint does (`compareMarks`): ids numerically when
 * both are whole numbers, so "10" comes after "9". A record without a valid time or id is an
 * error (CHECKPOINT_BAD_INPUT) naming its position only, never its data.
 */
export function selectAfter<T = unknown>(
  checkpoint: unknown,
  page: unknown,
  options: SelectOptions = {},
): Selection<T> {
  if (!isObject(checkpoint) || typeof checkpoint.since !== "string") {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.checkpoint.since is missing: select the records of a run that get started",
    );
  }
  const from: Mark = {
    time: parseInstant(checkpoint.since, "msg.checkpoint.since"),
    cursor: parseCursor(checkpoint.cursor, "msg.checkpoint.cursor"),
  };
  const type = options.resourceType ?? "";
  const { records, bundle } = recordsOf(page, type);
  const timeField = options.timeField || (bundle ? "meta.lastUpdated" : "updatedAt");
  const idField = options.idField || "id";
  const marked: Array<{ record: T; mark: Mark }> = [];
  records.forEach((record, i) => {
    if (!isObject(record))
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `record ${i} of the page is ${describe(record)}`);
    const time = at(record, timeField);
    if (typeof time !== "string") {
      throw new PackError(
        CODES.CHECKPOINT_BAD_INPUT,
        `record ${i} of the page has no date-time at ${timeField}`,
      );
    }
    const id = parseCursor(at(record, idField), `record ${i}'s ${idField}`);
    if (id === null)
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `record ${i} of the page has no ${idField}`);
    const mark: Mark = { time: parseInstant(time, `record ${i}'s ${timeField}`), cursor: id };
    if (compareMarks(mark, from) > 0) marked.push({ record: record as T, mark });
  });
  marked.sort((a, b) => compareMarks(a.mark, b.mark));
  const last = marked.at(-1);
  const full = options.pageSize !== undefined && records.length >= options.pageSize;
  const run: RunReport = { total: marked.length, more: full && marked.length > 0 };
  if (type) run.type = type;
  const selection: Selection<T> = { records: marked.map((m) => m.record), run };
  if (last) {
    selection.highWater = formatInstant(last.mark.time);
    selection.cursor = last.mark.cursor as Cursor;
  }
  return selection;
}
