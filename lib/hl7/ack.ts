/**
 * Acknowledgements built to the standard (v2.5 §2.9, §2.15.8), not with `hl7v2`'s `createAck`
 * (which puts MSH-4 of the ACK into MSH-5 and never swaps the applications):
 *
 * - MSH-1/2: the original's delimiters, so the copied fields keep their meaning;
 * - MSH-3/4 = original MSH-5/6 and MSH-5/6 = original MSH-3/4, copied as written;
 * - MSH-7: now; MSH-9: `ACK^<event>^ACK` (`ACK^<event>` before v2.3.1, which has no MSH-9.3);
 * - MSH-10: a new control ID; MSH-11 and MSH-12: the original's;
 * - MSA-1: the code, MSA-2: the original MSH-10, MSA-3: the text (when given);
 * - for AE/AR/CE/CR an ERR segment: from v2.5 ERR-2 location, ERR-3 HL7 error code (table
 *   0357), ERR-4 severity, ERR-8 the text; before v2.5 ERR-1 as ELD (segment^sequence^field^code).
 */
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { hl7Timestamp, newControlId } from "./build";
import { DEFAULT_DELIMITERS, type Delimiters, encodingCharacters, escapeHl7 } from "./escape";
import { type Hl7Header, parseHl7 } from "./message";

export type AckCode = "AA" | "AE" | "AR" | "CA" | "CE" | "CR";
export const ACK_CODES: readonly AckCode[] = ["AA", "AE", "AR", "CA", "CE", "CR"];

export function isAckCode(v: unknown): v is AckCode {
  return typeof v === "string" && (ACK_CODES as readonly string[]).includes(v);
}

/** Accepted: AA (application accept) or CA (commit accept). */
export function isPositiveAck(code: string): boolean {
  return code === "AA" || code === "CA";
}

/** HL7 table 0357, message error condition codes. */
export const HL7_ERROR_CODES: Readonly<Record<number, string>> = {
  0: "Message accepted",
  100: "Segment sequence error",
  101: "Required field missing",
  102: "Data type error",
  103: "Table value not found",
  104: "Value too long",
  200: "Unsupported message type",
  201: "Unsupported event code",
  202: "Unsupported processing id",
  203: "Unsupported version id",
  204: "Unknown key identifier",
  205: "Duplicate key identifier",
  206: "Application record locked",
  207: "Application internal error",
};

export interface AckErrorLocation {
  segment: string;
  /** 1-based position of the segment among segments of its ID ("segment sequence"). */
  sequence?: number;
  field?: number;
  /** 1-based */
  repetition?: number;
  component?: number;
  subcomponent?: number;
}

export interface AckOptions {
  /** MSA-3 and ERR-8 (v2.5+). Keep PHI out: it travels back to the sender. */
  text?: string;
  /** HL7 table 0357 code for the ERR segment (default 207 for AE/CE, 200-203/100 as given). */
  errorCode?: number;
  errorLocation?: AckErrorLocation;
  /** ERR-4 (default "E"). */
  severity?: "E" | "W" | "I";
  /** ERR-5 application error code (v2.5+), e.g. the pack's error code. */
  applicationErrorCode?: string;
  /** MSH-10 of the ACK (default: a new one). */
  controlId?: string;
  /** MSH-7 (default: now). */
  timestamp?: Date;
}

// eslint-disable-next-line no-control-regex -- exactly the control characters
const CONTROL = /[\x00-\x1f\x7f]/g;

function versionAtLeast(version: string, major: number, minor: number, patch = 0): boolean {
  const [a = 0, b = 0, c = 0] = version.split(".").map((n) => Number.parseInt(n, 10) || 0);
  if (a !== major) return a > major;
  if (b !== minor) return b > minor;
  return c >= patch;
}

/** Header stand-in for a message whose MSH could not be read: defaults, empty MSA-2. */
export function unknownHeader(version = "2.5.1"): Hl7Header {
  const d = { ...DEFAULT_DELIMITERS };
  return {
    type: "",
    event: "",
    structure: "",
    controlId: "",
    version,
    sendingApplication: "",
    sendingFacility: "",
    receivingApplication: "",
    receivingFacility: "",
    timestamp: "",
    processingId: "P",
    acceptAckType: "",
    applicationAckType: "",
    charset: "",
    delimiters: d,
    msh: ["MSH", d.field, encodingCharacters(d), "", "", "", "", "", "", "", "", "P", version],
  };
}

function errSegment(version: string, code: number, opts: AckOptions, d: Delimiters): string {
  const e = (s: string): string => escapeHl7(s, d);
  const loc = opts.errorLocation;
  const name = HL7_ERROR_CODES[code] ?? "";
  const num = (n: number | undefined): string => (n === undefined ? "" : String(n));
  const trim = (parts: string[], sep: string): string => {
    let end = parts.length;
    while (end > 0 && parts[end - 1] === "") end--;
    return parts.slice(0, end).join(sep);
  };
  if (versionAtLeast(version, 2, 5)) {
    const erl = loc
      ? trim(
          [
            e(loc.segment),
            num(loc.sequence ?? 1),
            num(loc.field),
            num(loc.field === undefined ? undefined : (loc.repetition ?? 1)),
            num(loc.component),
            num(loc.subcomponent),
          ],
          d.component,
        )
      : "";
    const fields = [
      "ERR",
      "",
      erl,
      trim([String(code), e(name), "HL70357"], d.component),
      opts.severity ?? "E",
      e(opts.applicationErrorCode ?? ""),
      "",
      "",
      e(opts.text ?? ""),
    ];
    return trim(fields, d.field);
  }
  const ce = trim([String(code), e(name), "HL70357"], d.subcomponent);
  const eld = trim(
    [e(loc?.segment ?? ""), num(loc ? (loc.sequence ?? 1) : undefined), num(loc?.field), ce],
    d.component,
  );
  return `ERR${d.field}${eld}`;
}

/** The ACK text (segments ended by CR) answering `original` with `code`. */
export function buildAck(original: Hl7Header, code: AckCode, opts: AckOptions = {}): string {
  if (!isAckCode(code))
    throw new PackError(CODES.HL7_BAD_INPUT, `not an acknowledgment code: ${String(code)}`);
  const d = original.delimiters;
  const m = original.msh;
  // Fields are copied as written; control characters (which would break the frame or the
  // segment) are written as \Xhh\ so that the ACK stays one well-formed message.
  const f = (n: number): string =>
    (m[n] ?? "").replace(
      CONTROL,
      (c) => `${d.escape}X${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}${d.escape}`,
    );
  const version = original.version || "2.5.1";
  const event = escapeHl7(original.event, d);
  const msh9 = versionAtLeast(version, 2, 3, 1)
    ? `ACK${d.component}${event}${d.component}ACK`
    : event
      ? `ACK${d.component}${event}`
      : "ACK";
  const msh = [
    "MSH",
    encodingCharacters(d),
    f(5),
    f(6),
    f(3),
    f(4),
    hl7Timestamp(opts.timestamp),
    "",
    msh9,
    escapeHl7(opts.controlId ?? newControlId(), d),
    f(11) || "P",
    f(12) || escapeHl7(version, d),
  ].join(d.field);
  let msa = `MSA${d.field}${code}${d.field}${f(10)}`;
  if (opts.text) msa += d.field + escapeHl7(opts.text, d);
  const segments = [msh, msa];
  if (code !== "AA" && code !== "CA") {
    const errorCode = opts.errorCode ?? 207;
    segments.push(errSegment(version, errorCode, opts, d));
  }
  return segments.join("\r") + "\r";
}

/** What an ACK says. */
export interface AckInfo {
  /** MSA-1 */
  code: string;
  /** MSA-2: the control ID of the message it acknowledges. */
  controlId: string;
  /** MSA-3 */
  text: string;
  /** MSH-10 of the ACK itself. */
  ackControlId: string;
  /** ERR details when there is an ERR segment. */
  error?: {
    /** ERR-3.1 (v2.5+) or ERR-1.4.1 */
    code: string;
    /** ERR-3.2 or ERR-1.4.2 */
    name: string;
    severity: string;
    /** "PID-7" style location, "" when none. */
    location: string;
    /** ERR-8 */
    text: string;
  };
  header: Hl7Header;
}

/** Reads an ACK (or any message with an MSA). HL7_PARSE when it is none. */
export function readAck(text: string | Buffer): AckInfo {
  const ack = parseHl7(text);
  const msa = ack.segment("MSA");
  if (!msa) {
    throw new PackError(CODES.HL7_PARSE, "HL7 parse error: the reply has no MSA segment", {
      segment: "MSA",
      position: 0,
      hl7ErrorCode: 100,
      reason: "the reply has no MSA segment",
    });
  }
  const info: AckInfo = {
    code: msa.get(1),
    controlId: msa.get(2),
    text: msa.get(3),
    ackControlId: ack.header.controlId,
    header: ack.header,
  };
  const err = ack.segment("ERR");
  if (err) {
    const v25 = err.get(3) !== "" || err.get(2) !== "";
    const locSeg = v25 ? err.get(2, 1) : err.get(1, 1);
    const locField = v25 ? err.get(2, 3) : err.get(1, 3);
    info.error = {
      code: v25 ? err.get(3, 1) : err.get(1, 4, 1),
      name: v25 ? err.get(3, 2) : err.get(1, 4, 2),
      severity: err.get(4),
      location: locSeg ? (locField ? `${locSeg}-${locField}` : locSeg) : "",
      text: err.get(8),
    };
  }
  return info;
}
