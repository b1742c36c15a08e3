import { randomBytes } from "node:crypto";
import { DEFAULT_DELIMITERS, type Delimiters, encodingCharacters, escapeHl7 } from "./escape";

let counter = 0;
const INSTANCE = randomBytes(3).toString("hex").toUpperCase().slice(0, 4);

/**
 * A fresh MSH-10: unique per process and across processes (time, instance, counter), at most
 * 20 characters (the MSH-10 length up to v2.6), letters and digits only.
 */
export function newControlId(now = Date.now()): string {
  counter = (counter + 1) % 1679616;
  return `${now.toString(36).toUpperCase()}${INSTANCE}${counter.toString(36).toUpperCase().padStart(4, "0")}`;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** HL7 DTM in local time with its zone: `YYYYMMDDHHMMSS±ZZZZ`. */
export function hl7Timestamp(date: Date = new Date()): string {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  return (
    `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/**
 * A composite value written as HL7 (e.g. an HD "APP^1.2.3^ISO" or a message type): "^"
 * separates components, every component is escaped for `d`.
 */
export function compositeText(value: string | readonly string[], d: Delimiters = DEFAULT_DELIMITERS): string {
  const parts = typeof value === "string" ? value.split("^") : [...value];
  let end = parts.length;
  while (end > 0 && !parts[end - 1]) end--;
  return parts
    .slice(0, end)
    .map((p) => escapeHl7(p ?? "", d))
    .join(d.component);
}

export interface MshOptions {
  /** MSH-3..6: HD values, "^" between components ("APP" or "APP^1.2.3^ISO"). */
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /** MSH-9: [type, event, structure?] or "ADT^A01^ADT_A01". */
  messageType: string | readonly [string, string?, string?];
  /** MSH-10 (default: newControlId()). */
  controlId?: string;
  /** MSH-12 (default 2.5.1). */
  version?: string;
  /** MSH-7: text as is, or a Date (default now). */
  timestamp?: string | Date;
  /** MSH-11 (default "P"). */
  processingId?: string;
  /** MSH-15 / MSH-16 (enhanced acknowledgment mode); empty = original mode. */
  acceptAckType?: string;
  applicationAckType?: string;
  /** MSH-18 */
  charset?: string;
  delimiters?: Delimiters;
}

/** An MSH segment's text (no segment terminator), every value escaped. */
export function buildMsh(o: MshOptions): string {
  const d = o.delimiters ?? DEFAULT_DELIMITERS;
  const f: string[] = [];
  f[3] = compositeText(o.sendingApplication ?? "", d);
  f[4] = compositeText(o.sendingFacility ?? "", d);
  f[5] = compositeText(o.receivingApplication ?? "", d);
  f[6] = compositeText(o.receivingFacility ?? "", d);
  f[7] = typeof o.timestamp === "string" ? escapeHl7(o.timestamp, d) : hl7Timestamp(o.timestamp);
  f[8] = "";
  f[9] = compositeText(
    typeof o.messageType === "string" ? o.messageType : o.messageType.map((s) => s ?? ""),
    d,
  );
  f[10] = escapeHl7(o.controlId ?? newControlId(), d);
  f[11] = escapeHl7(o.processingId ?? "P", d);
  f[12] = escapeHl7(o.version ?? "2.5.1", d);
  f[13] = "";
  f[14] = "";
  f[15] = escapeHl7(o.acceptAckType ?? "", d);
  f[16] = escapeHl7(o.applicationAckType ?? "", d);
  f[17] = "";
  f[18] = escapeHl7(o.charset ?? "", d);
  let last = 18;
  while (last > 12 && !f[last]) last--;
  return `MSH${d.field}${encodingCharacters(d)}${d.field}${f.slice(3, last + 1).join(d.field)}`;
}
