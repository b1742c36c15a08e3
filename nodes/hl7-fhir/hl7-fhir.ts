import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { hl7LimitsFromConfig } from "../../lib/hl7/message";
import { createConverter, type Hl7FhirConfig, type Hl7FhirConverter } from "../../lib/hl7/fhir";
import { onInput } from "../shared/input";
import { status } from "../shared/status";

interface Hl7FhirDef extends NodeDef {
  direction?: string;
  systems?: string;
  systemPattern?: string;
  timezone?: string;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  version?: string;
  /** Hl7Limits as strings (to-fhir): empty keeps the default, 0 means no limit. */
  maxSegments?: string | number;
  maxSegmentLength?: string | number;
  maxFieldsPerSegment?: string | number;
  maxRepetitionsPerField?: string | number;
  maxComponentsPerField?: string | number;
  maxSubcomponentsPerField?: string | number;
  maxDelimiters?: string | number;
}

type Hl7Msg = NodeMessageInFlow & { hl7?: Record<string, unknown> };

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : CODES.HL7_CONVERT;
}

export = function (RED: NodeAPI) {
  function Hl7Fhir(this: Node, def: Hl7FhirDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: Hl7FhirDef): void {
    const direction = def.direction === "to-hl7" ? "to-hl7" : "to-fhir";
    let shown = "";
    /** Status changes only (ok <-> failed): a status per message would flood the editor under load. */
    function show(kind: "ok" | "failed", text: string): void {
      const key = `${kind}:${text}`;
      if (key === shown) return;
      shown = key;
      status[kind](node, text);
    }

    let converter: Hl7FhirConverter | undefined;
    let configError: PackError | undefined;
    try {
      const config: Hl7FhirConfig = {
        direction,
        systems: def.systems,
        systemPattern: def.systemPattern,
        timezone: def.timezone,
        sendingApplication: def.sendingApplication,
        sendingFacility: def.sendingFacility,
        receivingApplication: def.receivingApplication,
        receivingFacility: def.receivingFacility,
        version: def.version,
        limits:
          direction === "to-fhir"
            ? hl7LimitsFromConfig(def as unknown as Record<string, unknown>)
            : undefined,
      };
      converter = createConverter(config);
    } catch (err) {
      configError =
        err instanceof PackError
          ? err
          : new PackError(CODES.HL7_CONFIG, err instanceof Error ? err.message : String(err));
      node.error(configError.message);
      show("failed", "bad config");
    }

    onInput<Hl7Msg>(node, CODES.HL7_CONVERT, (msg, send) => {
      if (!converter) throw configError!;
      try {
        if (direction === "to-fhir") {
          const result = converter.toFhir(msg.payload);
          msg.payload = result.bundle;
          // the inbound facts (control id, session) stay for the ACK further down the flow
          const hl7: Record<string, unknown> = { ...(msg.hl7 ?? {}), ...result.header };
          if (result.warnings.length) hl7.warnings = result.warnings;
          else delete hl7.warnings;
          // Z-segments and segments HL7 does not define: the Bundle does not hold them, msg.hl7 does
          if (result.siteSegments.length) hl7.segments = result.siteSegments;
          else delete hl7.segments;
          delete hl7.error;
          msg.hl7 = hl7;
          msg.topic = `${result.header.type}^${result.header.event}`;
          show("ok", direction);
          send(msg);
          return;
        }
        const requested = typeof msg.hl7?.event === "string" ? msg.hl7.event : undefined;
        const outputs = converter.toHl7(msg.payload, requested);
        const msgs: NodeMessage[] = outputs.map((out, i) => {
          const m = (i === 0 ? msg : RED.util.cloneMessage(msg)) as Hl7Msg;
          m.payload = out.text;
          m.hl7 = { ...out.header };
          m.topic = `${out.header.type}^${out.header.event}`;
          return m;
        });
        show("ok", direction);
        send(msgs.length === 1 ? msgs[0] : [msgs]);
      } catch (err) {
        const code = codeOf(err);
        const where = (err as { details?: { location?: string } } | null)?.details?.location;
        msg.hl7 = {
          ...(msg.hl7 ?? {}),
          error: {
            code,
            message: err instanceof Error ? err.message : String(err),
            ...(where ? { location: where } : {}),
          },
        };
        show("failed", code.toLowerCase().replace(/^hl7_/, "").replace(/_/g, " "));
        throw err;
      }
    });

    node.on("close", () => status.clear(node));
  }

  RED.nodes.registerType("hl7-fhir", Hl7Fhir);
};
