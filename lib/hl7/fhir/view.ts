/**
 * The little the converter needs from a parsed message: unescaped values by HL7 position.
 * `adapter.ts` provides it over lib/hl7's parse result, so a message is parsed once.
 */

export interface V2Segment {
  /** Segment ID, e.g. "PID". */
  readonly name: string;
  /** 1-based position of the segment in the message (for error locations). */
  readonly position: number;
  /**
   * Unescaped text at field / component / subcomponent (1-based, as in "PID-5.1.1") of one
   * repetition (0-based); "" when absent.
   */
  get(field: number, component?: number, subcomponent?: number, repetition?: number): string;
  /** How many repetitions the field has (0 when it is empty). */
  reps(field: number): number;
}

export interface V2Header {
  /** MSH-9.1, e.g. "ADT". */
  type: string;
  /** MSH-9.2 (or EVN-1 when MSH-9.2 is empty), e.g. "A01". */
  event: string;
  /** MSH-9.3 */
  structure?: string;
  controlId: string;
  version: string;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  timestamp?: string;
}

export interface V2Message {
  readonly header: V2Header;
  readonly segments: readonly V2Segment[];
}

/** "PID-3" / "PID-3.4" / "PID-3[2].4" style location of a value, for HL7_CONVERT details. */
export function location(seg: V2Segment, field?: number, component?: number, repetition?: number): string {
  if (field === undefined) return `${seg.name}#${seg.position}`;
  let out = `${seg.name}-${field}`;
  if (repetition !== undefined && repetition > 0) out += `[${repetition + 1}]`;
  if (component !== undefined) out += `.${component}`;
  return out;
}
