import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SearchRequest } from "@medplum/core";
import type { Resource } from "@medplum/fhirtypes";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { PACK_DIR } from "../../sandbox/node-red";
import { startPmsSimulator, type PmsSimulator, type PmsSimulatorOptions } from "../../sandbox/pms/server";
import type { Credentials, FlowNode, Runtime } from "../support/red-runtime";

/**
 * What the pipeline tests share: the shipped flow files, the sandbox systems with secrets made
 * per run, the credentials a deploy needs (keyed by node id), and reads of what the systems hold.
 */

export const PATIENT_SYSTEM = "urn:healthbridge:pms:patient";
export const APPOINTMENT_SYSTEM = "urn:healthbridge:pms:appointment";
export const ENCOUNTER_SYSTEM = "urn:healthbridge:pms:encounter";

export function loadPipeline(name: string): FlowNode[] {
  return JSON.parse(readFileSync(join(PACK_DIR, "flows", `${name}.json`), "utf8")) as FlowNode[];
}

export function nodeOf(flow: FlowNode[], id: string): FlowNode {
  const node = flow.find((n) => n.id === id);
  if (!node) throw new Error(`no node ${id} in the flow`);
  return node;
}

export interface Secrets {
  clientId: string;
  clientSecret: string;
  apiKey: string;
  apiSecret: string;
  webhookSecret: string;
}

export interface Services {
  fhir: FhirSandbox;
  pms?: PmsSimulator;
  secrets: Secrets;
  /** What the shipped flows read as ${VAR}. */
  env: Record<string, string>;
  /** Credentials for the flow's config and webhook nodes, keyed by node id. */
  credentials(flow: FlowNode[]): Credentials;
  close(): Promise<void>;
}

export interface ServicesOptions {
  /** false: no PMS simulator. */
  pms?: false | Omit<Partial<PmsSimulatorOptions>, "apiKey" | "apiSecret">;
}

export async function startServices(options: ServicesOptions = {}): Promise<Services> {
  const secrets: Secrets = {
    clientId: "pipeline-test",
    clientSecret: randomBytes(18).toString("base64url"),
    apiKey: `key-${randomBytes(4).toString("hex")}`,
    apiSecret: randomBytes(18).toString("base64url"),
    webhookSecret: randomBytes(18).toString("base64url"),
  };
  const fhir = await startFhirSandbox({
    auth: true,
    clients: [{ clientId: secrets.clientId, clientSecret: secrets.clientSecret, scope: "system/*.*" }],
  });
  let pms: PmsSimulator | undefined;
  if (options.pms !== false) {
    try {
      pms = await startPmsSimulator({
        seed: 7,
        patients: 12,
        appointments: 24,
        ...options.pms,
        apiKey: secrets.apiKey,
        apiSecret: secrets.apiSecret,
      });
    } catch (err) {
      await fhir.close();
      throw err;
    }
  }
  const env: Record<string, string> = {
    FHIR_BASE_URL: fhir.url,
    FHIR_TOKEN_URL: fhir.tokenUrl,
    FHIR_CLIENT_ID: secrets.clientId,
  };
  if (pms) env.PMS_BASE_URL = pms.url;
  return {
    fhir,
    pms,
    secrets,
    env,
    credentials(flow) {
      const out: Credentials = {};
      for (const node of flow) {
        if (node.type === "fhir-server") out[node.id] = { clientSecret: secrets.clientSecret };
        if (node.type === "legacy-api")
          out[node.id] = { apiKey: secrets.apiKey, apiSecret: secrets.apiSecret };
        if (node.type === "webhook-verify") out[node.id] = { secrets: secrets.webhookSecret };
      }
      return out;
    },
    async close() {
      await Promise.all([pms?.close(), fhir.close()]);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns something other than undefined/false; fails with `what` after the timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A flow context value through the admin API (undefined when not set). */
export async function flowContext<T>(rt: Runtime, tab: string, key: string): Promise<T | undefined> {
  const r = await rt.getJson<{ msg?: string }>(`/context/flow/${encodeURIComponent(tab)}/${key}`);
  return r.msg === undefined || r.msg === "(undefined)" ? undefined : (JSON.parse(r.msg) as T);
}

/** Presses an inject node's button, as the editor does. */
export async function pressInject(rt: Runtime, id: string): Promise<void> {
  const res = await fetch(`${rt.url}/inject/${encodeURIComponent(id)}`, { method: "POST" });
  if (res.status !== 200) throw new Error(`inject ${id}: ${res.status}`);
}

export type Stored = Resource & {
  identifier?: Array<{ system?: string; value?: string }>;
  meta?: { versionId?: string; lastUpdated?: string };
};

/** Every stored resource of a type. */
export function allOf(fhir: FhirSandbox, resourceType: string): Stored[] {
  return fhir.repository.match({ resourceType } as SearchRequest) as Stored[];
}

/**
 * The stored resources of a type keyed by their identifier value in `system`; fails on a
 * duplicate (two resources with one business identifier). Resources without one are left out.
 */
export function storedBy(fhir: FhirSandbox, resourceType: string, system: string): Map<string, Stored> {
  const out = new Map<string, Stored>();
  for (const r of allOf(fhir, resourceType)) {
    const value = r.identifier?.find((i) => i.system === system)?.value;
    if (value === undefined) continue;
    if (out.has(value)) throw new Error(`${resourceType} ${system}|${value} is stored twice`);
    out.set(value, r);
  }
  return out;
}

/** Lines Node-RED logged that hold any of the given texts (for "no PHI in the log" checks). */
export function logLinesWith(rt: Runtime, texts: string[]): string[] {
  return rt.logs.filter((line) => texts.some((t) => t.length > 2 && line.includes(t)));
}
