/* eslint-disable @typescript-eslint/no-explicit-any -- messages and FHIR resources are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import type { SearchRequest } from "@medplum/core";
import type { Resource } from "@medplum/fhirtypes";
import fhirServerNode from "../../nodes/fhir-server/fhir-server";
import fhirRequestNode from "../../nodes/fhir-request/fhir-request";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";

/**
 * fhir-request upsert in Bundles (batch and transaction) against the sandbox FHIR server: what
 * the server holds after each message, the requests it took, and msg.fhir's per-entry results.
 */

helper.init(require.resolve("node-red"));

const TAB = "tab-bundles";
const PATIENTS = "urn:test:patient";
const APPOINTMENTS = "urn:test:appointment";

type Msg = Record<string, any>;

let sandbox: FhirSandbox;
const sink = new EventEmitter();
const statuses = new Map<string, Array<{ fill?: string; shape?: string; text?: string }>>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: { text?: string } }) => {
  statuses.set(e.id, [...(statuses.get(e.id) ?? []), e.status]);
});

function patient(value: string, family = "Chalmers"): Msg {
  return { resourceType: "Patient", identifier: [{ system: PATIENTS, value }], name: [{ family }] };
}

function appointment(value: string, patientRef: string): Msg {
  return {
    resourceType: "Appointment",
    identifier: [{ system: APPOINTMENTS, value }],
    status: "booked",
    start: "2026-01-05T09:00:00Z",
    end: "2026-01-05T09:30:00Z",
    participant: [{ actor: { reference: patientRef }, status: "accepted" }],
  };
}

const ref = (value: string) => `Patient?identifier=${PATIENTS}|${value}`;

async function load(requests: Msg[]): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "bundles" },
    {
      id: "srv",
      type: "fhir-server",
      baseUrl: sandbox.url,
      fhirVersion: "4.0.1",
      authType: "none",
      timeout: "5000",
      retries: "2",
      maxConcurrent: "4",
      tls: "",
    },
    ...requests.map((r) => ({
      z: TAB,
      x: 0,
      y: 0,
      type: "fhir-request",
      server: "srv",
      operation: "upsert",
      resourceType: "",
      bundle: "batch",
      bundleSize: "100",
      integration: "bundles-test",
      wires: [["out"]],
      ...r,
    })),
    { id: "out", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]], x: 0, y: 0 },
    { id: "caught", type: "helper", z: TAB },
  ];
  await helper.load([fhirServerNode, fhirRequestNode], flow as any);
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

function exchange(id: string, msg: Msg): Promise<{ out?: Msg; caught?: Msg }> {
  return new Promise((resolve) => {
    const finish = (r: { out?: Msg; caught?: Msg }) => {
      sink.removeAllListeners();
      resolve(r);
    };
    sink.on("out", (m: Msg) => finish({ out: m }));
    sink.on("caught", (m: Msg) => finish({ caught: m }));
    helper.getNode(id).receive(msg);
  });
}

async function ok(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  if (r.caught) throw new Error(`${id} failed: ${r.caught.error?.code} ${r.caught.error?.message}`);
  return r.out!;
}

async function fails(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  if (!r.caught) throw new Error(`${id} unexpectedly succeeded: ${JSON.stringify(r.out?.fhir)}`);
  return r.caught;
}

type Stored = Resource & { identifier?: Array<{ system?: string; value?: string }>; meta?: any };

/** The stored resources of a type by identifier value; fails on a duplicate. */
function stored(resourceType: "Patient" | "Appointment"): Map<string, Stored> {
  const all = sandbox.repository.match({ resourceType } as SearchRequest) as Stored[];
  const out = new Map<string, Stored>();
  for (const r of all) {
    const value = r.identifier?.[0]?.value ?? "";
    expect(out.has(value), `${resourceType} ${value} stored once`).to.equal(false);
    out.set(value, r);
  }
  return out;
}

describe("fhir-request upsert in Bundles against the sandbox FHIR server", function () {
  this.timeout(20000);

  before(async () => {
    sandbox = await startFhirSandbox({ port: 0 });
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    await sandbox.reset();
    statuses.clear();
  });
  afterEach(async () => {
    sandbox.faults.clear();
    sink.removeAllListeners();
    await helper.unload();
  });

  it("batch: writes an array in Bundles of bundle size, reports each record, and maps its reference", async () => {
    await load([{ id: "up", bundleSize: "2" }]);
    const before = sandbox.stats().fhirRequests;
    const payload = ["P-1", "P-2", "P-3", "P-4", "P-5"].map((v) => patient(v));
    const msg = await ok("up", { payload, keep: "me" });
    expect(sandbox.stats().fhirRequests - before).to.equal(3);
    expect(msg.keep).to.equal("me");
    expect(msg.payload).to.equal(payload);
    expect(msg.fhir).to.include({ status: 200, bundles: 3 });
    expect(msg.fhir.refused).to.deep.equal([]);
    const server = stored("Patient");
    expect([...server.keys()].sort()).to.deep.equal(["P-1", "P-2", "P-3", "P-4", "P-5"]);
    expect(msg.fhir.written.map((w: Msg) => [w.index, w.id, w.status])).to.deep.equal([
      [0, "P-1", 201],
      [1, "P-2", 201],
      [2, "P-3", 201],
      [3, "P-4", 201],
      [4, "P-5", 201],
    ]);
    for (const [value, r] of server) {
      expect(msg.references[ref(value)]).to.equal(`Patient/${r.id}`);
    }
    expect(statuses.get("up")?.slice(-2)).to.deep.equal([
      { fill: "blue", shape: "dot", text: "POST Bundle" },
      { fill: "green", shape: "dot", text: "5/5 written" },
    ]);

    // Sent again: the same five resources, updated, none added.
    const again = await ok("up", { payload: payload.map((p) => ({ ...p, gender: "female" })) });
    expect(again.fhir.written.map((w: Msg) => w.status)).to.deep.equal([200, 200, 200, 200, 200]);
    for (const r of stored("Patient").values()) expect(r.meta?.versionId).to.not.equal(undefined);
    expect(stored("Patient").size).to.equal(5);
  });

  it("batch: resolves conditional references from msg.references, then by one batch of searches; refuses those that find none or two", async () => {
    await load([{ id: "up" }, { id: "one", bundleSize: "1" }]);
    const [known, onServer, twin] = await Promise.all(
      ["K-1", "S-1", "T-1"].map((v) => sandbox.repository.createResource(patient(v) as Resource)),
    );
    await sandbox.repository.createResource(patient("T-1", "Twin") as Resource);
    const references = { [ref("K-1")]: `Patient/${known.id}` };
    const before = sandbox.stats().fhirRequests;
    const msg = await ok("up", {
      references,
      payload: [
        appointment("A-1", ref("K-1")),
        appointment("A-2", ref("S-1")),
        appointment("A-3", ref("NOBODY")),
        appointment("A-4", ref("T-1")),
        appointment("A-5", ref("S-1")),
      ],
    });
    // One batch of searches (S-1, NOBODY, T-1: K-1 is known), one batch of writes.
    expect(sandbox.stats().fhirRequests - before).to.equal(2);
    expect(msg.fhir.bundles).to.equal(2);
    expect(msg.fhir.refused).to.have.deep.members([
      {
        index: 2,
        id: "A-3",
        code: "SYNC_REFERENCE_NOT_FOUND",
        message: "participant[0].actor.reference: not-found",
      },
      {
        index: 3,
        id: "A-4",
        code: "SYNC_REFERENCE_AMBIGUOUS",
        message: "participant[0].actor.reference: multiple-matches",
      },
    ]);
    expect(msg.fhir.written.map((w: Msg) => w.id)).to.deep.equal(["A-1", "A-2", "A-5"]);
    const appts = stored("Appointment");
    expect([...appts.keys()].sort()).to.deep.equal(["A-1", "A-2", "A-5"]);
    const actor = (id: string) => (appts.get(id) as any).participant[0].actor.reference;
    expect(actor("A-1")).to.equal(`Patient/${known.id}`);
    expect(actor("A-2")).to.equal(`Patient/${onServer.id}`);
    expect(actor("A-5")).to.equal(`Patient/${onServer.id}`);
    expect(twin.id).to.be.a("string");
    // The same object, with the appointments written added.
    expect(msg.references).to.equal(references);
    expect(msg.references[`Appointment?identifier=${APPOINTMENTS}|A-2`]).to.equal(
      `Appointment/${appts.get("A-2")!.id}`,
    );

    // A record written earlier in the same message is referred to without a search.
    const chained = await ok("one", { payload: [patient("N-1"), appointment("A-6", ref("N-1"))] });
    expect(chained.fhir.refused).to.deep.equal([]);
    expect(chained.fhir.bundles).to.equal(2);
    const n1 = (sandbox.repository.match({ resourceType: "Patient" } as SearchRequest) as Stored[]).find(
      (r) => r.identifier?.[0]?.value === "N-1",
    )!;
    expect((stored("Appointment").get("A-6") as any).participant[0].actor.reference).to.equal(
      `Patient/${n1.id}`,
    );
  });

  it("batch: an entry refused for good (412 on an ambiguous upsert) is reported with the issue code, the rest are written", async () => {
    await load([{ id: "up" }]);
    await sandbox.repository.createResource(patient("D-1") as Resource);
    await sandbox.repository.createResource(patient("D-1", "Twin") as Resource);
    const msg = await ok("up", { payload: [patient("D-0"), patient("D-1", "Changed"), patient("D-2")] });
    expect(msg.fhir.refused).to.deep.equal([
      { index: 1, id: "D-1", code: "FHIR_HTTP_412", message: "multiple-matches" },
    ]);
    expect(msg.fhir.written.map((w: Msg) => w.id)).to.deep.equal(["D-0", "D-2"]);
    const all = sandbox.repository.match({ resourceType: "Patient" } as SearchRequest) as any[];
    expect(all.filter((p) => p.name[0].family === "Changed")).to.deep.equal([]);
    expect(statuses.get("up")?.at(-1)?.text).to.equal("2/3 written");
  });

  it("batch: the same identifier twice goes in two Bundles and leaves one resource, the second version", async () => {
    await load([{ id: "up" }]);
    const msg = await ok("up", { payload: [patient("R-1", "First"), patient("R-1", "Second")] });
    expect(msg.fhir.bundles).to.equal(2);
    expect(msg.fhir.written.map((w: Msg) => w.status)).to.deep.equal([201, 200]);
    expect((stored("Patient").get("R-1") as any).name[0].family).to.equal("Second");
  });

  it("an empty array sends nothing and passes the msg on", async () => {
    await load([{ id: "up" }]);
    const before = sandbox.stats().requests;
    const msg = await ok("up", { payload: [] });
    expect(sandbox.stats().requests).to.equal(before);
    expect(msg.fhir).to.include({ bundles: 0 });
    expect(msg.fhir.written).to.deep.equal([]);
    expect(msg.references).to.deep.equal({});
  });

  it("transaction: one resource whose conditional reference the server resolves; a refused one fails the message and writes nothing", async () => {
    await load([{ id: "tx", bundle: "transaction", bundleSize: "1" }]);
    const p = await sandbox.repository.createResource(patient("X-1") as Resource);
    const msg = await ok("tx", { payload: appointment("AX-1", ref("X-1")) });
    expect(msg.fhir.written.map((w: Msg) => [w.index, w.id])).to.deep.equal([[0, "AX-1"]]);
    expect((stored("Appointment").get("AX-1") as any).participant[0].actor.reference).to.equal(
      `Patient/${p.id}`,
    );

    const caught = await fails("tx", { payload: appointment("AX-2", ref("NOBODY")) });
    expect(caught.error.code).to.equal("FHIR_HTTP_400");
    expect(caught.fhir.outcome.resourceType).to.equal("OperationOutcome");
    expect(caught.fhir.written).to.deep.equal([]);
    expect(stored("Appointment").has("AX-2")).to.equal(false);
  });

  it("transaction with create only: a Task refers to the Encounter of the same transaction, is created once and never updated", async () => {
    await load([{ id: "tx", bundle: "transaction", createOnly: "Task" }]);
    const enc = (value: string) => ({
      resourceType: "Encounter",
      identifier: [{ system: "urn:test:encounter", value }],
      status: "planned",
      class: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: "AMB" },
    });
    const task = (value: string, encounter: string) => ({
      resourceType: "Task",
      identifier: [{ system: "urn:test:task", value }],
      status: "requested",
      intent: "order",
      encounter: { reference: `Encounter?identifier=urn:test:encounter|${encounter}` },
    });
    const msg = await ok("tx", { payload: [enc("E-1"), task("T-1", "E-1"), task("T-2", "E-1")] });
    expect(msg.fhir.written.map((w: Msg) => [w.id, w.status])).to.deep.equal([
      ["E-1", 201],
      ["T-1", 201],
      ["T-2", 201],
    ]);
    const encounters = sandbox.repository.match({ resourceType: "Encounter" } as SearchRequest) as Msg[];
    const tasks = sandbox.repository.match({ resourceType: "Task" } as SearchRequest) as Msg[];
    expect(encounters).to.have.length(1);
    expect(tasks.map((t) => t.encounter.reference)).to.deep.equal([
      `Encounter/${encounters[0].id}`,
      `Encounter/${encounters[0].id}`,
    ]);
    // Staff complete T-1; the visit changes and the same plan is written again.
    const t1 = tasks.find((t) => t.identifier[0].value === "T-1")!;
    await sandbox.repository.updateResource({ ...t1, status: "completed" } as Resource);
    const changed = { ...enc("E-1"), status: "arrived" };
    const again = await ok("tx", { payload: [changed, task("T-1", "E-1"), task("T-2", "E-1")] });
    expect(again.fhir.written.map((w: Msg) => [w.id, w.status])).to.deep.equal([
      ["E-1", 200],
      ["T-1", 200],
      ["T-2", 200],
    ]);
    const after = sandbox.repository.match({ resourceType: "Task" } as SearchRequest) as Msg[];
    expect(after).to.have.length(2);
    expect(after.find((t) => t.identifier[0].value === "T-1")!.status).to.equal("completed");
    expect(
      (sandbox.repository.match({ resourceType: "Encounter" } as SearchRequest) as Msg[])[0].status,
    ).to.equal("arrived");
  });

  it("retries a Bundle through transient failures; beyond the retries it fails with what was written so far", async () => {
    await load([{ id: "up", bundleSize: "1" }]);
    const faults = sandbox.stats().faultsInjected;
    sandbox.faults.next(2, { status: 503 });
    const msg = await ok("up", { payload: [patient("F-1")] });
    expect(sandbox.stats().faultsInjected - faults).to.equal(2);
    expect(msg.fhir.attempts).to.equal(3);
    expect(stored("Patient").has("F-1")).to.equal(true);

    // The second Bundle meets a 503 on its first attempt and on both retries.
    let sent = 0;
    const health: HealthEvent[] = [];
    const onHealth = (e: HealthEvent) => health.push(e);
    healthBus().on(HEALTH_EVENT, onHealth);
    try {
      const first = sandbox.stats().fhirRequests;
      const pending = fails("up", { payload: [patient("F-2"), patient("F-3")] });
      // Arm the faults once the first Bundle has been answered.
      const until = Date.now() + 10000;
      while (sandbox.stats().fhirRequests === first && Date.now() < until) {
        await new Promise((r) => setImmediate(r));
      }
      sandbox.faults.next(3, { status: 503 });
      const caught = await pending;
      sent = sandbox.stats().fhirRequests - first;
      expect(caught.error.code).to.equal("FHIR_HTTP_503");
      expect(caught.fhir.written.map((w: Msg) => w.id)).to.deep.equal(["F-2"]);
      expect(stored("Patient").has("F-3")).to.equal(false);
      expect(health.map((e) => [e.success, e.error])).to.deep.equal([[false, "FHIR_HTTP_503"]]);
    } finally {
      healthBus().removeListener(HEALTH_EVENT, onHealth);
    }
    expect(sent).to.equal(4);
  });

  const badInputs: Array<[string, Msg, Msg, RegExp]> = [
    ["no payload", {}, {}, /needs a resource or an array of them in msg.payload, got nothing/],
    ["a string payload", {}, { payload: "Patient" }, /got a string/],
    ["a number payload", {}, { payload: 42 }, /got a number/],
    [
      "an array holding a string",
      {},
      { payload: [patient("B-1"), "x"] },
      /msg\.payload\[1\] is not a FHIR resource/,
    ],
    [
      "a resource without an identifier",
      {},
      { payload: [patient("B-1"), { resourceType: "Patient", name: [{ family: "X" }] }] },
      /msg\.payload\[1\] \(Patient\) has no identifier with a system and a value/,
    ],
    [
      "an identifier without a system",
      {},
      { payload: [{ resourceType: "Patient", identifier: [{ value: "B-2" }] }] },
      /msg\.payload\[0\] \(Patient\) has no identifier/,
    ],
    [
      "a resource without a resourceType",
      {},
      { payload: [{ identifier: [{ system: PATIENTS, value: "B-3" }] }] },
      /msg\.payload\[0\] has no resourceType/,
    ],
    [
      "create only that names no resource type",
      { createOnly: "Task, task" },
      { payload: [patient("B-4")] },
      /create only must list FHIR resource types such as Task, not "task"/,
    ],
    [
      "a resource not of the node's type",
      { resourceType: "Appointment" },
      { payload: [patient("B-4")] },
      /msg\.payload\[0\] is a Patient, not a Appointment/,
    ],
    [
      "msg.identifier",
      {},
      { payload: [patient("B-5")], identifier: `${PATIENTS}|B-5` },
      /msg\.identifier applies/,
    ],
    [
      "msg.references as an array",
      {},
      { payload: [patient("B-6")], references: [] },
      /msg\.references must be an object/,
    ],
    [
      "msg.references mapping to a number",
      {},
      { payload: [patient("B-7")], references: { [ref("B-0")]: 7 } },
      /msg\.references must map to strings/,
    ],
    ["a bad msg.prefer", {}, { payload: [patient("B-8")], prefer: "everything" }, /prefer must be one of/],
    [
      "bundle size 0",
      { bundleSize: "0" },
      { payload: [patient("B-9")] },
      /bundleSize must be a whole number/,
    ],
    ["bundle size 1001", { bundleSize: "1001" }, { payload: [patient("B-9")] }, /from 1 to 1000/],
    ["an unknown bundle", { bundle: "bulk" }, { payload: [patient("B-9")] }, /unknown bundle "bulk"/],
  ];

  it("every bad input reaches Catch with FHIR_BAD_INPUT; nothing is sent, nothing written, no health reported", async () => {
    await load(badInputs.map(([, props], i) => ({ id: `bad${i}`, ...props })));
    const health: HealthEvent[] = [];
    const onHealth = (e: HealthEvent) => health.push(e);
    healthBus().on(HEALTH_EVENT, onHealth);
    try {
      for (const [i, [name, , msg, message]] of badInputs.entries()) {
        const before = sandbox.stats().requests;
        const caught = await fails(`bad${i}`, { ...msg, fhir: { stale: true } });
        expect(caught.error.code, name).to.equal("FHIR_BAD_INPUT");
        expect(caught.error.message, name).to.match(message);
        expect(caught.fhir, name).to.equal(undefined);
        expect(sandbox.stats().requests, `${name}: nothing sent`).to.equal(before);
        expect(statuses.get(`bad${i}`)?.at(-1)?.text, name).to.equal("bad input");
      }
      expect(sandbox.repository.match({ resourceType: "Patient" } as SearchRequest)).to.deep.equal([]);
      expect(health).to.deep.equal([]);
    } finally {
      healthBus().removeListener(HEALTH_EVENT, onHealth);
    }
  });

  it("without Bundles, an array payload is refused as before: one upsert takes one resource", async () => {
    await load([{ id: "plain", bundle: "" }]);
    const caught = await fails("plain", { payload: [patient("Q-1")] });
    expect(caught.error.code).to.equal("FHIR_BAD_INPUT");
    expect(caught.error.message).to.match(/the body must be a FHIR resource/);
  });
});
