import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { compareMarks, parseCursor, type Cursor, type Mark } from "./mark";
import { isObject } from "../object";
import { compareInstants, describe, formatInstant, parseInstant, type Instant } from "./time";

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
  /**
   * "page" (the default): each page is a run of its own, committed before the next is read.
   * "run": a run reads page after page (keyset paging, `msg.run.next` says what to ask next) and
   * commits once at its end.
   */
  paging?: Paging;
  /** Dot path of the records' array inside the page (`items` of `{items, total}`); empty: the page itself. */
  recordsField?: string;
}

export const PAGING = ["page", "run"] as const;
export type Paging = (typeof PAGING)[number];

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
  if (options.paging !== undefined && !(PAGING as readonly string[]).includes(options.paging)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, "paging must be page or run");
  }
  checkPath(options.recordsField, "records field");
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

/** The (time, id) of each record, checked; an invalid one is named by its position, never its data. */
function marksOf(records: unknown[], timeField: string, idField: string): Mark[] {
  return records.map((record, i) => {
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
    let instant: Instant;
    try {
      instant = parseInstant(time, `record ${i}'s ${timeField}`);
    } catch {
      // parseInstant quotes the text, which at a misconfigured time field may be a name.
      throw new PackError(
        CODES.CHECKPOINT_BAD_INPUT,
        `record ${i}'s ${timeField} is not an ISO date-time with a zone`,
      );
    }
    return { time: instant, cursor: id };
  });
}

/** The records after `from`, oldest first, with the mark of the last. */
function after<T>(records: unknown[], marks: Mark[], from: Mark): { records: T[]; last?: Mark } {
  const kept: Array<{ record: T; mark: Mark }> = [];
  marks.forEach((mark, i) => {
    if (compareMarks(mark, from) > 0) kept.push({ record: records[i] as T, mark });
  });
  kept.sort((a, b) => compareMarks(a.mark, b.mark));
  return { records: kept.map((k) => k.record), last: kept.at(-1)?.mark };
}

/** The kept records with the (time, id) of the last, which the caller commits once all are written. */
function selectionOf<T, R extends RunReport>(
  kept: { records: T[]; last?: Mark },
  run: R,
): Selection<T> & { run: R } {
  const selection: Selection<T> & { run: R } = { records: kept.records, run };
  if (kept.last) {
    selection.highWater = formatInstant(kept.last.time);
    selection.cursor = kept.last.cursor as Cursor;
  }
  return selection;
}

function since(checkpoint: unknown): { checkpoint: Record<string, unknown>; from: Mark } {
  if (!isObject(checkpoint) || typeof checkpoint.since !== "string") {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.checkpoint.since is missing: select the records of a run that get started",
    );
  }
  return {
    checkpoint,
    from: {
      time: parseInstant(checkpoint.since, "msg.checkpoint.since"),
      cursor: parseCursor(checkpoint.cursor, "msg.checkpoint.cursor"),
    },
  };
}

function fieldsFor(options: SelectOptions, bundle: boolean): { timeField: string; idField: string } {
  return {
    timeField: options.timeField || (bundle ? "meta.lastUpdated" : "updatedAt"),
    idField: options.idField || "id",
  };
}

/** The page's records, at `recordsField` when one is set. */
function pageRecords(page: unknown, options: SelectOptions): { records: unknown[]; bundle: boolean } {
  const field = options.recordsField;
  if (!field) return recordsOf(page, options.resourceType ?? "");
  const inner = at(page, field);
  if (!Array.isArray(inner)) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      `msg.payload.${field} must be the page's array of records, not ${describe(inner)}`,
    );
  }
  return recordsOf(inner, options.resourceType ?? "");
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
  const { from } = since(checkpoint);
  const type = options.resourceType ?? "";
  const { records, bundle } = pageRecords(page, options);
  const { timeField, idField } = fieldsFor(options, bundle);
  const kept = after<T>(records, marksOf(records, timeField, idField), from);
  const full = options.pageSize !== undefined && records.length >= options.pageSize;
  const run: RunReport = { total: kept.records.length, more: full && kept.records.length > 0 };
  if (type) run.type = type;
  return selectionOf(kept, run);
}

/** Where the next page of a run is read from: records changed at or after `since`, page number `page` of that query. */
export interface NextPage {
  since: string;
  page: number;
}

/**
 * A run that reads many pages and commits once, as `msg.run` carries it from page to page. The
 * fields a flow sets itself (`entity`, ...) are kept; `written` and `deadLettered` are tally's.
 */
export interface RunState extends Record<string, unknown> {
  runId: string;
  startedAt: string;
  /** Pages read so far. */
  pages: number;
  /** Records after the checkpoint so far, over every page. */
  total: number;
  /** The last page was full: another one waits, to be asked for with `next`. */
  more: boolean;
  next: NextPage;
}

/** Fields of msg.run that belong to one run and start again with the next. */
const RUN_FIELDS = [
  "runId",
  "startedAt",
  "pages",
  "total",
  "more",
  "next",
  "written",
  "deadLettered",
  "seq",
  "outcome",
  "code",
  "type",
];

/** msg.run at the start of a run: the flow's own fields kept, the counters at zero, the first page from `since`. */
export function startRun(
  previous: unknown,
  checkpoint: { runId: string; since: string },
  now: number,
): RunState {
  const kept: Record<string, unknown> = {};
  if (isObject(previous)) {
    for (const [k, v] of Object.entries(previous)) if (!RUN_FIELDS.includes(k)) kept[k] = v;
  }
  return {
    ...kept,
    runId: checkpoint.runId,
    startedAt: new Date(now).toISOString(),
    pages: 0,
    total: 0,
    more: true,
    next: { since: checkpoint.since, page: 1 },
  };
}

/**
 * One page of a run that reads many (keyset paging). The records after the run's position are
 * kept: after the checkpoint's `(since, cursor)` on the first page, then after the last record
 * of the pages before (`highWater`, `cursor`, which `select` keeps on msg.checkpoint for the
 * commit). The next page is asked from the page's newest record time, or, when the whole page
 * shares the instant it was asked from, as the next page number of the same query: asking
 * "changed since the last record" rather than "page n" cannot skip a record that changes while
 * the run pages, and paging within one instant cannot loop on it.
 */
export function selectRunPage<T = unknown>(
  checkpoint: unknown,
  run: unknown,
  page: unknown,
  options: SelectOptions = {},
  now = Date.now(),
): Selection<T> & { run: RunState } {
  const { checkpoint: cp, from: handed } = since(checkpoint);
  if (typeof cp.runId !== "string" || cp.runId === "") {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.checkpoint.runId is missing: select the pages of a run that get started",
    );
  }
  const sameRun = isObject(run) && run.runId === cp.runId && isObject(run.next);
  const state: RunState = sameRun
    ? { ...(run as RunState), next: checkNext(run.next) }
    : startRun(run, { runId: cp.runId, since: cp.since as string }, now);
  const from: Mark =
    sameRun && typeof cp.highWater === "string" && cp.highWater !== ""
      ? {
          time: parseInstant(cp.highWater, "msg.checkpoint.highWater"),
          cursor: parseCursor(cp.cursor, "msg.checkpoint.cursor"),
        }
      : handed;
  const { records, bundle } = pageRecords(page, options);
  const { timeField, idField } = fieldsFor(options, bundle);
  const marks = marksOf(records, timeField, idField);
  const kept = after<T>(records, marks, from);

  const asked = parseInstant(state.next.since, "msg.run.next.since");
  let newest: Instant | undefined;
  for (const m of marks) if (newest === undefined || compareInstants(m.time, newest) > 0) newest = m.time;
  const next: NextPage =
    newest === undefined || compareInstants(newest, asked) === 0
      ? { since: state.next.since, page: state.next.page + 1 }
      : { since: formatInstant(newest), page: 1 };
  const full = options.pageSize !== undefined && records.length >= options.pageSize;
  const out: RunState = {
    ...state,
    pages: state.pages + 1,
    total: state.total + kept.records.length,
    more: full,
    next,
  };
  if (options.resourceType) out.type = options.resourceType;
  return selectionOf(kept, out);
}

function checkNext(value: unknown): NextPage {
  if (
    !isObject(value) ||
    typeof value.since !== "string" ||
    !Number.isSafeInteger(value.page) ||
    (value.page as number) < 1
  ) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.run.next must be {since, page} as select set it; start a run with get",
    );
  }
  return { since: value.since, page: value.page as number };
}
