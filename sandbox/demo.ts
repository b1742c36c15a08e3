import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startFhirSandbox, type FhirSandbox } from "./fhir/server";
import { startHl7Receiver, type Hl7Receiver } from "./hl7/receiver";
import { startHl7Sender, type Hl7Sender } from "./hl7/sender";
import { mulberry32, type PmsData } from "./pms/data";
import { randomChange } from "./pms/main";
import { startPmsSimulator, type PmsSimulator } from "./pms/server";
import { PIPELINES_DIR } from "./node-red";

export type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string };

/** What the sandbox's traffic has done so far. */
export interface TrafficStats {
  /** Signed webhooks the PMS delivered to Node-RED, and those it gave up on. */
  webhooks: { delivered: number; failed: number };
  /** Per HL7 sender: messages sent and the answers they got (MSA-1, or the error code when none came). */
  hl7: Array<{ family: "ADT" | "SIU" | "DFT"; sent: number; answers: Record<string, number> }>;
  /** Charges the PMS holds that it did not start with (hl7-dft-to-pms, ehr-to-pms). */
  charges: number;
  /** Messages the downstream receiver got from fhir-to-hl7. */
  downstream: number;
}

/** Every service the shipped flows run against, on loopback. */
export interface Sandbox {
  fhir: FhirSandbox;
  /** The PMS simulator (HMAC-signed REST API over seeded patients and appointments). */
  pms: PmsSimulator;
  /** The downstream system of fhir-to-hl7: an MLLP listener answering AA. */
  downstream: Hl7Receiver;
  /** Environment for Node-RED: what the shipped flows read as ${VAR}. */
  env: Record<string, string>;
  /** Credentials for a config node of the given type (demo secrets made for this run). */
  credentialsFor(node: FlowNode): Record<string, string> | undefined;
  /**
   * Starts what feeds the pipelines once Node-RED listens at `nodeRedUrl`: the PMS's signed
   * webhooks to the pms-webhook-to-ehr route and a random PMS change every `changeEveryMs`,
   * and HL7 ADT, SIU and DFT senders to the listeners of the HL7 pipelines (on the ports given
   * in the options: the senders must know them, so port 0 is refused here).
   */
  startTraffic(nodeRedUrl: string, options?: { changeEveryMs?: number; hl7EveryMs?: number }): Promise<void>;
  /** What the traffic has done so far (also after close()). */
  traffic(): TrafficStats;
  close(): Promise<void>;
}

export interface SandboxOptions {
  /** 0 = ephemeral (tests); npm start uses fixed ports. */
  fhirPort?: number;
  /** 0 = ephemeral (default). */
  pmsPort?: number;
  host?: string;
  /**
   * MLLP ports the HL7 pipelines listen on. 0 (the default): each mllp-in binds a free port and
   * logs it (test/support/mllp-port.ts reads it).
   */
  hl7AdtPort?: number;
  hl7SiuPort?: number;
  /** MLLP port of hl7-dft-to-pms (0, the default: as above). */
  hl7DftPort?: number;
  /** MLLP ports of the HL7 pipelines' queue paths (AA once stored); 0 (the default): as above. */
  hl7AdtQueuePort?: number;
  hl7SiuQueuePort?: number;
  /** Seeded PMS data (see generatePmsData; defaults: seed 1, 200 patients, 500 appointments). */
  pmsData?: { seed?: number; patients?: number; appointments?: number; start?: string };
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
  let downstream: Hl7Receiver;
  try {
    downstream = await startHl7Receiver({ host, port: 0 });
  } catch (err) {
    await Promise.all([pms.close(), fhir.close()]);
    throw err;
  }
  const webhookSecret = randomBytes(24).toString("base64url");
  const adtPort = options.hl7AdtPort ?? 0;
  const siuPort = options.hl7SiuPort ?? 0;
  const dftPort = options.hl7DftPort ?? 0;
  const adtQueuePort = options.hl7AdtQueuePort ?? 0;
  const siuQueuePort = options.hl7SiuQueuePort ?? 0;
  const env: Record<string, string> = {
    FHIR_BASE_URL: fhir.url,
    FHIR_TOKEN_URL: fhir.tokenUrl,
    FHIR_CLIENT_ID: clientId,
    PMS_BASE_URL: pms.url,
    HL7_ADT_PORT: String(adtPort),
    HL7_SIU_PORT: String(siuPort),
    HL7_DFT_PORT: String(dftPort),
    HL7_ADT_QUEUE_PORT: String(adtQueuePort),
    HL7_SIU_QUEUE_PORT: String(siuQueuePort),
    HL7_DOWNSTREAM_HOST: downstream.host,
    HL7_DOWNSTREAM_PORT: String(downstream.port),
  };
  const senders: Array<{ family: "ADT" | "SIU" | "DFT"; sender: Hl7Sender }> = [];
  let changes: NodeJS.Timeout | undefined;
  return {
    fhir,
    pms,
    downstream,
    env,
    credentialsFor(node): Record<string, string> | undefined {
      if (node.type === "fhir-server" && node.authType === "client-credentials") return { clientSecret };
      if (node.type === "legacy-api") return { apiKey, apiSecret };
      if (node.type === "webhook-verify") return { secrets: webhookSecret };
      return undefined;
    },
    async startTraffic(nodeRedUrl, traffic = {}) {
      pms.configureWebhook({ url: `${nodeRedUrl}/pms/webhooks`, scheme: "pms-hmac", secret: webhookSecret });
      const every = traffic.hl7EveryMs ?? 5000;
      // The senders tell the story of the PMS's own visits (its patients and ids, as its API has
      // them), from its first completed visit on: within the first minute an ADT^A03 finishes an
      // Encounter, which ehr-to-pms then reports back to the PMS. The DFT sender bills the completed
      // visits, which hl7-dft-to-pms posts to the PMS as charges.
      const story = (): PmsData => {
        const visits = pms.data.appointments;
        const first = Math.max(
          0,
          visits.findIndex((a) => a.status === "completed"),
        );
        return { ...pms.data, appointments: [...visits.slice(first), ...visits.slice(0, first)] };
      };
      for (const [family, port] of [
        ["ADT", adtPort],
        ["SIU", siuPort],
        ["DFT", dftPort],
      ] as const) {
        if (port === 0)
          throw new Error(`startTraffic: the ${family} listener's port was left to Node-RED (0)`);
        const sender = await startHl7Sender({ host, port, intervalMs: every, only: family, source: story });
        senders.push({ family, sender });
      }
      const random = mulberry32(7);
      let busy = false;
      changes = setInterval(() => {
        if (busy) return;
        busy = true;
        randomChange(pms, random)
          .catch(() => undefined)
          .finally(() => (busy = false));
      }, traffic.changeEveryMs ?? 10000);
    },
    traffic() {
      const { webhooks } = pms.stats();
      return {
        webhooks: { delivered: webhooks.delivered, failed: webhooks.failed },
        hl7: senders.map(({ family, sender }) => {
          const answers: Record<string, number> = {};
          for (const ack of sender.acks) answers[ack.code] = (answers[ack.code] ?? 0) + 1;
          return { family, sent: sender.sent, answers };
        }),
        downstream: downstream.messages.length,
        charges: pms.charges.length,
      };
    },
    async close() {
      if (changes) clearInterval(changes);
      await Promise.all(senders.map((s) => s.sender.stop()));
      await Promise.all([pms.close(), fhir.close(), downstream.stop()]);
    },
  };
}

/** The shipped pipelines (examples/pipelines/*.json), each a tab with its nodes and config nodes. */
export function shippedFlows(dir = PIPELINES_DIR): FlowNode[] {
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
