import {
  asParsedHl7,
  buildMsh,
  escapeHl7,
  hl7Facts,
  type Hl7Limits,
  hl7Timestamp,
  newControlId,
  siteSegments,
  type SiteSegment,
} from "..";
import type { Hl7Writer } from "./to-hl7";
import type { V2Message } from "./view";

/**
 * lib/hl7's parsed message as the converter's view. Text and Buffers are parsed (lib/hl7 keeps
 * recent parses, so a message mllp-in already parsed is not parsed again); a `ParsedHl7` or the
 * structure `hl7-parse` puts in msg.payload is used as it is; text and structures are checked
 * against `limits` (HL7_LIMIT).
 */
export function messageFromPayload(payload: unknown, limits?: Partial<Hl7Limits>): V2Message {
  return readMessage(payload, limits).message;
}

/** As messageFromPayload, with the Z- and unknown segments the converter leaves behind. */
export function readMessage(
  payload: unknown,
  limits?: Partial<Hl7Limits>,
): { message: V2Message; siteSegments: SiteSegment[] } {
  const parsed = asParsedHl7(payload, { limits });
  return {
    message: { header: hl7Facts(parsed.header), segments: parsed.segments },
    siteSegments: siteSegments(parsed),
  };
}

/** MSH, escaping and control ids of lib/hl7, for the FHIR -> v2 direction. */
export function hl7Writer(): Hl7Writer {
  return {
    msh: (f) =>
      buildMsh({
        sendingApplication: f.sendingApplication,
        sendingFacility: f.sendingFacility,
        receivingApplication: f.receivingApplication,
        receivingFacility: f.receivingFacility,
        messageType: f.messageType,
        controlId: f.controlId,
        version: f.version,
        timestamp: f.timestamp,
      }),
    escape: (value) => escapeHl7(value),
    controlId: () => newControlId(),
    timestamp: (now) => hl7Timestamp(now),
  };
}
