import type { CapabilitySummary } from "../fhir/types";

/**
 * A capability assessment: what an EHR (its CapabilityStatement, summarised by lib/fhir) and a
 * PMS API (read-only probes) offer, and whether each shipped pipeline has what it needs. Figures,
 * names and codes only: a probe's answer is never copied into the report, only the PMS's own
 * description of its API.
 */

/** The resources the shipped pipelines read or write. */
export const ASSESSED_RESOURCES = [
  "Patient",
  "Appointment",
  "Encounter",
  "Task",
  "ChargeItem",
  "Subscription",
];

/** One read-only call to the PMS: `GET /<resource>`, signed as every call is. */
export interface PmsProbe {
  name: string;
  resource: string;
  /** Whether the PMS checks the signature there (the others prove only that the API answers). */
  signed: boolean;
  params?: Record<string, number>;
}

export const PMS_PROBES: readonly PmsProbe[] = [
  { name: "health", resource: "health", signed: false },
  { name: "capabilities", resource: "capabilities", signed: false },
  { name: "patients", resource: "patients", params: { pageSize: 1 }, signed: true },
  { name: "appointments", resource: "appointments", params: { pageSize: 1 }, signed: true },
];

export interface ProbeResult {
  name: string;
  path: string;
  signed: boolean;
  ok: boolean;
  status?: number;
  code?: string;
  durationMs?: number;
}

export interface Need {
  pipeline: string;
  need: string;
  ok: boolean;
}

export interface EhrReport {
  ok: boolean;
  code?: string;
  status?: number;
  fhirVersion?: string;
  software?: CapabilitySummary["software"];
  formats?: string[];
  interactions?: string[];
  resourceTypes?: number;
  resources?: Record<
    string,
    { interactions: string[]; conditional: string[]; searchParams: string[] } | null
  >;
  auth?: {
    smart: boolean;
    services: string[];
    tokenUrl?: string;
    tokenEndpointAuthMethods: string[];
    scopesSupported: string[];
  };
  bulkData?: { supported: boolean; export: string[] };
  subscriptions?: CapabilitySummary["subscriptions"];
  needs?: Need[];
}

export interface PmsReport {
  probes: ProbeResult[];
  reachable: boolean;
  signedAccess: string;
  health: string;
  api: {
    name?: unknown;
    version?: unknown;
    auth?: { scheme?: unknown; encoding?: unknown; toleranceSeconds?: unknown };
    endpoints: string[];
    paging?: { page?: unknown; pageSize?: unknown; max?: unknown };
  } | null;
  webhooks: { configured: boolean; scheme?: unknown; events?: unknown[] } | string;
}

export interface Assessment {
  at: string;
  ehr?: EhrReport;
  pms?: PmsReport;
}

type Resource = CapabilitySummary["resources"][string];
const NONE: Resource = { interactions: [], searchParams: [], operations: [], conditional: [] };

/** Each pipeline's needs of the EHR, checked against its summary. */
export function pipelineNeeds(c: CapabilitySummary): Need[] {
  const res = (t: string): Resource => c.resources[t] ?? NONE;
  const can = (t: string, i: string) => res(t).interactions.includes(i);
  const cond = (t: string, i: string) => res(t).conditional.includes(i);
  const search = (t: string, p: string) => can(t, "search-type") && res(t).searchParams.includes(p);
  const system = (i: string) => c.interactions.includes(i);
  const channels = c.subscriptions.channelTypes;
  const needs: Array<[string, string, boolean]> = [
    ["pms-webhook-to-ehr", "conditional update (upsert) of Patient", cond("Patient", "update")],
    ["pms-webhook-to-ehr", "conditional update (upsert) of Appointment", cond("Appointment", "update")],
    [
      "pms-webhook-to-ehr",
      "transaction (resolves an appointment's conditional patient reference; R4 cannot say whether it does)",
      system("transaction"),
    ],
    ["batch-sync", "batch", system("batch")],
    [
      "batch-sync",
      "Patient search by identifier (an appointment's patient, found before the batch)",
      search("Patient", "identifier"),
    ],
    ["hl7-adt-to-fhir", "transaction", system("transaction")],
    [
      "hl7-adt-to-fhir",
      "conditional update of Patient and Encounter",
      cond("Patient", "update") && cond("Encounter", "update"),
    ],
    ["hl7-siu-to-fhir", "conditional update of Appointment", cond("Appointment", "update")],
    [
      "ehr-to-pms",
      "Encounter search by status and _lastUpdated",
      search("Encounter", "status") && search("Encounter", "_lastUpdated"),
    ],
    ["ehr-to-pms", "ChargeItem search by context", search("ChargeItem", "context")],
    [
      "ehr-to-pms",
      "rest-hook Subscription (optional: polling works without)",
      can("Subscription", "create") && (channels.length === 0 || channels.includes("rest-hook")),
    ],
    ["care-coordination", "transaction", system("transaction")],
    ["care-coordination", "conditional create of Task", cond("Task", "create")],
    ["care-coordination", "Encounter search by identifier", search("Encounter", "identifier")],
    [
      "fhir-to-hl7",
      "Patient and Appointment search by _lastUpdated",
      search("Patient", "_lastUpdated") && search("Appointment", "_lastUpdated"),
    ],
    [
      "fhir-to-hl7",
      "Encounter search by status and _lastUpdated",
      search("Encounter", "status") && search("Encounter", "_lastUpdated"),
    ],
    [
      "fhir-to-hl7",
      "ChargeItem search by context (a finished Encounter's charges, sent as DFT^P03)",
      search("ChargeItem", "context"),
    ],
  ];
  return needs.map(([pipeline, need, ok]) => ({ pipeline, need, ok }));
}

/** What the EHR offers, from its capability summary, with the pipelines' needs. */
export function ehrReport(c: CapabilitySummary): EhrReport {
  const resources: NonNullable<EhrReport["resources"]> = {};
  for (const t of ASSESSED_RESOURCES) {
    const r = c.resources[t];
    resources[t] = r
      ? { interactions: r.interactions, conditional: r.conditional, searchParams: r.searchParams }
      : null;
  }
  return {
    ok: true,
    fhirVersion: c.fhirVersion,
    software: c.software,
    formats: c.formats,
    interactions: c.interactions,
    resourceTypes: Object.keys(c.resources).length,
    resources,
    auth: {
      smart: c.security.smart,
      services: c.security.services,
      tokenUrl: c.security.tokenUrl,
      tokenEndpointAuthMethods: c.security.tokenEndpointAuthMethods ?? [],
      scopesSupported: c.security.scopesSupported ?? [],
    },
    bulkData: { supported: c.bulkData, export: c.bulkExport ?? [] },
    subscriptions: c.subscriptions,
    needs: pipelineNeeds(c),
  };
}

/** The EHR did not answer usefully: how (the error code, and the HTTP status when there was one). */
export function ehrFailure(code: string, status?: number): EhrReport {
  const out: EhrReport = { ok: false, code };
  if (status !== undefined && status > 0) out.status = status;
  return out;
}

/** A probe's outcome: the status of the answer, or the code (and status) of the failure. */
export function probeResult(
  probe: PmsProbe,
  outcome: { status?: number; code?: string; durationMs?: number },
): ProbeResult {
  const out: ProbeResult = {
    name: probe.name,
    path: `/${probe.resource}`,
    signed: probe.signed,
    ok: !outcome.code,
  };
  const status = outcome.status ?? (outcome.code ? httpStatusOf(outcome.code) : undefined);
  if (status !== undefined && status > 0) out.status = status;
  if (outcome.code) out.code = outcome.code;
  if (outcome.durationMs !== undefined) out.durationMs = Math.round(outcome.durationMs);
  return out;
}

function httpStatusOf(code: string): number | undefined {
  const m = /_HTTP_(\d{3})$/.exec(code);
  return m ? Number(m[1]) : undefined;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** The PMS summary from the probes' results and the answer of `GET /capabilities` (when it answered). */
export function pmsReport(probes: ProbeResult[], capabilities: unknown): PmsReport {
  const signed = probes.filter((p) => p.signed);
  const caps = obj(capabilities);
  const report: PmsReport = {
    probes,
    reachable: probes.some((p) => p.ok || p.status !== undefined),
    signedAccess: signed.every((p) => p.ok)
      ? "accepted"
      : signed.some((p) => p.status === 401)
        ? "refused (401): check the API key and secret"
        : "failed",
    health: probes.find((p) => p.name === "health")?.ok ? "ok" : "no /health",
    api: null,
    webhooks: "unknown: the PMS has no capabilities endpoint",
  };
  if (!caps) return report;
  const auth = obj(caps.auth);
  const paging = obj(caps.paging);
  const hooks = obj(caps.webhooks);
  report.api = {
    name: caps.name,
    version: caps.version,
    auth: auth && { scheme: auth.scheme, encoding: auth.encoding, toleranceSeconds: auth.toleranceSeconds },
    endpoints: (Array.isArray(caps.endpoints) ? caps.endpoints : [])
      .map(obj)
      .filter((e) => e !== undefined)
      .map((e) => `${String(e.method)} ${String(e.path)}`),
    paging: paging && { page: paging.pageParam, pageSize: paging.pageSizeParam, max: paging.maxPageSize },
  };
  report.webhooks = hooks
    ? {
        configured: !!hooks.configured,
        scheme: hooks.scheme,
        events: Array.isArray(hooks.events) ? hooks.events : [],
      }
    : { configured: false };
  return report;
}

/** The status a node shows for an assessment: how bad, and a short text. */
export function assessmentStatus(a: Assessment): { kind: "ok" | "degraded" | "failed"; text: string } {
  const parts: string[] = [];
  let bad = false;
  let unmet = 0;
  if (a.ehr) {
    parts.push(a.ehr.ok ? `FHIR ${a.ehr.fhirVersion ?? "?"}` : `EHR ${a.ehr.code}`);
    if (!a.ehr.ok) bad = true;
    else unmet = (a.ehr.needs ?? []).filter((n) => !n.ok).length;
  }
  if (a.pms) {
    const probes = a.pms.probes;
    parts.push(`PMS ${probes.filter((p) => p.ok).length}/${probes.length}`);
    if (probes.some((p) => p.signed && !p.ok)) bad = true;
  }
  return { kind: bad ? "failed" : unmet > 0 ? "degraded" : "ok", text: parts.join(", ") };
}
