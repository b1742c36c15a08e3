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
 * treated as read-only; the structure handed to users (`toJSON()`) is a copy.
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
  return new PackError("HL7_PARSE", `HL7 parse error at ${where}: ${loc.reason}`, loc);
}

function badInput(message: string): PackError {
  return new PackError("HL7_BAD_INPUT", message);
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
const CHARSETS: Record<string, string> = {
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
};

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
  const head = body.toString("latin1", 0, headEnd);
  if (!(head.startsWith("MSH") || head.startsWith("FHS") || head.startsWith("BHS")) || head.length < 8) {
    return body.toString("utf8");
  }
  const charset = (head.split(head[3])[17] ?? "").split(head[4])[0].trim().toUpperCase();
  const encoding = CHARSETS[charset] ?? "utf-8";
  if (encoding === "utf-8") return body.toString("utf8");
  if (encoding === "latin1") return body.toString("latin1");
  try {
    return new TextDecoder(encoding).decode(body);
  } catch {
    return body.toString("utf8");
  }
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

function parseRepetition(text: string, d: Delimiters): Hl7Repetition {
  const hasComp = text.includes(d.component);
  if (!hasComp && !text.includes(d.subcomponent)) {
    return text.includes(d.escape) ? unescapeHl7(text, d) : text;
  }
  const comps = hasComp ? text.split(d.component) : [text];
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
  return text.split(d.repetition).map((r) => parseRepetition(r, d));
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
    return this.data.length - 1;
  }

  /** Field `n`'s repetitions (undefined when the segment has no such field). */
  field(n: number): Hl7Field | undefined {
    return n >= 1 ? (this.data[n] as Hl7Field | undefined) : undefined;
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

function hdText(seg: Hl7Segment, n: number): string {
  const comps = seg.components(n);
  let end = comps.length;
  while (end > 0 && comps[end - 1] === "") end--;
  return comps.slice(0, end).join("^");
}

const VERSION = /^\d+\.\d+(\.\d+)*$/;

function headerOf(msh: Hl7Segment, evn: () => string): Hl7Header {
  const fail = (field: number, hl7ErrorCode: number, reason: string): never => {
    throw hl7ParseError({ segment: "MSH", position: 1, field, hl7ErrorCode, reason });
  };
  const type = msh.get(9, 1);
  if (!type) fail(9, 101, "MSH-9 (message type) is empty");
  if (!/^[A-Z0-9]{3}$/.test(type)) fail(9, 200, "MSH-9.1 is not a 3-character message type");
  const controlId = msh.get(10);
  if (!controlId) fail(10, 101, "MSH-10 (message control ID) is empty");
  const version = msh.get(12, 1);
  if (!version) fail(12, 101, "MSH-12 (version ID) is empty");
  if (!VERSION.test(version)) fail(12, 203, "MSH-12 is not an HL7 version such as 2.5.1");
  const msh9event = msh.get(9, 2);
  const msh1 = msh.delimiters.field;
  const texts: string[] = ["MSH", msh1, encodingCharacters(msh.delimiters)];
  for (let i = 3; i <= msh.fieldCount; i++) texts.push(msh.text(i));
  return {
    type,
    event: msh9event || evn(),
    structure: msh.get(9, 3),
    controlId,
    version,
    sendingApplication: hdText(msh, 3),
    sendingFacility: hdText(msh, 4),
    receivingApplication: hdText(msh, 5),
    receivingFacility: hdText(msh, 6),
    timestamp: msh.get(7),
    processingId: msh.get(11),
    acceptAckType: msh.get(15),
    applicationAckType: msh.get(16),
    charset: msh.get(18),
    delimiters: msh.delimiters,
    msh: texts,
  };
}

function firstLine(text: string): { line: string; rest: number } {
  let start = 0;
  while (start < text.length) {
    const c = text.charCodeAt(start);
    if (c === 0xfeff || c === 0x0b || c === 0x0d || c === 0x0a) start++;
    else break;
  }
  let end = text.indexOf("\r", start);
  const lf = text.indexOf("\n", start);
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  if (end < 0) end = text.length;
  return { line: text.slice(start, end), rest: end };
}

function mshSegment(line: string): Hl7Segment {
  if (!line.startsWith("MSH")) {
    throw hl7ParseError({
      segment: safeId(line.slice(0, 3)),
      position: 1,
      hl7ErrorCode: 100,
      reason: "a message must start with an MSH segment",
    });
  }
  const d = delimitersOf(line);
  return new Hl7Segment(parseSegmentLine(line, d, 1), 1, d);
}

/**
 * MSH facts only: reads the first segment (and EVN-1 when MSH-9.2 is empty), never the rest.
 * For routing, de-duplication and ACK headers. HL7_PARSE when the MSH is unusable.
 */
export function parseHeader(input: string | Buffer): Hl7Header {
  if (typeof input !== "string" && !Buffer.isBuffer(input))
    throw badInput("HL7 text must be a string or a Buffer");
  let text: string;
  if (typeof input === "string") text = input;
  else {
    // The header is ASCII in every character set HL7 allows but UTF-16; decode just the head.
    const end = findLineEnd(input, input[0] === 0x0b ? 1 : 0);
    const evnAt = input.indexOf("EVN");
    text = input.toString("utf8", 0, evnAt > 0 ? Math.min(input.length, evnAt + 200) : end);
  }
  const { line, rest } = firstLine(text);
  const msh = mshSegment(line);
  return headerOf(msh, () => {
    const re = new RegExp(`[\\r\\n]EVN${escapeRe(msh.delimiters.field)}([^\\r\\n]*)`);
    const m = re.exec(text.slice(rest));
    if (!m) return "";
    const evn = parseSegmentLine(`EVN${msh.delimiters.field}${m[1]}`, msh.delimiters, 2);
    return new Hl7Segment(evn, 2, msh.delimiters).get(1);
  });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---- the parsed message -------------------------------------------------------------------

export interface ParseOptions {
  /**
   * Also check every value against the data types of the message version's dictionary
   * (`hl7v2` strict parse): HL7_PARSE with the position of the first bad value. Costs a
   * full `hl7v2` parse; off by default, as real senders often deviate in fields nobody reads.
   */
  validate?: boolean;
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

function withHeader(segments: Hl7Segment[], text: string): ParsedHl7 {
  const header = headerOf(segments[0], () => segments.find((s) => s.name === "EVN")?.get(1) ?? "");
  return new ParsedHl7(header, segments, text);
}

const CACHE_SIZE = 1;
const CACHE_MAX_CHARS = 1 << 20;
const cache = new Map<string, ParsedHl7>();

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

/**
 * Parses one message (string or Buffer; CR, LF or CR LF segment ends; BOM; trailing blank
 * lines). HL7_PARSE (details: `Hl7ErrorLocation`) when it is not an HL7 v2 message;
 * HL7_BAD_INPUT when the input is neither a string nor a Buffer.
 */
export function parseHl7(input: string | Buffer, options: ParseOptions = {}): ParsedHl7 {
  if (typeof input !== "string" && !Buffer.isBuffer(input))
    throw badInput("HL7 text must be a string or a Buffer");
  const key = typeof input === "string" && input.length <= CACHE_MAX_CHARS ? input : undefined;
  const hit = key === undefined ? undefined : cache.get(key);
  if (hit) {
    if (options.validate) validateWithHl7v2(hit.text);
    return hit;
  }
  const text = normalizeHl7(input);
  if (text === "")
    throw hl7ParseError({ segment: "", position: 0, hl7ErrorCode: 100, reason: "the message is empty" });
  const lines = text.slice(0, -1).split("\r");
  if (lines[0].startsWith("FHS") || lines[0].startsWith("BHS")) {
    throw hl7ParseError({
      segment: lines[0].slice(0, 3),
      position: 1,
      hl7ErrorCode: 100,
      reason: "this is a batch file: split it into messages first",
    });
  }
  const msh = mshSegment(lines[0]);
  const d = msh.delimiters;
  checkControlCharacters(lines);
  const segments: Hl7Segment[] = [msh];
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
  const parsed = withHeader(segments, text);
  if (options.validate) validateWithHl7v2(text);
  if (key !== undefined) {
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, parsed);
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
export function fromHl7Json(json: unknown): ParsedHl7 {
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
  const text = clean.map((s) => serializeSegmentJson(s, d)).join("\r") + "\r";
  return withHeader(
    clean.map((seg, i) => new Hl7Segment(seg, i + 1, d)),
    text,
  );
}

/** Anything the pack accepts as an HL7 message: text, Buffer, `Hl7Json` or `ParsedHl7`. */
export function asParsedHl7(payload: unknown, options: ParseOptions = {}): ParsedHl7 {
  if (payload instanceof ParsedHl7) return payload;
  if (typeof payload === "string" || Buffer.isBuffer(payload)) return parseHl7(payload, options);
  if (payload && typeof payload === "object" && Array.isArray((payload as Hl7Json).segments)) {
    const parsed = fromHl7Json(payload);
    if (options.validate) validateWithHl7v2(parsed.text);
    return parsed;
  }
  throw badInput("expected HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] })");
}

/** HL7 text (segments ended by CR) of a parsed message, a structure, or text (normalised). */
export function serializeHl7(msg: ParsedHl7 | Hl7Json | string | Buffer): string {
  return asParsedHl7(msg).text;
}
