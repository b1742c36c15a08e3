import type { Node, NodeAPI } from "node-red";
import type { TlsOptions } from "../../lib/fhir/types";

interface TlsConfigNode extends Node {
  addTLSOptions(opts: Record<string, unknown>): Record<string, unknown>;
}

const TLS_KEYS = ["ca", "cert", "key", "passphrase", "rejectUnauthorized", "servername"] as const;

/** Keeps the options a client understands out of what core tls-config's addTLSOptions fills in. */
export function pickTls(opts: Record<string, unknown>): TlsOptions {
  const out: Record<string, unknown> = {};
  for (const k of TLS_KEYS) {
    if (opts[k] !== undefined) out[k] = opts[k];
  }
  return out as TlsOptions;
}

/** The options of the tls-config node `id` (none chosen: undefined); throws when it is missing. */
export function tlsOptionsOf(RED: NodeAPI, id: string | undefined): TlsOptions | undefined {
  if (!id) return undefined;
  const tlsNode = RED.nodes.getNode(id) as TlsConfigNode | null;
  if (!tlsNode || typeof tlsNode.addTLSOptions !== "function") {
    throw new Error("the selected tls-config node is missing");
  }
  return pickTls(tlsNode.addTLSOptions({}));
}
