import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import {
  asParsedHl7,
  decodeHl7,
  type Hl7Json,
  type Hl7Limits,
  hl7Facts,
  hl7LimitsFromConfig,
  hl7v2,
  isBatch,
  type ParsedHl7,
  parseHl7,
  siteSegments,
  splitBatch,
} from "../../lib/hl7";
import { onInput } from "../shared/input";
import { status } from "../shared/status";

interface Hl7ParseDef extends NodeDef {
  validate?: boolean | string;
  /** Hl7Limits as strings: empty keeps the default, 0 means no limit. */
  maxSegments?: string | number;
  maxSegmentLength?: string | number;
  maxFieldsPerSegment?: string | number;
  maxRepetitionsPerField?: string | number;
  maxComponentsPerField?: string | number;
  maxSubcomponentsPerField?: string | number;
  maxDelimiters?: string | number;
}

type Hl7Msg = NodeMessageInFlow & { hl7?: Record<string, unknown>; parts?: Record<string, unknown> };

function withFacts(msg: Hl7Msg, parsed: ParsedHl7): void {
  const hl7: Record<string, unknown> = { ...(msg.hl7 ?? {}), ...hl7Facts(parsed.header) };
  delete hl7.error;
  // Z-segments and segments HL7 does not define, where they outlive a payload that is replaced
  // (by hl7-fhir's Bundle, say).
  const extra = siteSegments(parsed);
  if (extra.length > 0) hl7.segments = extra;
  else delete hl7.segments;
  msg.hl7 = hl7;
  msg.topic = `${parsed.header.type}^${parsed.header.event}`;
}

export = function (RED: NodeAPI) {
  function Hl7Parse(this: Node, def: Hl7ParseDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: Hl7ParseDef): void {
    const validate = def.validate === true || def.validate === "true";
    let failing = false;
    let limits: Readonly<Hl7Limits> | undefined;
    let configError: PackError | undefined;
    try {
      limits = hl7LimitsFromConfig(def as unknown as Record<string, unknown>);
    } catch (err) {
      configError = err as PackError;
      node.error(configError.message);
      status.failed(node, "bad config");
    }
    if (!configError && validate) {
      try {
        hl7v2();
      } catch (err) {
        configError = err as PackError;
        node.error(configError.message);
        status.failed(node, "hl7v2 not installed");
      }
    }

    onInput<Hl7Msg>(node, CODES.HL7_PARSE, (msg, send) => {
      if (configError) throw configError;
      try {
        const p = msg.payload;
        if (typeof p === "string" || Buffer.isBuffer(p)) {
          const text = typeof p === "string" ? p : decodeHl7(p);
          if (!isBatch(text)) {
            const parsed = parseHl7(text, { validate, limits });
            msg.payload = parsed.toJSON();
            withFacts(msg, parsed);
            send(msg);
          } else {
            const batch = splitBatch(text, limits);
            // Every message parses before any is sent: a bad batch sends nothing.
            const parsed = batch.messages.map((m, index) => {
              try {
                return parseHl7(m, { validate, limits });
              } catch (err) {
                if (err instanceof PackError && err.details && typeof err.details === "object") {
                  throw new PackError(err.code, `message ${index + 1} of the batch: ${err.message}`, {
                    ...(err.details as object),
                    message: index + 1,
                  });
                }
                throw err;
              }
            });
            const id = RED.util.generateId();
            msg.payload = undefined;
            const out: NodeMessage[] = parsed.map((m, index) => {
              const copy = (index === parsed.length - 1 ? msg : RED.util.cloneMessage(msg)) as Hl7Msg;
              copy.payload = m.toJSON();
              withFacts(copy, m);
              copy.parts = { id, index, count: parsed.length, type: "array" };
              return copy;
            });
            for (const m of out) send(m);
          }
        } else if (p !== null && typeof p === "object") {
          const parsed = asParsedHl7(p as Hl7Json, { validate, limits });
          msg.payload = parsed.text;
          withFacts(msg, parsed);
          send(msg);
        } else {
          throw new PackError(
            CODES.HL7_BAD_INPUT,
            "hl7-parse needs HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] }) in msg.payload",
          );
        }
        if (failing) {
          failing = false;
          status.clear(node);
        }
      } catch (err) {
        const code = (err as { code?: string }).code ?? CODES.HL7_PARSE;
        msg.hl7 = { ...(msg.hl7 ?? {}), error: { code, ...((err as PackError).details as object) } };
        failing = true;
        status.failed(
          node,
          code === CODES.HL7_BAD_INPUT
            ? "bad input"
            : code === CODES.HL7_LIMIT
              ? "limit exceeded"
              : "parse error",
        );
        throw err;
      }
    });

    node.on("close", () => status.clear(node));
  }

  RED.nodes.registerType("hl7-parse", Hl7Parse);
};
