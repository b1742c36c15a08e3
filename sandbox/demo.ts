import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startFhirSandbox, type FhirSandbox } from "./fhir/server";
import { PACK_DIR } from "./node-red";
import { startPmsSimulator, type PmsSimulator } from "./pms/server";

export type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string };

/** Every service the shipped flows run against, on loopback. */
export interface Sandbox {
  fhir: FhirSandbox;
  /** The PMS simulator (HMAC-signed REST API over seeded patients and appointments). */
  pms: PmsSimulator;
  /** Environment for Node-RED: what the shipped flows read as ${VAR}. */
  env: Record<string, string>;
  /** Credentials for a config node of the given type (demo secrets made for this run). */
  credentialsFor(node: FlowNode): Record<string, string> | undefined;
  close(): Promise<void>;
}

export interface SandboxOptions {
  /** 0 = ephemeral (tests); npm start uses fixed ports. */
  fhirPort?: number;
  /** 0 = ephemeral (default). */
  pmsPort?: number;
  host?: string;
  /** Seeded PMS data (see generatePmsData; defaults: seed 1, 200 patients, 500 appointments). */
  pmsData?: { seed?: number; patients?: number; appointments?: number };
}

/** Starts the sandbox services with secrets made for this run (nothing is read from or written to disk). */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? "127.0.0.1";
  const clientId = "node-red-demo";
  const clientSecret = randomBytes(24).toString("base64url");
  const fhir = await startFhirSandbox({
    port: options.fhirPort ?? 0,
    host,
    auth: true,
    clients: [{ clientId, clientSecret, scope: "system/*.*" }],
  });
  const apiKey = `demo-${randomBytes(6).toString("hex")}`;
  const apiSecret = randomBytes(24).toString("base64url");
  let pms: PmsSimulator;
  try {
    pms = await startPmsSimulator({
      port: options.pmsPort ?? 0,
      host,
      apiKey,
      apiSecret,
      ...options.pmsData,
    });
  } catch (err) {
    await fhir.close();
    throw err;
  }
  const env: Record<string, string> = {
    FHIR_BASE_URL: fhir.url,
    FHIR_TOKEN_URL: fhir.tokenUrl,
    FHIR_CLIENT_ID: clientId,
    PMS_BASE_URL: pms.url,
  };
  return {
    fhir,
    pms,
    env,
    credentialsFor(node): Record<string, string> | undefined {
      if (node.type === "fhir-server" && node.authType === "client-credentials") return { clientSecret };
      if (node.type === "legacy-api") return { apiKey, apiSecret };
      return undefined;
    },
    async close() {
      await Promise.all([pms.close(), fhir.close()]);
    },
  };
}

/** The shipped pipelines (flows/*.json), each a tab with its nodes and config nodes. */
export function shippedFlows(dir = join(PACK_DIR, "flows")): FlowNode[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  return files.sort().flatMap((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as FlowNode[]);
}

/**
 * The user's flows with every shipped node replaced by its shipped version: tabs the user
 * made stay, and edits to a shipped tab are replaced on the next start.
 */
export function mergeFlows(current: FlowNode[], shipped: FlowNode[]): FlowNode[] {
  const shippedIds = new Set(shipped.map((n) => n.id));
  const kept = current.filter((n) => !shippedIds.has(n.id) && !(n.z && shippedIds.has(n.z)));
  return [...kept, ...shipped];
}

/** Adds the sandbox's credentials to the config nodes that need them, for a deploy through the admin API. */
export function withSandboxCredentials(flows: FlowNode[], sandbox: Sandbox): FlowNode[] {
  return flows.map((node) => {
    const credentials = sandbox.credentialsFor(node);
    return credentials ? { ...node, credentials } : node;
  });
}
