import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { compareInstants, describe, formatInstant, parseInstant, type Instant } from "./time";

/** The id of the last record at the watermark's instant: a string or a safe integer. */
export type Cursor = string | number;

/** A position in a stream ordered by (time, id). */
export interface Mark {
  time: Instant;
  /** null: no record at `time` is known to be done, so every record at `time` is read again. */
  cursor: Cursor | null;
}

const INTEGER = /^-?\d+$/;

function integerOf(c: Cursor): bigint | null {
  if (typeof c === "number") return Number.isSafeInteger(c) ? BigInt(c) : null;
  return INTEGER.test(c) && c.length <= 40 ? BigInt(c) : null;
}

/**
 * Orders cursors as a PMS orders ids: numerically when both are integers (so 9 < 10),
 * otherwise by UTF-16 code units, as JavaScript and most SQL collations with `COLLATE "C"`
 * do. null (nothing done at that instant) sorts before every cursor.
 */
export function compareCursors(a: Cursor | null, b: Cursor | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const ai = integerOf(a);
  const bi = integerOf(b);
  if (ai !== null && bi !== null) return ai === bi ? 0 : ai < bi ? -1 : 1;
  const as = String(a);
  const bs = String(b);
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** Lexicographic on (time, cursor). */
export function compareMarks(a: Mark, b: Mark): number {
  return compareInstants(a.time, b.time) || compareCursors(a.cursor, b.cursor);
}

export function parseCursor(value: unknown, what = "cursor"): Cursor | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value))
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} must be a whole number or a string`);
    return value;
  }
  if (typeof value === "string") {
    if (value.length > 512)
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} is longer than 512 characters`);
    return value;
  }
  throw new PackError(
    CODES.CHECKPOINT_BAD_INPUT,
    `${what} must be a string or a whole number, not ${describe(value)}`,
  );
}

/**
 * Whether a record at (`time`, `id`) comes after a checkpoint handed out by `get`: the filter
 * that makes a watermark with a cursor lose nothing and repeat nothing when records share an
 * instant across a page boundary. `since` and `cursor` are those of `msg.checkpoint`.
 */
export function isAfter(
  checkpoint: { since: string; cursor?: Cursor | null },
  time: string | Date,
  id: Cursor,
): boolean {
  const since = parseInstant(checkpoint.since, "since");
  const at = parseInstant(time, "record time");
  const c = compareInstants(at, since);
  if (c !== 0) return c > 0;
  return compareCursors(id, checkpoint.cursor ?? null) > 0;
}

/** The highest (time, id) of some records: what a run commits after it has written them all. */
export function highestMark<T>(
  records: Iterable<T>,
  timeOf: (r: T) => string | Date,
  idOf: (r: T) => Cursor,
): { highWater: string; cursor: Cursor } | null {
  let best: Mark | null = null;
  for (const r of records) {
    const m: Mark = { time: parseInstant(timeOf(r), "record time"), cursor: idOf(r) };
    if (best === null || compareMarks(m, best) > 0) best = m;
  }
  return best === null ? null : { highWater: formatInstant(best.time), cursor: best.cursor as Cursor };
}
