/**
 * `npm start`: the sandbox services, then Node-RED 4.1 on http://127.0.0.1:1880 with this pack and
 * every shipped pipeline deployed on its own tab, the sandbox's traffic, and one run of each pipeline
 * that only runs on a long timer. Ctrl-C stops everything and prints what flowed.
 *
 * Environment: NODE_RED_PORT (1880), FHIR_PORT (8103), PMS_PORT (8104), HL7_ADT_PORT (2575),
 * HL7_SIU_PORT (2576), HL7_ADT_QUEUE_PORT (2577), HL7_SIU_QUEUE_PORT (2578), HL7_DFT_PORT (2579), NODE_RED_USER_DIR (.node-red-data),
 * SANDBOX_EHR_OUTAGE ("180,60": the sandbox EHR answers 503 from 180 s after start for 60 s; "off").
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  mergeFlows,
  shippedFlows,
  startSandbox,
  withSandboxCredentials,
  type FlowNode,
  type Sandbox,
  type TrafficStats,
} from "../sandbox/demo";
import { PACK_DIR, startNodeRed, type NodeRedProcess } from "../sandbox/node-red";

function port(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0 || value > 65535) throw new Error(`${name} is not a port`);
  return value;
}

function readFlows(file: string): FlowNode[] {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    return Array.isArray(parsed) ? (parsed as FlowNode[]) : [];
  } catch {
    return [];
  }
}

/**
 * Shipped injects that repeat on a timer but do not fire at start (batch-sync's every 15 min):
 * start presses each once after the deploy, so that every pipeline has run within a minute.
 */
function timerOnlyInjects(flows: FlowNode[]): FlowNode[] {
  return flows.filter(
    (n) =>
      n.type === "inject" &&
      n.once !== true &&
      (Number(n.repeat) > 0 || (typeof n.crontab === "string" && n.crontab !== "")),
  );
}

/** What flowed, printed on stop. */
function describeTraffic(traffic: TrafficStats): string {
  const lines = [
    `  PMS webhooks       ${traffic.webhooks.delivered} delivered, ${traffic.webhooks.failed} failed`,
    ...traffic.hl7.map((s) => {
      const answers = Object.entries(s.answers).map(([code, n]) => `${code} ${n}`);
      return `  HL7 ${s.family} sender     ${s.sent} sent; answers: ${answers.join(", ") || "none"}`;
    }),
    `  HL7 downstream     ${traffic.downstream} received`,
    `  PMS charges        ${traffic.charges} posted`,
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const outage = outageSetting();
  const userDir = resolve(process.env.NODE_RED_USER_DIR ?? join(PACK_DIR, ".node-red-data"));
  const sandbox = await startSandbox({
    fhirPort: port("FHIR_PORT", 8103),
    pmsPort: port("PMS_PORT", 8104),
    hl7AdtPort: port("HL7_ADT_PORT", 2575),
    hl7SiuPort: port("HL7_SIU_PORT", 2576),
    hl7AdtQueuePort: port("HL7_ADT_QUEUE_PORT", 2577),
    hl7SiuQueuePort: port("HL7_SIU_QUEUE_PORT", 2578),
    hl7DftPort: port("HL7_DFT_PORT", 2579),
    // Seeded from two days ago, so that some visits are still ahead (care-coordination acts on those).
    pmsData: { start: new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10) + "T08:00:00Z" },
  });
  let red: NodeRedProcess | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping Node-RED and the sandbox ...");
    await red?.stop();
    await sandbox.close();
    console.log(`${describeTraffic(sandbox.traffic())}\nstopped.`);
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  try {
    red = await startNodeRed({
      userDir,
      port: port("NODE_RED_PORT", 1880),
      env: sandbox.env,
      echo: true,
    });
    // Node-RED exits 0 when it stopped on a signal (Ctrl-C reaches it too): stop cleanly then.
    red.child.on("exit", (code) => void stop(code === 0 ? 0 : 1));
    const shipped = shippedFlows();
    const flows = mergeFlows(readFlows(join(userDir, "flows.json")), shipped);
    const deployedFrom = red.logs.length;
    const res = await fetch(`${red.url}/flows`, {
      method: "POST",
      headers: { "content-type": "application/json", "Node-RED-Deployment-Type": "full" },
      body: JSON.stringify(withSandboxCredentials(flows, sandbox)),
    });
    if (!res.ok) throw new Error(`deploying the shipped flows failed: ${res.status} ${await res.text()}`);
    // The deploy answers before the new flows run: an inject pressed earlier is not there yet (404).
    await red.waitForLog(/\[info\] Started flows/, 60_000, deployedFrom);
    // Timer-only injects (batch-sync's every 15 min) run once now, as their button in the editor
    // does, and before the webhooks start: the appointments the webhooks bring refer to their
    // patients, which the EHR must hold (an appointment whose patient it lacks is refused).
    for (const inject of timerOnlyInjects(shipped)) {
      const pressed = await fetch(`${red.url}/inject/${encodeURIComponent(inject.id)}`, { method: "POST" });
      if (!pressed.ok)
        throw new Error(`running ${String(inject.name ?? inject.id)} failed: ${pressed.status}`);
    }
    await sandbox.startTraffic(red.url);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
    return;
  }

  console.log(`
  Node-RED editor    ${red.url}/
  FHIR R4 sandbox    ${sandbox.fhir.url}   (OAuth2 token endpoint ${sandbox.fhir.tokenUrl})
  PMS simulator      ${sandbox.pms.url}   (pms-hmac signed REST API; webhooks to ${red.url}/pms/webhooks)
  HL7 v2 over MLLP   ADT to :${sandbox.env.HL7_ADT_PORT}, SIU to :${sandbox.env.HL7_SIU_PORT} every 5 s; downstream :${sandbox.downstream.port}
                     queue paths (AA once stored): ADT :${sandbox.env.HL7_ADT_QUEUE_PORT}, SIU :${sandbox.env.HL7_SIU_QUEUE_PORT}
                     charges (DFT^P03 -> PMS POST /charges): DFT :${sandbox.env.HL7_DFT_PORT}
  Health dashboard   ${red.url}/pms-ehr/health/dashboard
${outage ? `  EHR outage         in ${outage.afterS} s the sandbox EHR goes down for ${outage.forS} s (SANDBOX_EHR_OUTAGE=off to skip)\n` : ""}
  Ctrl-C stops everything.
`);
  if (outage) scheduleOutage(red.url, sandbox, outage);
}

/** SANDBOX_EHR_OUTAGE: "<after s>,<for s>" (default 180,60) or "off". */
function outageSetting(): { afterS: number; forS: number } | undefined {
  const raw = (process.env.SANDBOX_EHR_OUTAGE ?? "180,60").trim();
  if (raw === "off" || raw === "0") return undefined;
  const [afterS, forS] = raw.split(",").map((v) => Number(v.trim()));
  if (!Number.isFinite(afterS) || !Number.isFinite(forS) || afterS < 0 || forS <= 0) {
    throw new Error(`SANDBOX_EHR_OUTAGE must be "<after seconds>,<for seconds>" or "off", got "${raw}"`);
  }
  return { afterS, forS };
}

/** The webhook queue's depth and dead letters, for the outage's story (the admin API, as the sidebar reads it). */
async function webhookQueue(nodeRedUrl: string): Promise<string> {
  try {
    const res = await fetch(`${nodeRedUrl}/pms-ehr/queues`);
    const body = (await res.json()) as {
      stores: Array<{ queues: Array<{ queue: string; depth: number; deadLetters: number }> }>;
    };
    const q = body.stores.flatMap((st) => st.queues).find((x) => x.queue === "pms-webhooks");
    return q ? `${q.depth} queued, ${q.deadLetters} dead letters` : "not running";
  } catch {
    return "not reachable";
  }
}

/**
 * A sandbox EHR outage, to watch store and forward work: webhooks are still answered 202 and wait in
 * the pms-webhooks queue (editor sidebar PMS-EHR queues), then drain once the EHR is back.
 */
function scheduleOutage(
  nodeRedUrl: string,
  sandbox: Sandbox,
  outage: { afterS: number; forS: number },
): void {
  const start = setTimeout(() => {
    sandbox.fhir.faults.outage(outage.forS * 1000);
    console.log(
      `  [sandbox] EHR outage: the FHIR server answers 503 for ${outage.forS} s. Webhooks keep being answered 202 and wait in the queue.`,
    );
    const back = setTimeout(() => {
      void webhookQueue(nodeRedUrl).then((state) =>
        console.log(`  [sandbox] EHR back. Webhook queue at the end of the outage: ${state}; it drains now.`),
      );
      const after = setTimeout(() => {
        void webhookQueue(nodeRedUrl).then((state) =>
          console.log(`  [sandbox] webhook queue 30 s later: ${state}`),
        );
      }, 30_000);
      after.unref();
    }, outage.forS * 1000);
    back.unref();
  }, outage.afterS * 1000);
  start.unref();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
