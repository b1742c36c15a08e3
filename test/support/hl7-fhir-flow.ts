import type { FlowNode } from "./red-runtime";

export interface Hl7FhirFlowOptions {
  /** Tab id (node ids are the same on every tab: deploy one such flow per runtime). */
  tab: string;
  label: string;
  mllpPort: number;
  /** Base URL of a FHIR server without auth (the sandbox). */
  fhirUrl: string;
  /** hl7-fhir Systems (JSON text). */
  systems?: string;
  timezone: string;
}

/**
 * The HL7 -> FHIR path the docs build, for end-to-end specs: mllp-in (ack: flow) -> hl7-fhir
 * (to-fhir) -> fhir-request (transaction) -> mllp-out reply AA; a Catch on the converter and the
 * request -> msg.ackText = the error's message -> mllp-out reply AE.
 */
export function hl7ToFhirFlow(o: Hl7FhirFlowOptions): FlowNode[] {
  const at = (x: number, y: number) => ({ z: o.tab, x, y });
  const reply = (id: string, ackCode: string, x: number, y: number): FlowNode => ({
    id,
    type: "mllp-out",
    ...at(x, y),
    mode: "reply",
    host: "",
    port: "",
    tls: "",
    timeout: "10000",
    retries: "0",
    queueSize: "1000",
    ackCode,
    integration: "hl7",
    wires: [],
  });
  return [
    { id: o.tab, type: "tab", label: o.label },
    {
      id: "fhir",
      type: "fhir-server",
      name: "sandbox",
      baseUrl: o.fhirUrl,
      fhirVersion: "4.0.1",
      authType: "none",
      timeout: "10000",
      retries: "0",
      maxConcurrent: "4",
      tls: "",
    },
    {
      id: "in",
      type: "mllp-in",
      ...at(100, 100),
      host: "127.0.0.1",
      port: String(o.mllpPort),
      tls: "",
      ack: "flow",
      maxBytes: "1048576",
      dedupe: "0",
      dedupeStore: "",
      idleTimeout: "0",
      maxConnections: "0",
      replyTimeout: "30",
      integration: "hl7",
      wires: [["convert"]],
    },
    {
      id: "convert",
      type: "hl7-fhir",
      ...at(280, 100),
      direction: "to-fhir",
      systems: o.systems ?? "",
      systemPattern: "",
      timezone: o.timezone,
      sendingApplication: "",
      sendingFacility: "",
      receivingApplication: "",
      receivingFacility: "",
      version: "2.5.1",
      wires: [["store"]],
    },
    {
      id: "store",
      type: "fhir-request",
      ...at(460, 100),
      server: "fhir",
      operation: "transaction",
      resourceType: "",
      searchParams: "",
      operationName: "",
      maxPages: "100",
      output: "bundle",
      integration: "fhir",
      wires: [["ack-aa"]],
    },
    reply("ack-aa", "AA", 640, 100),
    {
      id: "catch",
      type: "catch",
      ...at(100, 180),
      scope: ["convert", "store"],
      uncaught: false,
      wires: [["why"]],
    },
    {
      id: "why",
      type: "change",
      ...at(280, 180),
      rules: [{ t: "set", p: "ackText", pt: "msg", to: "error.message", tot: "msg" }],
      action: "",
      property: "",
      from: "",
      to: "",
      reg: false,
      wires: [["ack-ae"]],
    },
    reply("ack-ae", "AE", 460, 180),
  ];
}
