import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SearchRequest } from "@medplum/core";
import type { Resource } from "@medplum/fhirtypes";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { PIPELINES_DIR } from "../../sandbox/node-red";
import { startPmsSimulator, type PmsSimulator, type PmsSimulatorOptions } from "../../sandbox/pms/server";
import { signWebhook } from "../../lib/webhook/schemes";
import type { Credentials, FlowNode, Runtime } from "../support/red-runtime";

/**
 * What the pipeline tests share: the shipped flow files, the sandbox systems with secrets made
 * per run, the credentials a deploy needs (keyed by node id), and reads of what the systems hold.
 */

export const PATIENT_SYSTEM = "urn:healthbridge:pms:patient";
export const APPOINTMENT_SYSTEM = "urn:healthbridge:pms:appointment";
export const ENCOUNTER_SYSTEM = "urn:healthbridge:pms:encounter";

export function loadPipeline(name: string): FlowNode[] {
  return JSON.parse(readFileSync(join(PIPELINES_DIR, `${name}.json`), "utf8")) as FlowNode[];
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

/** Headers of a pms-hmac signed `POST /pms/webhooks` carrying `body`, as the PMS signs it. */
export function webhookHeaders(secret: string, body: Buffer): Record<string, string> {
  return {
    "content-type": "application/json",
    ...signWebhook({ scheme: "pms-hmac", secret, body, method: "POST", pathWithQuery: "/pms/webhooks" }),
  };
}

/** What the EHR should hold for a record: the mapped resource (the server adds id and meta). */
export function withoutServerFields(resource: Stored): Record<string, unknown> {
  const { id: _id, meta: _meta, ...rest } = resource as Stored & Record<string, unknown>;
  return rest;
}

/**
 * A value the pack keeps in its state file (a node whose store is the durable default, on a runtime
 * whose default context store is memory), through the admin API; undefined when not set.
 */
export async function packState<T>(rt: Runtime, scope: string, key: string): Promise<T | undefined> {
  const r = await rt.getJson<{ entries: Array<{ key: string; value: unknown }> }>(
    `/pms-ehr/state/entries?scope=${encodeURIComponent(scope)}&limit=1000`,
  );
  return r.entries.find((e) => e.key === key)?.value as T | undefined;
}

/** A sync-checkpoint run log of a tab kept by the durable default: in the pack's state file. */
export async function runLog<T>(rt: Runtime, tab: string, key: string): Promise<T | undefined> {
  return packState<T>(rt, `flow:${tab}`, key);
}

/** A flow context value through the admin API (undefined when not set). */
export async function flowContext<T>(rt: Runtime, tab: string, key: string): Promise<T | undefined> {
  const r = await rt.getJson<{ msg?: string }>(`/context/flow/${encodeURIComponent(tab)}/${key}`);
  return r.msg === undefined || r.msg === "(undefined)" ? undefined : (JSON.parse(r.msg) as T);
}

/** A dead letter as the admin API lists it (ids, codes and times: no record data). */
export interface QueueLetter {
  id: number;
  code: string;
  message: string;
  key: string | null;
  attempts: number;
}

/** One durable queue of a pipeline, read and acted on through the admin API as the sidebar does. */
export interface QueueApi {
  stats(): Promise<{
    depth: number;
    inFlight: number;
    deadLetters: number;
    deliveredTotal: number;
    deadTotal: number;
  }>;
  deadLetters(): Promise<QueueLetter[]>;
  /** What a message holds (payload, topic, the pack's namespaces). */
  stored<T = Record<string, unknown>>(id: number): Promise<T>;
  /** Replays the dead letters matching `filter`; how many were replayed. */
  replay(filter?: Record<string, unknown>): Promise<number>;
  /** Waits until nothing is waiting or in flight. */
  drained(timeoutMs?: number): Promise<void>;
}

export function queueApi(rt: Runtime, store: string, queue: string): QueueApi {
  const path = `/pms-ehr/queues/${encodeURIComponent(store)}/${encodeURIComponent(queue)}`;
  const api: QueueApi = {
    async stats() {
      const listing = await rt.getJson<{
        stores: Array<{
          id: string;
          queues: Array<Awaited<ReturnType<QueueApi["stats"]>> & { queue: string }>;
        }>;
      }>("/pms-ehr/queues");
      const found = listing.stores.find((s) => s.id === store)?.queues.find((q) => q.queue === queue);
      if (!found) throw new Error(`no queue ${store}/${queue} in the listing`);
      return found;
    },
    async deadLetters() {
      return (await rt.getJson<{ letters: QueueLetter[] }>(`${path}/dead`)).letters;
    },
    async stored<T>(id: number) {
      return (await rt.getJson<{ msg: T }>(`${path}/messages/${id}`)).msg;
    },
    async replay(filter = {}) {
      const res = await fetch(`${rt.url}${path}/replay`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(filter),
      });
      if (res.status !== 200) throw new Error(`replay: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { replayed: number }).replayed;
    },
    async drained(timeoutMs = 15000) {
      await waitFor(`queue ${queue} drained`, async () => (await api.stats()).depth === 0, timeoutMs);
    },
  };
  return api;
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

const SEARCH_REFERENCE = /^([A-Z][A-Za-z]+)\?identifier=([^|&]+)\|([^&]+)$/;

/** Every Reference.reference string in a resource, with where it is. */
export function referencesIn(resource: unknown, path = ""): Array<{ path: string; reference: string }> {
  if (Array.isArray(resource)) return resource.flatMap((item, i) => referencesIn(item, `${path}[${i}]`));
  if (resource === null || typeof resource !== "object") return [];
  return Object.entries(resource as Record<string, unknown>).flatMap(([key, value]) =>
    key === "reference" && typeof value === "string"
      ? [{ path: `${path}.${key}`, reference: value }]
      : referencesIn(value, path ? `${path}.${key}` : key),
  );
}

/**
 * A mapped resource as the server stores it once a transaction resolved its conditional
 * references (`Patient?identifier=system|value` -> `Patient/<id>`); fails unless exactly one
 * stored resource has the identifier. For fixtures and for expected values.
 */
export function resolved<T>(fhir: FhirSandbox, resource: T): T {
  const copy = structuredClone(resource);
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      const obj = value as Record<string, unknown>;
      const m = typeof obj.reference === "string" ? SEARCH_REFERENCE.exec(obj.reference) : null;
      if (m) {
        const matches = allOf(fhir, m[1]).filter((r) =>
          r.identifier?.some((i) => i.system === m[2] && i.value === m[3]),
        );
        if (matches.length !== 1) throw new Error(`${obj.reference} matches ${matches.length} resources`);
        obj.reference = `${m[1]}/${matches[0].id}`;
      }
      Object.values(obj).forEach(walk);
    }
  };
  walk(copy);
  return copy;
}

/** GET over HTTP with a token of the sandbox's client, as any client of the EHR would read. */
/** What reads the sandbox FHIR server over HTTP as a client: Services, or a Sandbox's parts. */
export interface FhirReader {
  fhir: FhirSandbox;
  secrets: { clientId: string; clientSecret: string };
}

const tokens = new WeakMap<FhirReader, Promise<{ access_token: string }>>();

export async function fhirGet(services: FhirReader, path: string): Promise<{ status: number; body: Stored }> {
  const token = await (tokens.get(services) ?? fetchToken(services));
  const res = await fetch(`${services.fhir.url}/${path}`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  return { status: res.status, body: (await res.json()) as Stored };
}

function fetchToken(services: FhirReader): Promise<{ access_token: string }> {
  const token = fetch(services.fhir.tokenUrl, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${services.secrets.clientId}:${services.secrets.clientSecret}`).toString("base64")}`,
    },
    body: "grant_type=client_credentials",
  }).then((r) => r.json() as Promise<{ access_token: string }>);
  tokens.set(services, token);
  return token;
}

/**
 * What is wrong with the references the EHR holds in resources of these types: a search URI
 * stored as it came (never resolved), or a relative reference that `GET <reference>` does not
 * answer with 200. Empty when every reference resolves.
 */
export async function danglingReferences(services: FhirReader, types: string[]): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const type of types) {
    for (const r of allOf(services.fhir, type)) {
      for (const { path, reference } of referencesIn(r)) {
        const where = `${type}/${r.id} ${path}`;
        if (reference.includes("?")) problems.push(`${where}: unresolved ${reference}`);
        else if (/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(reference)) {
          const status = seen.get(reference) ?? (await fhirGet(services, reference)).status;
          seen.set(reference, status);
          if (status !== 200) problems.push(`${where}: ${reference} answers ${status}`);
        } else problems.push(`${where}: ${reference} is not a reference to a resource on this server`);
      }
    }
  }
  return problems;
}

/**
 * Checks, over HTTP, that an Appointment's patient reference leads to the Patient with the PMS
 * id: `GET <reference>` answers 200 with that identifier. The participant is found by its
 * logical identifier, which the mapping writes beside the reference.
 */
export async function expectPatientOf(
  services: FhirReader,
  appointment: Stored,
  pmsPatientId: string,
  cache?: ReadCache,
) {
  const participants = (appointment as { participant?: Array<{ actor?: Record<string, unknown> }> })
    .participant;
  const actor = participants?.find(
    (p) => (p.actor?.identifier as { system?: string } | undefined)?.system === PATIENT_SYSTEM,
  )?.actor;
  return checkPatientReference(services, actor, pmsPatientId, `Appointment/${appointment.id}`, cache);
}

/** Reads already made, by path: for checks over many resources that share their targets. */
export type ReadCache = Map<string, Promise<{ status: number; body: Stored }>>;

/** The same for a Reference element (Encounter.subject, Task.for). */
export async function checkPatientReference(
  services: FhirReader,
  ref: Record<string, unknown> | undefined,
  pmsPatientId: string,
  what: string,
  cache?: ReadCache,
): Promise<void> {
  if (typeof ref?.reference !== "string" || !/^Patient\/[^/?]+$/.test(ref.reference)) {
    throw new Error(`${what}: its patient reference is ${JSON.stringify(ref?.reference)}`);
  }
  let read = cache?.get(ref.reference);
  if (!read) {
    read = fhirGet(services, ref.reference);
    cache?.set(ref.reference, read);
  }
  const got = await read;
  if (got.status !== 200) throw new Error(`${what}: GET ${ref.reference} answers ${got.status}`);
  const ids = (got.body.identifier ?? []).filter((i) => i.system === PATIENT_SYSTEM).map((i) => i.value);
  if (ids.length !== 1 || ids[0] !== pmsPatientId) {
    throw new Error(`${what}: ${ref.reference} is PMS patient ${ids.join(",")}, not ${pmsPatientId}`);
  }
}
