import { expect } from "chai";
import type { ChargeItem, Encounter, Subscription } from "@medplum/fhirtypes";
import { compileBuiltin } from "../../lib/mapping";
import type { PmsAppointment } from "../../lib/mapping/records";
import type { PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  allOf,
  checkPatientReference,
  danglingReferences,
  resolved,
  flowContext,
  runLog,
  packState,
  loadPipeline,
  pressInject,
  queueApi,
  startServices,
  waitFor,
  type QueueApi,
  type Services,
  type Stored,
} from "./support";

/**
 * examples/pipelines/ehr-to-pms.json in a real Node-RED against the sandbox FHIR server (seeded with finished
 * Encounters and their ChargeItems) and the PMS simulator: assertions are on the PMS's
 * appointments and charges, on the flow's run records and on its durable queue (admin API).
 */

const NAME = "ehr-to-pms";
// Runs start at start and when a test presses "every 30 s", never on the flow's own timer.
const FLOW = loadPipeline(NAME).map((n) => (n.id === `${NAME}-every` ? { ...n, repeat: "" } : n));
const TAB = `${NAME}-tab`;
const CPT = "http://www.ama-assn.org/go/cpt";

interface Run {
  seq: number;
  outcome: "ok" | "failed" | "skipped";
  code?: string;
  encounters: number;
  watermark?: string;
  advanced?: boolean;
}

const encounterMap = compileBuiltin("encounter");
const patientMap = compileBuiltin("patient");
const REFERRING = ["Patient", "Encounter", "ChargeItem", "Subscription"];

describe("pipeline ehr-to-pms", function () {
  this.timeout(60000);
  let services: Services;
  let pms: PmsSimulator;
  let rt: Runtime;
  let open: PmsAppointment[];

  const runs = async (): Promise<Run[]> => (await runLog<Run[]>(rt, TAB, "runs")) ?? [];
  const queue = (): QueueApi => queueApi(rt, `${NAME}-store`, "ehr-finished-encounters");
  const encounterOf = (appt: { id: string }): Stored & Encounter =>
    allOf(services.fhir, "Encounter").find((e) => e.identifier?.some((i) => i.value === appt.id)) as Stored &
      Encounter;
  const watermark = async (): Promise<string> => {
    const cp = await packState<{ highWater: string }>(
      rt,
      "global",
      "syncCheckpoint_ehr_2dfinished_2dencounters",
    );
    return cp!.highWater;
  };

  /** A finished Encounter for a PMS appointment, as care-coordination writes it and a clinician finishes it. */
  async function finishedEncounter(appt: PmsAppointment | { id: string }): Promise<Stored> {
    const base =
      "patientId" in appt
        ? encounterMap.toFhir(appt).value!
        : encounterMap.toFhir({ ...open[0], id: appt.id }).value!;
    return (await services.fhir.repository.createResource({
      ...(resolved(services.fhir, base) as unknown as Encounter),
      status: "finished",
    })) as Stored;
  }

  async function chargeItem(
    encounter: Stored,
    code: string,
    value?: number,
    status = "billable",
  ): Promise<Stored> {
    const item: ChargeItem = {
      resourceType: "ChargeItem",
      status: status as ChargeItem["status"],
      code: { coding: [{ system: CPT, code }], text: `CPT ${code}` },
      subject: (encounter as Stored & Encounter).subject!,
      context: { reference: `Encounter/${encounter.id}` },
    };
    if (value !== undefined) item.priceOverride = { value, currency: "USD" };
    return (await services.fhir.repository.createResource(item)) as Stored;
  }

  /** Presses "every 30 s" until a run that was not skipped (the timer's own run may hold the lease). */
  async function runOnce(): Promise<Run> {
    for (let press = 0; press < 10; press++) {
      const last = (await runs()).at(-1)?.seq ?? 0;
      await pressInject(rt, `${NAME}-every`);
      const run = await waitFor("a run", async () => (await runs()).find((r) => r.seq > last));
      if (run.outcome !== "skipped") return run;
    }
    throw new Error("10 presses in a row were skipped: the lease is never released");
  }

  const charges = (appt: PmsAppointment) =>
    pms.charges.filter((c) => c.appointmentId === appt.id).map((c) => [c.code, c.amount, c.currency]);

  before(async function () {
    services = await startServices({ pms: { patients: 12, appointments: 40 } });
    pms = services.pms!;
    open = pms.data.appointments.filter((a) => a.status === "scheduled" || a.status === "confirmed");
    expect(open.length).to.be.at.least(8);
    for (const p of pms.data.patients) {
      await services.fhir.repository.createResource(patientMap.toFhir(p).value as never);
    }
    // Seeded before Node-RED starts: its first run (at start) finds them.
    const e0 = await finishedEncounter(open[0]);
    await chargeItem(e0, "99213", 125);
    await chargeItem(e0, "36415", 15);
    await chargeItem(e0, "99000", 40, "not-billable");
    const e1 = await finishedEncounter(open[1]);
    await chargeItem(e1, "99214", 180);
    await finishedEncounter(open[2]);
    const e3 = await finishedEncounter(open[3]);
    await chargeItem(e3, "93000");
    await chargeItem(e3, "81002", 12);
    await finishedEncounter({ id: "appt-999999" });
    await services.fhir.repository.createResource<Encounter>({
      resourceType: "Encounter",
      status: "finished",
      class: { code: "AMB" },
      identifier: [{ system: "urn:other:visit", value: "V-1" }],
    });
    await services.fhir.repository.createResource<Encounter>({
      ...(resolved(services.fhir, encounterMap.toFhir(open[4]).value) as unknown as Encounter),
      status: "in-progress",
    });
    rt = await startRuntime({
      flows: FLOW,
      credentials: services.credentials(FLOW),
      env: { ...services.env, EHR_NOTIFY_URL: "http://127.0.0.1:1/ehr/notify" },
    });
  });

  after(async function () {
    await rt?.stop();
    await services?.close();
  });

  it("stores every finished encounter, then completes its PMS appointment and posts its billable charges", async function () {
    const run = await waitFor("the first complete run", async () =>
      (await runs()).find((r) => r.outcome === "ok" && r.encounters > 0),
    );
    expect(run).to.include({ encounters: 6, advanced: true });
    await queue().drained();
    const status = (a: PmsAppointment) => pms.data.appointments.find((x) => x.id === a.id)!.status;
    expect([0, 1, 2, 3].map((i) => status(open[i]))).to.deep.equal(Array(4).fill("completed"));
    expect(status(open[4])).to.not.equal("completed");
    expect(charges(open[0])).to.have.deep.members([
      ["99213", 125, "USD"],
      ["36415", 15, "USD"],
    ]);
    expect(charges(open[1])).to.deep.equal([["99214", 180, "USD"]]);
    expect(charges(open[2])).to.deep.equal([]);
    // Its first ChargeItem has no price: the encounter waits whole, as a dead letter, before its second.
    expect(charges(open[3])).to.deep.equal([]);
    for (const c of pms.charges) {
      expect(c.patientId).to.equal(pms.data.appointments.find((a) => a.id === c.appointmentId)!.patientId);
    }
    const stats = await queue().stats();
    expect(stats).to.include({ deliveredTotal: 4, deadLetters: 2 });
    const letters = await queue().deadLetters();
    const ghost = allOf(services.fhir, "Encounter").find((e) =>
      e.identifier?.some((i) => i.value === "appt-999999"),
    )!;
    expect(letters.map((l) => [l.code, l.key, l.attempts])).to.have.deep.members([
      ["MAP_REQUIRED", encounterOf(open[3]).id, 1],
      ["LEGACY_HTTP_404", ghost.id, 1],
    ]);
    expect(letters.find((l) => l.code === "MAP_REQUIRED")!.message).to.match(/priceOverride\.value/);
    // Each encounter's subject is the Patient with its PMS appointment's patient, whom the charges name.
    for (const enc of allOf(services.fhir, "Encounter") as Array<Stored & Encounter>) {
      const apptId = enc.identifier?.find((i) => i.system === "urn:healthbridge:pms:encounter")?.value;
      if (!apptId) continue;
      const appt = pms.data.appointments.find((a) => a.id === apptId) ?? open[0];
      await checkPatientReference(services, enc.subject as never, appt.patientId, `Encounter/${enc.id}`);
    }
    expect(await danglingReferences(services, REFERRING)).to.deep.equal([]);
  });

  it("posts a dead-lettered encounter's charges once it is fixed in the EHR and replayed, none twice", async function () {
    const letter = (await queue().deadLetters()).find((l) => l.code === "MAP_REQUIRED")!;
    const stored = await queue().stored<{ payload: Encounter }>(letter.id);
    expect(stored.payload.id).to.equal(encounterOf(open[3]).id);
    const unpriced = allOf(services.fhir, "ChargeItem").find(
      (c) => (c as Stored & ChargeItem).code?.coding?.[0].code === "93000",
    ) as Stored & ChargeItem;
    await services.fhir.repository.updateResource({
      ...unpriced,
      priceOverride: { value: 60, currency: "USD" },
    });
    const delivered = (await queue().stats()).deliveredTotal;
    expect(await queue().replay({ ids: [letter.id] })).to.equal(1);
    await waitFor(
      "the replay delivered",
      async () => (await queue().stats()).deliveredTotal === delivered + 1,
    );
    expect(charges(open[3])).to.have.deep.members([
      ["93000", 60, "USD"],
      ["81002", 12, "USD"],
    ]);
    expect((await queue().deadLetters()).map((l) => l.code)).to.deep.equal(["LEGACY_HTTP_404"]);
  });

  it("registers a rest-hook Subscription, and a notification starts a run at once", async function () {
    const subs = allOf(services.fhir, "Subscription") as Array<Stored & Subscription>;
    expect(subs).to.have.length(1);
    expect(subs[0].criteria).to.equal("Encounter?status=finished");
    expect(subs[0].channel).to.deep.equal({ type: "rest-hook", endpoint: "http://127.0.0.1:1/ehr/notify" });
    expect(await flowContext(rt, TAB, "notifications")).to.include({
      mode: "rest-hook",
      fhirVersion: "4.0.1",
    });

    const e5 = await finishedEncounter(open[5]);
    await chargeItem(e5, "99212", 90);
    const res = await fetch(`${rt.url}/ehr/notify`, {
      method: "POST",
      headers: { "content-type": "application/fhir+json" },
      body: "{}",
    });
    expect(res.status).to.equal(204);
    await waitFor("the notified encounter's charge", () => charges(open[5]).length === 1);
    expect(pms.data.appointments.find((a) => a.id === open[5].id)!.status).to.equal("completed");
  });

  it("never posts a charge twice, even when a finished encounter changes again", async function () {
    const before = pms.charges.length;
    const again = await runOnce();
    expect(again).to.include({ outcome: "ok", encounters: 0 });
    // A later edit to a finished encounter makes it new to the checkpoint: delivered again, charged once.
    const delivered = (await queue().stats()).deliveredTotal;
    await services.fhir.repository.updateResource({
      ...encounterOf(open[0]),
      serviceType: { text: "follow-up" },
    });
    const edited = await runOnce();
    expect(edited).to.include({ outcome: "ok", encounters: 1 });
    await waitFor(
      "the edited encounter delivered",
      async () => (await queue().stats()).deliveredTotal === delivered + 1,
    );
    expect(pms.charges.length).to.equal(before);
  });

  it("ends a run the EHR fails without moving the checkpoint, and the next run stores what it missed", async function () {
    const e6 = await finishedEncounter(open[6]);
    await chargeItem(e6, "99215", 250);
    const mark = await watermark();
    // The EHR answers the Encounter search 503 on every attempt (1 + 3 retries).
    services.fhir.faults.next(4, { status: 503, retryAfter: 0 });
    const failed = await runOnce();
    expect(failed).to.include({ outcome: "failed", code: "FHIR_HTTP_503" });
    expect(await watermark()).to.equal(mark);
    expect((await queue().stats()).depth).to.equal(0);

    const next = await runOnce();
    expect(next).to.include({ outcome: "ok", encounters: 1, advanced: true });
    await waitFor("the charge posted", () => charges(open[6]).length === 1);
    expect(charges(open[6])).to.deep.equal([["99215", 250, "USD"]]);
  });

  it("retries a delivery the EHR fails while the checkpoint moves on, and posts it once", async function () {
    const e7 = await finishedEncounter(open[7]);
    await chargeItem(e7, "99203", 210);
    const mark = await watermark();
    const injected = services.fhir.stats().faultsInjected;
    // The run's search passes; the delivery's ChargeItem search answers 503 on every attempt of the first try.
    services.fhir.faults.next(1, { delayMs: 1, after: true });
    services.fhir.faults.next(4, { status: 503, retryAfter: 0 });
    const run = await runOnce();
    expect(run).to.include({ outcome: "ok", encounters: 1, advanced: true });
    expect(await watermark()).to.not.equal(mark);
    await waitFor("the retried charge posted", () => charges(open[7]).length === 1, 30000);
    expect(services.fhir.stats().faultsInjected - injected).to.equal(5);
    expect(charges(open[7])).to.deep.equal([["99203", 210, "USD"]]);
    expect(pms.data.appointments.find((a) => a.id === open[7].id)!.status).to.equal("completed");
    await queue().drained();
    expect((await queue().deadLetters()).map((l) => l.code)).to.deep.equal(["LEGACY_HTTP_404"]);
  });

  it("does not register its Subscription again after a restart", async function () {
    await rt.deploy(FLOW, services.credentials(FLOW));
    await waitFor("the Subscription found", async () => {
      const n = await flowContext<{ subscription?: string }>(rt, TAB, "notifications");
      return n?.subscription === "existing";
    });
    expect(allOf(services.fhir, "Subscription")).to.have.length(1);
  });

  it("polls only, and says why, without an address for notifications", async function () {
    const flow = structuredClone(FLOW);
    const tab = flow.find((n) => n.type === "tab") as unknown as {
      env: Array<{ name: string; value: string; type: string }>;
    };
    tab.env.push({ name: "EHR_NOTIFY_URL", value: "", type: "str" });
    await rt.deploy(flow, services.credentials(flow));
    await waitFor("the polling decision", async () => {
      const n = await flowContext<{ mode: string; reason?: string }>(rt, TAB, "notifications");
      return n?.mode === "polling" && n;
    });
    expect(await flowContext(rt, TAB, "notifications")).to.deep.include({
      reason: "EHR_NOTIFY_URL is not set",
    });
    expect(allOf(services.fhir, "Subscription")).to.have.length(1);
  });
});
