import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "undici";
import type { HealthSnapshot } from "../../lib/health/monitor";
import { freePort, PACK_DIR, PIPELINES_DIR } from "../../sandbox/node-red";
import { generatePmsData, type PmsData } from "../../sandbox/pms/data";

/**
 * `npm start` end to end (issue #7): the built entry in a child process, every port and the user
 * directory from the environment, then what a user sees: the URLs, every shipped pipeline on its
 * own tab, data flowing through every integration within a bounded wait, every node of the pack
 * green in the editor, nothing logged at warn or error and no patient data in the output, and
 * Ctrl-C stopping everything with exit code 0 and every port free again.
 */

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; name?: string };
type Status = { fill?: string; shape?: string; text?: string };

const START = join(PACK_DIR, "dist", "scripts", "start.js");
const HOST = "127.0.0.1";
/** From spawning start to data in every integration and every pack node green. */
const FLOW_WAIT_MS = 120_000;
const STOP_WAIT_MS = 20_000;

/** Node-RED's own start-up notices on a fresh user dir with projects off: not the pack's. */
const CORE_WARNINGS = [/\[warn\] Projects disabled : /, /\[warn\] Encrypted credentials not found$/];

const PACK_TYPES = new Set(
  Object.keys(
    (JSON.parse(readFileSync(join(PACK_DIR, "package.json"), "utf8")) as { "node-red": { nodes: object } })[
      "node-red"
    ].nodes,
  ),
);

interface Pipeline {
  file: string;
  tab: FlowNode;
  nodes: FlowNode[];
}

function pipelines(): Pipeline[] {
  const dir = PIPELINES_DIR;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => {
      const nodes = JSON.parse(readFileSync(join(dir, file), "utf8")) as FlowNode[];
      const tabs = nodes.filter((n) => n.type === "tab");
      expect(tabs, `${file}: one tab`).to.have.length(1);
      return { file, tab: tabs[0], nodes };
    });
}

/**
 * npm start takes its ports from the environment and refuses 0 (its ports are the fixed ones the
 * README names), so they are chosen here before it starts: the one place left for freePort.
 */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort(HOST));
  return [...ports];
}

/** Whether the port can be listened on again (nothing holds it). */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** Polls `probe` until it reports no problem; on timeout fails with the last problems it reported. */
async function until(what: string, deadline: number, probe: () => Promise<string[]>): Promise<void> {
  let problems: string[] = [];
  for (;;) {
    try {
      problems = await probe();
    } catch (err) {
      problems = [`${what}: ${err instanceof Error ? err.message : String(err)}`];
    }
    if (problems.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${what}, still not so at the deadline:\n  ${problems.join("\n  ")}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { headers: { accept: "application/json", ...headers } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

/** What start seeds its PMS with (scripts/start.ts: the defaults, from two days ago). */
function seededPms(): PmsData {
  return generatePmsData({
    start: new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10) + "T08:00:00Z",
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A name or value as a whole word (letters on neither side), case as written. */
function word(text: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(text)}(?![\\p{L}\\p{N}])`, "u");
}

describe("npm start: the sandbox and Node-RED with every pipeline, end to end", function () {
  this.timeout(FLOW_WAIT_MS + STOP_WAIT_MS + 60_000);

  const shipped = pipelines();
  const shippedTabs = new Map(shipped.map((p) => [p.tab.id, p]));
  let ports: {
    nodeRed: number;
    fhir: number;
    pms: number;
    adt: number;
    siu: number;
    adtQueue: number;
    siuQueue: number;
    dft: number;
  };
  let userDir: string;
  let child: ChildProcess | undefined;
  let exited: Promise<[number | null, NodeJS.Signals | null]>;
  let startedAt = 0;
  const output: string[] = [];
  let nodeRedUrl = "";
  let downstreamPort = 0;
  let comms: WebSocket | undefined;
  const statuses = new Map<string, Status>();
  /** Red statuses seen at any time since the deploy, as "<node id>: <text>". */
  const everRed = new Set<string>();
  let deployed: FlowNode[] = [];

  /** Resolves with the first output line (from the start) that matches. */
  function waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const found = (): boolean => {
        const line = output.find((l) => pattern.test(l));
        if (!line) return false;
        clearInterval(timer);
        resolve(line);
        return true;
      };
      const end = Date.now() + timeoutMs;
      const timer = setInterval(() => {
        if (found()) return;
        if (child?.exitCode !== null || child.signalCode !== null || Date.now() > end) {
          clearInterval(timer);
          reject(new Error(`start did not print ${pattern}:\n${output.slice(-40).join("\n")}`));
        }
      }, 100);
      found();
    });
  }

  function describeNode(id: string): string {
    const node = deployed.find((n) => n.id === id);
    if (!node) return id;
    const tab = shippedTabs.get(node.z ?? "")?.tab.label ?? node.z ?? "no tab";
    return `${node.type} "${node.name || node.id}" on tab "${String(tab)}"`;
  }

  before(async function () {
    const [nodeRed, fhir, pms, adt, siu, adtQueue, siuQueue, dft] = await distinctFreePorts(8);
    ports = { nodeRed, fhir, pms, adt, siu, adtQueue, siuQueue, dft };
    userDir = mkdtempSync(join(tmpdir(), "nr-start-"));
    startedAt = Date.now();
    child = spawn(process.execPath, [START], {
      cwd: PACK_DIR,
      env: {
        ...process.env,
        NODE_RED_PORT: String(nodeRed),
        FHIR_PORT: String(fhir),
        PMS_PORT: String(pms),
        HL7_ADT_PORT: String(adt),
        HL7_SIU_PORT: String(siu),
        HL7_ADT_QUEUE_PORT: String(adtQueue),
        HL7_SIU_QUEUE_PORT: String(siuQueue),
        HL7_DFT_PORT: String(dft),
        // The demo's EHR outage would turn the health this test checks red on purpose.
        SANDBOX_EHR_OUTAGE: "off",
        NODE_RED_USER_DIR: userDir,
      },
      // Its own process group, so that Ctrl-C can be sent to the group as a terminal does.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    let partial = "";
    const onData = (chunk: Buffer): void => {
      partial += chunk.toString("utf8");
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      output.push(...lines);
      if (process.env.NODE_RED_ECHO === "1") for (const l of lines) process.stdout.write(`[start] ${l}\n`);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    await waitForLine(/Ctrl-C stops everything\./, 90_000);
    nodeRedUrl = `http://${HOST}:${nodeRed}`;
    deployed = await getJson<FlowNode[]>(`${nodeRedUrl}/flows`, { "Node-RED-API-Version": "v1" });

    // The editor's view of node status: Node-RED's comms websocket, status topics (retained).
    comms = new WebSocket(`ws://${HOST}:${nodeRed}/comms`);
    comms.addEventListener("open", () => comms?.send(JSON.stringify({ subscribe: "status/#" })));
    comms.addEventListener("message", (event) => {
      const messages = JSON.parse(String(event.data)) as Array<{ topic: string; data: Status }>;
      for (const m of messages) {
        if (!m.topic.startsWith("status/")) continue;
        const id = m.topic.slice("status/".length);
        statuses.set(id, m.data ?? {});
        if (m.data?.fill === "red") everRed.add(`${id}: ${m.data.text ?? ""}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      comms?.addEventListener("open", () => resolve());
      comms?.addEventListener("error", () => reject(new Error("cannot connect to Node-RED's /comms")));
    });
  });

  after(async function () {
    comms?.close();
    if (child?.pid) {
      // Whatever is left of start's process group (start, Node-RED) after a failure midway.
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it("prints the URLs of the editor, the FHIR server and its token endpoint, the PMS, HL7 and the dashboard; each answers", async () => {
    const text = output.join("\n");
    const base = `http://${HOST}`;
    expect(text).to.include(`Node-RED editor    ${base}:${ports.nodeRed}/`);
    expect(text).to.include(
      `FHIR R4 sandbox    ${base}:${ports.fhir}/fhir/R4   (OAuth2 token endpoint ${base}:${ports.fhir}/oauth2/token)`,
    );
    expect(text).to.include(
      `PMS simulator      ${base}:${ports.pms}   (pms-hmac signed REST API; webhooks to ${base}:${ports.nodeRed}/pms/webhooks)`,
    );
    const hl7 = /HL7 v2 over MLLP {3}ADT to :(\d+), SIU to :(\d+) every 5 s; downstream :(\d+)/.exec(text);
    expect(hl7, "the HL7 line").to.not.equal(null);
    expect([Number(hl7![1]), Number(hl7![2])]).to.deep.equal([ports.adt, ports.siu]);
    downstreamPort = Number(hl7![3]);
    expect(text).to.include(`Health dashboard   ${base}:${ports.nodeRed}/pms-ehr/health/dashboard`);
    // Nothing outside the machine: every URL it prints is on loopback.
    for (const url of text.match(/https?:\/\/[^\s/)]+/g) ?? [])
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

    expect((await fetch(`${base}:${ports.nodeRed}/`)).status, "editor").to.equal(200);
    expect((await fetch(`${base}:${ports.nodeRed}/pms-ehr/health/dashboard`)).status, "dashboard").to.equal(
      200,
    );
    expect((await fetch(`${base}:${ports.fhir}/fhir/R4/metadata`)).status, "FHIR metadata").to.equal(200);
    // The PMS API answers (401: unsigned requests are refused).
    expect((await fetch(`${base}:${ports.pms}/patients`)).status, "PMS").to.equal(401);
  });

  it("deploys every shipped pipeline (examples/pipelines/*.json) on its own tab, and nothing else", () => {
    const tabs = deployed.filter((n) => n.type === "tab");
    expect(tabs.map((t) => t.id).sort()).to.deep.equal(shipped.map((p) => p.tab.id).sort());
    const byId = new Map(deployed.map((n) => [n.id, n]));
    for (const p of shipped) {
      expect(byId.get(p.tab.id)?.label, p.file).to.equal(p.tab.label);
      for (const node of p.nodes) {
        const got = byId.get(node.id);
        expect(got, `${p.file}: node ${node.id}`).to.not.equal(undefined);
        expect(got!.type, `${p.file}: ${node.id}`).to.equal(node.type);
        if (node.type !== "tab") expect(got!.z, `${p.file}: ${node.id} on its tab`).to.equal(p.tab.id);
      }
    }
    expect(deployed.length).to.equal(shipped.reduce((n, p) => n + p.nodes.length, 0));
  });

  it("within two minutes data flows: every integration of every pipeline has calls and is healthy, the EHR holds what the pipelines wrote", async () => {
    const deadline = startedAt + FLOW_WAIT_MS;
    const expected = new Set(
      shipped.flatMap((p) =>
        p.nodes
          // capability-check reports its two systems under integrations of their own
          .flatMap((n) => [n.integration, n.fhirIntegration, n.pmsIntegration])
          .filter((i): i is string => typeof i === "string" && i !== ""),
      ),
    );
    const monitor = shipped.flatMap((p) => p.nodes).find((n) => n.type === "health-monitor");
    const healthUrl = `${nodeRedUrl}${String(monitor?.path)}`;
    await until("the health snapshot shows every integration with calls, all healthy", deadline, async () => {
      const snap = await getJson<HealthSnapshot>(healthUrl);
      const problems: string[] = [];
      for (const name of expected) {
        const i = snap.integrations[name];
        if (!i) problems.push(`${name}: no calls yet`);
        else if (i.state !== "healthy" || i.failures > 0 || i.total === 0) {
          problems.push(`${name}: ${i.state}, ${i.successes}/${i.total} ok, ${i.reasons.join("; ")}`);
        }
      }
      for (const [name, i] of Object.entries(snap.integrations)) {
        if (!expected.has(name)) problems.push(`${name}: not an integration of a shipped flow (${i.state})`);
      }
      return problems;
    });

    // A client of our own through the sandbox's open admin route (start's secrets stay in start).
    const fhirBase = `http://${HOST}:${ports.fhir}`;
    const client = { clientId: "start-test", clientSecret: "start-test-secret", scope: "system/*.read" };
    const registered = await fetch(`${fhirBase}/$sandbox/clients`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(client),
    });
    expect(registered.ok, `registering a client: ${registered.status}`).to.equal(true);
    const tokenRes = await fetch(`${fhirBase}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }).toString(),
    });
    expect(tokenRes.status).to.equal(200);
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const count = async (query: string): Promise<number> => {
      const bundle = await getJson<{ total?: number }>(`${fhirBase}/fhir/R4/${query}&_summary=count`, {
        authorization: `Bearer ${token}`,
      });
      return bundle.total ?? 0;
    };
    // batch-sync copies all of the PMS.
    const seeded = seededPms();
    await until(
      "the EHR holds the PMS's patients and visits and the pipelines' encounters and tasks",
      deadline,
      async () => {
        const want: Array<[string, string, number]> = [
          ["PMS patients", "Patient?identifier=urn:healthbridge:pms:patient|", seeded.patients.length],
          [
            "PMS appointments",
            "Appointment?identifier=urn:healthbridge:pms:appointment|",
            seeded.appointments.length,
          ],
          ["encounters of PMS visits", "Encounter?identifier=urn:healthbridge:pms:encounter|", 1],
          // An ADT^A03 from the HL7 sender finishes a visit (ehr-to-pms reports those to the PMS).
          ["finished encounters", "Encounter?status=finished", 1],
          // care-coordination's reminders before booked visits.
          ["care tasks", "Task?identifier=urn:healthbridge:care-task|", 1],
        ];
        const problems: string[] = [];
        for (const [what, query, least] of want) {
          const n = await count(query);
          if (n < least) problems.push(`${what}: ${n}, want at least ${least} (${query})`);
        }
        return problems;
      },
    );

    // One identity per PMS patient, whichever pipeline wrote it (webhooks, batch-sync, HL7): the
    // HL7 sender speaks of the PMS's own patients. (Start's random changes only touch phones.)
    const patients = await getJson<{
      entry?: Array<{
        resource: {
          identifier?: Array<{ system?: string; value?: string }>;
          name?: Array<{ family?: string }>;
        };
      }>;
    }>(`${fhirBase}/fhir/R4/Patient?identifier=urn:healthbridge:pms:patient|&_count=1000`, {
      authorization: `Bearer ${token}`,
    });
    const byId = new Map(seeded.patients.map((p) => [p.id, p]));
    const strangers: string[] = [];
    for (const { resource } of patients.entry ?? []) {
      const id = resource.identifier?.find((i) => i.system === "urn:healthbridge:pms:patient")?.value ?? "";
      const pms = byId.get(id);
      if (pms && resource.name?.[0]?.family !== pms.lastName) strangers.push(id);
    }
    expect(strangers, "EHR patients whose name is not the PMS's").to.deep.equal([]);
  });

  it("shows every status of the pack's nodes green in the editor, none red, and each pipeline at work", async () => {
    const deadline = Math.max(startedAt + FLOW_WAIT_MS, Date.now() + 15_000);
    const onShippedTab = (n: FlowNode): boolean => shippedTabs.has(n.z ?? "");
    await until("every shown status of a pack node is green", deadline, () => {
      const problems: string[] = [];
      const greenTabs = new Set<string>();
      for (const node of deployed.filter(onShippedTab)) {
        const s = statuses.get(node.id);
        if (!s?.fill) continue;
        const shown = `${describeNode(node.id)} shows ${s.fill} ${s.shape ?? ""} "${s.text ?? ""}"`;
        if (s.fill === "red" || s.fill === "yellow") {
          problems.push(shown);
          continue;
        }
        if (!PACK_TYPES.has(node.type)) continue;
        if (s.fill === "green") {
          greenTabs.add(node.z!);
          continue;
        }
        // Documented (sync-checkpoint help, "Status"): after a get, a blue dot "from <time>" shows
        // where the run reads from, and after a select a blue dot "<n> new" ("<n> new of <total>" over
        // a run of many pages) what it took, until the commit and log nodes turn green. Informational.
        const checkpointRead =
          node.type === "sync-checkpoint" &&
          s.fill === "blue" &&
          s.shape === "dot" &&
          ((node.action === "get" && /^from /.test(s.text ?? "")) ||
            (node.action === "select" && /^[\d,]+ new( of [\d,]+)?(, more)?$/.test(s.text ?? "")));
        if (!checkpointRead) problems.push(shown);
      }
      for (const p of shipped) {
        if (!greenTabs.has(p.tab.id))
          problems.push(`tab "${String(p.tab.label)}": no node of the pack shows green`);
      }
      return Promise.resolve(problems);
    });
    expect(
      [...everRed].map((r) => `${describeNode(r.split(":")[0])}:${r.split(":").slice(1).join(":")}`),
    ).to.deep.equal([], "a node showed red since the deploy");
  });

  it("stops on Ctrl-C: exit code 0, every port free again, after the HL7 senders had their ACKs", async () => {
    expect(child?.pid, "start is running").to.be.a("number");
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group (start and Node-RED).
    process.kill(-child!.pid!, "SIGINT");
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`still running ${STOP_WAIT_MS} ms after Ctrl-C`)),
        STOP_WAIT_MS,
      ).unref(),
    );
    const [code, signal] = await Promise.race([exited, timeout]);
    expect({ code, signal }, output.slice(-20).join("\n")).to.deep.equal({ code: 0, signal: null });
    let groupAlive = true;
    try {
      process.kill(-child!.pid!, 0);
    } catch {
      groupAlive = false;
    }
    expect(groupAlive, "a process of start's group (Node-RED) is left running").to.equal(false);
    for (const [name, port] of Object.entries({ ...ports, downstream: downstreamPort })) {
      expect(await portIsFree(port), `${name} port ${port} is free`).to.equal(true);
    }

    const text = output.join("\n");
    expect(text).to.match(/\nstopped\.$/m);
    const webhooks = /PMS webhooks +(\d+) delivered, (\d+) failed/.exec(text);
    expect(webhooks, "the webhook summary").to.not.equal(null);
    expect(Number(webhooks![1]), "webhooks delivered").to.be.above(0);
    expect(Number(webhooks![2]), "webhooks failed").to.equal(0);
    for (const family of ["ADT", "SIU", "DFT"]) {
      const line = new RegExp(`HL7 ${family} sender +(\\d+) sent; answers: (.*)`).exec(text);
      expect(line, `the ${family} sender summary`).to.not.equal(null);
      const answers = Object.fromEntries(
        line![2].split(", ").map((a) => [a.split(" ")[0], Number(a.split(" ")[1])] as const),
      );
      expect(answers.AA ?? 0, `${family} messages answered AA`).to.be.above(0);
      // Only AA; a message still in flight at Ctrl-C may end without an answer (MLLP_*).
      expect(
        Object.keys(answers).filter((c) => c !== "AA" && !c.startsWith("MLLP_")),
        `${family} answers: ${line![2]}`,
      ).to.deep.equal([]);
    }
    const downstream = /HL7 downstream +(\d+) received/.exec(text);
    expect(Number(downstream?.[1] ?? 0), "messages fhir-to-hl7 sent downstream").to.be.above(0);
    const charges = /PMS charges +(\d+) posted/.exec(text);
    expect(Number(charges?.[1] ?? 0), "charges posted to the PMS").to.be.above(0);
  });

  it("logged no warning or error of the pack, and no patient data, from start to stop", () => {
    const bad = output.filter(
      (l) => /\[(error|warn)\]/.test(l) && !CORE_WARNINGS.some((allowed) => allowed.test(l)),
    );
    expect(bad, "warnings and errors").to.deep.equal([]);
    expect(
      output.filter((l) => /uncaught|unhandled|^\s+at .+:\d+:\d+\)?$/i.test(l)),
      "crashes",
    ).to.deep.equal([]);

    // The seeded patients of start's PMS (and the names its random changes give new ones).
    const needles = new Set<string>();
    for (const p of seededPms().patients) {
      needles.add(`${p.firstName} ${p.lastName}`);
      needles.add(p.lastName);
      needles.add(p.dateOfBirth);
      if (p.phone) needles.add(p.phone);
      if (p.email) needles.add(p.email);
      if (p.address?.street) needles.add(p.address.street);
    }
    const text = output.join("\n");
    const found: string[] = [];
    for (const needle of needles) {
      if (!text.includes(needle)) continue;
      const pattern = word(needle);
      const line = output.find((l) => pattern.test(l));
      if (line) found.push(`${needle} in: ${line}`);
    }
    expect(found, "patient data in the output").to.deep.equal([]);
  });
});
