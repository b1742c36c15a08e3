import { expect } from "chai";
import Database from "better-sqlite3";
import { join } from "node:path";
import { compileBuiltin } from "../../lib/mapping";
import type { DeliveryResult, PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  PATIENT_SYSTEM,
  allOf,
  loadPipeline,
  startServices,
  storedBy,
  webhookHeaders,
  withoutServerFields,
  waitFor,
  type Services,
  type Stored,
} from "../flows/support";

/**
 * The promise of the shipped webhook pipeline, in a real Node-RED: every event answered 2xx
 * reaches the EHR, once, across a kill -9 and a full deploy under traffic; a store that cannot
 * commit answers 503 and acknowledges nothing; a 429's Retry-After is waited out.
 */

const NAME = "pms-webhook-to-ehr";
const FLOW = loadPipeline(NAME);
const EVENTS = 400;
const patientMap = compileBuiltin("patient");

interface QueueStats {
  queue: string;
  depth: number;
  inFlight: number;
  deadLetters: number;
  deliveredTotal: number;
}

describe("store and forward: pms-webhook-to-ehr under faults, in a real Node-RED", function () {
  this.timeout(240_000);
  let services: Services;
  let pms: PmsSimulator;
  let rt: Runtime;

  /** The EHR's Patient of this PMS id once it holds this phone number. */
  const withPhone = (pmsId: string, phone: string): Stored | undefined => {
    const p = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(pmsId) as
      (Stored & { telecom?: Array<{ value?: string }> }) | undefined;
    return p?.telecom?.some((t) => t.value === phone) ? p : undefined;
  };

  const queueStats = async (): Promise<QueueStats | undefined> => {
    const body = await rt.getJson<{ stores: Array<{ id: string; queues: QueueStats[] }> }>("/pms-ehr/queues");
    return body.stores.find((s) => s.id === `${NAME}-store`)?.queues.find((q) => q.queue === "pms-webhooks");
  };

  before(async function () {
    services = await startServices({ pms: { patients: EVENTS, appointments: 1 } });
    pms = services.pms!;
    rt = await startRuntime({ flows: FLOW, credentials: services.credentials(FLOW), env: services.env });
  });

  after(async function () {
    await rt?.stop();
    await services?.close();
  });

  it("loses nothing it answered 202 across a kill -9 and a full deploy under traffic, and writes each record once", async function () {
    pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
      maxAttempts: 200,
      backoffMs: 200,
      maxBackoffMs: 1000,
      timeoutMs: 5000,
    });
    // A slow EHR, so that messages wait in the queue when the faults strike.
    services.fhir.faults.next(100_000, { delayMs: 15 });
    const results: DeliveryResult[] = [];
    const acknowledged = (): number => results.filter((r) => r.delivered).length;
    const senders = Array.from({ length: 16 }, async (_, s) => {
      for (let i = s; i < EVENTS; i += 16) {
        const r = await pms.emit("patient.updated", structuredClone(pms.data.patients[i]));
        if (r) results.push(r);
      }
    });
    const all = Promise.all(senders);

    const t0 = Date.now();
    const stage = (what: string): void =>
      console.log(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
    await waitFor("100 events answered", () => acknowledged() >= 100, 60_000);
    stage(`${acknowledged()} answered 202: kill -9`);
    const beforeKill = await queueStats();
    await rt.kill();
    const ackedAtKill = acknowledged();
    const writtenAtKill = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).size;
    await rt.restart();
    stage("restarted");
    await waitFor("250 events answered", () => acknowledged() >= 250, 90_000);
    stage(`${acknowledged()} answered 202: full deploy`);
    const beforeDeploy = await queueStats();
    await rt.deploy(FLOW, services.credentials(FLOW));
    stage("deployed");
    // What the sender's last attempts got, while some are still trying (a diagnosis if they never stop).
    const progress = setInterval(() => {
      const pending = pms.data.patients.length - results.length;
      const last: Record<string, number> = {};
      for (const r of pms.deliveries.filter((d) => !d.delivered)) {
        const k = String(r.status ?? r.error ?? "none");
        last[k] = (last[k] ?? 0) + 1;
      }
      stage(`${pending} events not finished; not delivered so far, by last answer: ${JSON.stringify(last)}`);
    }, 10_000);
    try {
      await all;
    } finally {
      clearInterval(progress);
    }
    stage(`every sender done: ${acknowledged()} answered 202`);
    services.fhir.faults.clear();

    const acked = results.filter((r) => r.delivered);
    expect(results).to.have.length(EVENTS);
    expect(acked.length, "the sender's retries got every event in").to.equal(EVENTS);
    await waitFor(
      "the queue drained",
      async () => {
        const q = await queueStats();
        return q !== undefined && q.depth === 0;
      },
      90_000,
    );
    const q = (await queueStats())!;
    expect(q.deadLetters, "dead letters").to.equal(0);

    // Every record of an answered event is in the EHR, as the PMS has it, under one resource.
    const patients = allOf(services.fhir, "Patient");
    const perIdentifier = new Map<string, number>();
    for (const p of patients) {
      const id = (p as { identifier?: Array<{ system?: string; value?: string }> }).identifier?.find(
        (i) => i.system === PATIENT_SYSTEM,
      )?.value;
      if (id) perIdentifier.set(id, (perIdentifier.get(id) ?? 0) + 1);
    }
    const stored = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
    const missing = pms.data.patients.filter((p) => !stored.has(p.id)).map((p) => p.id);
    const doubled = [...perIdentifier].filter(([, n]) => n !== 1);
    console.log(
      `      ${EVENTS} events; answered 202 before the kill: ${ackedAtKill} (EHR then held ${writtenAtKill}); ` +
        `queued at the kill: ${beforeKill?.depth}, at the deploy: ${beforeDeploy?.depth}; ` +
        `attempts by the sender: ${results.reduce((n, r) => n + r.attempts, 0)}; missing: ${missing.length}; doubled: ${doubled.length}`,
    );
    expect(beforeKill?.depth, "messages were waiting when the process was killed").to.be.greaterThan(0);
    expect(missing).to.deep.equal([]);
    expect(doubled).to.deep.equal([]);
    for (const p of pms.data.patients) {
      expect(withoutServerFields(stored.get(p.id)!)).to.deep.equal(patientMap.toFhir(p).value);
    }
  });

  it("answers 503 and stores nothing while the store cannot commit; the sender's retry is then stored and written", async function () {
    pms.configureWebhook(undefined);
    const target = pms.data.patients[17];
    const body = Buffer.from(
      JSON.stringify({
        eventType: "patient.updated",
        resourceType: "patient",
        resourceId: target.id,
        timestamp: new Date().toISOString(),
        data: target,
      }),
    );
    const post = () =>
      fetch(`${rt.url}/pms/webhooks`, {
        method: "POST",
        headers: webhookHeaders(services.secrets.webhookSecret, body),
        body,
      });
    await pms.updatePatient(target.id, { phone: "(617) 555-0142" });
    const versionBefore = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(target.id)!.meta?.versionId;
    const before = (await queueStats())!;
    const locker = new Database(join(rt.userDir, `${NAME}.db`));
    locker.pragma("busy_timeout = 0");
    locker.exec("BEGIN EXCLUSIVE");
    let refused: Response;
    try {
      refused = await post();
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    expect(refused.status).to.equal(503);
    expect(await refused.json()).to.deep.equal({ error: "service unavailable" });
    expect((await queueStats())!.deliveredTotal).to.equal(before.deliveredTotal);
    expect(storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(target.id)!.meta?.versionId).to.equal(
      versionBefore,
    );
    const retried = await post();
    expect(retried.status).to.equal(202);
    const written = await waitFor("the retried event written", () => withPhone(target.id, "(617) 555-0142"));
    expect(Number(written.meta?.versionId)).to.equal(Number(versionBefore) + 1);
  });

  it("waits out a 429's Retry-After before it tries again", async function () {
    pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
    });
    // Nothing else in flight that could take the fault.
    services.fhir.faults.clear();
    await waitFor("an idle queue", async () => (await queueStats())?.depth === 0, 60_000);
    const target = pms.data.patients[23];
    services.fhir.faults.next(1, { status: 429, retryAfter: 3 });
    const sent = Date.now();
    await pms.updatePatient(target.id, { phone: "(617) 555-0199" });
    await waitFor("the throttled write done", () => withPhone(target.id, "(617) 555-0199"), 20_000);
    // Without Retry-After the first retry comes after 0.5 to 1 s (the flow's 1 s backoff base).
    expect(Date.now() - sent).to.be.at.least(3000);
    const q = (await queueStats())!;
    expect(q.deadLetters).to.equal(0);
  });

  it("leaves a running queue alone when another flow is deployed (modified flows): a delivery in flight is not handed out again", async function () {
    pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
    });
    services.fhir.faults.clear();
    await waitFor("an idle queue", async () => (await queueStats())?.depth === 0, 60_000);
    const target = pms.data.patients[31];
    // The EHR takes 3 s over the next write: the delivery is in flight during the deploy.
    services.fhir.faults.next(1, { delayMs: 3000 });
    const before = services.fhir.stats().fhirRequests;
    await pms.updatePatient(target.id, { phone: "(617) 555-0131" });
    await waitFor("the delivery in flight", async () => (await queueStats())?.inFlight === 1);
    const current = (await (
      await fetch(`${rt.url}/flows`, { headers: { accept: "application/json" } })
    ).json()) as Array<Record<string, unknown>>;
    const other = [
      { id: "other-tab", type: "tab", label: "another flow" },
      {
        id: "other-inject",
        type: "inject",
        z: "other-tab",
        props: [],
        repeat: "",
        once: false,
        x: 100,
        y: 60,
        wires: [],
      },
    ];
    const from = rt.logs.length;
    const res = await fetch(`${rt.url}/flows`, {
      method: "POST",
      headers: { "content-type": "application/json", "Node-RED-Deployment-Type": "flows" },
      body: JSON.stringify([...current, ...other]),
    });
    expect(res.status).to.be.oneOf([200, 204]);
    await rt.waitForLog(/Started modified flows/, 30_000, from);
    expect((await queueStats())?.inFlight, "still in flight after the deploy").to.equal(1);
    await waitFor("the write", () => withPhone(target.id, "(617) 555-0131"));
    await waitFor("the queue idle", async () => (await queueStats())?.depth === 0);
    expect(services.fhir.stats().fhirRequests - before, "one FHIR write, not two").to.equal(1);
  });
});
