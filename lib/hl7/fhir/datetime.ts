/**
 * HL7 v2 DTM/DT <-> FHIR date and dateTime, keeping the precision the sender gave.
 * A v2 time without an offset is local time of the sender; FHIR requires an offset once a
 * time is present, so it comes from the configured zone (`TimeZone`).
 */

const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

export interface V2DateTime {
  year: number;
  month?: number;
  day?: number;
  hour?: number;
  minute?: number;
  second?: number;
  /** Fraction digits as written ("5", "1234"). */
  fraction?: string;
  /** Minutes east of UTC, when the value carries one. */
  offset?: number;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS[month - 1];
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** Parses a v2 DTM (also the first component of a TS); undefined when it is not one. */
export function parseV2DateTime(text: string): V2DateTime | undefined {
  const m = DTM.exec(text.trim());
  if (!m) return undefined;
  const out: V2DateTime = { year: Number(m[1]) };
  if (m[2] !== undefined) {
    out.month = Number(m[2]);
    if (out.month < 1 || out.month > 12) return undefined;
  }
  if (m[3] !== undefined) {
    out.day = Number(m[3]);
    if (out.day < 1 || out.day > daysInMonth(out.year, out.month!)) return undefined;
  }
  if (m[4] !== undefined) {
    out.hour = Number(m[4]);
    if (out.hour > 23) return undefined;
  }
  if (m[5] !== undefined) {
    out.minute = Number(m[5]);
    if (out.minute > 59) return undefined;
  }
  if (m[6] !== undefined) {
    out.second = Number(m[6]);
    if (out.second > 59) return undefined;
  }
  if (m[7] !== undefined) out.fraction = m[7];
  if (m[8] !== undefined) {
    const sign = m[8][0] === "-" ? -1 : 1;
    const hh = Number(m[8].slice(1, 3));
    const mm = Number(m[8].slice(3, 5));
    if (hh > 14 || mm > 59) return undefined;
    out.offset = sign * (hh * 60 + mm);
  }
  return out;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad4 = (n: number): string => String(n).padStart(4, "0");

/** FHIR `date` at the precision given: never moved across a day boundary by a zone. */
export function toFhirDate(v: V2DateTime): string {
  let out = pad4(v.year);
  if (v.month !== undefined) out += `-${pad2(v.month)}`;
  if (v.day !== undefined) out += `-${pad2(v.day)}`;
  return out;
}

export function formatOffset(minutes: number): string {
  if (minutes === 0) return "+00:00";
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/**
 * Where a local time without an offset is placed: "" is the runtime's zone, "Z"/"UTC" and
 * "+hh:mm" are fixed offsets, anything else an IANA zone name.
 */
export class TimeZone {
  private readonly fixed?: number;
  private readonly zone?: string;
  private readonly formatter?: Intl.DateTimeFormat;
  /** Wall-clock minute (as a UTC epoch) -> the zone's offset then. */
  private readonly offsets = new Map<number, number>();

  constructor(spec = "") {
    const s = spec.trim();
    if (s === "") return;
    if (s === "Z" || s.toUpperCase() === "UTC") {
      this.fixed = 0;
      return;
    }
    const m = /^([+-])(\d{2}):?(\d{2})$/.exec(s);
    if (m) {
      this.fixed = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
      return;
    }
    // Throws a RangeError for an unknown zone name, which the caller reports as configuration error.
    this.formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: s,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    this.zone = s;
  }

  get name(): string {
    return this.zone ?? (this.fixed === undefined ? "local" : formatOffset(this.fixed));
  }

  /** Offset in minutes east of UTC that applies to this wall-clock time. */
  offsetAt(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
    if (this.fixed !== undefined) return this.fixed;
    if (!this.formatter) {
      return -new Date(year, month - 1, day, hour, minute, second).getTimezoneOffset();
    }
    // Offsets change on whole minutes, so one lookup serves every second of a wall-clock minute;
    // formatToParts is the costliest step of a conversion, and a feed's times cluster.
    const wall = Date.UTC(year, month - 1, day, hour, minute);
    let offset = this.offsets.get(wall);
    if (offset === undefined) {
      offset = this.zoneOffset(wall - this.zoneOffset(wall) * 60000);
      if (this.offsets.size >= 4096) this.offsets.clear();
      this.offsets.set(wall, offset);
    }
    return offset;
  }

  private zoneOffset(instant: number): number {
    const parts = this.formatter!.formatToParts(new Date(instant));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)!.value);
    const asUtc = Date.UTC(
      get("year"),
      get("month") - 1,
      get("day"),
      get("hour"),
      get("minute"),
      get("second"),
    );
    return Math.round((asUtc - Math.floor(instant / 1000) * 1000) / 60000);
  }
}

/**
 * FHIR `dateTime`: date-only values keep their precision; a time gets seconds (FHIR requires
 * them) and an offset, its own or the zone's.
 */
export function toFhirDateTime(v: V2DateTime, zone: TimeZone): string {
  const date = toFhirDate(v);
  if (v.hour === undefined || v.day === undefined) return date;
  const minute = v.minute ?? 0;
  const second = v.second ?? 0;
  const offset = v.offset ?? zone.offsetAt(v.year, v.month!, v.day, v.hour, minute, second);
  const frac = v.fraction ? `.${v.fraction}` : "";
  return `${date}T${pad2(v.hour)}:${pad2(minute)}:${pad2(second)}${frac}${formatOffset(offset)}`;
}

const FHIR_DATETIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** FHIR date or dateTime -> v2 DTM at the same precision (offset kept as written, Z as +0000). */
export function fhirToV2DateTime(text: string): string | undefined {
  const m = FHIR_DATETIME.exec(text.trim());
  if (!m) return undefined;
  let out = m[1];
  if (m[2]) out += m[2];
  if (m[3]) out += m[3];
  if (m[4]) {
    out += m[4] + m[5] + (m[6] ?? "00");
    if (m[7]) out += `.${m[7].slice(0, 4)}`;
    if (m[8]) out += m[8] === "Z" ? "+0000" : m[8].replace(":", "");
  }
  return out;
}

/** Epoch ms of a FHIR dateTime that carries a time and an offset; undefined otherwise. */
export function fhirInstant(text: string): number | undefined {
  const m = FHIR_DATETIME.exec(text);
  if (!m || !m[4] || !m[8]) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** A FHIR dateTime with time and offset, moved by `minutes`, written in the same offset. */
export function addMinutes(text: string, minutes: number): string | undefined {
  const m = FHIR_DATETIME.exec(text);
  const instant = fhirInstant(text);
  if (!m || instant === undefined) return undefined;
  const offset =
    m[8] === "Z"
      ? 0
      : (m[8]![0] === "-" ? -1 : 1) * (Number(m[8]!.slice(1, 3)) * 60 + Number(m[8]!.slice(4, 6)));
  const wall = new Date(instant + (minutes + offset) * 60000);
  const frac = m[7] ? `.${m[7]}` : "";
  return (
    `${pad4(wall.getUTCFullYear())}-${pad2(wall.getUTCMonth() + 1)}-${pad2(wall.getUTCDate())}` +
    `T${pad2(wall.getUTCHours())}:${pad2(wall.getUTCMinutes())}:${pad2(wall.getUTCSeconds())}${frac}` +
    formatOffset(offset)
  );
}
