import type tls from "node:tls";
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportHealth } from "../../lib/health/bus";
import {
  type AppAckCondition,
  asParsedHl7,
  type ClientState,
  DEFAULT_APP_ACK_TIMEOUT_MS,
  hl7Facts,
  type Hl7Header,
  isAckCode,
  isAckOutcome,
  isEnhanced,
  MllpClient,
  mllpSessions,
  parseHeader,
  type SendResult,
} from "../../lib/hl7";
import { onInput } from "../shared/input";
import { numberProp } from "../shared/props";
import { status } from "../shared/status";

interface MllpOutDef extends NodeDef {
  mode?: string;
  host?: string;
  port?: string | number;
  tls?: string;
  timeout?: string | number;
  retries?: string | number;
  queueSize?: string | number;
  appAckTimeout?: string | number;
  ackCode?: string;
  integration?: string;
}

interface TlsConfigNode extends Node {
  addTLSOptions(opts: tls.ConnectionOptions): tls.ConnectionOptions;
}

type Hl7Msg = NodeMessageInFlow & {
  hl7?: Record<string, unknown>;
  _session?: unknown;
  ackCode?: unknown;
  ackText?: unknown;
  error?: { code?: unknown };
};

const SOURCE = "mllp-out";

/** The send-mode numbers; a value that is not a number in range is an MLLP_CONFIG error, never a default. */
function sendNumbersOf(def: MllpOutDef) {
  const code = CODES.MLLP_CONFIG;
  return {
    timeoutMs: numberProp(def.timeout, 10_000, { name: "timeout", code, min: 1, integer: false, unit: "ms" }),
    retries: numberProp(def.retries, 3, { name: "retries", code, min: 0 }),
    queueSize: numberProp(def.queueSize, 1000, { name: "queueSize", code, min: 0 }),
    appAckTimeoutMs: numberProp(def.appAckTimeout, DEFAULT_APP_ACK_TIMEOUT_MS, {
      name: "appAckTimeout",
      code,
      min: 0,
      integer: false,
      unit: "ms",
    }),
  };
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : CODES.MLLP_ERROR;
}

/** The text to send and its header: HL7 text, a Buffer, or a structure from hl7-parse / hl7-fhir. */
function outgoing(payload: unknown): { text: string | Buffer; header: Hl7Header } {
  if (typeof payload === "string" || Buffer.isBuffer(payload))
    return { text: payload, header: parseHeader(payload) };
  if (payload !== null && typeof payload === "object") {
    const parsed = asParsedHl7(payload);
    return { text: parsed.text, header: parsed.header };
  }
  throw new PackError(
    CODES.HL7_BAD_INPUT,
    "mllp-out needs HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] }) in msg.payload",
  );
}

/** The application ACKs an outgoing message asks for: none in original mode or with MSH-16 NE. */
function appAckOf(h: Hl7Header): AppAckCondition | undefined {
  if (!isEnhanced(h)) return undefined;
  const c = h.applicationAckType;
  return c === "ER" || c === "SU" ? c : c === "" || c === "AL" ? "AL" : undefined;
}

/** The session to answer on: msg._session, else msg.hl7.session (kept by a durable-queue). */
function sessionOf(msg: Hl7Msg): unknown {
  if (msg._session !== undefined) return msg._session;
  const s = msg.hl7?.session as { id?: unknown; seq?: unknown } | undefined;
  return s && typeof s === "object" ? { type: "mllp", id: s.id, seq: s.seq } : undefined;
}

function ackFacts(r: SendResult): Record<string, unknown> {
  return {
    code: r.ack.code,
    controlId: r.ack.controlId,
    text: r.ack.text,
    ackControlId: r.ack.ackControlId,
    attempts: r.attempts,
    message: r.ackText,
  };
}

export = function (RED: NodeAPI) {
  function MllpOut(this: Node, def: MllpOutDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: MllpOutDef): void {
    const integration = (def.integration ?? "").trim() || "hl7";
    const mode = def.mode === "reply" ? "reply" : "send";

    let shown = "";
    const show = (kind: "ok" | "working" | "degraded" | "failed", text: string): void => {
      if (shown === kind + text) return;
      shown = kind + text;
      status[kind](node, text);
    };

    if (mode === "reply") {
      const fixed = (def.ackCode ?? "AA").trim();
      onInput<Hl7Msg>(node, CODES.MLLP_NO_SESSION, async (msg, send) => {
        const code = fixed === "msg" ? msg.ackCode : fixed;
        if (!isAckCode(code) && !isAckOutcome(code)) {
          msg.hl7 = { ...(msg.hl7 ?? {}), error: { code: CODES.HL7_BAD_INPUT } };
          throw new PackError(
            CODES.HL7_BAD_INPUT,
            `mllp-out: the ACK code must be AA, AE, AR, CA, CE, CR or an outcome (filtered, invalid, failed, error) (${fixed === "msg" ? "msg.ackCode" : "ackCode"})`,
          );
        }
        const text = typeof msg.ackText === "string" && msg.ackText !== "" ? msg.ackText : undefined;
        const errorCode = msg.error && typeof msg.error.code === "string" ? msg.error.code : undefined;
        const controlId = typeof msg.hl7?.controlId === "string" ? msg.hl7.controlId : undefined;
        try {
          const r = await mllpSessions.reply(sessionOf(msg), {
            ...(isAckCode(code) ? { code } : { outcome: code }),
            controlId,
            text,
            applicationErrorCode: code === "AA" || code === "CA" ? undefined : errorCode,
          });
          const hl7: Record<string, unknown> = {
            ...(msg.hl7 ?? {}),
            ackCode: r.code,
            ack: { code: r.code, text: text ?? "", message: r.ack },
          };
          if (r.commit) hl7.commitAck = { code: r.commit.code, message: r.commit.ack };
          else delete hl7.commitAck;
          delete hl7.error;
          msg.hl7 = hl7;
          show("ok", `replied ${r.commit ? `${r.commit.code}+` : ""}${r.code}`);
          send(msg);
        } catch (err) {
          msg.hl7 = {
            ...(msg.hl7 ?? {}),
            error: { code: codeOf(err), ...((err as PackError).details as object) },
          };
          show("failed", codeOf(err) === CODES.MLLP_CLOSED ? "closed" : "no session");
          throw err;
        }
      });
      node.on("close", () => status.clear(node));
      return;
    }

    const host = (def.host ?? "").trim();
    let port = -1;
    let numbers: ReturnType<typeof sendNumbersOf> | undefined;
    let tlsOptions: tls.ConnectionOptions | undefined;
    let configError: PackError | undefined;
    try {
      port = numberProp(def.port, -1, { name: "port", code: CODES.MLLP_CONFIG, min: 1, max: 65535 });
      numbers = sendNumbersOf(def);
    } catch (err) {
      configError = new PackError(
        CODES.MLLP_CONFIG,
        `mllp-out: ${(err as Error).message}`,
        (err as PackError).details,
      );
    }
    if (def.tls) {
      const tlsNode = RED.nodes.getNode(def.tls) as TlsConfigNode | null;
      if (tlsNode) tlsOptions = tlsNode.addTLSOptions({});
      else configError = new PackError(CODES.MLLP_CONFIG, "mllp-out: the TLS configuration node is missing");
    }
    if (!configError && (!host || port === -1)) {
      configError = new PackError(
        CODES.MLLP_CONFIG,
        "mllp-out: host and port (1-65535) are required in send mode",
      );
    }
    if (configError) {
      node.error(`${configError.code}: ${configError.message}`);
      show("failed", "bad config");
    }

    const client =
      configError || !numbers
        ? undefined
        : new MllpClient(
            {
              host,
              port,
              tls: tlsOptions,
              ...numbers,
            },
            (state: ClientState, detail?: string) => {
              if (state === "connected" || state === "idle") show("ok", "connected");
              else if (state === "connecting") show("working", "connecting");
              else if (state === "sending") show("working", "waiting for ACK");
              else if (state === "retrying") show("degraded", `retry ${detail ?? ""}`);
              else show("degraded", "disconnected");
            },
          );

    onInput<Hl7Msg>(node, CODES.MLLP_ERROR, async (msg, send) => {
      if (!client) throw configError!;
      let out: { text: string | Buffer; header: Hl7Header };
      try {
        out = outgoing(msg.payload);
      } catch (err) {
        msg.hl7 = {
          ...(msg.hl7 ?? {}),
          error: { code: codeOf(err), ...((err as PackError).details as object) },
        };
        throw err;
      }
      const started = Date.now();
      try {
        const result = await client.send(out.text, out.header.controlId, appAckOf(out.header));
        const hl7: Record<string, unknown> = {
          ...(msg.hl7 ?? {}),
          ...hl7Facts(out.header),
          ackCode: result.ack.code,
          ack: ackFacts(result),
        };
        if (result.commit) {
          hl7.commitAck = {
            code: result.commit.code,
            controlId: result.commit.controlId,
            ackControlId: result.commit.ackControlId,
            message: result.commitText,
          };
        } else delete hl7.commitAck;
        delete hl7.error;
        msg.hl7 = hl7;
        reportHealth({ integration, success: true, durationMs: result.durationMs, source: SOURCE });
        send(msg);
      } catch (err) {
        const code = codeOf(err);
        const details = (err as PackError).details as Record<string, unknown> | undefined;
        const hl7: Record<string, unknown> = { ...(msg.hl7 ?? {}), ...hl7Facts(out.header) };
        if (code === CODES.MLLP_NAK && details) {
          hl7.ackCode = details.code;
          hl7.error = {
            code,
            ackCode: details.code,
            text: details.text,
            error: details.error,
            ack: details.ack,
            ...(details.commit ? { commitCode: details.commitCode, commit: details.commit } : {}),
          };
        } else hl7.error = { code, ...(details ?? {}) };
        msg.hl7 = hl7;
        reportHealth({
          integration,
          success: false,
          durationMs: Date.now() - started,
          error: code,
          source: SOURCE,
        });
        if (code === CODES.MLLP_NAK) show("failed", `NAK ${String(details?.code ?? "")}`);
        else show("failed", code.replace(/^MLLP_/, "").toLowerCase());
        throw err;
      }
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      (client ? client.close() : Promise.resolve()).then(
        () => {
          status.clear(node);
          done();
        },
        () => done(),
      );
    });
  }

  RED.nodes.registerType("mllp-out", MllpOut);
};
