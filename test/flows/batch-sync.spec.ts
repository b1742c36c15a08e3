import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SearchRequest } from "@medplum/core";
import type { Resource } from "@medplum/fhirtypes";
import { storageKey, type StoredCheckpoint } from "../../lib/checkpoint";
import type { PmsPatient } from "../../lib/mapping/records";
import { startSandbox, withSandboxCredentials, type FlowNode, type Sandbox } from "../../sandbox/demo";
import { openPgStore, type PgMessageStore } from "../../lib/store/postgres";
import { PIPELINES_DIR } from "../../sandbox/node-red";
import { TIE_BOUNDARY } from "../../sandbox/pms/data";
import { startPostgres, type PgServer } from "../support/pg";
import { startRuntime, type Runtime } from "../support/red-runtime";
import { danglingReferences, expectPatientOf, packState, type FhirReader, type ReadCache } from "./support";

/**
 * examples/pipelines/batch-sync.json in a real Node-RED process, against the sandbox FHIR server and the
 * PMS simulator: every assertion is on what the two systems and the context stores hold.
 */

const SHIPPED: FlowNode[] = JSON.parse(readFileSync(join(PIPELINES_DIR, "batch-sync.json"), "utf8"));
const TAB = SHIPPED.find((n) => n.type === "tab")!.id;
const INJECT = SHIPPED.find((n) => n.type === "inject")!.id;
const PATIENT_SYSTEM = "urn:healthbridge:pms:patient";
const APPOINTMENT_SYSTEM = "urn:healthbridge:pms:appointment";
const UPDATED_AT = "https://healthbridge.example.org/fhir/StructureDefinition/pms-updated-at";

interface Run {
  seq: number;
  entity: "patients" | "appointments";
  outcome: "ok" | "failed" | "skipped";
  total: number;
  written: number;
  deadLettered: number;
  highWater?: string | null;
  cursor?: string | null;
  advanced?: boolean;
  code?: string;
}

interface DeadLetter {
  entity: string;
  id: string;
  code: string;
  message: string;
  runId: string;
  at: string;
}

/**
 * The shipped flow with some tab settings and the checkpoint lease changed, and the sandbox's
 * credentials. Its "every 15 min" timer is off: runs start when a test presses the inject.
 */
function flowFor(sandbox: Sandbox, env: Record<string, string>, lease?: string): FlowNode[] {
  const nodes = structuredClone(SHIPPED).map((n) => {
    if (n.id === INJECT) n.repeat = "";
    if (n.type === "tab") {
      const vars = n.env as Array<{ name: string; value: string }>;
      for (const v of vars) if (env[v.name] !== undefined) v.value = env[v.name];
    }
    if (n.type === "sync-checkpoint" && lease) n.lease = lease;
    return n;
  });
  return withSandboxCredentials(nodes, sandbox);
}

/** `flow/<tab>/<key>` or `global/<key>`: in the named context store, or (none named) in the pack's state file. */
async function context<T>(rt: Runtime, path: string, store?: string): Promise<T | undefined> {
  if (!store) {
    const parts = path.split("/");
    const key = parts.pop() as string;
    return packState<T>(rt, parts[0] === "flow" ? `flow:${parts[1]}` : "global", key);
  }
  const r = await rt.getJson<{ msg?: string }>(`/context/${path}?store=${store}`);
  return r.msg === undefined || r.msg === "(undefined)" ? undefined : (JSON.parse(r.msg) as T);
}

const runsOf = async (rt: Runtime, store?: string): Promise<Run[]> =>
  (await context<Run[]>(rt, `flow/${TAB}/syncRuns`, store)) ?? [];
const deadLettersOf = async (rt: Runtime, store?: string): Promise<DeadLetter[]> =>
  (await context<DeadLetter[]>(rt, `flow/${TAB}/syncDeadLetters`, store)) ?? [];
const checkpointOf = (rt: Runtime, name: string, store?: string): Promise<StoredCheckpoint | undefined> =>
  context<StoredCheckpoint>(rt, `global/${storageKey(name)}`, store);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function trigger(rt: Runtime): Promise<void> {
  const res = await fetch(`${rt.url}/inject/${INJECT}`, { method: "POST" });
  expect(res.status).to.equal(200);
}

/** Runs recorded after `afterSeq` once `done` says the batch of runs is complete. */
async function waitForRuns(
  rt: Runtime,
  afterSeq: number,
  done: (runs: Run[]) => boolean,
  store?: string,
  timeoutMs = 60000,
): Promise<Run[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const runs = (await runsOf(rt, store)).filter((r) => r.seq > afterSeq);
    if (done(runs)) return runs;
    if (Date.now() > until) throw new Error(`runs did not finish: ${JSON.stringify(runs)}`);
    await sleep(50);
  }
}

/** The appointments follow the patients only when the patients' run committed. */
const chainEnded = (runs: Run[]) => runs.some((r) => r.entity === "appointments" || r.outcome !== "ok");

/** One triggered sync (patients, then appointments unless the patients failed): its run records. */
async function sync(rt: Runtime, store?: string): Promise<Run[]> {
  const runs = await runsOf(rt, store);
  const last = runs.length ? runs[runs.length - 1].seq : 0;
  await trigger(rt);
  return waitForRuns(rt, last, chainEnded, store);
}

function byEntity(runs: Run[], entity: Run["entity"]): Run {
  const run = runs.find((r) => r.entity === entity);
  expect(run, `a ${entity} run in ${JSON.stringify(runs)}`).to.not.equal(undefined);
  return run!;
}

type Stored = Resource & {
  identifier?: Array<{ system?: string; value?: string }>;
  meta?: { versionId?: string };
};

/** The resources of a type keyed by their PMS identifier; fails on a resource without one or on a duplicate. */
function stored(sandbox: Sandbox, resourceType: "Patient" | "Appointment"): Map<string, Stored> {
  const system = resourceType === "Patient" ? PATIENT_SYSTEM : APPOINTMENT_SYSTEM;
  const all = sandbox.fhir.repository.match({ resourceType } as SearchRequest) as Stored[];
  const out = new Map<string, Stored>();
  for (const r of all) {
    const value = r.identifier?.find((i) => i.system === system)?.value;
    expect(value, `${resourceType}/${r.id} has a PMS identifier`).to.be.a("string");
    expect(out.has(value!), `${resourceType} ${value} stored once`).to.equal(false);
    out.set(value!, r);
  }
  return out;
}

/** The first stored resource with the PMS identifier (no duplicate check). */
function storedOne(sandbox: Sandbox, resourceType: "Patient", value: string): Stored | undefined {
  const all = sandbox.fhir.repository.match({ resourceType } as SearchRequest) as Stored[];
  return all.find((r) => r.identifier?.some((i) => i.system === PATIENT_SYSTEM && i.value === value));
}

function updatedAtOf(resource: Stored): string | undefined {
  const ext = (resource as { extension?: Array<{ url: string; valueInstant?: string }> }).extension;
  return ext?.find((e) => e.url === UPDATED_AT)?.valueInstant;
}

/** A client of the sandbox's FHIR server, with the credentials made for the run. */
function readerOf(sandbox: Sandbox): FhirReader {
  const secret = sandbox.credentialsFor({ id: "x", type: "fhir-server", authType: "client-credentials" });
  return {
    fhir: sandbox.fhir,
    secrets: { clientId: sandbox.env.FHIR_CLIENT_ID, clientSecret: secret!.clientSecret },
  };
}

/**
 * Every Appointment's patient reference leads (GET over HTTP) to the Patient with its PMS patient
 * id, and no stored reference leads nowhere.
 */
async function expectLinked(sandbox: Sandbox, reader: FhirReader): Promise<void> {
  const appointments = stored(sandbox, "Appointment");
  const reads: ReadCache = new Map();
  for (const a of sandbox.pms.data.appointments) {
    const appt = appointments.get(a.id);
    if (appt) await expectPatientOf(reader, appt, a.patientId, reads);
  }
  expect(await danglingReferences(reader, ["Patient", "Appointment"])).to.deep.equal([]);
}

/** The FHIR server holds exactly the PMS's records, each once, each at its current PMS version. */
function expectExactCopy(sandbox: Sandbox, except: string[] = []): void {
  const patients = stored(sandbox, "Patient");
  const appointments = stored(sandbox, "Appointment");
  const pmsPatients = sandbox.pms.data.patients;
  const pmsAppointments = sandbox.pms.data.appointments;
  expect([...patients.keys()].sort()).to.deep.equal(pmsPatients.map((p) => p.id).sort());
  expect([...appointments.keys()].sort()).to.deep.equal(pmsAppointments.map((a) => a.id).sort());
  for (const p of pmsPatients) {
    if (except.includes(p.id)) continue;
    expect(updatedAtOf(patients.get(p.id)!), `patient ${p.id} is current`).to.equal(p.updatedAt);
  }
  for (const a of pmsAppointments) {
    expect(updatedAtOf(appointments.get(a.id)!), `appointment ${a.id} is current`).to.equal(a.updatedAt);
  }
}

function newestOf<T extends { id: string; updatedAt: string }>(records: T[]): T {
  return records.reduce((best, r) => {
    const d = Date.parse(r.updatedAt) - Date.parse(best.updatedAt);
    return d > 0 || (d === 0 && r.id > best.id) ? r : best;
  });
}

function patientAt(id: string, updatedAt: string): PmsPatient {
  return { id, firstName: "Tie", lastName: "Boundary", dateOfBirth: "1990-04-01", gender: "F", updatedAt };
}

describe("examples/pipelines/batch-sync.json in a real Node-RED, PMS simulator -> sandbox FHIR server", function () {
  this.timeout(120000);
  let sandbox: Sandbox;
  let rt: Runtime;
  let reader: FhirReader;

  before(async () => {
    sandbox = await startSandbox({ pmsData: { seed: 6, patients: 420, appointments: 900 } });
    reader = readerOf(sandbox);
    rt = await startRuntime({
      flows: flowFor(sandbox, { SYNC_PAGE_SIZE: String(TIE_BOUNDARY), SYNC_RETRY_DELAY_MS: "20" }),
      env: sandbox.env,
    });
  });

  after(async () => {
    await rt?.stop();
    await sandbox?.close();
  });

  it("copies every patient and appointment once, ties across page boundaries included, and commits the newest", async () => {
    // The seeded data puts runs of records sharing one updatedAt across every page boundary.
    const p = sandbox.pms.data.patients;
    expect(p[TIE_BOUNDARY - 1].updatedAt).to.equal(p[TIE_BOUNDARY].updatedAt);
    expect(p[2 * TIE_BOUNDARY - 1].updatedAt).to.equal(p[2 * TIE_BOUNDARY].updatedAt);

    const runs = await sync(rt);
    expect(runs.map((r) => [r.entity, r.outcome])).to.deep.equal([
      ["patients", "ok"],
      ["appointments", "ok"],
    ]);
    const patients = byEntity(runs, "patients");
    expect(patients).to.include({ total: 420, written: 420, deadLettered: 0, advanced: true });
    expect(byEntity(runs, "appointments")).to.include({ total: 900, written: 900, deadLettered: 0 });
    expectExactCopy(sandbox);
    await expectLinked(sandbox, reader);

    const newest = newestOf(p);
    const cp = await checkpointOf(rt, "pms-patients");
    expect(cp).to.include({ highWater: newest.updatedAt, cursor: newest.id, lease: null });
    const newestAppt = newestOf(sandbox.pms.data.appointments);
    expect(await checkpointOf(rt, "pms-appointments")).to.include({
      highWater: newestAppt.updatedAt,
      cursor: newestAppt.id,
    });
  });

  it("writes nothing and keeps the watermark when nothing changed", async () => {
    const before = await checkpointOf(rt, "pms-patients");
    const requests = sandbox.fhir.stats().fhirRequests;
    const runs = await sync(rt);
    expect(byEntity(runs, "patients")).to.include({ outcome: "ok", written: 0, advanced: false });
    expect(byEntity(runs, "appointments")).to.include({ outcome: "ok", written: 0, advanced: false });
    expect(sandbox.fhir.stats().fhirRequests).to.equal(requests);
    expect((await checkpointOf(rt, "pms-patients"))?.highWater).to.equal(before?.highWater);
    for (const r of stored(sandbox, "Patient").values()) expect(r.meta?.versionId).to.equal("1");
  });

  it("sends only what changed, and loses no record that shares the watermark's instant", async () => {
    const changed = ["pat-00003", "pat-00150", "pat-00151", "pat-00300", "pat-00420"];
    for (const id of changed) await sandbox.pms.updatePatient(id, { phone: "(617) 555-0100" });
    await sandbox.pms.completeAppointment("appt-000010");
    // More records at one instant than a page holds: the pager must page within the instant.
    const instant = new Date().toISOString();
    for (let i = 1; i <= TIE_BOUNDARY + 10; i++) {
      sandbox.pms.data.patients.push(patientAt(`pat-9${String(i).padStart(4, "0")}`, instant));
    }

    const runs = await sync(rt);
    expect(byEntity(runs, "patients")).to.include({
      outcome: "ok",
      written: changed.length + TIE_BOUNDARY + 10,
    });
    expect(byEntity(runs, "appointments")).to.include({ outcome: "ok", written: 1 });
    expectExactCopy(sandbox);
    const patients = stored(sandbox, "Patient");
    for (const [id, r] of patients) {
      const expected = changed.includes(id) ? "2" : "1";
      expect(r.meta?.versionId, `${id} version`).to.equal(expected);
    }
    expect(await checkpointOf(rt, "pms-patients")).to.include({ highWater: instant, cursor: "pat-90060" });

    // One more record at the watermark's instant, after its cursor: the next run takes it.
    sandbox.pms.data.patients.push(patientAt("pat-90061", instant));
    const again = await sync(rt);
    expect(byEntity(again, "patients")).to.include({ outcome: "ok", written: 1 });
    expectExactCopy(sandbox);
  });

  it("dead-letters records that fail for good (mapping, 4xx entry) without holding the watermark back", async () => {
    const bad = sandbox.pms.data.patients.find((p) => p.id === "pat-00007")!;
    const before = stored(sandbox, "Patient").get("pat-00007")!;
    // A second Patient with pat-00009's identifier makes its conditional update ambiguous (412).
    const twin = await sandbox.fhir.repository.createResource({
      resourceType: "Patient",
      identifier: [{ system: PATIENT_SYSTEM, value: "pat-00009" }],
    } as Resource);
    await sandbox.pms.updatePatient("pat-00007", { dateOfBirth: "1980-02-30" });
    await sandbox.pms.updatePatient("pat-00009", { phone: "(617) 555-0109" });
    await sandbox.pms.updatePatient("pat-00008", { phone: "(617) 555-0108" });
    const newest = newestOf(sandbox.pms.data.patients);

    const runs = await sync(rt);
    expect(byEntity(runs, "patients")).to.include({
      outcome: "ok",
      written: 1,
      deadLettered: 2,
      advanced: true,
    });
    expect(await checkpointOf(rt, "pms-patients")).to.include({
      highWater: newest.updatedAt,
      cursor: newest.id,
    });

    const dead = await deadLettersOf(rt);
    expect(dead.map((d) => [d.entity, d.id, d.code, d.message])).to.deep.equal([
      ["patients", "pat-00007", "MAP_VALIDATE", "dateOfBirth: MAP_VALIDATE"],
      ["patients", "pat-00009", "FHIR_HTTP_412", "multiple-matches"],
    ]);
    const text = JSON.stringify(dead) + rt.logs.join("\n");
    for (const phi of ["1980-02-30", bad.firstName, bad.lastName, "555-0109"])
      expect(text).to.not.include(phi);
    // The refused record stays as it was on the server.
    expect(storedOne(sandbox, "Patient", "pat-00007")!.meta?.versionId).to.equal(before.meta?.versionId);

    // Fixed at the source (and the twin removed), both are written and leave the list.
    sandbox.fhir.repository.delete("Patient", twin.id!);
    await sandbox.pms.updatePatient("pat-00007", { dateOfBirth: "1980-02-28" });
    await sandbox.pms.updatePatient("pat-00009", { phone: "(617) 555-0190" });
    const fixed = await sync(rt);
    expect(byEntity(fixed, "patients")).to.include({ outcome: "ok", written: 2, deadLettered: 0 });
    expect(await deadLettersOf(rt)).to.deep.equal([]);
    expectExactCopy(sandbox);
  });

  it("dead-letters an appointment whose patient the server does not hold, or holds twice, and writes the rest of its bundle", async () => {
    const orphan = "appt-000020";
    const shared = "appt-000021";
    const other = "appt-000022";
    const before = stored(sandbox, "Appointment");
    // A patient the PMS has and the server never got (its webhook and batch both missed it), and a
    // second Patient with the identifier of another appointment's patient.
    const ghost = "pat-77777";
    const twinOf = sandbox.pms.data.appointments.find((a) => a.id === shared)!.patientId;
    const twin = await sandbox.fhir.repository.createResource({
      resourceType: "Patient",
      identifier: [{ system: PATIENT_SYSTEM, value: twinOf }],
    } as Resource);
    sandbox.pms.data.appointments.find((a) => a.id === orphan)!.patientId = ghost;
    for (const id of [orphan, shared, other]) await sandbox.pms.completeAppointment(id);

    const runs = await sync(rt);
    expect(byEntity(runs, "appointments")).to.include({ outcome: "ok", written: 1, deadLettered: 2 });
    const dead = (await deadLettersOf(rt)).filter((d) => d.entity === "appointments");
    expect(dead.map((d) => [d.id, d.code, d.message])).to.have.deep.members([
      [orphan, "SYNC_REFERENCE_NOT_FOUND", "participant[0].actor.reference: not-found"],
      [shared, "SYNC_REFERENCE_AMBIGUOUS", "participant[0].actor.reference: multiple-matches"],
    ]);
    expect(JSON.stringify(dead)).to.not.include(ghost);
    // Nothing written for the two; the third is written, linked to its patient.
    const after = stored(sandbox, "Appointment");
    for (const id of [orphan, shared])
      expect(after.get(id)!.meta?.versionId).to.equal(before.get(id)!.meta?.versionId);
    expect((after.get(other) as { status?: string }).status).to.equal("fulfilled");

    // Fixed (the twin removed, the right patient back), they are written once they change again.
    sandbox.fhir.repository.delete("Patient", twin.id!);
    const appt = sandbox.pms.data.appointments.find((a) => a.id === orphan)!;
    appt.patientId = sandbox.pms.data.appointments.find((a) => a.id === other)!.patientId;
    for (const id of [orphan, shared]) await sandbox.pms.cancelAppointment(id);
    const fixed = await sync(rt);
    expect(byEntity(fixed, "appointments")).to.include({ outcome: "ok", written: 2, deadLettered: 0 });
    expect(await deadLettersOf(rt)).to.deep.equal([]);
    expectExactCopy(sandbox);
    await expectLinked(sandbox, reader);

    // The patient lookup failing beyond the retries ends the run without a commit, as a write would.
    const before2 = await checkpointOf(rt, "pms-appointments");
    await sandbox.pms.completeAppointment("appt-000023");
    sandbox.fhir.faults.next(4, { status: 503 }); // the lookup and its 3 retries
    const failed = await sync(rt);
    expect(failed.map((r) => [r.entity, r.outcome, r.code])).to.deep.equal([
      ["patients", "ok", undefined],
      ["appointments", "failed", "FHIR_HTTP_503"],
    ]);
    expect(await checkpointOf(rt, "pms-appointments")).to.include({
      highWater: before2?.highWater,
      lease: null,
    });
    const again = await sync(rt);
    expect(byEntity(again, "appointments")).to.include({ outcome: "ok", written: 1 });
    expectExactCopy(sandbox);
  });

  it("retries a batch through transient failures, and a failure beyond the retries ends the run without a commit", async () => {
    await sandbox.pms.updatePatient("pat-00011", { phone: "(617) 555-0111" });
    const faults = sandbox.fhir.stats().faultsInjected;
    sandbox.fhir.faults.next(2, { status: 503 });
    const retried = await sync(rt);
    expect(byEntity(retried, "patients").outcome).to.equal("ok");
    expect(sandbox.fhir.stats().faultsInjected - faults).to.equal(2);
    expectExactCopy(sandbox);

    const before = await checkpointOf(rt, "pms-patients");
    const changed = ["pat-00012", "pat-00013", "pat-00014"];
    for (const id of changed) await sandbox.pms.updatePatient(id, { phone: "(617) 555-0112" });
    sandbox.fhir.faults.next(4, { status: 503 }); // the first attempt and 3 retries
    const failed = await sync(rt);
    expect(failed.map((r) => [r.entity, r.outcome, r.code])).to.deep.equal([
      ["patients", "failed", "FHIR_HTTP_503"],
    ]);
    const after = await checkpointOf(rt, "pms-patients");
    expect(after).to.include({ highWater: before?.highWater, cursor: before?.cursor, lease: null });
    const patients = stored(sandbox, "Patient");
    for (const id of changed) {
      const pms = sandbox.pms.data.patients.find((p) => p.id === id)!;
      expect(updatedAtOf(patients.get(id)!)).to.not.equal(pms.updatedAt);
    }
    expect(rt.logs.some((l) => /\[warn\].*patients run .* failed with FHIR_HTTP_503/.test(l))).to.equal(true);

    const next = await sync(rt);
    expect(byEntity(next, "patients")).to.include({ outcome: "ok", written: changed.length });
    expect(byEntity(next, "appointments")).to.include({ outcome: "ok" });
    expectExactCopy(sandbox);
  });

  it("refuses an overlapping run with CHECKPOINT_BUSY, quietly, while the first one completes", async () => {
    await sandbox.pms.updatePatient("pat-00021", { phone: "(617) 555-0121" });
    await sandbox.pms.updatePatient("pat-00022", { phone: "(617) 555-0122" });
    const runs = await runsOf(rt);
    const lastSeq = runs[runs.length - 1].seq;
    const logFrom = rt.logs.length;
    sandbox.fhir.faults.next(1, { delayMs: 1500 }); // holds the first run's first batch
    await trigger(rt);
    await trigger(rt);
    const after = await waitForRuns(rt, lastSeq, (rs) => rs.length === 3);
    expect(after.map((r) => [r.entity, r.outcome, r.code])).to.deep.equal([
      ["patients", "skipped", "CHECKPOINT_BUSY"],
      ["patients", "ok", undefined],
      ["appointments", "ok", undefined],
    ]);
    expect(after[1].written).to.equal(2);
    expectExactCopy(sandbox);
    const logs = rt.logs.slice(logFrom);
    expect(logs.filter((l) => /\[(error|warn)\]/.test(l))).to.deep.equal([]);
    expect(logs.some((l) => /\[info\].*patients run skipped/.test(l))).to.equal(true);
  });
  it("searches only for the patients it did not write itself in the same sync", async () => {
    const appointments = sandbox.pms.data.appointments;
    const [first, second] = [
      appointments[30],
      appointments.find((a) => a.patientId !== appointments[30].patientId)!,
    ];
    const requestsOf = async (change: () => Promise<unknown>) => {
      await change();
      const before = sandbox.fhir.stats().fhirRequests;
      const runs = await sync(rt);
      expect(runs.map((r) => r.outcome)).to.deep.equal(["ok", "ok"]);
      return sandbox.fhir.stats().fhirRequests - before;
    };
    // The appointment's patient is unchanged: one batch of searches finds it, one batch writes.
    expect(await requestsOf(() => sandbox.pms.completeAppointment(first.id))).to.equal(2);
    // Patient and appointment changed together: the patients run wrote it and the appointments
    // run takes its reference from that answer: one batch each, no search.
    expect(
      await requestsOf(async () => {
        await sandbox.pms.updatePatient(first.patientId, { phone: "(617) 555-0130" });
        await sandbox.pms.cancelAppointment(first.id);
      }),
    ).to.equal(2);
    // The changed patient is not the appointment's: that one is searched for.
    expect(
      await requestsOf(async () => {
        await sandbox.pms.updatePatient(first.patientId, { phone: "(617) 555-0131" });
        await sandbox.pms.completeAppointment(second.id);
      }),
    ).to.equal(3);
    expectExactCopy(sandbox);
    await expectLinked(sandbox, reader);
  });

  it("fails the run without a commit when the PMS cannot be reached (last: it stops the simulator)", async () => {
    await sandbox.pms.updatePatient("pat-00031", { phone: "(617) 555-0131" });
    const before = await checkpointOf(rt, "pms-patients");
    await sandbox.pms.close();
    const runs = await sync(rt);
    expect(runs.map((r) => [r.entity, r.outcome, r.code])).to.deep.equal([
      ["patients", "failed", "LEGACY_NETWORK"],
    ]);
    expect(await checkpointOf(rt, "pms-patients")).to.include({
      highWater: before?.highWater,
      cursor: before?.cursor,
      lease: null,
    });
  });
});

describe("examples/pipelines/batch-sync.json: kill -9 mid-sync, restart, run again", function () {
  this.timeout(180000);
  let sandbox: Sandbox;
  let rt: Runtime | undefined;

  before(async () => {
    sandbox = await startSandbox({ pmsData: { seed: 66, patients: 1200, appointments: 3000 } });
  });

  after(async () => {
    await rt?.stop();
    await sandbox?.close();
  });

  it("leaves the FHIR server with exactly the PMS's records, none duplicated, none missing", async () => {
    // localfilesystem without its cache: every context write is on disk when it completes.
    const store = "direct";
    rt = await startRuntime({
      flows: flowFor(sandbox, { SYNC_CONTEXT_STORE: store, SYNC_PAGE_SIZE: "100" }, "3"),
      env: sandbox.env,
      settings: {
        contextStorage: {
          [store]: { module: "localfilesystem", config: { cache: false, base: "context-direct" } },
        },
      },
    });
    // Slow each FHIR request a little, so that the kill lands mid-run whatever the machine's speed.
    sandbox.fhir.faults.next(10000, { delayMs: 20 });
    await trigger(rt);
    const until = Date.now() + 90000;
    while (sandbox.fhir.repository.match({ resourceType: "Appointment" } as SearchRequest).length < 500) {
      if (Date.now() > until) throw new Error("the sync did not reach the appointments");
      await sleep(10);
    }
    await rt.kill();
    sandbox.fhir.faults.clear();
    const written = sandbox.fhir.repository.match({ resourceType: "Appointment" } as SearchRequest).length;
    expect(written, "killed mid-sync").to.be.below(3000);
    expect(rt.process.child.signalCode).to.equal("SIGKILL");

    await rt.restart();
    // The patients' commit, made before the appointments began, survived the kill.
    const newestPatient = newestOf(sandbox.pms.data.patients);
    expect(await checkpointOf(rt, "pms-patients", store)).to.include({
      highWater: newestPatient.updatedAt,
      cursor: newestPatient.id,
      lease: null,
    });
    // The killed run may still hold the lease (3 s here): runs are skipped until it expires.
    let runs: Run[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      runs = await sync(rt, store);
      if (runs.some((r) => r.entity === "appointments" && r.outcome === "ok")) break;
      expect(runs.map((r) => r.outcome)).to.include("skipped");
      await sleep(500);
    }
    expect(byEntity(runs, "appointments").outcome).to.equal("ok");
    expectExactCopy(sandbox);
    const newest = newestOf(sandbox.pms.data.appointments);
    expect(await checkpointOf(rt, "pms-appointments", store)).to.include({
      highWater: newest.updatedAt,
      cursor: newest.id,
      lease: null,
    });
  });
});

describe("examples/pipelines/batch-sync.json on two Node-RED instances sharing a PostgreSQL message-store", function () {
  this.timeout(240_000);
  const SCHEMA = "batch_sync";
  const STORE = "b5a7c0de000000ff";
  /** Both instances' timers, and the min interval a little under it. */
  const TICK_S = 2;
  const LEASE_S = 15;
  let pg: PgServer | undefined;
  let sandbox: Sandbox | undefined;
  let shared: PgMessageStore | undefined;
  const runtimes: Runtime[] = [];

  before(async function () {
    pg = await startPostgres(this);
    sandbox = await startSandbox({ pmsData: { seed: 67, patients: 600, appointments: 3000 } });
    shared = openPgStore({ connectionString: pg.url, schema: SCHEMA, purgeIntervalMs: 0 });
  });

  after(async () => {
    for (const rt of runtimes) await rt.stop().catch(() => undefined);
    await shared?.close();
    await sandbox?.close();
    await pg?.destroy();
  });

  /** The shipped flow as docs/batch-sync.md says to run it on several instances, with its timer every TICK_S. */
  function sharedFlow(): FlowNode[] {
    const nodes = flowFor(
      sandbox!,
      {
        SYNC_CONTEXT_STORE: `message-store:${STORE}`,
        SYNC_MIN_INTERVAL: String(TICK_S - 0.2),
        SYNC_PAGE_SIZE: "100",
      },
      String(LEASE_S),
    );
    for (const n of nodes) if (n.id === INJECT) n.repeat = String(TICK_S);
    nodes.push({
      id: STORE,
      type: "message-store",
      name: "shared",
      backend: "postgres",
      pgHost: "127.0.0.1",
      pgPort: String(pg!.port),
      pgSchema: SCHEMA,
    });
    return nodes;
  }

  async function start(): Promise<Runtime> {
    const rt = await startRuntime({ flows: sharedFlow(), env: sandbox!.env });
    runtimes.push(rt);
    await rt.waitForLog(/PostgreSQL .* ready/, 30_000);
    return rt;
  }

  const checkpoint = async (name: string) =>
    (await shared!.getState("global", storageKey(name))) as StoredCheckpoint | undefined;
  const sharedRuns = async () =>
    ((await shared!.getState(`flow:${TAB}`, "syncRuns")) as Run[] | undefined) ?? [];
  const count = (resourceType: string) =>
    sandbox!.fhir.repository.match({ resourceType } as SearchRequest).length;

  async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  it("runs on one instance at a time; when the runner is killed mid-sync the other takes its lease and finishes: an exact copy", async () => {
    // Every FHIR request a little slower, so that the run lasts while the second instance starts.
    sandbox!.fhir.faults.next(100_000, { delayMs: 150 });
    const a = await start();
    await waitFor(
      "A's first run",
      async () => (await checkpoint("pms-patients"))?.startedAt !== undefined,
      30_000,
    );
    // B starts after A took the checkpoint: A is the runner, B's timer ticks beside it.
    const b = await start();
    await waitFor(
      "A in the appointments, B's ticks refused",
      async () =>
        count("Appointment") >= 300 &&
        (await sharedRuns()).some((r) => r.entity === "appointments" && r.outcome === "skipped"),
      60_000,
    );
    const held = (await checkpoint("pms-appointments"))?.lease;
    await a.kill();
    sandbox!.fhir.faults.clear();
    expect(held, "A held the appointments' lease at the kill").to.not.equal(null);
    expect(count("Appointment"), "killed mid-sync").to.be.below(3000);
    expect(a.process.child.signalCode).to.equal("SIGKILL");

    const newest = newestOf(sandbox!.pms.data.appointments);
    await waitFor(
      "B to take the lease over and commit the appointments",
      async () => (await checkpoint("pms-appointments"))?.highWater === newest.updatedAt,
      LEASE_S * 1000 + 60_000,
    );
    const done = (await checkpoint("pms-appointments"))!;
    expect(done.lease).to.equal(null);
    expect(done.committedRunId, "committed by another run than A's").to.not.equal(held!.runId);
    expect(Date.parse(done.committedAt!), "after A's lease ran out").to.be.at.least(
      Date.parse(held!.expiresAt),
    );
    expectExactCopy(sandbox!);
    void b;
  });

  it("with both instances' timers ticking, runs the sync once per interval between them, every run logged", async () => {
    await runtimes[0].restart();
    await runtimes[0].waitForLog(/PostgreSQL .* ready/, 30_000);
    const before = await sharedRuns();
    const from = before.at(-1)?.seq ?? 0;
    const intervals = 6;
    await sleep(intervals * TICK_S * 1000);
    const window = (await sharedRuns()).filter((r) => r.seq > from && r.entity === "patients");
    const ran = window.filter((r) => r.outcome === "ok").length;
    const skipped = window.filter((r) => r.outcome === "skipped").length;
    console.log(
      `      ${intervals} intervals of ${TICK_S} s, two timers: ${ran} runs, ${skipped} ticks skipped`,
    );
    // Each instance ticks once per interval: one tick runs, the other is refused by the min interval.
    expect(ran, "one run per interval").to.be.within(intervals - 1, intervals + 1);
    expect(skipped, "the other instance's tick skipped").to.be.within(intervals - 2, intervals + 1);
    expect(ran + skipped, "two timers' ticks, none of them lost from the log").to.be.within(
      2 * intervals - 2,
      2 * intervals + 2,
    );
    expectExactCopy(sandbox!);
  });
});
