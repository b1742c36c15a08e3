/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import mapNode from "../../nodes/pms-fhir-map/pms-fhir-map";
import { builtinMappings, builtinRules, compileBuiltin } from "../../lib/mapping";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require("@node-red/nodes/core/common/25-catch.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-map";

type Msg = Record<string, any>;

interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

const statuses = new Map<string, StatusCall[]>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  const calls = statuses.get(e.id) ?? [];
  calls.push(e.status);
  statuses.set(e.id, calls);
});

const patient = {
  id: "pat-1",
  firstName: "Zoë",
  lastName: "O'Brien",
  dateOfBirth: "1984-02-29",
  gender: "female",
  phone: "(617) 555-0142",
  email: "zoe@example.com",
  updatedAt: "2025-01-06T08:00:00.000Z",
};

const appointment = {
  id: "appt-1",
  patientId: "pat-1",
  providerId: "prov-1",
  scheduledTime: "2025-01-06T09:30:00-05:00",
  duration: 30,
  status: "scheduled",
  updatedAt: "2025-01-06T08:00:00.000Z",
};

interface Wiring {
  mapped: Msg[];
  invalid: Msg[];
  caught: Msg[];
  events: EventEmitter;
}

/** A tab with the map node (id "map") wired to "mapped" and "invalid", and a Catch wired to "caught". */
async function load(props: Record<string, unknown>): Promise<Wiring> {
  const flow = [
    { id: TAB, type: "tab", label: "map" },
    { id: "map", z: TAB, type: "pms-fhir-map", name: "", wires: [["mapped"], ["invalid"]], ...props },
    { id: "mapped", z: TAB, type: "helper" },
    { id: "invalid", z: TAB, type: "helper" },
    { id: "catch-all", z: TAB, type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: TAB, type: "helper" },
  ];
  await helper.load([mapNode, catchNode], flow);
  const wiring: Wiring = { mapped: [], invalid: [], caught: [], events: new EventEmitter() };
  for (const name of ["mapped", "invalid", "caught"] as const) {
    helper.getNode(name).on("input", (msg: Msg) => {
      wiring[name].push(msg);
      wiring.events.emit("msg", name);
    });
  }
  return wiring;
}

/** Sends msgs to the map node and resolves once `expected` msgs have arrived anywhere. */
async function send(w: Wiring, msgs: Msg[], expected: number): Promise<void> {
  const arrived = new Promise<void>((resolve) => {
    let n = 0;
    const check = () => {
      if (++n >= expected) {
        w.events.off("msg", check);
        resolve();
      }
    };
    w.events.on("msg", check);
  });
  for (const msg of msgs) helper.getNode("map").receive(msg);
  await arrived;
  // Anything sent after the expected msgs would be a bug: give it a turn to show up.
  await new Promise((r) => setImmediate(r));
}

describe("pms-fhir-map node", function () {
  this.timeout(10000);

  beforeEach(() => statuses.clear());

  afterEach(async () => {
    await helper.unload();
  });

  after((done) => {
    helper.stopServer(done);
  });

  it("maps a PMS patient to a FHIR Patient on output 1", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir", identifierSystem: "urn:test:pms" });
    await send(w, [{ payload: structuredClone(patient), topic: "patient.updated" }], 1);
    expect(w.invalid).to.have.length(0);
    const msg = w.mapped[0];
    expect(msg.topic).to.equal("patient.updated");
    expect(msg.mapping).to.deep.equal({ direction: "to-fhir", warnings: [] });
    const expected = compileBuiltin("patient", { identifierSystem: "urn:test:pms" }).toFhir(patient).value;
    expect(msg.payload).to.deep.equal(expected);
    expect(msg.payload.identifier).to.deep.equal([{ system: "urn:test:pms", value: "pat-1" }]);
  });

  it("maps a FHIR Appointment back to the PMS record", async () => {
    const w = await load({ mapping: "appointment", direction: "to-pms", identifierSystem: "" });
    const resource = compileBuiltin("appointment").toFhir(appointment).value;
    await send(w, [{ payload: resource }], 1);
    expect(w.mapped[0].payload).to.deep.equal(appointment);
    expect(w.mapped[0].mapping.direction).to.equal("to-pms");
  });

  it("sends a bad record, untouched, to output 2 with every failing field named", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir" });
    const bad = { ...patient, firstName: "", dateOfBirth: "1985-02-29", email: "zoe@", gender: "x" };
    await send(w, [{ payload: bad, topic: "t" }], 1);
    expect(w.mapped).to.have.length(0);
    const msg = w.invalid[0];
    expect(msg.payload).to.deep.equal(bad);
    expect(msg.topic).to.equal("t");
    expect(msg.mapping.direction).to.equal("to-fhir");
    expect(msg.mapping.errors.map((e: Msg) => [e.field, e.code])).to.deep.equal([
      ["firstName", "MAP_REQUIRED"],
      ["dateOfBirth", "MAP_VALIDATE"],
      ["email", "MAP_VALIDATE"],
    ]);
    expect(msg.mapping.warnings.map((e: Msg) => [e.field, e.code])).to.deep.equal([["gender", "MAP_LOSSY"]]);
    expect(w.caught).to.have.length(0);
  });

  it("sends every kind of bad record to output 2 with its field and code", async () => {
    const cases: Array<{ props: Record<string, unknown>; payload: unknown; field: string; code: string }> = [
      {
        props: { mapping: "patient", direction: "to-fhir" },
        payload: { ...patient, lastName: null },
        field: "lastName",
        code: "MAP_REQUIRED",
      },
      {
        props: { mapping: "patient", direction: "to-fhir" },
        payload: { ...patient, phone: "n/a" },
        field: "phone",
        code: "MAP_VALIDATE",
      },
      {
        props: { mapping: "patient", direction: "to-fhir" },
        payload: { ...patient, updatedAt: "yesterday" },
        field: "updatedAt",
        code: "MAP_TRANSFORM",
      },
      {
        props: { mapping: "appointment", direction: "to-fhir" },
        payload: { ...appointment, status: "moved" },
        field: "status",
        code: "MAP_TRANSFORM",
      },
      {
        props: { mapping: "appointment", direction: "to-fhir" },
        payload: { ...appointment, scheduledTime: "2025-01-06T09:30:00" },
        field: "scheduledTime",
        code: "MAP_TRANSFORM",
      },
      {
        props: { mapping: "encounter", direction: "to-fhir" },
        payload: { ...appointment, patientId: "pat 1" },
        field: "patientId",
        code: "MAP_TRANSFORM",
      },
      {
        props: { mapping: "patient", direction: "to-pms" },
        payload: { resourceType: "Practitioner", id: "1" },
        field: "resourceType",
        code: "MAP_INPUT",
      },
      {
        props: { mapping: "patient", direction: "to-pms" },
        payload: { resourceType: "Patient", birthDate: "1980-01-01" },
        field: "identifier.where(system=%identifierSystem).value",
        code: "MAP_REQUIRED",
      },
      { props: { mapping: "patient", direction: "to-fhir" }, payload: [7], field: "", code: "MAP_INPUT" },
    ];
    for (const c of cases) {
      const w = await load(c.props);
      await send(w, [{ payload: structuredClone(c.payload) }], 1);
      expect(w.mapped, JSON.stringify(c)).to.have.length(0);
      expect(w.invalid[0].payload).to.deep.equal(c.payload);
      expect(
        w.invalid[0].mapping.errors.map((e: Msg) => [e.field, e.code]),
        JSON.stringify(c),
      ).to.deep.include([c.field, c.code]);
      await helper.unload();
    }
  });

  it("splits an array payload: valid elements mapped on output 1, invalid ones untouched on output 2", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir" });
    const good2 = { ...patient, id: "pat-2", gender: "q" };
    const good3 = { ...patient, id: "pat-3" };
    const badA = { ...patient, id: "pat-4", dateOfBirth: "someday" };
    const payload = [structuredClone(patient), badA, good2, "not a record", good3];
    await send(w, [{ payload, topic: "batch", extra: { deep: [1] } }], 2);
    const mapping = compileBuiltin("patient");
    const valid = w.mapped[0];
    const invalid = w.invalid[0];
    expect(valid.payload).to.deep.equal([patient, good2, good3].map((p) => mapping.toFhir(p).value));
    expect(valid.mapping.warnings).to.deep.equal([{ ...mapping.toFhir(good2).warnings[0], index: 2 }]);
    expect(invalid.payload).to.deep.equal([badA, "not a record"]);
    expect(invalid.mapping.errors.map((e: Msg) => [e.index, e.field, e.code])).to.deep.equal([
      [1, "dateOfBirth", "MAP_VALIDATE"],
      [3, "", "MAP_INPUT"],
    ]);
    expect(valid.topic).to.equal("batch");
    expect(invalid.topic).to.equal("batch");
    expect(invalid.extra).to.deep.equal({ deep: [1] });
    expect(invalid.extra).to.not.equal(valid.extra);
  });

  it("sends an all-valid array only to output 1 and an all-invalid one only to output 2", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir" });
    await send(w, [{ payload: [patient, patient] }], 1);
    await send(w, [{ payload: [{}, 5] }], 1);
    await send(w, [{ payload: [] }], 1);
    expect(w.mapped.map((m) => m.payload.length)).to.deep.equal([2, 0]);
    expect(w.invalid).to.have.length(1);
    expect(w.invalid[0].payload).to.deep.equal([{}, 5]);
    expect(w.invalid[0].mapping.errors.filter((e: Msg) => e.index === 0)).to.have.length(4);
  });

  it("with refused records sent along (msg.mapping.refused), one msg per input on output 1: ids and codes, never values", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir", refused: "msg" });
    const bad = { ...patient, id: "pat-4", dateOfBirth: "1980-02-30", gender: "q?" };
    const payload = [structuredClone(patient), bad, "not a record", { ...patient, id: 17, lastName: "" }];
    await send(w, [{ payload, topic: "page" }], 1);
    expect(w.invalid).to.deep.equal([]);
    const [out] = w.mapped;
    const mapping = compileBuiltin("patient");
    expect(out.payload).to.deep.equal([mapping.toFhir(patient).value]);
    expect(out.mapping.refused).to.deep.equal([
      { index: 1, id: "pat-4", code: "MAP_VALIDATE", message: "dateOfBirth: MAP_VALIDATE" },
      { index: 2, id: null, code: "MAP_INPUT", message: "record: MAP_INPUT" },
      { index: 3, id: "17", code: "MAP_TRANSFORM", message: "id: MAP_TRANSFORM; lastName: MAP_REQUIRED" },
    ]);
    expect(JSON.stringify(out.mapping.refused)).to.not.include("1980-02-30");
    expect(out.mapping.errors.map((e: Msg) => e.index)).to.deep.equal([1, 2, 3, 3]);
    expect(out.topic).to.equal("page");

    // All valid, all invalid, empty, and a single record: still one msg on output 1.
    await send(
      w,
      [{ payload: [patient] }, { payload: [bad] }, { payload: [] }, { payload: bad }, { payload: patient }],
      5,
    );
    expect(
      w.mapped
        .slice(1)
        .map((m) => [
          Array.isArray(m.payload) ? m.payload.length : (m.payload?.resourceType ?? null),
          m.mapping.refused.length,
        ]),
    ).to.deep.equal([
      [1, 0],
      [0, 1],
      [0, 0],
      [null, 1],
      ["Patient", 0],
    ]);
    expect(w.invalid).to.deep.equal([]);
  });

  it("refuses an unknown place for refused records with MAP_COMPILE", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir", refused: "drop" });
    await send(w, [{ payload: patient }], 1);
    expect(w.caught[0].error.code).to.equal("MAP_COMPILE");
    expect(w.caught[0].error.message).to.match(/refused records/);
  });

  it("maps with custom rules, including a codeMap both ways", async () => {
    const rules = [
      { fhir: "resourceType", default: "Patient" },
      { pms: "mrn", fhir: "identifier.where(system=%identifierSystem).value", required: true },
      {
        pms: "marital",
        fhir: "maritalStatus.coding[0].code",
        transform: "codeMap",
        codeMap: { S: "S", M: "M", X: "UNK" },
      },
    ];
    const w = await load({ mapping: "custom", direction: "to-fhir", rules, identifierSystem: "urn:mrn" });
    await send(w, [{ payload: { mrn: "7", marital: "X" } }], 1);
    expect(w.mapped[0].payload).to.deep.equal({
      resourceType: "Patient",
      identifier: [{ system: "urn:mrn", value: "7" }],
      maritalStatus: { coding: [{ code: "UNK" }] },
    });
  });

  it("shows a red ring for rules that do not compile and fails each msg with MAP_COMPILE", async () => {
    const rules = [{ pms: "a", fhir: "gender", transform: "sex" }];
    const w = await load({ mapping: "custom", direction: "to-fhir", rules });
    expect(statuses.get("map")).to.deep.include({ fill: "red", shape: "ring", text: "invalid mapping" });
    await send(w, [{ payload: patient }], 1);
    expect(w.mapped).to.have.length(0);
    expect(w.invalid).to.have.length(0);
    const caught = w.caught[0];
    expect(caught.error.code).to.equal("MAP_COMPILE");
    expect(caught.error.message).to.match(/rule 0 \(a <-> gender\) transform: unknown transform "sex"/);
    expect(caught.mapping.errors).to.deep.equal([
      {
        field: "transform",
        rule: 0,
        label: "a <-> gender",
        message: 'unknown transform "sex"',
        code: "MAP_COMPILE",
      },
    ]);
  });

  it("fails with MAP_COMPILE for an empty custom rule list, an unknown mapping or direction", async () => {
    for (const props of [
      { mapping: "custom", direction: "to-fhir", rules: [] },
      { mapping: "custom", direction: "to-fhir", rules: "not a list" },
      { mapping: "practitioner", direction: "to-fhir" },
      { mapping: "patient", direction: "sideways" },
    ]) {
      const w = await load(props);
      await send(w, [{ payload: patient }], 1);
      expect(w.caught[0].error.code, JSON.stringify(props)).to.equal("MAP_COMPILE");
      expect(w.caught[0].mapping.errors).to.have.length(1);
      await helper.unload();
    }
  });

  it("fails a payload that is neither an object nor an array with MAP_INPUT", async () => {
    const w = await load({ mapping: "patient", direction: "to-fhir" });
    await send(
      w,
      [
        { payload: JSON.stringify(patient) },
        { payload: 42 },
        { payload: null },
        {},
        { payload: Buffer.from("{}") },
      ],
      5,
    );
    expect(w.mapped).to.have.length(0);
    expect(w.invalid).to.have.length(0);
    expect(w.caught.map((m) => m.error.code)).to.deep.equal(Array(5).fill("MAP_INPUT"));
    expect(w.caught.map((m) => String(m.error.message).replace(/^PackError: /, ""))).to.deep.equal([
      "msg.payload must be an object or an array of objects, not string",
      "msg.payload must be an object or an array of objects, not number",
      "msg.payload must be an object or an array of objects, not null",
      "msg.payload must be an object or an array of objects, not undefined",
      "msg.payload must be an object or an array of objects, not a Buffer",
    ]);
    expect(w.caught[0].payload).to.equal(JSON.stringify(patient));
    expect(w.caught[0].mapping.errors[0]).to.include({ code: "MAP_INPUT", rule: -1 });
  });

  it("counts mapped and invalid records in its status and clears it on close", async () => {
    /** The status refreshes at most once a second: waits (bounded) until it shows `expected`. */
    const shows = async (expected: Record<string, string>): Promise<void> => {
      const end = Date.now() + 5000;
      while (JSON.stringify(statuses.get("map")?.at(-1)) !== JSON.stringify(expected)) {
        if (Date.now() > end) expect(statuses.get("map")?.at(-1)).to.deep.equal(expected);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const w = await load({ mapping: "patient", direction: "to-fhir" });
    await send(w, [{ payload: patient }], 1);
    await shows({ fill: "green", shape: "dot", text: "1 mapped" });
    await send(w, [{ payload: [patient, {}] }], 2);
    await shows({ fill: "yellow", shape: "ring", text: "2 ok, 1 invalid" });
    await helper.unload();
    expect(statuses.get("map")?.at(-1)).to.deep.equal({});
  });

  describe("admin endpoints", () => {
    it("serves the built-in sets, samples and transform catalog", async () => {
      await load({ mapping: "patient", direction: "to-fhir" });
      const res = await helper.request().get("/pms-fhir-map/builtins").expect(200);
      expect(res.body.mappings).to.deep.equal(JSON.parse(JSON.stringify(builtinMappings)));
      expect(res.body.identifierSystems.patient).to.equal("urn:healthbridge:pms:patient");
      expect(res.body.transforms.map((t: Msg) => t.name)).to.include.members([
        "date",
        "codeMap",
        "reference",
      ]);
      expect(compileBuiltin("patient").toPms(res.body.samples.patient.fhir).errors).to.deep.equal([]);
    });

    it("tries a mapping on a sample with the node's engine", async () => {
      await load({ mapping: "patient", direction: "to-fhir" });
      const bad = { ...patient, id: "" };
      const res = await helper
        .request()
        .post("/pms-fhir-map/try")
        .send({ mapping: "patient", direction: "to-fhir", identifierSystem: "urn:x", record: [patient, bad] })
        .expect(200);
      expect(res.body.compileErrors).to.deep.equal([]);
      const [valid, invalid] = res.body.outputs;
      expect(valid.payload).to.deep.equal([
        compileBuiltin("patient", { identifierSystem: "urn:x" }).toFhir(patient).value,
      ]);
      expect(invalid.payload).to.deep.equal([bad]);
      expect(invalid.mapping.errors).to.deep.equal([
        {
          field: "id",
          rule: 1,
          label: "id <-> identifier.where(system=%identifierSystem).value",
          message: "is required",
          code: "MAP_REQUIRED",
          index: 1,
        },
      ]);
    });

    it("tries custom rules: compile errors per rule, a compile check without a record, bad input", async () => {
      await load({ mapping: "patient", direction: "to-fhir" });
      const rules = builtinRules("patient");
      rules[3] = { ...rules[3], transform: "uppercase" };
      const broken = await helper
        .request()
        .post("/pms-fhir-map/try")
        .send({ mapping: "custom", direction: "to-fhir", rules, record: patient })
        .expect(200);
      // Without an identifier system, %identifierSystem in rule 1 does not compile either.
      expect(broken.body.compileErrors.map((e: Msg) => [e.rule, e.field])).to.deep.equal([
        [1, "fhir"],
        [3, "transform"],
      ]);
      expect(broken.body.outputs).to.equal(undefined);

      const check = await helper
        .request()
        .post("/pms-fhir-map/try")
        .send({
          mapping: "custom",
          direction: "to-pms",
          rules: builtinRules("appointment"),
          identifierSystem: "urn:a",
        })
        .expect(200);
      expect(check.body).to.deep.equal({ compileErrors: [] });

      const input = await helper
        .request()
        .post("/pms-fhir-map/try")
        .send({ mapping: "patient", direction: "to-pms", record: "Patient/1" })
        .expect(200);
      expect(input.body.inputErrors[0].code).to.equal("MAP_INPUT");

      await helper
        .request()
        .post("/pms-fhir-map/try")
        .send({ mapping: "patient", direction: "up" })
        .expect(400);
      await helper.request().post("/pms-fhir-map/try").send([1, 2]).expect(400);
    });
  });

  it("runs the shipped example flow", async () => {
    const example = JSON.parse(
      readFileSync(
        join(__dirname, "..", "..", "..", "examples", "Map a PMS patient to FHIR and back.json"),
        "utf8",
      ),
    ) as Msg[];
    const debugIds = example.filter((n) => n.type === "debug").map((n) => n.id as string);
    expect(debugIds.length).to.be.greaterThan(0);
    // Debug nodes become helper nodes that record what they get; comments are only text.
    const flow = example
      .filter((n) => n.type !== "comment")
      .map((n) => (n.type === "debug" ? { id: n.id, z: n.z, type: "helper" } : n));
    const tabs = new Set(example.map((n) => n.z).filter(Boolean));
    for (const z of tabs)
      if (!flow.some((n) => n.id === z)) flow.push({ id: z, type: "tab", label: "example" });
    await helper.load([mapNode, injectNode], flow as Parameters<typeof helper.load>[1]);
    const received = new Map<string, Msg[]>();
    const all = new Promise<void>((resolve) => {
      for (const id of debugIds) {
        helper.getNode(id).on("input", (msg: Msg) => {
          received.set(id, [...(received.get(id) ?? []), msg]);
          if (debugIds.every((d) => received.has(d))) resolve();
        });
      }
    });
    for (const inject of example.filter((n) => n.type === "inject")) helper.getNode(inject.id).receive({});
    await all;
    const payloads = [...received.values()].flat();
    const fhirPatients = payloads.filter((m) => m.payload?.resourceType === "Patient");
    expect(fhirPatients.length).to.be.greaterThan(0);
    expect(payloads.some((m) => Array.isArray(m.mapping?.errors) && m.mapping.errors.length > 0)).to.equal(
      true,
    );
  });
});
