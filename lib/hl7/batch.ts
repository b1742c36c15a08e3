/**
 * HL7 batch files (v2.5 §2.10.3): `[FHS] { [BHS] { MSH ... } [BTS] } [FTS]`, and plain
 * concatenations of messages. Counts in BTS-1 (messages in the batch) and FTS-1 (batches in
 * the file) are checked when present, so a truncated file is an error, not a shorter batch.
 */
import { DEFAULT_DELIMITERS } from "./escape";
import {
  decodeHl7,
  delimitersOf,
  type Hl7Limits,
  hl7Limits,
  hl7ParseError,
  Hl7Segment,
  parseSegmentLine,
  scanHl7,
  stripFraming,
} from "./message";

export interface Hl7BatchInfo {
  /** FHS / BHS segments as written, when present. */
  fileHeader?: string;
  batchHeaders: string[];
  /** Each message's text (segments ended by CR). */
  messages: string[];
}

/** True when the text holds batch segments or more than one message. */
export function isBatch(text: string): boolean {
  let i = 0;
  while (i < text.length && "\uFEFF\u000b\r\n".includes(text[i])) i++;
  const t = text.slice(i);
  if (t.startsWith("FHS") || t.startsWith("BHS")) return true;
  return /[\r\n]MSH/.test(t);
}

/**
 * Splits a batch file (or concatenated messages) into messages. HL7_PARSE on a bad structure;
 * HL7_LIMIT when the file exceeds `limits` (missing ones: DEFAULT_HL7_LIMITS), checked before
 * it is split: `maxSegments` and `maxDelimiters` count the whole file, the other limits each
 * segment, with the delimiters of the header (FHS, BHS or MSH) above it.
 */
export function splitBatch(input: string | Buffer, limits?: Partial<Hl7Limits>): Hl7BatchInfo {
  const text = stripFraming(typeof input === "string" ? input : decodeHl7(input));
  // each FHS, BHS and MSH line brings its delimiters; those above the first are never used
  const found = scanHl7(text, 0, DEFAULT_DELIMITERS, hl7Limits(limits), { batch: true });
  const lines = found.starts.map((start, k) => text.slice(start, found.ends[k]));
  const out: Hl7BatchInfo = { batchHeaders: [], messages: [] };
  let current: string[] | undefined;
  let inBatch = 0;
  let batches = 0;
  let sawBatchHeader = false;
  const flush = (): void => {
    if (current) out.messages.push(`${current.join("\r")}\r`);
    current = undefined;
  };
  const count = (line: string, position: number): number | undefined => {
    const d = delimitersOf(`MSH${line[3] ?? "|"}^~\\&${line[3] ?? "|"}`);
    const seg = new Hl7Segment(parseSegmentLine(line, d, position), position, d);
    const v = seg.get(1);
    if (v === "") return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      throw hl7ParseError({
        segment: seg.name,
        position,
        field: 1,
        hl7ErrorCode: 102,
        reason: `${seg.name}-1 is not a count`,
      });
    }
    return n;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const id = line.slice(0, 3);
    const position = i + 1;
    if (id === "FHS") {
      if (i !== 0) {
        throw hl7ParseError({
          segment: "FHS",
          position,
          hl7ErrorCode: 100,
          reason: "FHS must open the file",
        });
      }
      delimitersOf(line, "FHS");
      out.fileHeader = line;
    } else if (id === "BHS") {
      flush();
      delimitersOf(line, "BHS");
      out.batchHeaders.push(line);
      sawBatchHeader = true;
      inBatch = 0;
      batches++;
    } else if (id === "MSH") {
      flush();
      current = [line];
      inBatch++;
    } else if (id === "BTS") {
      flush();
      const n = count(line, position);
      if (n !== undefined && n !== inBatch) {
        throw hl7ParseError({
          segment: "BTS",
          position,
          field: 1,
          hl7ErrorCode: 100,
          reason: `BTS-1 says ${n} messages, the batch holds ${inBatch}`,
        });
      }
      if (!sawBatchHeader) batches++;
      inBatch = 0;
    } else if (id === "FTS") {
      flush();
      const n = count(line, position);
      const held = Math.max(batches, out.messages.length ? 1 : 0);
      if (n !== undefined && n !== held) {
        throw hl7ParseError({
          segment: "FTS",
          position,
          field: 1,
          hl7ErrorCode: 100,
          reason: `FTS-1 says ${n} batches, the file holds ${held}`,
        });
      }
      if (i !== lines.length - 1) {
        throw hl7ParseError({
          segment: "FTS",
          position,
          hl7ErrorCode: 100,
          reason: "FTS must close the file",
        });
      }
    } else if (current) {
      current.push(line);
    } else {
      throw hl7ParseError({
        segment: /^[A-Z0-9]{3}$/.test(id) ? id : "",
        position,
        hl7ErrorCode: 100,
        reason: "a segment outside any message (each message starts with MSH)",
      });
    }
  }
  flush();
  if (out.messages.length === 0) {
    throw hl7ParseError({
      segment: "",
      position: 0,
      hl7ErrorCode: 100,
      reason: "the batch holds no message",
    });
  }
  return out;
}
