import { CODES } from "../error-codes";
import { PackError } from "../errors";

/**
 * An instant to sub-millisecond precision: FHIR and many PMS APIs give microseconds, and
 * truncating them would make a record at .123456 look later than a watermark at .123.
 */
export interface Instant {
  /** Epoch milliseconds. */
  ms: number;
  /** Fraction digits below the millisecond, trailing zeros removed ("" when none). */
  sub: string;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

function civil(year: number, month: number, day: number, h: number, m: number, s: number): number | null {
  if (year < 1000 || month < 1 || month > 12 || day < 1 || h > 23 || m > 59 || s > 59) return null;
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  const d = new Date(ms);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return ms;
}

/**
 * Parses an ISO 8601 date-time with a zone (`Z` or `±hh:mm`), or a Date. A date-time
 * without a zone is refused: on a server in another zone it would name another instant.
 * With `allowDate`, a bare date is midnight UTC.
 */
export function parseInstant(value: unknown, what: string, allowDate = false): Instant {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} is an invalid Date`);
    return { ms, sub: "" };
  }
  if (typeof value !== "string") {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      `${what} must be an ISO date-time string, not ${describe(value)}`,
    );
  }
  const text = value.trim();
  const dt = DATE_TIME.exec(text);
  if (dt) {
    const base = civil(+dt[1], +dt[2], +dt[3], +dt[4], +dt[5], dt[6] === undefined ? 0 : +dt[6]);
    if (base === null)
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} is not a valid date-time: ${clipText(text)}`);
    let offsetMin = 0;
    const zone = dt[8];
    if (zone !== "Z" && zone !== "z") {
      const digits = zone.replace(":", "");
      const hh = +digits.slice(1, 3);
      const mm = +digits.slice(3, 5);
      if (hh > 23 || mm > 59)
        throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} has a bad zone offset: ${zone}`);
      offsetMin = (zone[0] === "-" ? -1 : 1) * (hh * 60 + mm);
    }
    const frac = dt[7] ?? "";
    const ms = base - offsetMin * 60000 + (frac === "" ? 0 : Number(frac.slice(0, 3).padEnd(3, "0")));
    return { ms, sub: frac.slice(3).replace(/0+$/, "") };
  }
  const d = allowDate ? DATE_ONLY.exec(text) : null;
  if (d) {
    const ms = civil(+d[1], +d[2], +d[3], 0, 0, 0);
    if (ms === null)
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} is not a valid date: ${clipText(text)}`);
    return { ms, sub: "" };
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}/.test(text)) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      `${what} needs a time zone (Z or +hh:mm): ${clipText(text)} names no single instant`,
    );
  }
  throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} is not an ISO date-time: ${clipText(text)}`);
}

/** UTC, at least millisecond precision, more when the instant has it: `2025-01-06T08:00:00.123456Z`. */
export function formatInstant(t: Instant): string {
  const iso = new Date(t.ms).toISOString();
  return t.sub === "" ? iso : `${iso.slice(0, -1)}${t.sub}Z`;
}

export function compareInstants(a: Instant, b: Instant): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  const as = a.sub.padEnd(6, "0");
  const bs = b.sub.padEnd(6, "0");
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** Moves an instant back by whole milliseconds, keeping the sub-millisecond digits. */
export function minusMs(t: Instant, ms: number): Instant {
  return { ms: t.ms - ms, sub: t.sub };
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60000,
  h: 3600000,
  d: 86400000,
  w: 604800000,
};

/**
 * A duration such as `24h`, `7d`, `30m`, `90s`, `1d12h` or `1.5h`, in milliseconds; null when
 * the text is not one.
 */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === "" || !/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(t)) return null;
  let total = 0;
  for (const part of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]];
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** Where a new checkpoint starts: the epoch when empty, `initial` before `nowMs` for a duration, else the ISO time. */
export function resolveInitial(initial: string | undefined, nowMs: number): Instant {
  const text = (initial ?? "").trim();
  if (text === "") return { ms: 0, sub: "" };
  const duration = parseDuration(text);
  if (duration !== null) return { ms: nowMs - duration, sub: "" };
  return parseInstant(text, "initial", true);
}

/** Throws CODES.CHECKPOINT_BAD_INPUT when `initial` is neither empty, a duration nor an ISO time. */
export function validateInitial(initial: string | undefined): void {
  resolveInitial(initial, 0);
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

/** Inputs can be long or hold data; errors quote at most a short prefix. */
export function clipText(text: string): string {
  return text.length <= 40 ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, 37))}...`;
}
