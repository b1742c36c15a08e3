/**
 * Calendar dates and date-times as text, never through the host's time zone: a birth date
 * is a calendar date, not an instant, and `new Date("1980-05-04").getDate()` is May 3rd in
 * Honolulu.
 */

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

export interface ParsedDateTime extends CalendarDate {
  hour: number;
  minute: number;
  /** Seconds exactly as written ("07"), "00" when they were left out. */
  second: string;
  /** Fraction with its dot (".250") or "". */
  fraction: string;
  /** "Z" or "+hh:mm" / "-hh:mm". */
  offset: string;
  /** Minutes east of UTC. */
  offsetMinutes: number;
  /** formatDateTime gives the text back unchanged. */
  exact: boolean;
}

const DATE_COMPACT = /^(\d{4})(\d{2})(\d{2})$/;

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function validDate(year: number, month: number, day: number): boolean {
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return String(n).padStart(4, "0");
}

export function formatDate(d: CalendarDate): string {
  return `${pad4(d.year)}-${pad2(d.month)}-${pad2(d.day)}`;
}

export function formatCompactDate(d: CalendarDate): string {
  return `${pad4(d.year)}${pad2(d.month)}${pad2(d.day)}`;
}

function digitsAt(text: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) {
    // Past the end charCodeAt is NaN, which no comparison is true of.
    const c = text.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** YYYY-MM-DD without a regular expression: the common case, on every record. */
function fastDashedDate(text: string): CalendarDate | undefined | null {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  if (year < 0 || month < 0 || day < 0) return undefined;
  return validDate(year, month, day) ? { year, month, day } : undefined;
}

/**
 * A date-time as written, validated: `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]` (a space may
 * stand for the T, and `±hhmm` for `±hh:mm`). `offset` is "" when none was written.
 * Scanned by hand: it runs for every date-time of every record.
 */
export function parseDateTime(text: string): ParsedDateTime | undefined {
  const len = text.length;
  if (len < 16 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58) {
    return undefined;
  }
  const sep = text.charCodeAt(10);
  if (sep !== 84 && sep !== 32) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0) return undefined;
  if (!validDate(year, month, day) || hour > 23 || minute > 59) return undefined;
  let pos = 16;
  let second = "00";
  let fraction = "";
  let exact = sep === 84;
  if (text.charCodeAt(pos) === 58) {
    const sec = digitsAt(text, pos + 1, 2);
    if (sec < 0 || sec > 59) return undefined;
    second = text.slice(pos + 1, pos + 3);
    pos += 3;
    if (text.charCodeAt(pos) === 46) {
      let end = pos + 1;
      while (end < len && end - pos <= 9) {
        const c = text.charCodeAt(end);
        if (c < 48 || c > 57) break;
        end++;
      }
      if (end === pos + 1) return undefined;
      fraction = text.slice(pos, end);
      pos = end;
    }
  } else {
    exact = false;
  }
  let offset = "";
  let offsetMinutes = 0;
  if (pos < len) {
    const c = text.charCodeAt(pos);
    if (c === 90 && pos + 1 === len) {
      offset = "Z";
    } else if (c === 43 || c === 45) {
      const colon = text.charCodeAt(pos + 3) === 58;
      if (len !== pos + (colon ? 6 : 5)) return undefined;
      const h = digitsAt(text, pos + 1, 2);
      const m = digitsAt(text, pos + (colon ? 4 : 3), 2);
      if (h < 0 || m < 0 || h > 14 || m > 59 || (h === 14 && m > 0)) return undefined;
      offsetMinutes = (c === 45 ? -1 : 1) * (h * 60 + m);
      offset = colon ? text.slice(pos) : `${text.slice(pos, pos + 3)}:${text.slice(pos + 3)}`;
      if (!colon) exact = false;
    } else {
      return undefined;
    }
  }
  return { year, month, day, hour, minute, second, fraction, offset, offsetMinutes, exact };
}

/**
 * The calendar date a value names: `YYYY-MM-DD`, `YYYYMMDD`, or the date part of an ISO
 * date-time as written (its offset does not move it). A `Date` object counts by its
 * host-local calendar day, which is what database drivers mean by a DATE column.
 */
export function parseCalendarDate(value: unknown): CalendarDate | undefined {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    return { year: value.getFullYear(), month: value.getMonth() + 1, day: value.getDate() };
  }
  if (typeof value !== "string") return undefined;
  const fast = fastDashedDate(value);
  if (fast !== null) return fast;
  const m = DATE_COMPACT.exec(value);
  if (m) {
    const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
    return validDate(d.year, d.month, d.day) ? d : undefined;
  }
  const dt = parseDateTime(value);
  return dt ? { year: dt.year, month: dt.month, day: dt.day } : undefined;
}

/** Date.UTC without its mapping of years 0..99 to 1900..1999. */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** Epoch milliseconds of a date-time with an offset. */
export function epochMs(dt: ParsedDateTime): number {
  const frac = dt.fraction === "" ? 0 : Number(`0${dt.fraction}`) * 1000;
  return (
    utc(dt.year, dt.month, dt.day, dt.hour, dt.minute, Number(dt.second)) + frac - dt.offsetMinutes * 60000
  );
}

export function formatDateTime(dt: ParsedDateTime): string {
  return `${formatDate(dt)}T${pad2(dt.hour)}:${pad2(dt.minute)}:${dt.second}${dt.fraction}` + `${dt.offset}`;
}

/** The same wall-clock arithmetic in the same offset: the result names start + minutes. */
export function addMinutes(dt: ParsedDateTime, minutes: number): ParsedDateTime {
  const shifted = new Date(utc(dt.year, dt.month, dt.day, dt.hour, dt.minute + minutes, 0));
  return {
    ...dt,
    exact: false,
    year: shifted.getUTCFullYear(),
    month: shifted.getUTCMonth() + 1,
    day: shifted.getUTCDate(),
    hour: shifted.getUTCHours(),
    minute: shifted.getUTCMinutes(),
  };
}
