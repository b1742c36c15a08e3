import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import type { Resource } from "@medplum/fhirtypes";
import { isAfter } from "../lib/checkpoint";
import { FhirClient } from "../lib/fhir";
import { LegacyClient } from "../lib/legacy/client";
import { compileBuiltin } from "../lib/mapping";
import { startSandbox, withSandboxCredentials, type FlowNode, type Sandbox } from "../sandbox/demo";
import { PIPELINES_DIR } from "../sandbox/node-red";
import { startRuntime, type Runtime } from "../test/support/red-runtime";

/**
 * examples/pipelines/batch-sync.json as shipped (pages of 500, batches of 100), PMS simulator -> sandbox FHIR
 * server, in a real Node-RED child process: wall time, records/s, and the Node-RED process's
 * memory (VmRSS sampled every 50 ms, and VmHWM). The baseline, in the same run on the same data
 * and an emptied server: the same sync as a plain script (lib/legacy client, the same keyset
 * paging, lib/mapping, lib/fhir FhirClient batches of 100, one at a time as the flow sends them).
 * Where the time goes: CPU seconds of the Node-RED process and of this process (sandbox with its
 * validation worker threads, and simulator), and the time Node-RED spent waiting on each
 * integration (health-monitor lifetime latency sums). Set BATCH_SYNC_LARGE=0 to skip the
 * 100,000-patient run (about a minute).
 */

const SHIPPED: FlowNode[] = JSON.parse(readFileSync(join(PIPELINES_DIR, "batch-sync.json"), "utf8"));
const TAB = SHIPPED.find((n) => n.type === "tab")!.id;
const INJECT = SHIPPED.find((n) => n.type === "inject")!.id;
const HEALTH_PATH = "/bench/batch-sync-health";
const PAGE_SIZE = 500;
const BUNDLE_SIZE = 100;

interface Run {
  seq: number;
  entity: string;
  outcome: string;
  written: number;
  startedAt: string;
  /** When the run ended (the log entry's time). */
  at: string;
  code?: string;
}

interface Scenario {
  label: string;
  patients: number;
  appointments: number;
}

interface Measured {
  records: number;
  wallS: number;
  phases: Record<string, number>;
  nodeRedCpuS?: number;
  serverCpuS: number;
  rssIdleMb?: number;
  rssPeakMb?: number;
  hwmMb?: number;
  /** Per integration: calls made and seconds waited (health-monitor lifetime figures). */
  waits?: Record<string, { calls: number; s: number }>;
  /** Resources the sandbox validated on its worker threads (the rest on its request thread). */
  judgedByWorkers: number;
}

const mb = (kb: number) => kb / 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function procStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** utime + stime of a process, in seconds. */
function procCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function cpuS(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

function benchTab(): FlowNode[] {
  const z = "b5a7bench0000000";
  return [
    { id: z, type: "tab", label: "bench: integration health" },
    {
      id: "b5a7bench0000001",
      type: "health-monitor",
      z,
      name: "",
      integrations: "",
      window: "3600",
      interval: "0",
      path: HEALTH_PATH,
      healthyRate: "0.98",
      healthyLatency: "2000",
      warningRate: "0.95",
      warningLatency: "5000",
      alertRate: "0.95",
      alertLatency: "5000",
      alertConsecutive: "5",
      latencyStat: "mean",
      minEvents: "1",
      hold: "30",
      x: 160,
      y: 80,
      wires: [[], []],
    },
  ];
}

async function runsOf(rt: Runtime): Promise<Run[]> {
  const r = await rt.getJson<{ msg?: string }>(`/context/flow/${TAB}/syncRuns`);
  return r.msg && r.msg !== "(undefined)" ? (JSON.parse(r.msg) as Run[]) : [];
}

async function flowRun(sandbox: Sandbox): Promise<Measured> {
  const judged = sandbox.fhir.validators.judgedByWorkers;
  const rt = await startRuntime({
    flows: withSandboxCredentials([...SHIPPED, ...benchTab()], sandbox),
    env: sandbox.env,
  });
  try {
    const pid = rt.process.child.pid!;
    await sleep(1000);
    const rssIdle = procStatusKb(pid, "VmRSS");
    let rssPeak = rssIdle;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, procStatusKb(pid, "VmRSS"));
    }, 50);
    const nodeRedCpu = procCpuS(pid);
    const ownCpu = process.cpuUsage();
    const started = performance.now();
    const res = await fetch(`${rt.url}/inject/${INJECT}`, { method: "POST" });
    if (res.status !== 200) throw new Error(`inject: ${res.status}`);
    let runs: Run[] = [];
    for (;;) {
      runs = await runsOf(rt);
      if (runs.some((r) => r.entity === "appointments" || r.outcome !== "ok")) break;
      await sleep(200);
    }
    const wallS = (performance.now() - started) / 1000;
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, procStatusKb(pid, "VmRSS"));
    const failed = runs.find((r) => r.outcome !== "ok");
    if (failed) throw new Error(`the ${failed.entity} run failed: ${failed.code}`);
    const health = await rt.getJson<{
      integrations: Record<string, { lifetime: { total: number; latencySumMs: number } }>;
    }>(HEALTH_PATH);
    const waits: Record<string, { calls: number; s: number }> = {};
    for (const [name, m] of Object.entries(health.integrations)) {
      waits[name] = { calls: m.lifetime.total, s: m.lifetime.latencySumMs / 1000 };
    }
    const phases: Record<string, number> = {};
    for (const r of runs) phases[r.entity] = (Date.parse(r.at) - Date.parse(r.startedAt)) / 1000;
    return {
      records: runs.reduce((n, r) => n + r.written, 0),
      wallS,
      phases,
      nodeRedCpuS: procCpuS(pid) - nodeRedCpu,
      serverCpuS: cpuS(ownCpu),
      rssIdleMb: mb(rssIdle),
      rssPeakMb: mb(rssPeak),
      hwmMb: mb(procStatusKb(pid, "VmHWM")),
      waits,
      judgedByWorkers: sandbox.fhir.validators.judgedByWorkers - judged,
    };
  } finally {
    await rt.stop();
  }
}

interface PmsRecord {
  id: string;
  updatedAt: string;
}

/** The flow's algorithm as a plain script: keyset pages of 500, mapped, sent as batches of 100, one at a time. */
async function scriptRun(sandbox: Sandbox): Promise<Measured> {
  const fhirCreds = sandbox.credentialsFor({ id: "b", type: "fhir-server", authType: "client-credentials" });
  const pmsCreds = sandbox.credentialsFor({ id: "b", type: "legacy-api" });
  const fhir = new FhirClient({
    baseUrl: sandbox.env.FHIR_BASE_URL,
    authType: "client-credentials",
    tokenUrl: sandbox.env.FHIR_TOKEN_URL,
    clientId: sandbox.env.FHIR_CLIENT_ID,
    credentials: { clientSecret: fhirCreds?.clientSecret },
  });
  const pms = new LegacyClient({ baseUrl: sandbox.env.PMS_BASE_URL, credentials: pmsCreds ?? {} });
  const judged = sandbox.fhir.validators.judgedByWorkers;
  const ownCpu = process.cpuUsage();
  const started = performance.now();
  const phases: Record<string, number> = {};
  let records = 0;
  /** As the flow's s.known: conditional reference -> literal reference of every record written. */
  const known = new Map<string, string>();
  try {
    for (const [entity, set] of [
      ["patients", "patient"],
      ["appointments", "appointment"],
    ] as const) {
      const phaseStart = performance.now();
      const mapping = compileBuiltin(set);
      let since = "1970-01-01T00:00:00.000Z";
      let cursor: string | null = null;
      let page = 1;
      for (;;) {
        const res = await pms.request({
          method: "GET",
          path: `/${entity}`,
          query: { modifiedSince: since, page, pageSize: PAGE_SIZE },
        });
        const items = (res.body as { items: PmsRecord[] }).items;
        const fresh = items.filter((r) => isAfter({ since, cursor }, r.updatedAt, r.id));
        const lastItem = items[items.length - 1];
        if (lastItem) {
          if (Date.parse(lastItem.updatedAt) === Date.parse(since)) page++;
          else {
            since = lastItem.updatedAt;
            page = 1;
          }
          cursor = lastItem.id;
        }
        const resources = fresh
          .map(
            (r) =>
              mapping.toFhir(r).value as
                { resourceType: string; identifier: Array<{ system: string; value: string }> } | undefined,
          )
          .filter((r) => r !== undefined);
        for (let i = 0; i < resources.length; i += BUNDLE_SIZE) {
          const slice = resources.slice(i, i + BUNDLE_SIZE);
          await resolveConditionalReferences(fhir, slice, known);
          const keys: string[] = [];
          const entry = slice.map((resource) => {
            const key = resource.identifier[0];
            keys.push(`${resource.resourceType}?identifier=${key.system}|${key.value}`);
            const url = `${resource.resourceType}?identifier=${encodeURIComponent(`${key.system}|${key.value}`)}`;
            return { resource, request: { method: "PUT", url } };
          });
          const out = await fhir.interaction({
            operation: "batch",
            body: { resourceType: "Bundle", type: "batch", entry },
          });
          const answered =
            (out.body as { entry?: Array<{ response?: { status?: string; location?: string } }> }).entry ??
            [];
          answered.forEach((e, i) => {
            if (!/^2/.test(e.response?.status ?? "")) return;
            records++;
            const location = /^([A-Z][A-Za-z]+)\/([^/]+)/.exec(e.response?.location ?? "");
            if (location) known.set(keys[i], `${location[1]}/${location[2]}`);
          });
        }
        if (items.length < PAGE_SIZE) break;
      }
      phases[entity] = (performance.now() - phaseStart) / 1000;
    }
  } finally {
    await Promise.all([fhir.close(), pms.close()]);
  }
  return {
    records,
    wallS: (performance.now() - started) / 1000,
    phases,
    serverCpuS: cpuS(ownCpu),
    judgedByWorkers: sandbox.fhir.validators.judgedByWorkers - judged,
  };
}

/**
 * What the flow does before a batch: the conditional references (Patient?identifier=...) of
 * records written earlier in the sync are replaced from `known`; one batch of searches finds
 * the others, each replaced by the literal reference it finds.
 */
async function resolveConditionalReferences(
  fhir: FhirClient,
  resources: object[],
  known: Map<string, string>,
): Promise<void> {
  const holders: Array<{ reference: string }> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      const ref = (value as { reference?: unknown }).reference;
      if (typeof ref === "string" && /^[A-Z][A-Za-z]+\?/.test(ref)) {
        const literal = known.get(ref);
        if (literal) (value as { reference: string }).reference = literal;
        else holders.push(value as { reference: string });
      }
      Object.values(value).forEach(walk);
    }
  };
  walk(resources);
  const searches = [...new Set(holders.map((h) => h.reference))];
  if (searches.length === 0) return;
  const out = await fhir.interaction({
    operation: "batch",
    body: {
      resourceType: "Bundle",
      type: "batch",
      entry: searches.map((url) => ({ request: { method: "GET", url: `${url}&_count=2` } })),
    },
  });
  const answers =
    (out.body as { entry?: Array<{ resource?: { entry?: Array<{ resource: Resource }> } }> }).entry ?? [];
  const target = new Map<string, string>();
  searches.forEach((search, i) => {
    const found = answers[i]?.resource?.entry ?? [];
    if (found.length === 1) target.set(search, `${found[0].resource.resourceType}/${found[0].resource.id}`);
  });
  for (const h of holders) h.reference = target.get(h.reference) ?? h.reference;
}

function counts(sandbox: Sandbox): string {
  const n = (resourceType: string) =>
    sandbox.fhir.repository.match({ resourceType } as Parameters<typeof sandbox.fhir.repository.match>[0])
      .length;
  return `${n("Patient")} Patients, ${n("Appointment")} Appointments`;
}

function rate(m: Measured): number {
  return m.records / m.wallS;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function scenarioRun(scenario: Scenario): Promise<{ flow: Measured; script: Measured }> {
  const sandbox = await startSandbox({
    pmsData: { seed: 6, patients: scenario.patients, appointments: scenario.appointments },
  });
  try {
    const flow = await flowRun(sandbox);
    const flowCounts = counts(sandbox);
    await sandbox.fhir.reset();
    const script = await scriptRun(sandbox);
    const scriptCounts = counts(sandbox);
    const expected = scenario.patients + scenario.appointments;
    if (flow.records !== expected || script.records !== expected) {
      throw new Error(`expected ${expected} records, flow ${flow.records}, script ${script.records}`);
    }

    console.log(
      `\n${scenario.label}: ${fmt(expected)} records (${flowCounts} after the flow; ${scriptCounts} after the script)`,
    );
    const row = (name: string, m: Measured) =>
      console.log(
        `  ${name.padEnd(22)}${`${fmt(m.wallS, 1)} s`.padStart(10)}${`${fmt(rate(m))} rec/s`.padStart(16)}` +
          `   ${Object.entries(m.phases)
            .map(([k, v]) => `${k} ${fmt(v, 1)} s`)
            .join(", ")}`,
      );
    row("flow (Node-RED)", flow);
    row("baseline (script)", script);
    console.log(`  ratio flow/baseline: ${fmt(flow.wallS / script.wallS, 2)} x the time`);
    console.log(
      `  Node-RED RSS: idle ${fmt(flow.rssIdleMb!)} MB, peak ${fmt(flow.rssPeakMb!)} MB ` +
        `(growth ${fmt(flow.rssPeakMb! - flow.rssIdleMb!)} MB), VmHWM ${fmt(flow.hwmMb!)} MB`,
    );
    const perRecordMs = (cpu: number) => fmt((cpu * 1000) / expected, 3);
    console.log(
      `  CPU during the flow run: Node-RED ${fmt(flow.nodeRedCpuS!, 1)} s (${perRecordMs(flow.nodeRedCpuS!)} ms/record), ` +
        `sandbox + simulator ${fmt(flow.serverCpuS, 1)} s (${perRecordMs(flow.serverCpuS)} ms/record); ` +
        `during the baseline: script + sandbox + simulator ${fmt(script.serverCpuS, 1)} s`,
    );
    console.log(
      `  sandbox validation: ${fmt(flow.judgedByWorkers)} (flow) and ${fmt(script.judgedByWorkers)} (baseline) ` +
        `of ${fmt(expected)} resources judged on its ${sandbox.fhir.validators.size} worker thread(s), the rest on its request thread`,
    );
    console.log(
      `  Node-RED waited on: ${Object.entries(flow.waits ?? {})
        .map(
          ([k, w]) => `${k} ${fmt(w.s, 1)} s (${fmt(w.calls)} calls, ${fmt((w.s * 1000) / w.calls)} ms each)`,
        )
        .join(", ")}`,
    );
    return { flow, script };
  } finally {
    await sandbox.close();
  }
}

export async function run(): Promise<void> {
  console.log(
    `batch-sync: pages of ${PAGE_SIZE}, batches of ${BUNDLE_SIZE} conditional upserts, one batch in flight; ` +
      `sandbox and simulator in this process (validation also on worker threads), Node-RED in a child; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
  );
  const small = await scenarioRun({
    label: "10,000 patients + 25,000 appointments",
    patients: 10000,
    appointments: 25000,
  });
  if (process.env.BATCH_SYNC_LARGE === "0") {
    console.log("\n100,000 patients: skipped (BATCH_SYNC_LARGE=0)");
    return;
  }
  const large = await scenarioRun({ label: "100,000 patients", patients: 100000, appointments: 0 });
  const perRecordMs = (phaseS: number, n: number) => (phaseS * 1000) / n;
  const smallMs = perRecordMs(small.flow.phases.patients, 10000);
  const largeMs = perRecordMs(large.flow.phases.patients, 100000);
  const smallScriptMs = perRecordMs(small.script.phases.patients, 10000);
  const largeScriptMs = perRecordMs(large.script.phases.patients, 100000);
  console.log(
    `\nlinearity, patients phase: flow ${fmt(smallMs, 3)} ms/record at 10,000, ${fmt(largeMs, 3)} ms/record at 100,000 ` +
      `(x${fmt(largeMs / smallMs, 2)}); baseline ${fmt(smallScriptMs, 3)} -> ${fmt(largeScriptMs, 3)} ms/record ` +
      `(x${fmt(largeScriptMs / smallScriptMs, 2)})`,
  );
}
