import { CODES } from "../../error-codes";
import { PackError } from "../../errors";
import { type Hl7Limits, hl7Limits } from "../message";
import type { SiteSegment } from "../segments";
import { hl7Writer, readMessage } from "./adapter";
import { FhirToV2, type Hl7Output, type ToHl7Options } from "./to-hl7";
import { V2ToFhir, type ToFhirOptions, type ToFhirResult } from "./to-fhir";
import type { V2Header } from "./view";

export { V2ToFhir, type ToFhirOptions, type ToFhirResult } from "./to-fhir";
export { FhirToV2, type Hl7Output, type ToHl7Options } from "./to-hl7";
export { DEFAULT_SYSTEM_PATTERN, IdentifierSystems } from "./ids";
export { messageFromPayload, hl7Writer } from "./adapter";
export type { V2Header, V2Message, V2Segment } from "./view";

/** The hl7-fhir node's configuration, as the editor stores it (strings). */
export interface Hl7FhirConfig {
  direction: "to-fhir" | "to-hl7";
  /** JSON object text (or an object): assigning authority -> identifier system. */
  systems?: string | Record<string, string>;
  systemPattern?: string;
  timezone?: string;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  version?: string;
  /** to-fhir: limits of the parse (missing ones: DEFAULT_HL7_LIMITS); HL7_LIMIT when a message exceeds one. */
  limits?: Partial<Hl7Limits>;
}

export interface Hl7FhirConverter {
  /**
   * HL7 text (string/Buffer) or a parsed message -> transaction Bundle, header facts, and the
   * Z- and unknown segments the Bundle does not hold (as received).
   */
  toFhir(payload: unknown): ToFhirResult & { header: V2Header; siteSegments: SiteSegment[] };
  /** Patient / Appointment / Bundle -> one HL7 message per resource. */
  toHl7(payload: unknown, event?: string): Hl7Output[];
}

/** Parses the Systems property; HL7_CONFIG when it is not an object of non-empty strings. */
export function parseSystems(value: string | Record<string, string> | undefined): Record<string, string> {
  if (value === undefined || value === "") return {};
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new PackError(
        CODES.HL7_CONFIG,
        "Systems is not valid JSON: expected an object of authority -> system URI",
      );
    }
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PackError(CODES.HL7_CONFIG, "Systems must be a JSON object of authority -> system URI");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== "string" || !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(v)) {
      throw new PackError(CODES.HL7_CONFIG, `Systems: the system of authority "${k}" is not a URI`, {
        authority: k,
      });
    }
    out[k] = v;
  }
  return out;
}

export function createConverter(config: Hl7FhirConfig): Hl7FhirConverter {
  const systems = parseSystems(config.systems);
  const systemPattern = (config.systemPattern ?? "").trim() || undefined;
  if (systemPattern && !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(systemPattern)) {
    throw new PackError(
      CODES.HL7_CONFIG,
      "Other authorities must be a URI pattern such as urn:example:{authority}",
    );
  }
  if (config.direction === "to-hl7") {
    const options: ToHl7Options = {
      systems,
      systemPattern,
      sendingApplication: config.sendingApplication?.trim(),
      sendingFacility: config.sendingFacility?.trim(),
      receivingApplication: config.receivingApplication?.trim(),
      receivingFacility: config.receivingFacility?.trim(),
      version: config.version?.trim() || "2.5.1",
    };
    const writer = new FhirToV2(options, hl7Writer());
    return {
      toFhir: () => {
        throw new PackError(CODES.HL7_CONFIG, "this hl7-fhir node converts to HL7 (direction to-hl7)");
      },
      toHl7: (payload, event) => writer.convert(payload, { event }),
    };
  }
  const options: ToFhirOptions = { systems, systemPattern, timezone: config.timezone?.trim() ?? "" };
  const reader = new V2ToFhir(options);
  const limits = hl7Limits(config.limits);
  return {
    toFhir: (payload) => {
      const { message, siteSegments } = readMessage(payload, limits);
      return { ...reader.convert(message), header: message.header, siteSegments };
    },
    toHl7: () => {
      throw new PackError(CODES.HL7_CONFIG, "this hl7-fhir node converts to FHIR (direction to-fhir)");
    },
  };
}
