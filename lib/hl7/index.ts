/**
 * HL7 v2 for the pack: parse/serialise (message.ts), escapes (escape.ts), MSH and control IDs
 * (build.ts), acknowledgements (ack.ts). The v2 <-> FHIR converters live in ./fhir.
 */
export * from "./escape";
export * from "./message";
export * from "./build";
export * from "./ack";
export * from "./batch";
export * from "./mllp";
export * from "./budget";
export * from "./dedupe";
export * from "./sessions";
export * from "./receiver";
export * from "./client";
export * from "./segments";
export { hl7v2 } from "./hl7v2";
