/**
 * HL7 v2 messages: normalise, parse (once), read, serialise.
 *
 * ## Why not hl7v2's own model for values
 * `hl7v2`'s `HL7Message` decodes every value through its dictionary and re-encodes it on
 * `toHL7String()`: a time zone `-0500` comes back as `0500`, a partial date `1988` as
 * `19880101`, subcomponents of undeclared components are escaped, `\.br\` is mangled. A bridge
 * must pass values on exactly, so this module parses the ER7 text itself into plain strings
 * (linear splits, one pass) and keeps the text it parsed. `hl7v2` is used where it is right:
 * data type validation against the dictionary of the message's version (`validate` option),
 * and `ParsedHl7.hl7v2()` for callers that want its typed API.
 *
 * ## One parse per message
 * `parseHl7(text)` keeps its last result keyed by the text string, so that `mllp-in` (which
 * parses to decide AA/AE) and `hl7-fhir` (which converts) share one parse of the same
 * `msg.payload` when nothing was parsed in between. Only the last: a parse is cheap (fields
 * are split on first read), and results kept across several messages outlive the young
 * generation, which cost more than the parses they saved (the hl7-fhir benchmark converted
 * 40% fewer 5 KB messages a second with the last 32 kept). A `ParsedHl7` is shared and must be
 * treated as read-only; the structure handed to users (`toJSON()`) is a copy. A kept parse is
 * handed to a caller with stricter limits only after its text was checked against them.
 *
 * ## Limits
 * A structure costs far more than its text, so a parse first finds the segments and counts the
 * delimiters against `Hl7Limits` (`scanHl7`) and refuses with HL7_LIMIT before it builds
 * anything; see `DEFAULT_HL7_LIMITS`. Header reads (`parseHeader`) look at MSH only.
 *
 * ## Structure (`Hl7Json`, what `hl7-parse` puts in `msg.payload`)
 * ```
 * { segments: [ ["MSH", ["|"], ["^~\\&"], ["ADT1"], ...], ["PID", ["1"], [""], [["100234","","","GHH","MR"]], ...] ] }
 * ```
 * - a segment is an array: `seg[0]` its ID, `seg[n]` field n (HL7 numbering, so MSH-1 is the
 *   field separator and MSH-2 the encoding characters);
 * - a field is always an array of its repetitions (`[""]` when empty);
 * - a repetition is a string, or an array of its components when it has several;
 * - a component is a string, or an array of its subcomponents when it has several;
 * - every string is unescaped (`\F\` is `|`, `\.br\` a line break, ...); `""` (two double
 *   quotes, the HL7 null) is kept as that two-character string.
 * So PID-5.1 of the first repetition is `pid[5][0][0]` when PID-5 has components.
 * Text -> structure -> text gives back the same text when the escapes were written in their
 * canonical form (see escape.ts).
 */
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { DEFAULT_DELIMITERS, type Delimiters, encodingCharacters, escapeHl7, unescapeHl7 } from "./escape";
import { hl7v2 } from "./hl7v2";
import type { HL7Message } from "hl7v2";

export type Hl7Component = string | string[];
export type Hl7Repetition = string | Hl7Component[];
export type Hl7Field = Hl7Repetition[];
/** `[segment ID, field 1, field 2, ...]` */
export type Hl7SegmentJson = [string, ...Hl7Field[]];

export interface Hl7Json {
  segments: Hl7SegmentJson[];
}

/** MSH facts, read without parsing the rest of the message. */
export interface Hl7Header {
  /** MSH-9.1, e.g. "ADT". */
  type: string;
  /** MSH-9.2, or EVN-1 when MSH-9.2 is empty (v2.1/2.2 style). */
  event: string;
  /** MSH-9.3 ("" before v2.3.1 or when absent). */
  structure: string;
  /** MSH-10 */
  controlId: string;
  /** MSH-12.1 */
  version: string;
  /** MSH-3..6: components unescaped and joined by "^" ("APP" or "APP^1.2.3^ISO"). */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 as written (HL7 DTM, e.g. "20240115083000+0100"). */
  timestamp: string;
  /** MSH-11.1 (P, T, D). */
  processingId: string;
  /** MSH-15: accept acknowledgment type (AL, NE, ER, SU; "" = original mode). */
  acceptAckType: string;
  /** MSH-16: application acknowledgment type. */
  applicationAckType: string;
  /** MSH-18.1 */
  charset: string;
  delimiters: Delimiters;
  /** MSH fields as written (still escaped): `msh[n]` is MSH-n. */
  msh: readonly string[];
}

/** The header facts that go on `msg.hl7` (GUIDE §3). */
export interface Hl7Facts {
  type: string;
  event: string;
  structure: string;
  controlId: string;
  version: string;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  timestamp: string;
}

export function hl7Facts(h: Hl7Header): Hl7Facts {
  return {
    type: h.type,
    event: h.event,
    structure: h.structure,
    controlId: h.controlId,
    version: h.version,
    sendingApplication: h.sendingApplication,
    sendingFacility: h.sendingFacility,
    receivingApplication: h.receivingApplication,
    receivingFacility: h.receivingFacility,
    timestamp: h.timestamp,
  };
}

/** Where an HL7_PARSE error is: `details` of the PackError. */
export interface Hl7ErrorLocation {
  /** Segment ID ("" when the line has none that can be shown). */
  segment: string;
  /** 1-based position of the segment in the message (0: the message as a whole). */
  position: number;
  /** Field number (HL7 numbering), when one field is at fault. */
  field?: number;
  component?: number;
  subcomponent?: number;
  /** 1-based repetition */
  repetition?: number;
  /** HL7 table 0357 error code suited to an ERR segment (100, 101, 102, 207 ...). */
  hl7ErrorCode: number;
  reason: string;
}

export function hl7ParseError(loc: Hl7ErrorLocation): PackError {
  let where =
    loc.position > 0 ? `segment ${loc.position}${loc.segment ? ` (${loc.segment})` : ""}` : "message";
  if (loc.field !== undefined) where += `, field ${loc.segment || "?"}-${loc.field}`;
  return new PackError(CODES.HL7_PARSE, `HL7 parse error at ${where}: ${loc.reason}`, loc);
}

function badInput(message: string): PackError {
  return new PackError(CODES.HL7_BAD_INPUT, message);
}

// ---- normalisation ------------------------------------------------------------------------

const BLANK = /^[ \t]*$/;

/**
 * One canonical text: UTF-8 BOM and MLLP framing bytes removed, CR LF / LF -> CR, blank
 * segments (empty or spaces/tabs only) dropped, every segment ended by CR.
 */
export function normalizeHl7(input: string | Buffer): string {
  let text = typeof input === "string" ? input : decodeHl7(input);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.charCodeAt(0) === 0x0b) text = text.slice(1);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fs = text.indexOf("\x1c");
  // eslint-disable-next-line no-control-regex -- the MLLP end byte
  if (fs >= 0 && /^\x1c\r?\n?$/.test(text.slice(fs))) text = text.slice(0, fs);
  if (text.includes("\n")) text = text.replace(/\r\n|\n/g, "\r");
  const lines = text.split("\r");
  let blank = false;
  for (const l of lines) {
    if (l === "" || BLANK.test(l)) {
      blank = true;
      break;
    }
  }
  if (!blank) return text.endsWith("\r") ? text : `${text}\r`;
  const kept = lines.filter((l) => l !== "" && !BLANK.test(l));
  return kept.length ? `${kept.join("\r")}\r` : "";
}

/** HL7 table 0211 (MSH-18) -> WHATWG encoding label for TextDecoder (Node's full ICU). */
const CHARSETS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    "": "utf-8",
    ASCII: "utf-8",
    "ISO IR6": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin1",
    "8859/2": "iso-8859-2",
    "8859/3": "iso-8859-3",
    "8859/4": "iso-8859-4",
    "8859/5": "iso-8859-5",
    "8859/6": "iso-8859-6",
    "8859/7": "iso-8859-7",
    "8859/8": "iso-8859-8",
    "8859/9": "windows-1254",
    "8859/15": "iso-8859-15",
    "ISO IR14": "iso-2022-jp",
    "ISO IR87": "iso-2022-jp",
    "ISO IR159": "iso-2022-jp",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc-kr",
    "BIG-5": "big5",
  }),
);

/**
 * Buffer -> text in the character set MSH-18 names (HL7 table 0211; UTF-8 when absent or
 * unknown). Not through `hl7v2`'s `parseRaw`: it checks the HL7 name instead of the mapped
 * encoding and so decodes every 8859/n but 8859/1 as UTF-8.
 */
export function decodeHl7(buf: Buffer): string {
  let start = 0;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
  else if (buf[0] === 0x0b) start = buf[1] === 0xef && buf[2] === 0xbb && buf[3] === 0xbf ? 4 : 1;
  const body = start ? buf.subarray(start) : buf;
  const headEnd = findLineEnd(body, 0);
  const id = body.toString("latin1", 0, 3);
  if (!(id === "MSH" || id === "FHS" || id === "BHS") || headEnd < 8) return body.toString("utf8");
  const charset = charsetOf(body, headEnd);
  const encoding = CHARSETS[charset] ?? "utf-8";
  if (encoding === "utf-8") return body.toString("utf8");
  if (encoding === "latin1") return body.toString("latin1");
  try {
    return new TextDecoder(encoding).decode(body);
  } catch {
    return body.toString("utf8");
  }
}

/** MSH-18.1 of the header line `buf[0, end)`, found without splitting the line. */
function charsetOf(buf: Buffer, end: number): string {
  const field = buf[3];
  const component = buf[4];
  let at = 3;
  // MSH-18 follows the 17th field separator (MSH-1 being the first)
  for (let k = 1; k < 17; k++) {
    at = buf.indexOf(field, at + 1);
    if (at < 0 || at >= end) return "";
  }
  let stop = buf.indexOf(field, at + 1);
  if (stop < 0 || stop > end) stop = end;
  const value = buf.toString("latin1", at + 1, Math.min(stop, at + 65));
  return value.split(String.fromCharCode(component))[0].trim().toUpperCase();
}

function findLineEnd(buf: Buffer, from: number): number {
  const cr = buf.indexOf(0x0d, from);
  const lf = buf.indexOf(0x0a, from);
  if (cr < 0) return lf < 0 ? buf.length : lf;
  return lf < 0 ? cr : Math.min(cr, lf);
}

// ---- delimiters and segments --------------------------------------------------------------

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
// eslint-disable-next-line no-control-regex -- letters, digits, white space and control characters
const NOT_A_DELIMITER = /[A-Za-z0-9\s\x00-\x1f\x7f]/;

function safeId(text: string): string {
  return /^[A-Za-z0-9]{1,4}$/.test(text) ? text : "";
}

/** Delimiters from an MSH (or FHS/BHS) line; HL7_PARSE when MSH-1/MSH-2 are not usable. */
export function delimitersOf(line: string, segment = "MSH"): Delimiters {
  const fail = (field: number, reason: string): never => {
    throw hl7ParseError({ segment, position: 1, field, hl7ErrorCode: 102, reason });
  };
  if (line.length < 8) fail(1, "the header is too short to hold its delimiters");
  const field = line[3];
  if (NOT_A_DELIMITER.test(field)) fail(1, "MSH-1 is not a usable field separator");
  let enc = line.slice(4);
  const end = enc.indexOf(field);
  if (end >= 0) enc = enc.slice(0, end);
  if (enc.length < 4 || enc.length > 5) fail(2, "MSH-2 must hold 4 or 5 encoding characters");
  const all = field + enc;
  if (new Set(all).size !== all.length || NOT_A_DELIMITER.test(enc)) {
    fail(2, "MSH-2 encoding characters must be distinct, non-alphanumeric and differ from MSH-1");
  }
  const d: Delimiters = {
    field,
    component: enc[0],
    repetition: enc[1],
    escape: enc[2],
    subcomponent: enc[3],
  };
  if (enc.length === 5) d.truncation = enc[4];
  return d;
}

// ---- limits ---------------------------------------------------------------------------------

/**
 * How much structure one parse accepts. A structure costs far more than its text (an empty
 * field is one byte of HL7 and about a hundred bytes of arrays and strings), so the parser
 * counts delimiters first and refuses a text over any limit before it builds anything.
 * `Infinity` means no limit.
 */
export interface Hl7Limits {
  /** Segments in one message; for a batch file, in the whole file. */
  maxSegments: number;
  /** Characters in one segment (one line, without its end). */
  maxSegmentLength: number;
  /** Fields in one segment. */
  maxFieldsPerSegment: number;
  /** Repetitions of one field. */
  maxRepetitionsPerField: number;
  /** Components in one field, all its repetitions together. */
  maxComponentsPerField: number;
  /** Subcomponents in one field, all its components and repetitions together. */
  maxSubcomponentsPerField: number;
  /**
   * Field, repetition, component and subcomponent separators and escape characters in one
   * message (for a batch file, in the whole file), MSH-1 and MSH-2 not counted.
   */
  maxDelimiters: number;
}

/**
 * The defaults: far above real messages (the largest sample, a 5 KB ADT^A01, has 44 segments,
 * 88 fields in its widest segment and about 900 delimiters) and low enough that the most
 * expensive message they let through (200,000 empty fields) still parses in about 100 ms into
 * about 30 MB. A segment may be as long as the largest frame mllp-in takes by default, for
 * documents embedded in OBX-5.
 */
export const DEFAULT_HL7_LIMITS: Readonly<Hl7Limits> = Object.freeze({
  maxSegments: 10_000,
  maxSegmentLength: 10 * 1024 * 1024,
  maxFieldsPerSegment: 1_000,
  maxRepetitionsPerField: 2_000,
  maxComponentsPerField: 5_000,
  maxSubcomponentsPerField: 10_000,
  maxDelimiters: 200_000,
});

/** No limit at all: every structure is built, whatever it costs. */
export const NO_HL7_LIMITS: Readonly<Hl7Limits> = Object.freeze({
  maxSegments: Infinity,
  maxSegmentLength: Infinity,
  maxFieldsPerSegment: Infinity,
  maxRepetitionsPerField: Infinity,
  maxComponentsPerField: Infinity,
  maxSubcomponentsPerField: Infinity,
  maxDelimiters: Infinity,
});

const LIMIT_NAMES = Object.keys(DEFAULT_HL7_LIMITS) as Array<keyof Hl7Limits>;

const LIMIT_TEXT: Readonly<Record<keyof Hl7Limits, string>> = {
  maxSegments: "segments in one message",
  maxSegmentLength: "characters in one segment",
  maxFieldsPerSegment: "fields in one segment",
  maxRepetitionsPerField: "repetitions in one field",
  maxComponentsPerField: "components in one field",
  maxSubcomponentsPerField: "subcomponents in one field",
  maxDelimiters: "delimiters in one message",
};

/**
 * Complete limits from some of them (the others keep their defaults). HL7_CONFIG when one is
 * not a positive integer or `Infinity`, or is not a limit.
 */
export function hl7Limits(limits?: Partial<Hl7Limits>): Readonly<Hl7Limits> {
  if (limits === undefined || limits === DEFAULT_HL7_LIMITS || limits === NO_HL7_LIMITS) {
    return (limits as Readonly<Hl7Limits> | undefined) ?? DEFAULT_HL7_LIMITS;
  }
  if (limits === null || typeof limits !== "object") {
    throw new PackError(CODES.HL7_CONFIG, "HL7 limits must be an object of limit name -> number");
  }
  const out: Hl7Limits = { ...DEFAULT_HL7_LIMITS };
  for (const [name, value] of Object.entries(limits)) {
    if (!(LIMIT_NAMES as string[]).includes(name)) {
      throw new PackError(CODES.HL7_CONFIG, `${name} is not an HL7 limit (${LIMIT_NAMES.join(", ")})`, {
        limit: name,
      });
    }
    if (value === undefined) continue;
    if (value !== Infinity && !(Number.isSafeInteger(value) && value > 0)) {
      throw new PackError(CODES.HL7_CONFIG, `HL7 limit ${name} must be a positive whole number`, {
        limit: name,
      });
    }
    out[name as keyof Hl7Limits] = value;
  }
  return Object.freeze(out);
}

/**
 * Limits from node properties as the editor stores them (strings): empty or absent keeps the
 * default, 0 means no limit. HL7_CONFIG when a value is not a whole number >= 0.
 */
export function hl7LimitsFromConfig(config: Readonly<Record<string, unknown>>): Readonly<Hl7Limits> {
  const out: Partial<Hl7Limits> = {};
  for (const name of LIMIT_NAMES) {
    const raw = config[name];
    if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) continue;
    const value = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new PackError(CODES.HL7_CONFIG, `${name} must be a whole number (0: no limit)`, { limit: name });
    }
    out[name] = value === 0 ? Infinity : value;
  }
  return hl7Limits(out);
}

function unlimited(l: Readonly<Hl7Limits>): boolean {
  return l === NO_HL7_LIMITS || LIMIT_NAMES.every((k) => l[k] === Infinity);
}

/** True when every limit of `a` is at most that of `b` (what passed `a` passes `b`). */
function withinLimits(a: Readonly<Hl7Limits>, b: Readonly<Hl7Limits>): boolean {
  return a === b || LIMIT_NAMES.every((k) => a[k] <= b[k]);
}

/** Where a limit was exceeded: `details` of an HL7_LIMIT PackError. */
export interface Hl7LimitLocation extends Hl7ErrorLocation {
  /** The limit's name, e.g. "maxFieldsPerSegment". */
  limit: keyof Hl7Limits;
  /** Its value. */
  max: number;
}

function limitError(
  limit: keyof Hl7Limits,
  limits: Readonly<Hl7Limits>,
  segment: string,
  position: number,
  field?: number,
): PackError {
  const max = limits[limit];
  const reason = `more than ${max} ${LIMIT_TEXT[limit]} (${limit})`;
  let where = position > 0 ? `segment ${position}${segment ? ` (${segment})` : ""}` : "message";
  if (field !== undefined) where += `, field ${segment || "?"}-${field}`;
  const details: Hl7LimitLocation = {
    segment,
    position,
    ...(field === undefined ? {} : { field }),
    // table 0357: 104 value too long, 207 application error
    hl7ErrorCode: limit === "maxSegmentLength" ? 104 : 207,
    reason,
    limit,
    max,
  };
  return new PackError(CODES.HL7_LIMIT, `HL7 limit exceeded at ${where}: ${reason}`, details);
}

// ---- the delimiter scan -----------------------------------------------------------------------

const K_FIELD = 1;
const K_REPETITION = 2;
const K_COMPONENT = 3;
const K_SUBCOMPONENT = 4;
const K_ESCAPE = 5;

/** Segments found by `scanHl7`: segment `k` is `text.slice(starts[k], ends[k])`. */
export interface Hl7Lines {
  starts: number[];
  ends: number[];
  /** The text is normalised already (CR ends only, no blank line, ends with CR, starts at 0). */
  normalized: boolean;
}

export interface ScanOptions {
  /** Stop after this many segments (a header read); each line end is then looked for within `maxSegmentLength`. */
  segments?: number;
  /** HL7_PARSE on a NUL or MLLP framing byte inside a segment. */
  control?: boolean;
  /** Each MSH/FHS/BHS line brings its own delimiters (batch files). */
  batch?: boolean;
}

/** NUL and the MLLP framing bytes. */
const CONTROL = ["\x00", "\x0b", "\x1c"];

function isBlankLine(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

function idAt(text: string, start: number): string {
  return safeId(text.slice(start, start + 3));
}

function isHeaderId(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  if (c !== 0x4d && c !== 0x46 && c !== 0x42) return false; // M F B
  const id = text.slice(at, at + 3);
  return id === "MSH" || id === "FHS" || id === "BHS";
}

/** Where MSH-3 starts in a header line (past MSH-1 and MSH-2), or `start` when it has none. */
function afterEncodingCharacters(text: string, start: number, end: number, d: Delimiters): number {
  if (text[start + 3] !== d.field) return start;
  const last = Math.min(end, start + 10);
  for (let p = start + 4; p < last; p++) if (text[p] === d.field) return p + 1;
  return start;
}

/**
 * Finds the segments of a text from `from` (the start of its first segment): CR, LF or CR LF
 * ends, blank lines skipped. Every limit is checked on the way, before anything but the
 * position lists is allocated: HL7_LIMIT (details: `Hl7LimitLocation`) at the first one
 * exceeded. Line ends and delimiters are found with `indexOf`, so the cost is one call per
 * segment and per delimiter counted, never a step per character; a segment's delimiters are
 * counted only when it is long enough to exceed a per-segment limit, and all of them only when
 * the text is long enough to exceed `maxDelimiters`: a message of ordinary size costs a few
 * calls per segment, and a refused one no more than `maxDelimiters` calls.
 */
export function scanHl7(
  text: string,
  from: number,
  delimiters: Delimiters,
  limits: Readonly<Hl7Limits>,
  options: ScanOptions = {},
): Hl7Lines {
  const n = text.length;
  const maxLength = limits.maxSegmentLength;
  const maxFields = limits.maxFieldsPerSegment;
  const maxReps = limits.maxRepetitionsPerField;
  const maxComps = limits.maxComponentsPerField;
  const maxSubs = limits.maxSubcomponentsPerField;
  const maxDelimiters = limits.maxDelimiters;
  const maxSegments = limits.maxSegments;
  const stopAfter = options.segments ?? Infinity;
  const bounded = options.segments !== undefined;
  // a segment shorter than this cannot exceed a per-segment or per-field count
  const countFrom = n - from > maxDelimiters ? 0 : Math.min(maxFields, maxReps, maxComps, maxSubs);
  let control = -1;
  if (options.control) {
    for (const c of CONTROL) {
      const at = text.indexOf(c, from);
      if (at >= 0 && (control < 0 || at < control)) control = at;
    }
  }
  const starts: number[] = [];
  const ends: number[] = [];
  let d = delimiters;
  // where each delimiter occurs next (-2: not looked for yet, -1: nowhere after): delimiters are
  // found natively, one indexOf per delimiter, so the long stretches between them cost little
  let nF = -2;
  let nR = -2;
  let nC = -2;
  let nS = -2;
  let nE = -2;
  let count = 0;
  let segments = 0;
  let normalized = from === 0;
  let cr = -2;
  let lf = -2;
  let i = from;
  while (i < n && starts.length < stopAfter) {
    const start = i;
    let end: number;
    if (bounded) {
      const window = text.slice(start, Math.min(n, start + maxLength + 1));
      const c = window.indexOf("\r");
      const l = window.indexOf("\n");
      end = start + (c < 0 ? (l < 0 ? window.length : l) : l < 0 ? c : Math.min(c, l));
    } else {
      if (cr < start && cr !== -1) cr = text.indexOf("\r", start);
      if (lf < start && lf !== -1) lf = text.indexOf("\n", start);
      end = cr < 0 ? (lf < 0 ? n : lf) : lf < 0 ? cr : Math.min(cr, lf);
    }
    if (end - start > maxLength)
      throw limitError("maxSegmentLength", limits, idAt(text, start), segments + 1);
    const c0 = text.charCodeAt(start);
    if (end === start || ((c0 === 0x20 || c0 === 0x09) && isBlankLine(text, start, end))) {
      normalized = false;
    } else {
      if (++segments > maxSegments) throw limitError("maxSegments", limits, idAt(text, start), segments);
      if (control >= start && control < end) {
        throw hl7ParseError({
          segment: idAt(text, start),
          position: segments,
          field: text.slice(start, control).split(d.field).length - 1 || undefined,
          hl7ErrorCode: 102,
          reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        });
      }
      let j = start;
      let field = 0;
      if (isHeaderId(text, start)) {
        if (options.batch) {
          let own: Delimiters | undefined;
          try {
            own = delimitersOf(text.slice(start, Math.min(end, start + 16)));
          } catch {
            own = undefined; // the message's own parse reports it
          }
          if (own && (own.field !== d.field || encodingCharacters(own) !== encodingCharacters(d))) {
            d = own;
            nF = nR = nC = nS = nE = -2;
          }
        }
        j = afterEncodingCharacters(text, start, end, d);
        if (j > start) field = 3;
      }
      if (end - start > countFrom) {
        let reps = 1;
        let comps = 1;
        let subs = 1;
        const fc = d.field.charCodeAt(0);
        const rc = d.repetition.charCodeAt(0);
        const cc = d.component.charCodeAt(0);
        const sc = d.subcomponent.charCodeAt(0);
        const ec = d.escape.charCodeAt(0);
        for (;;) {
          // the character after a delimiter first: runs of delimiters cost no call each
          const c = j < end ? text.charCodeAt(j) : -1;
          let k =
            c === fc
              ? K_FIELD
              : c === rc
                ? K_REPETITION
                : c === cc
                  ? K_COMPONENT
                  : c === sc
                    ? K_SUBCOMPONENT
                    : c === ec
                      ? K_ESCAPE
                      : 0;
          if (k === 0) {
            if (nF !== -1 && nF < j) nF = text.indexOf(d.field, j);
            if (nR !== -1 && nR < j) nR = text.indexOf(d.repetition, j);
            if (nC !== -1 && nC < j) nC = text.indexOf(d.component, j);
            if (nS !== -1 && nS < j) nS = text.indexOf(d.subcomponent, j);
            if (nE !== -1 && nE < j) nE = text.indexOf(d.escape, j);
            let p = end;
            if (nF >= 0 && nF < p) {
              p = nF;
              k = K_FIELD;
            }
            if (nR >= 0 && nR < p) {
              p = nR;
              k = K_REPETITION;
            }
            if (nC >= 0 && nC < p) {
              p = nC;
              k = K_COMPONENT;
            }
            if (nS >= 0 && nS < p) {
              p = nS;
              k = K_SUBCOMPONENT;
            }
            if (nE >= 0 && nE < p) {
              p = nE;
              k = K_ESCAPE;
            }
            if (k === 0) break;
            j = p;
          }
          j++;
          if (++count > maxDelimiters) {
            throw limitError("maxDelimiters", limits, idAt(text, start), segments, field || undefined);
          }
          if (k === K_FIELD) {
            if (++field > maxFields)
              throw limitError("maxFieldsPerSegment", limits, idAt(text, start), segments);
            reps = 1;
            comps = 1;
            subs = 1;
          } else if (k === K_COMPONENT) {
            if (++comps > maxComps)
              throw limitError("maxComponentsPerField", limits, idAt(text, start), segments, field);
            if (++subs > maxSubs)
              throw limitError("maxSubcomponentsPerField", limits, idAt(text, start), segments, field);
          } else if (k === K_REPETITION) {
            if (++reps > maxReps)
              throw limitError("maxRepetitionsPerField", limits, idAt(text, start), segments, field);
            if (++comps > maxComps)
              throw limitError("maxComponentsPerField", limits, idAt(text, start), segments, field);
            if (++subs > maxSubs)
              throw limitError("maxSubcomponentsPerField", limits, idAt(text, start), segments, field);
          } else if (k === K_SUBCOMPONENT) {
            if (++subs > maxSubs)
              throw limitError("maxSubcomponentsPerField", limits, idAt(text, start), segments, field);
          }
        }
      }
      starts.push(start);
      ends.push(end);
    }
    if (end >= n) {
      normalized = false;
      i = n;
    } else if (text.charCodeAt(end) === 0x0d) {
      if (end + 1 < n && text.charCodeAt(end + 1) === 0x0a) {
        normalized = false;
        i = end + 2;
      } else i = end + 1;
    } else {
      normalized = false;
      i = end + 1;
    }
  }
  return { starts, ends, normalized };
}

function parseRepetition(text: string, d: Delimiters): Hl7Repetition {
  const hasComp = text.includes(d.component);
  if (!hasComp && !text.includes(d.subcomponent)) {
    return text.includes(d.escape) ? unescapeHl7(text, d) : text;
  }
  const comps = hasComp ? text.split(d.component) : [text];
  if (!text.includes(d.subcomponent) && !text.includes(d.escape)) return comps;
  const out: Hl7Component[] = new Array(comps.length);
  for (let i = 0; i < comps.length; i++) {
    const c = comps[i];
    if (c.includes(d.subcomponent)) {
      const subs = c.split(d.subcomponent);
      for (let j = 0; j < subs.length; j++) if (subs[j].includes(d.escape)) subs[j] = unescapeHl7(subs[j], d);
      out[i] = subs;
    } else out[i] = c.includes(d.escape) ? unescapeHl7(c, d) : c;
  }
  return out;
}

function parseField(text: string, d: Delimiters): Hl7Field {
  if (!text.includes(d.repetition)) return [parseRepetition(text, d)];
  const reps: Hl7Field = text.split(d.repetition);
  for (let i = 0; i < reps.length; i++) reps[i] = parseRepetition(reps[i] as string, d);
  return reps;
}

/** A segment line's ID; HL7_PARSE when the line does not start with one and a field separator. */
export function segmentIdOf(line: string, d: Delimiters, position: number): string {
  const name = line.slice(0, 3);
  if (!SEGMENT_ID.test(name) || (line.length > 3 && line[3] !== d.field)) {
    const end = line.indexOf(d.field);
    throw hl7ParseError({
      segment: safeId(end < 0 ? line : line.slice(0, end)),
      position,
      hl7ErrorCode: 100,
      reason: "not a segment: a segment starts with a 3-character ID (A-Z, 0-9) and a field separator",
    });
  }
  return name;
}

/** One segment line -> its structure. HL7_PARSE on a bad segment ID. */
export function parseSegmentLine(line: string, d: Delimiters, position: number): Hl7SegmentJson {
  const name = segmentIdOf(line, d, position);
  const parts = line.split(d.field);
  if (name === "MSH") {
    const seg: Hl7SegmentJson = ["MSH", [d.field], [parts[1] ?? ""]];
    for (let i = 2; i < parts.length; i++) seg.push(parseField(parts[i], d));
    return seg;
  }
  const seg: Hl7SegmentJson = [name];
  for (let i = 1; i < parts.length; i++) seg.push(parseField(parts[i], d));
  return seg;
}

function serializeComponent(c: Hl7Component, d: Delimiters): string {
  return typeof c === "string" ? escapeHl7(c, d) : c.map((s) => escapeHl7(s, d)).join(d.subcomponent);
}

function serializeRepetition(r: Hl7Repetition, d: Delimiters): string {
  return typeof r === "string" ? escapeHl7(r, d) : r.map((c) => serializeComponent(c, d)).join(d.component);
}

function serializeField(f: Hl7Field | undefined, d: Delimiters): string {
  if (!f) return "";
  return f.map((r) => serializeRepetition(r, d)).join(d.repetition);
}

function serializeSegmentJson(seg: Hl7SegmentJson, d: Delimiters): string {
  const name = seg[0];
  let out = name;
  if (name === "MSH") {
    out += d.field + encodingCharacters(d);
    for (let i = 3; i < seg.length; i++) out += d.field + serializeField(seg[i] as Hl7Field, d);
    return out;
  }
  for (let i = 1; i < seg.length; i++) out += d.field + serializeField(seg[i] as Hl7Field, d);
  return out;
}

// ---- the read view --------------------------------------------------------------------------

function pick(r: Hl7Repetition | undefined, component: number, subcomponent: number): string {
  if (r === undefined) return "";
  if (typeof r === "string") return component === 1 && subcomponent === 1 ? r : "";
  const c = r[component - 1];
  if (c === undefined) return "";
  if (typeof c === "string") return subcomponent === 1 ? c : "";
  return c[subcomponent - 1] ?? "";
}

function isEmptyRep(r: Hl7Repetition): boolean {
  if (typeof r === "string") return r === "";
  return r.every((c) => (typeof c === "string" ? c === "" : c.every((s) => s === "")));
}

/**
 * One segment of a parsed message: typed, unescaped reads by HL7 position. A segment made from
 * its line splits its fields on first read: a converter reads a handful of a message's
 * segments, and splitting the others (OBX, AL1, IN1, Z-segments...) would only make garbage.
 * The line's ID is checked at once, and past that splitting cannot fail, so a message that
 * parses has no error left to find later.
 */
export class Hl7Segment {
  /** Segment ID, e.g. "PID". */
  readonly name: string;
  private parsed?: Hl7SegmentJson;
  private readonly line?: string;
  /** The line split on the field separator, and the fields parsed from it so far. */
  private parts?: string[];
  private readonly fields: Array<Hl7Field | undefined> = [];

  constructor(
    /** The segment's structure, or its line as received (without the CR). */
    source: Hl7SegmentJson | string,
    /** 1-based position in the message. */
    readonly position: number,
    readonly delimiters: Delimiters,
  ) {
    if (typeof source === "string") {
      this.name = segmentIdOf(source, delimiters, position);
      this.line = source;
    } else {
      this.name = source[0];
      this.parsed = source;
    }
  }

  /** The segment's structure (shared: do not modify). */
  get data(): Hl7SegmentJson {
    return (this.parsed ??= parseSegmentLine(this.line as string, this.delimiters, this.position));
  }

  /** Number of the last field present (trailing empty fields included as written). */
  get fieldCount(): number {
    if (this.parsed) return this.parsed.length - 1;
    // MSH-1 is the separator itself, so MSH has one field more than separators
    return this.name === "MSH" ? Math.max(this.split().length, 2) : this.split().length - 1;
  }

  /**
   * Field `n`'s repetitions (undefined when the segment has no such field). A segment read from
   * its line parses only the fields asked for: a converter reads a few of a segment's fields.
   */
  field(n: number): Hl7Field | undefined {
    if (n < 1) return undefined;
    if (this.parsed) return this.parsed[n] as Hl7Field | undefined;
    const parts = this.split();
    if (this.name === "MSH" && n <= 2) return n === 1 ? [this.delimiters.field] : [parts[1] ?? ""];
    const i = this.name === "MSH" ? n - 1 : n;
    if (i >= parts.length) return undefined;
    return (this.fields[n] ??= parseField(parts[i], this.delimiters));
  }

  private split(): string[] {
    return (this.parts ??= (this.line as string).split(this.delimiters.field));
  }

  /**
   * Unescaped value at field / component / subcomponent (1-based, as in "PID-5.1.1") of one
   * repetition (0-based); "" when absent. Component and subcomponent default to 1, so
   * `get(8)` is PID-8 and `get(5)` PID-5.1 (the family name).
   */
  get(field: number, component = 1, subcomponent = 1, repetition = 0): string {
    if (this.name === "MSH" && field <= 2) {
      return field === 1 ? this.delimiters.field : field === 2 ? encodingCharacters(this.delimiters) : "";
    }
    const f = this.field(field);
    return f ? pick(f[repetition], component, subcomponent) : "";
  }

  /** How many repetitions field `n` has (0 when it is absent or empty). */
  reps(n: number): number {
    const f = this.field(n);
    if (!f || f.every(isEmptyRep)) return 0;
    return f.length;
  }

  /** Components of one repetition of field `n`, unescaped ([] when absent). */
  components(n: number, repetition = 0): string[] {
    const r = this.field(n)?.[repetition];
    if (r === undefined) return [];
    if (typeof r === "string") return [r];
    return r.map((c) => (typeof c === "string" ? c : c[0]));
  }

  /** Field `n` as written in HL7 (escaped, all repetitions). */
  text(n: number): string {
    if (this.name === "MSH" && n <= 2) return this.get(n);
    return serializeField(this.field(n), this.delimiters);
  }

  /** The segment as HL7 text (no terminator). */
  toString(): string {
    return serializeSegmentJson(this.data, this.delimiters);
  }
}

// ---- header -------------------------------------------------------------------------------

/** Field `raw` as written -> its first repetition's component `component`, first subcomponent, unescaped. */
function firstValue(raw: string | undefined, d: Delimiters, component = 1): string {
  if (raw === undefined || raw === "") return "";
  const rep = raw.indexOf(d.repetition);
  const r = rep >= 0 ? raw.slice(0, rep) : raw;
  let c: string;
  if (component === 1) {
    const end = r.indexOf(d.component);
    c = end >= 0 ? r.slice(0, end) : r;
  } else c = r.split(d.component, component)[component - 1] ?? "";
  const sub = c.indexOf(d.subcomponent);
  if (sub >= 0) c = c.slice(0, sub);
  return c.includes(d.escape) ? unescapeHl7(c, d) : c;
}

/** An HD field as written -> its first repetition's components, unescaped, joined by "^". */
function hdValue(raw: string | undefined, d: Delimiters): string {
  if (raw === undefined || raw === "") return "";
  const rep = raw.indexOf(d.repetition);
  const comps = (rep >= 0 ? raw.slice(0, rep) : raw).split(d.component);
  let end = comps.length;
  while (end > 0 && firstValue(comps[end - 1], d) === "") end--;
  const out: string[] = [];
  for (let i = 0; i < end; i++) out.push(firstValue(comps[i], d));
  return out.join("^");
}

const VERSION = /^\d+\.\d+(\.\d+)*$/;

/**
 * The header from the MSH line: the fields it needs are read from their first repetition, the
 * others only cut out as written, so a header costs little however the MSH is built.
 */
function headerOfLine(line: string, d: Delimiters, evn: () => string): Hl7Header {
  const fail = (field: number, hl7ErrorCode: number, reason: string): never => {
    throw hl7ParseError({ segment: "MSH", position: 1, field, hl7ErrorCode, reason });
  };
  const parts = line.split(d.field);
  const f = (n: number): string | undefined => parts[n - 1];
  const type = firstValue(f(9), d);
  if (!type) fail(9, 101, "MSH-9 (message type) is empty");
  if (!/^[A-Z0-9]{3}$/.test(type)) fail(9, 200, "MSH-9.1 is not a 3-character message type");
  const controlId = firstValue(f(10), d);
  if (!controlId) fail(10, 101, "MSH-10 (message control ID) is empty");
  const version = firstValue(f(12), d);
  if (!version) fail(12, 101, "MSH-12 (version ID) is empty");
  if (!VERSION.test(version)) fail(12, 203, "MSH-12 is not an HL7 version such as 2.5.1");
  const msh9event = firstValue(f(9), d, 2);
  const texts: string[] = ["MSH", d.field, encodingCharacters(d)];
  for (let i = 2; i < parts.length; i++) texts.push(parts[i]);
  return {
    type,
    event: msh9event || evn(),
    structure: firstValue(f(9), d, 3),
    controlId,
    version,
    sendingApplication: hdValue(f(3), d),
    sendingFacility: hdValue(f(4), d),
    receivingApplication: hdValue(f(5), d),
    receivingFacility: hdValue(f(6), d),
    timestamp: firstValue(f(7), d),
    processingId: firstValue(f(11), d),
    acceptAckType: firstValue(f(15), d).trim().toUpperCase(),
    applicationAckType: firstValue(f(16), d).trim().toUpperCase(),
    charset: firstValue(f(18), d),
    delimiters: d,
    msh: texts,
  };
}

/** Segments after MSH that are looked at for an EVN (MSH [SFT...] [UAC] EVN in ADT). */
const EVN_WITHIN = 8;

function isEvnLine(line: string, d: Delimiters): boolean {
  return line.startsWith("EVN") && (line.length === 3 || line[3] === d.field);
}

/** Index of the first segment, past framing, byte order marks and blank lines. */
function firstSegmentAt(text: string, from: number, lenient: boolean): number {
  const n = text.length;
  let i = from;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || (lenient && (c === 0xfeff || c === 0x0b))) {
      i++;
      continue;
    }
    if (c !== 0x20 && c !== 0x09) return i;
    let j = i;
    while (j < n && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x09)) j++;
    if (j < n && text.charCodeAt(j) !== 0x0d && text.charCodeAt(j) !== 0x0a) return i;
    i = j;
  }
  return n;
}

/** The delimiters of the MSH that starts at `at`; HL7_PARSE when no usable MSH starts there. */
function mshDelimitersAt(text: string, at: number): Delimiters {
  let head = text.slice(at, at + 16);
  const eol = head.search(/[\r\n]/);
  if (eol >= 0) head = head.slice(0, eol);
  if (!head.startsWith("MSH")) {
    throw hl7ParseError({
      segment: safeId(head.slice(0, 3)),
      position: 1,
      hl7ErrorCode: 100,
      reason: "a message must start with an MSH segment",
    });
  }
  return delimitersOf(head);
}

/**
 * The first `lines` lines of a Buffer as text (UTF-8; the header is ASCII in every character
 * set HL7 allows but UTF-16), each line cut at the bytes `maxLength` characters can take, so
 * that a header read never decodes more than it may look at.
 */
function bufferHead(buf: Buffer, lines: number, maxLength: number): string {
  let at = 0;
  for (;;) {
    if (buf[at] === 0x0b || buf[at] === 0x0d || buf[at] === 0x0a) at++;
    else if (buf[at] === 0xef && buf[at + 1] === 0xbb && buf[at + 2] === 0xbf) at += 3;
    else {
      // a blank line (spaces and tabs only), which firstSegmentAt skips in a text too
      let j = at;
      while (buf[j] === 0x20 || buf[j] === 0x09) j++;
      if (j > at && (buf[j] === 0x0d || buf[j] === 0x0a)) at = j;
      else break;
    }
  }
  // a UTF-16 code unit takes at most 3 bytes of UTF-8
  const span = maxLength * 3 + 1;
  let end = at;
  // blank lines are not counted: a read of the text skips them
  for (let k = 0; k < lines && end < buf.length;) {
    const stop = Math.min(buf.length, end + span);
    const window = buf.subarray(end, stop);
    const cr = window.indexOf(0x0d);
    const lf = window.indexOf(0x0a);
    const eol = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
    if (eol < 0) {
      end = stop;
      break;
    }
    let blank = true;
    for (let i = end; i < end + eol && blank; i++) blank = buf[i] === 0x20 || buf[i] === 0x09;
    end += eol + 1;
    // CR LF ends one line
    if (buf[end - 1] === 0x0d && buf[end] === 0x0a) end++;
    if (!blank) k++;
  }
  return buf.toString("utf8", at, end);
}

/** How much of a text `mshFieldsOf` looks at. */
const ROUGH_HEADER_CHARS = 64 * 1024;

/**
 * The MSH fields as written (`msh[n]` is MSH-n, up to MSH-`count`) and the delimiters,
 * for answering a frame whose header does not parse; undefined when no MSH with usable
 * delimiters starts within the first 8 characters. Looks at no more than the first 64 KiB,
 * whatever the text holds.
 */
export function mshFieldsOf(text: string, count = 21): { delimiters: Delimiters; msh: string[] } | undefined {
  const start = text.slice(0, 11).indexOf("MSH");
  if (start < 0) return undefined;
  let line = text.slice(start, start + ROUGH_HEADER_CHARS);
  const eol = line.search(/[\r\n]/);
  if (eol >= 0) line = line.slice(0, eol);
  let d: Delimiters;
  try {
    d = delimitersOf(line);
  } catch {
    return undefined;
  }
  const parts = line.split(d.field, count);
  return { delimiters: d, msh: ["MSH", d.field, encodingCharacters(d), ...parts.slice(2)] };
}

export interface HeaderOptions {
  /** Limits for the segments read (MSH, and up to 8 more when MSH-9.2 is empty); defaults: DEFAULT_HL7_LIMITS. */
  limits?: Partial<Hl7Limits>;
}

/**
 * MSH facts only: reads the first segment (and EVN-1 when MSH-9.2 is empty: an EVN among the
 * next 8 segments), never the rest, and no more of those than `maxSegmentLength` allows. For
 * routing, de-duplication and ACK headers. HL7_PARSE when the MSH is unusable, HL7_LIMIT when a
 * segment read exceeds a limit.
 */
export function parseHeader(input: string | Buffer, options: HeaderOptions = {}): Hl7Header {
  if (typeof input !== "string" && !Buffer.isBuffer(input))
    throw badInput("HL7 text must be a string or a Buffer");
  const limits = hl7Limits(options.limits);
  const text = typeof input === "string" ? input : bufferHead(input, 1, limits.maxSegmentLength);
  const from = firstSegmentAt(text, 0, true);
  const d = mshDelimitersAt(text, from);
  const msh = scanHl7(text, from, d, limits, { segments: 1 });
  const line = text.slice(msh.starts[0], msh.ends[0]);
  return headerOfLine(line, d, () => {
    const more =
      typeof input === "string" ? text : bufferHead(input, EVN_WITHIN + 1, limits.maxSegmentLength);
    const at = typeof input === "string" ? from : firstSegmentAt(more, 0, true);
    const next = scanHl7(more, at, d, limits, { segments: EVN_WITHIN + 1 });
    for (let k = 1; k < next.starts.length; k++) {
      const seg = more.slice(next.starts[k], next.ends[k]);
      if (isEvnLine(seg, d)) return firstValue(seg.split(d.field, 2)[1], d);
    }
    return "";
  });
}

// ---- the parsed message -------------------------------------------------------------------

export interface ParseOptions {
  /**
   * Also check every value against the data types of the message version's dictionary
   * (`hl7v2` strict parse): HL7_PARSE with the position of the first bad value. Costs a
   * full `hl7v2` parse; off by default, as real senders often deviate in fields nobody reads.
   */
  validate?: boolean;
  /**
   * Limits on the structure (missing ones: DEFAULT_HL7_LIMITS): HL7_LIMIT, before anything is
   * built, when the text exceeds one. `NO_HL7_LIMITS` (every limit Infinity) skips the count.
   */
  limits?: Partial<Hl7Limits>;
}

/**
 * A fully parsed message. Shared between the nodes a message passes (see the module comment):
 * read it, do not modify it.
 */
export class ParsedHl7 {
  private model?: HL7Message;

  constructor(
    readonly header: Hl7Header,
    readonly segments: readonly Hl7Segment[],
    /** The normalised text (segments ended by CR). */
    readonly text: string,
  ) {}

  get delimiters(): Delimiters {
    return this.header.delimiters;
  }

  /** All segments with this ID, in order. */
  select(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** The `nth` (0-based) segment with this ID. */
  segment(name: string, nth = 0): Hl7Segment | undefined {
    let k = 0;
    for (const s of this.segments) if (s.name === name && k++ === nth) return s;
    return undefined;
  }

  /** Unescaped value of the first `segment`'s field/component/subcomponent/repetition; "" when absent. */
  get(segment: string, field: number, component = 1, subcomponent = 1, repetition = 0): string {
    return this.segment(segment)?.get(field, component, subcomponent, repetition) ?? "";
  }

  /** A deep copy of the structure, for `msg.payload`. */
  toJSON(): Hl7Json {
    return { segments: this.segments.map((s) => copySegment(s.data)) };
  }

  /** The normalised HL7 text. */
  toString(): string {
    return this.text;
  }

  /**
   * The same message as an `hl7v2` `HL7Message` (parsed on first call, with the dictionary of
   * its version). Read typed values from it; do not serialise it back (see the module comment).
   */
  hl7v2(): HL7Message {
    this.model ??= hl7v2().HL7Message.parse(this.text);
    return this.model;
  }
}

function copySegment(s: Hl7SegmentJson): Hl7SegmentJson {
  const out: Hl7SegmentJson = [s[0]];
  for (let i = 1; i < s.length; i++) {
    out.push(
      (s[i] as Hl7Field).map((r) =>
        typeof r === "string" ? r : r.map((c) => (typeof c === "string" ? c : c.slice())),
      ),
    );
  }
  return out;
}

function evnOf(segments: readonly Hl7Segment[]): string {
  const last = Math.min(segments.length - 1, EVN_WITHIN);
  for (let k = 1; k <= last; k++) if (segments[k].name === "EVN") return segments[k].get(1);
  return "";
}

const CACHE_SIZE = 1;
const CACHE_MAX_CHARS = 1 << 20;
/** The last parse, with the limits it was checked against. */
const cache = new Map<string, { parsed: ParsedHl7; limits: Readonly<Hl7Limits> }>();

/** The text without the byte order marks and MLLP framing bytes `normalizeHl7` removes around it. */
export function stripFraming(input: string): string {
  let text = input;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.charCodeAt(0) === 0x0b) text = text.slice(1);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // a trailing 0x1C (MLLP end byte), maybe followed by CR and LF
  let end = text.length;
  if (text.charCodeAt(end - 1) === 0x0a) end--;
  if (text.charCodeAt(end - 1) === 0x0d) end--;
  if (text.charCodeAt(end - 1) === 0x1c) text = text.slice(0, end - 1);
  return text;
}

function checkControlCharacters(lines: string[]): void {
  for (let i = 0; i < lines.length; i++) {
    // eslint-disable-next-line no-control-regex -- NUL and the MLLP framing bytes
    const bad = /[\x00\x0b\x1c]/.exec(lines[i]);
    if (bad) {
      const line = lines[i];
      const fields = line.slice(0, bad.index).split(line[3] ?? "|").length - 1;
      throw hl7ParseError({
        segment: safeId(line.slice(0, 3)),
        position: i + 1,
        field: fields || undefined,
        hl7ErrorCode: 102,
        reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
      });
    }
  }
}

function validateWithHl7v2(text: string): void {
  const { HL7Message, HL7Error } = hl7v2();
  try {
    HL7Message.parse(text, { strict: true });
  } catch (err) {
    if (!(err instanceof HL7Error)) {
      throw hl7ParseError({
        segment: "",
        position: 0,
        hl7ErrorCode: 207,
        reason: "hl7v2 could not read the message",
      });
    }
    throw hl7ParseError({
      segment: err.segmentType ?? "",
      position: err.line ?? 0,
      field: err.fieldPosition,
      component: err.componentPosition,
      subcomponent: err.subComponentPosition,
      repetition: err.repetitionIndex === undefined ? undefined : err.repetitionIndex + 1,
      hl7ErrorCode: err.hl7ErrorCode ?? 102,
      reason:
        err.hl7ErrorCode === 102 || err.hl7ErrorCode === undefined
          ? "a value does not match its data type"
          : "rejected by the hl7v2 dictionary",
    });
  }
}

function isBatchHeader(text: string, at: number): boolean {
  return text.startsWith("FHS", at) || text.startsWith("BHS", at);
}

function batchFileError(id: string): PackError {
  return hl7ParseError({
    segment: id,
    position: 1,
    hl7ErrorCode: 100,
    reason: "this is a batch file: split it into messages first",
  });
}

/** HL7_LIMIT when normalised text (segments ended by CR) exceeds `limits`. */
function checkLimits(text: string, d: Delimiters, limits: Readonly<Hl7Limits>): void {
  if (!unlimited(limits)) scanHl7(text, 0, d, limits);
}

/**
 * Parses one message (string or Buffer; CR, LF or CR LF segment ends; BOM; trailing blank
 * lines). HL7_PARSE (details: `Hl7ErrorLocation`) when it is not an HL7 v2 message;
 * HL7_LIMIT (details: `Hl7LimitLocation`) when it exceeds a limit of `options.limits`,
 * found by counting delimiters before any structure is built; HL7_BAD_INPUT when the input
 * is neither a string nor a Buffer.
 */
export function parseHl7(input: string | Buffer, options: ParseOptions = {}): ParsedHl7 {
  if (typeof input !== "string" && !Buffer.isBuffer(input))
    throw badInput("HL7 text must be a string or a Buffer");
  const limits = hl7Limits(options.limits);
  const key = typeof input === "string" && input.length <= CACHE_MAX_CHARS ? input : undefined;
  const hit = key === undefined ? undefined : cache.get(key);
  if (hit) {
    if (!withinLimits(hit.limits, limits)) checkLimits(hit.parsed.text, hit.parsed.delimiters, limits);
    if (options.validate) validateWithHl7v2(hit.parsed.text);
    return hit.parsed;
  }
  let text: string;
  let lines: string[];
  if (unlimited(limits)) {
    text = normalizeHl7(input);
    lines = text === "" ? [] : text.slice(0, -1).split("\r");
  } else {
    text = stripFraming(typeof input === "string" ? input : decodeHl7(input));
    const from = firstSegmentAt(text, 0, false);
    lines = [];
    if (from < text.length) {
      if (isBatchHeader(text, from)) throw batchFileError(text.slice(from, from + 3));
      const found = scanHl7(text, from, mshDelimitersAt(text, from), limits, { control: true });
      for (let k = 0; k < found.starts.length; k++) lines.push(text.slice(found.starts[k], found.ends[k]));
      if (!found.normalized) text = `${lines.join("\r")}\r`;
    }
  }
  if (lines.length === 0)
    throw hl7ParseError({ segment: "", position: 0, hl7ErrorCode: 100, reason: "the message is empty" });
  if (isBatchHeader(lines[0], 0)) throw batchFileError(lines[0].slice(0, 3));
  const d = mshDelimitersAt(lines[0], 0);
  if (unlimited(limits)) checkControlCharacters(lines);
  const segments: Hl7Segment[] = [new Hl7Segment(lines[0], 1, d)];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("MSH")) {
      throw hl7ParseError({
        segment: "MSH",
        position: i + 1,
        hl7ErrorCode: 100,
        reason: "a second MSH: several messages in one text (use batch splitting)",
      });
    }
    segments.push(new Hl7Segment(line, i + 1, d));
  }
  const parsed = new ParsedHl7(
    headerOfLine(lines[0], d, () => evnOf(segments)),
    segments,
    text,
  );
  if (options.validate) validateWithHl7v2(text);
  if (key !== undefined) {
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, { parsed, limits });
  }
  return parsed;
}

function isField(v: unknown): v is Hl7Field {
  if (!Array.isArray(v)) return false;
  for (const r of v) {
    if (typeof r === "string") continue;
    if (!Array.isArray(r)) return false;
    for (const c of r) {
      if (typeof c === "string") continue;
      if (!Array.isArray(c) || !c.every((s) => typeof s === "string")) return false;
    }
  }
  return true;
}

/**
 * Checks a structure (`Hl7Json`, e.g. a `msg.payload` made by `hl7-parse` and edited) and
 * returns it as a parsed message. The delimiters are MSH-1/MSH-2 of the structure, so editing
 * them re-delimits the message. HL7_BAD_INPUT when the shape is wrong, HL7_PARSE when the
 * header is unusable.
 */
export function fromHl7Json(json: unknown, options: { limits?: Partial<Hl7Limits> } = {}): ParsedHl7 {
  const limits = hl7Limits(options.limits);
  const segs = (json as { segments?: unknown } | null)?.segments;
  if (!Array.isArray(segs) || segs.length === 0) {
    throw badInput("an HL7 structure needs a non-empty segments array");
  }
  segs.forEach((s: unknown, i) => {
    if (!Array.isArray(s) || typeof s[0] !== "string") {
      throw badInput(`segments[${i}] must be an array starting with the segment ID`);
    }
    if (!SEGMENT_ID.test(s[0])) throw badInput(`segments[${i}][0] is not a segment ID`);
    for (let f = 1; f < s.length; f++) {
      if (s[f] === undefined || s[f] === null) continue;
      if (!isField(s[f])) {
        throw badInput(
          `segments[${i}][${f}] (${s[0]}-${f}) must be an array of repetitions (strings, or arrays of components)`,
        );
      }
    }
  });
  const msh = segs[0] as Hl7SegmentJson;
  if (msh[0] !== "MSH") throw badInput("the first segment must be MSH");
  const f1 = (msh[1] as unknown[] | undefined)?.[0];
  const f2 = (msh[2] as unknown[] | undefined)?.[0];
  const d =
    typeof f1 === "string" && typeof f2 === "string"
      ? delimitersOf(`MSH${f1}${f2}${f1}`)
      : { ...DEFAULT_DELIMITERS };
  const clean = (segs as Hl7SegmentJson[]).map((s) => {
    const out = [...s] as Hl7SegmentJson;
    for (let f = 1; f < out.length; f++) if (out[f] == null) out[f] = [""];
    return out;
  });
  clean[0][1] = [d.field];
  clean[0][2] = [encodingCharacters(d)];
  for (let i = 1; i < clean.length; i++) {
    if (clean[i][0] === "MSH") throw badInput(`segments[${i}] is a second MSH`);
  }
  const lines = clean.map((s) => serializeSegmentJson(s, d));
  const text = lines.join("\r") + "\r";
  checkLimits(text, d, limits);
  const segments = clean.map((seg, i) => new Hl7Segment(seg, i + 1, d));
  return new ParsedHl7(
    headerOfLine(lines[0], d, () => evnOf(segments)),
    segments,
    text,
  );
}

/** Anything the pack accepts as an HL7 message: text, Buffer, `Hl7Json` or `ParsedHl7`. */
export function asParsedHl7(payload: unknown, options: ParseOptions = {}): ParsedHl7 {
  if (payload instanceof ParsedHl7) return payload;
  if (typeof payload === "string" || Buffer.isBuffer(payload)) return parseHl7(payload, options);
  if (payload && typeof payload === "object" && Array.isArray((payload as Hl7Json).segments)) {
    const parsed = fromHl7Json(payload, options);
    if (options.validate) validateWithHl7v2(parsed.text);
    return parsed;
  }
  throw badInput("expected HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] })");
}

/** HL7 text (segments ended by CR) of a parsed message, a structure, or text (normalised). */
export function serializeHl7(msg: ParsedHl7 | Hl7Json | string | Buffer): string {
  return asParsedHl7(msg).text;
}
