import type tls from "node:tls";
import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import { reportHealth } from "../../lib/health/bus";
import { type AckMode, type Delivery, hl7Facts, MllpReceiver, type Rejection } from "../../lib/hl7";
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
  replyTimeout?: string | number;
  integration?: string;
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

function num(v: string | number | undefined, fallback: number, min = 0): number {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  return Number.isFinite(n) && n >= min ? n : fallback;
}

export = function (RED: NodeAPI) {
  function MllpIn(this: MllpInNode, def: MllpInDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: MllpInNode, def: MllpInDef): void {
    const integration = (def.integration ?? "").trim() || "hl7";
    const ack: AckMode = def.ack === "flow" || def.ack === "none" ? def.ack : "auto";
    const port = num(def.port, -1);
    const host = (def.host ?? "").trim() || "127.0.0.1";
    const store = (def.dedupeStore ?? "").trim() || undefined;

    let tlsOptions: tls.TlsOptions | undefined;
    if (def.tls) {
      const tlsNode = RED.nodes.getNode(def.tls) as TlsConfigNode | null;
      if (!tlsNode) {
        node.error("mllp-in: the TLS configuration node is missing");
        status.failed(node, "no TLS config");
        return;
      }
      tlsOptions = tlsNode.addTLSOptions({});
      // A CA plus "verify" in the TLS config means: require client certificates from that CA.
      if (tlsOptions.ca && tlsOptions.rejectUnauthorized) tlsOptions.requestCert = true;
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      node.error("mllp-in: port must be 0-65535");
      status.failed(node, "bad port");
      return;
    }

    let shown = "";
    const show = (kind: "ok" | "working" | "degraded" | "failed", text: string): void => {
      if (shown === kind + text) return;
      shown = kind + text;
      status[kind](node, text);
    };

    const receiver = new MllpReceiver(
      {
        host,
        port,
        tls: tlsOptions,
        ack,
        maxBytes: num(def.maxBytes, 10 * 1024 * 1024, 1),
        dedupeSeconds: num(def.dedupe, 0),
        idleTimeoutMs: num(def.idleTimeout, 0) * 1000,
        maxConnections: num(def.maxConnections, 0),
        replyTimeoutMs: num(def.replyTimeout, 30, 1) * 1000,
      },
      {
        message(d: Delivery) {
          const msg: NodeMessage & Record<string, unknown> = {
            payload: d.text,
            topic: `${d.header.type}^${d.header.event}`,
            hl7: hl7Facts(d.header),
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
        connections(open) {
          show("ok", open === 1 ? "1 connection" : `${open} connections`);
        },
      },
    );
    node.receiver = receiver;

    let saver: NodeJS.Timeout | undefined;
    const context = node.context();
    const save = (): void => {
      if (!receiver.dedupe?.dirty) return;
      context.set(DEDUPE_KEY, receiver.snapshotDedupe(), store, (err?: Error) => {
        if (err) node.warn(`mllp-in: de-duplication state not saved: ${err.message}`);
      });
    };

    const loadDedupe = (): Promise<void> =>
      new Promise((resolve) => {
        if (!receiver.dedupe) return resolve();
        context.get(DEDUPE_KEY, store, (err: Error | undefined, value: unknown) => {
          if (err) node.warn(`mllp-in: de-duplication state not loaded: ${err.message}`);
          else receiver.restoreDedupe(value);
          resolve();
        });
      });

    node.listening = loadDedupe()
      .then(() => receiver.start())
      .then((address) => {
        show("ok", `listening :${address.port}`);
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

    node.on("close", (_removed: boolean, done: () => void) => {
      if (saver) clearInterval(saver);
      save();
      receiver.stop().then(
        () => {
          status.clear(node);
          done();
        },
        () => done(),
      );
    });
  }

  RED.nodes.registerType("mllp-in", MllpIn);
};
