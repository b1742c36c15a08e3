import type tls from "node:tls";
import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import { reportHealth, reportRefusal } from "../../lib/health/bus";
import {
  type AckMode,
  DEFAULT_FRAME_BUDGET_BYTES,
  DEFAULT_OUTCOME_CODES,
  type Delivery,
  hl7Facts,
  isEnhanced,
  MllpReceiver,
  type OutcomeCodes,
  type Rejection,
  sharedFrameBudget,
} from "../../lib/hl7";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { numberProp } from "../shared/props";
import { okKind, openNodeState, type NodeState } from "../shared/state";
import { status } from "../shared/status";

interface MllpInDef extends NodeDef {
  host?: string;
  port?: string | number;
  tls?: string;
  ack?: string;
  maxBytes?: string | number;
  dedupe?: string | number;
  dedupeStore?: string;
  idleTimeout?: string | number;
  maxConnections?: string | number;
  frameTimeout?: string | number;
  replyTimeout?: string | number;
  ackFiltered?: string;
  ackInvalid?: string;
  ackFailed?: string;
  integration?: string;
}

/** The per-outcome codes; empty keeps the default, anything else than the codes allowed is an error. */
function outcomeCodesOf(def: MllpInDef): OutcomeCodes | string {
  const pick = <T extends string>(
    name: string,
    v: string | undefined,
    allowed: readonly T[],
    d: T,
  ): T | string => {
    const t = (v ?? "").trim();
    if (t === "") return d;
    return (allowed as readonly string[]).includes(t) ? (t as T) : `${name} must be ${allowed.join(", ")}`;
  };
  const filtered = pick(
    "ackFiltered",
    def.ackFiltered,
    ["AA", "AE", "AR"] as const,
    DEFAULT_OUTCOME_CODES.filtered,
  );
  const invalid = pick("ackInvalid", def.ackInvalid, ["AE", "AR"] as const, DEFAULT_OUTCOME_CODES.invalid);
  const failed = pick("ackFailed", def.ackFailed, ["AE", "AR"] as const, DEFAULT_OUTCOME_CODES.failed);
  for (const v of [filtered, invalid, failed]) if (v.length > 2) return v;
  return { filtered, invalid, failed } as OutcomeCodes;
}

interface TlsConfigNode extends Node {
  addTLSOptions(opts: tls.TlsOptions): tls.TlsOptions;
}

/** The running listener, for tests and the port actually bound (port 0). */
interface MllpInNode extends Node {
  receiver?: MllpReceiver;
  listening?: Promise<number>;
}

const SOURCE = "mllp-in";
const DEDUPE_KEY = "mllpDedupe";
/** Defaults of the limits when the property is empty ("0" set explicitly means no limit). */
const DEFAULT_MAX_CONNECTIONS = 100;
const DEFAULT_IDLE_SECONDS = 60;
const DEFAULT_FRAME_SECONDS = 30;
/** The status shows refusals this long after the last one. */
const REFUSED_SHOWN_MS = 60_000;
const STATUS_EVERY_MS = 500;

/** The port and limits; a value that is not a number in range is an MLLP_CONFIG error, never a default. */
function numbersOf(def: MllpInDef) {
  const code = CODES.MLLP_CONFIG;
  const seconds = (name: string, v: string | number | undefined, fallback: number, min = 0): number =>
    numberProp(v, fallback, { name, code, min, integer: false, unit: "seconds" });
  const port = numberProp(def.port, -1, { name: "port", code, min: 0, max: 65535 });
  if (port === -1) throw new PackError(code, "port is required (0 picks a free one)", { property: "port" });
  return {
    port,
    maxBytes: numberProp(def.maxBytes, 10 * 1024 * 1024, { name: "maxBytes", code, min: 1 }),
    dedupeSeconds: seconds("dedupe", def.dedupe, 0),
    idleTimeoutMs: seconds("idleTimeout", def.idleTimeout, DEFAULT_IDLE_SECONDS) * 1000,
    maxConnections: numberProp(def.maxConnections, DEFAULT_MAX_CONNECTIONS, {
      name: "maxConnections",
      code,
      min: 0,
    }),
    frameTimeoutMs: seconds("frameTimeout", def.frameTimeout, DEFAULT_FRAME_SECONDS) * 1000,
    replyTimeoutMs: seconds("replyTimeout", def.replyTimeout, 30, 1) * 1000,
  };
}

export = function (RED: NodeAPI) {
  function MllpIn(this: MllpInNode, def: MllpInDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: MllpInNode, def: MllpInDef): void {
    const integration = (def.integration ?? "").trim() || "hl7";
    const ack: AckMode = def.ack === "flow" || def.ack === "none" ? def.ack : "auto";
    const host = (def.host ?? "").trim() || "127.0.0.1";

    let tlsOptions: tls.TlsOptions | undefined;
    if (def.tls) {
      const tlsNode = RED.nodes.getNode(def.tls) as TlsConfigNode | null;
      if (!tlsNode) {
        node.error(`${CODES.MLLP_CONFIG}: mllp-in: the TLS configuration node is missing`);
        status.failed(node, "no TLS config");
        return;
      }
      tlsOptions = tlsNode.addTLSOptions({});
      // A CA plus "verify" in the TLS config means: require client certificates from that CA.
      if (tlsOptions.ca && tlsOptions.rejectUnauthorized) tlsOptions.requestCert = true;
    }
    let numbers: ReturnType<typeof numbersOf>;
    try {
      numbers = numbersOf(def);
    } catch (err) {
      node.error(`${CODES.MLLP_CONFIG}: mllp-in: ${(err as Error).message}`);
      status.failed(node, "bad config");
      return;
    }
    const { port, ...limits } = numbers;
    const outcomeCodes = outcomeCodesOf(def);
    if (typeof outcomeCodes === "string") {
      node.error(`${CODES.MLLP_CONFIG}: mllp-in: ${outcomeCodes}`);
      status.failed(node, "bad ACK codes");
      return;
    }

    let state: NodeState | undefined;
    if (numbers.dedupeSeconds > 0) {
      try {
        state = openNodeState(RED, node, def.dedupeStore, {
          code: CODES.MLLP_CONFIG,
          what: "de-duplication ids",
          messageStore: true,
        });
      } catch (err) {
        node.error(`${CODES.MLLP_CONFIG}: mllp-in: ${(err as Error).message}`);
        status.failed(node, "bad config");
        return;
      }
    }

    // In a message store the window is kept entry by entry, shared by every instance running this flow.
    const sharedDedupe = state?.shared ? state.expiring?.("node", "mllp-dedupe") : undefined;

    let shown = "";
    const show = (asked: "ok" | "working" | "degraded" | "failed", text: string): void => {
      const kind = asked === "ok" ? okKind(state) : asked;
      if (shown === kind + text) return;
      shown = kind + text;
      status[kind](node, text);
    };

    // The status follows connections and refusals at most every STATUS_EVERY_MS (a flood of
    // connections must not become a flood of status messages to the editor).
    let listeningOn = -1;
    let open = 0;
    let refusedCount = 0;
    let lastRefusal = 0;
    let pending: NodeJS.Timeout | undefined;
    let flipBack: NodeJS.Timeout | undefined;
    let statusAt = 0;
    let stopped = false;
    const renderStatus = (): void => {
      pending = undefined;
      if (flipBack) clearTimeout(flipBack);
      flipBack = undefined;
      if (stopped || listeningOn < 0) return;
      statusAt = Date.now();
      const since = statusAt - lastRefusal;
      if (refusedCount > 0 && since < REFUSED_SHOWN_MS) {
        show("degraded", `${refusedCount} refused`);
        flipBack = setTimeout(renderStatus, REFUSED_SHOWN_MS - since);
        flipBack.unref();
        return;
      }
      show(
        "ok",
        open === 0 ? `listening :${listeningOn}` : open === 1 ? "1 connection" : `${open} connections`,
      );
    };
    const updateStatus = (): void => {
      if (pending) return;
      pending = setTimeout(renderStatus, Math.max(0, statusAt + STATUS_EVERY_MS - Date.now()));
      pending.unref();
    };

    const budgetSetting = (RED.settings as unknown as { mllpInFrameBudget?: unknown }).mllpInFrameBudget;
    const budgetBytes =
      budgetSetting === undefined || budgetSetting === ""
        ? DEFAULT_FRAME_BUDGET_BYTES
        : Number(budgetSetting);
    if (Number.isFinite(budgetBytes) && budgetBytes >= 0) sharedFrameBudget().setLimit(budgetBytes);
    else {
      sharedFrameBudget().setLimit(DEFAULT_FRAME_BUDGET_BYTES);
      node.warn("mllp-in: settings.mllpInFrameBudget must be a number of bytes (0: no limit); using 64 MiB");
    }

    const receiver = new MllpReceiver(
      {
        host,
        port,
        tls: tlsOptions,
        ack,
        ...limits,
        outcomeCodes,
        sharedDedupe,
      },
      {
        message(d: Delivery) {
          const hl7: Record<string, unknown> = { ...hl7Facts(d.header) };
          if (ack !== "none" && isEnhanced(d.header)) {
            // Enhanced mode: the application ACK may come from a msg that kept msg.hl7 only
            // (a durable-queue delivery), so the connection travels there too.
            hl7.acceptAckType = d.header.acceptAckType;
            hl7.applicationAckType = d.header.applicationAckType;
            hl7.session = { id: d.session.id, seq: d.session.seq };
          }
          const msg: NodeMessage & Record<string, unknown> = {
            payload: d.text,
            topic: `${d.header.type}^${d.header.event}`,
            hl7,
            _session: { ...d.session, remoteAddress: d.remoteAddress, remotePort: d.remotePort },
          };
          node.send(msg);
        },
        outcome(o) {
          reportHealth({
            integration,
            success: o.success,
            durationMs: o.durationMs,
            error: o.success ? undefined : o.error,
            source: SOURCE,
          });
        },
        rejected(r: Rejection) {
          const hl7: Record<string, unknown> = r.header ? { ...hl7Facts(r.header) } : {};
          hl7.error = { code: r.error.code, ...(r.error.details as object) };
          const msg: NodeMessage & Record<string, unknown> = { payload: r.text, hl7, _session: r.session };
          node.error(r.error, msg);
        },
        warning(code, text) {
          node.warn(`${code}: ${text}`);
        },
        connections(n) {
          open = n;
          updateStatus();
        },
        refused(reason) {
          reportRefusal({ integration, source: SOURCE, reason });
          // Idle closes are routine; a conflict is a message processed (it is warned about).
          if (reason === "idle_timeout" || reason === "dedupe_conflict") return;
          refusedCount++;
          lastRefusal = Date.now();
          updateStatus();
        },
      },
    );
    node.receiver = receiver;

    let saver: NodeJS.Timeout | undefined;
    const kept = sharedDedupe ? undefined : state?.scope("node");
    const save = (): Promise<void> => {
      if (!kept || !receiver.dedupe?.dirty) return Promise.resolve();
      return kept.set(DEDUPE_KEY, receiver.snapshotDedupe()).catch((err: Error) => {
        node.warn(`mllp-in: de-duplication state not saved: ${err.message}`);
      });
    };

    const loadDedupe = async (): Promise<void> => {
      if (!kept || !receiver.dedupe) return;
      try {
        receiver.restoreDedupe(await kept.get(DEDUPE_KEY));
      } catch (err) {
        node.warn(`mllp-in: de-duplication state not loaded: ${(err as Error).message}`);
      }
    };

    node.listening = loadDedupe()
      .then(() => receiver.start())
      .then((address) => {
        listeningOn = address.port;
        renderStatus();
        // The port actually bound (port 0 picks one), for whoever connects to it: no PHI here.
        const at = address.family === "IPv6" ? `[${address.address}]` : address.address;
        node.log(`listening on ${at}:${address.port} (node ${node.id})`);
        if (receiver.dedupe) {
          saver = setInterval(save, 5000);
          saver.unref();
        }
        return address.port;
      });
    node.listening.catch((err: NodeJS.ErrnoException) => {
      node.error(`mllp-in: cannot listen on ${host}:${port}: ${err.code ?? err.message}`);
      show("failed", err.code ?? "listen failed");
    });

    node.on("close", (removed: boolean, done: () => void) => {
      if (saver) clearInterval(saver);
      stopped = true;
      if (pending) clearTimeout(pending);
      if (flipBack) clearTimeout(flipBack);
      const saved = Promise.all([save(), receiver.sharedWritten()]).then(() => state?.release(removed));
      Promise.all([receiver.stop().then(() => status.clear(node)), saved]).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType("mllp-in", MllpIn);
};
