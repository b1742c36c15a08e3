/* eslint-disable @typescript-eslint/no-explicit-any -- messages and FHIR resources are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import hl7FhirNode from "../../nodes/hl7-fhir/hl7-fhir";
import hl7ParseNode from "../../nodes/hl7-parse/hl7-parse";
import { DEFAULT_HL7_LIMITS, parseHl7 } from "../../lib/hl7";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");

helper.init(require.resolve("node-red"));

const ROOT = join(__dirname, "..", "..", "..");
const TAB = "tab-hl7-fhir";
const SYSTEMS = JSON.stringify({ "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000" });

type Msg = Record<string, any>;

const fixture = (name: string): string =>
  readFileSync(join(ROOT, "test", "fixtures", "hl7-fhir", name), "utf8");
const A01 = fixture("adt-a01-v2.5.1.hl7").replace(/\n/g, "\r");

const sink = new EventEmitter();

async function load(nodes: Msg[], extra: Msg[] = [], modules: unknown[] = []): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "hl7-fhir" },
    ...nodes.map((n) => ({
      z: TAB,
      type: "hl7-fhir",
      name: "",
      systems: SYSTEMS,
      systemPattern: "",
      timezone: "Europe/Berlin",
      sendingApplication: "FHIR-BRIDGE",
      sendingFacility: "HB",
      receivingApplication: "ADT1",
      receivingFacility: "GHH",
      version: "2.5.1",
      wires: [["out"]],
      ...n,
    })),
    { id: "out", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
    ...extra,
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load([hl7FhirNode, ...modules] as any, flow as any);
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

interface Exchange {
  out: Msg[];
  caught?: Msg;
}

/** Sends msg into node `id`; resolves with `outputs` messages at "out", or the first at "caught". */
function exchange(id: string, msg: Msg, outputs = 1): Promise<Exchange> {
  return new Promise((resolve) => {
    const out: Msg[] = [];
    const finish = (r: Exchange): void => {
      sink.removeListener("out", onOut);
      sink.removeListener("caught", onCaught);
      // a failure that also sent something would show up here
      setImmediate(() => resolve(r));
    };
    const onOut = (m: Msg): void => {
      out.push(m);
      if (out.length >= outputs) finish({ out });
    };
    const onCaught = (m: Msg): void => finish({ out, caught: m });
    sink.on("out", onOut);
    sink.on("caught", onCaught);
    helper.getNode(id).receive(msg);
  });
}

async function fails(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  expect(r.caught, "expected a failure").to.not.equal(undefined);
  expect(r.out, "nothing is sent on failure").to.have.length(0);
  return r.caught!;
}

describe("hl7-fhir node", function () {
  this.timeout(15000);

  afterEach(async () => {
    sink.removeAllListeners();
    await helper.unload();
  });
  after((done) => {
    helper.stopServer(done);
  });

  describe("to-fhir", () => {
    it("converts HL7 text to a transaction Bundle and keeps the inbound msg.hl7 facts and session", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const { out, caught } = await exchange("n", {
        payload: A01,
        hl7: { controlId: "MSG00001", ackMode: "flow" },
        _session: { id: "conn-1" },
      });
      expect(caught).to.equal(undefined);
      const m = out[0];
      expect(m.payload.resourceType).to.equal("Bundle");
      expect(m.payload.type).to.equal("transaction");
      expect(m.payload.entry.map((e: Msg) => e.resource.resourceType)).to.deep.equal([
        "Practitioner",
        "Practitioner",
        "Location",
        "Location",
        "Location",
        "Patient",
        "Encounter",
      ]);
      expect(m.topic).to.equal("ADT^A01");
      expect(m.hl7).to.include({
        type: "ADT",
        event: "A01",
        controlId: "MSG00001",
        version: "2.5.1",
        ackMode: "flow",
      });
      expect(m.hl7).to.not.have.property("warnings");
      expect(m._session).to.deep.equal({ id: "conn-1" });
    });

    it("takes the structure hl7-parse made and a Buffer, and gives the same Bundle", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const fromText = (await exchange("n", { payload: A01 })).out[0].payload;
      const fromJson = (await exchange("n", { payload: parseHl7(A01).toJSON() })).out[0].payload;
      const fromBuffer = (await exchange("n", { payload: Buffer.from(A01) })).out[0].payload;
      expect(fromJson).to.deep.equal(fromText);
      expect(fromBuffer).to.deep.equal(fromText);
    });

    it("after an hl7-parse node converts its structure to the same Bundle as the text", async () => {
      await load(
        [
          { id: "n", direction: "to-fhir" },
          { id: "direct", direction: "to-fhir" },
        ],
        [{ id: "parse", type: "hl7-parse", z: TAB, name: "", validate: false, wires: [["n"]] }],
        [hl7ParseNode],
      );
      const fromText = (await exchange("direct", { payload: A01 })).out[0];
      const viaParse = (await exchange("parse", { payload: A01 })).out[0];
      expect(viaParse.payload).to.deep.equal(fromText.payload);
      expect(viaParse.topic).to.equal("ADT^A01");
    });

    it("keeps the Z-segments and segments HL7 does not define on msg.hl7.segments, as received", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const zpi = "ZPI|1|VIP^Very important|\\T\\ note";
      const text = `${A01.replace(/\r+$/, "")}\r${zpi}\rXYZ|a~b`;
      const { out, caught } = await exchange("n", { payload: text, hl7: { segments: [{ id: "OLD" }] } });
      expect(caught).to.equal(undefined);
      const segments = out[0].hl7.segments as Array<{ id: string; position: number; text: string }>;
      expect(segments.map((z) => [z.id, z.text])).to.deep.equal([
        ["ZPI", zpi],
        ["XYZ", "XYZ|a~b"],
      ]);
      expect(segments[0].position).to.equal(text.split("\r").indexOf(zpi) + 1);
      expect(out[0].payload.entry.map((e: Msg) => e.resource.resourceType)).to.include("Patient");
      const plain = await exchange("n", { payload: A01, hl7: { segments: [{ id: "OLD" }] } });
      expect(plain.out[0].hl7).to.not.have.property("segments");
    });

    it("puts warnings on msg.hl7.warnings", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const { out } = await exchange("n", { payload: A01.replace("V00017^^^GHH-VN^VN", "") });
      expect(out[0].hl7.warnings).to.deep.equal(["PV1-19: no visit number, so no Encounter was written"]);
    });

    it("HL7_UNSUPPORTED reaches Catch naming the type, with msg.hl7.error", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const caught = await fails("n", { payload: A01.replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01") });
      expect(caught.error.code).to.equal("HL7_UNSUPPORTED");
      expect(caught.error.message).to.contain("ORU^R01");
      expect(caught.hl7.error.code).to.equal("HL7_UNSUPPORTED");
      expect(caught.payload).to.equal(A01.replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"));
    });

    it("HL7_CONVERT reaches Catch with the location and without the value", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      const caught = await fails("n", { payload: A01.replace("|19610615|", "|19611315|") });
      expect(caught.error.code).to.equal("HL7_CONVERT");
      expect(caught.hl7.error).to.deep.equal({
        code: "HL7_CONVERT",
        message: "PID-7: not a valid HL7 date/time",
        location: "PID-7",
      });
      const noPid = await fails("n", { payload: A01.replace(/\rPID\|[^\r]*/, "") });
      expect(noPid.hl7.error.location).to.equal("PID");
    });

    it("HL7_PARSE and HL7_BAD_INPUT reach Catch", async () => {
      await load([{ id: "n", direction: "to-fhir" }]);
      expect((await fails("n", { payload: "PID|1||x" })).error.code).to.equal("HL7_PARSE");
      expect((await fails("n", { payload: { resourceType: "Patient" } })).error.code).to.equal(
        "HL7_BAD_INPUT",
      );
    });

    it("a bad configuration fails every message with HL7_CONFIG", async () => {
      await load([{ id: "n", direction: "to-fhir", systems: "{not json" }]);
      const caught = await fails("n", { payload: A01 });
      expect(caught.error.code).to.equal("HL7_CONFIG");
      await helper.unload();
      await load([{ id: "n", direction: "to-fhir", timezone: "Nowhere/Atlantis" }]);
      expect((await fails("n", { payload: A01 })).error.code).to.equal("HL7_CONFIG");
    });
  });

  describe("to-fhir limits", () => {
    it("a message over a limit reaches Catch as HL7_LIMIT, with the limit and never a value", async () => {
      await load([{ id: "n", direction: "to-fhir", maxRepetitionsPerField: "2" }]);
      expect((await exchange("n", { payload: A01 })).out).to.have.length(1);
      const caught = await fails("n", { payload: A01.replace("^SSA^SS", "^SSA^SS~777-00^^^OTH^PI") });
      expect(caught.error.code).to.equal("HL7_LIMIT");
      expect(caught.hl7.error.code).to.equal("HL7_LIMIT");
      expect(caught.hl7.error.message)
        .to.match(/PID-3.*maxRepetitionsPerField/)
        .and.not.match(/777-00/);
    });

    it("the structure hl7-parse made is held to the limits too, and a bad limit is HL7_CONFIG", async () => {
      await load([{ id: "n", direction: "to-fhir", maxSegments: "3" }]);
      expect((await fails("n", { payload: parseHl7(A01).toJSON() })).error.code).to.equal("HL7_LIMIT");
      await helper.unload();
      await load([{ id: "n", direction: "to-fhir", maxDelimiters: "-5" }]);
      const caught = await fails("n", { payload: A01 });
      expect(caught.error.code).to.equal("HL7_CONFIG");
      expect(caught.error.message).to.match(/maxDelimiters/);
    });

    it("help and form give every limit with its default", () => {
      const html = ["hl7-fhir.html", "locales/en-US/hl7-fhir.html"]
        .map((f) => readFileSync(join(ROOT, "nodes", "hl7-fhir", f), "utf8"))
        .join("");
      for (const [name, value] of Object.entries(DEFAULT_HL7_LIMITS)) {
        expect(html, name).to.include(`<td><code>${name}</code></td>`);
        expect(html, name).to.include(`id="node-input-${name}" style="width: 110px" placeholder="${value}"`);
      }
      expect(html).to.include("<code>HL7_LIMIT</code>");
    });
  });

  describe("to-hl7", () => {
    const patient = {
      resourceType: "Patient",
      identifier: [{ system: "urn:oid:2.16.840.1.113883.19.1000", value: "100234" }],
      name: [{ family: "Everyman", given: ["Adam"] }],
      gender: "male",
      birthDate: "1961-06-15",
    };

    it("converts a Patient to ADT^A28 text with new msg.hl7 facts", async () => {
      await load([{ id: "n", direction: "to-hl7" }]);
      const { out } = await exchange("n", { payload: patient, hl7: { event: "A01", controlId: "OLD" } });
      const m = out[0];
      expect(m.payload).to.match(
        /^MSH\|\^~\\&\|FHIR-BRIDGE\|HB\|ADT1\|GHH\|\d{14}[+-]\d{4}\|\|ADT\^A28\^ADT_A05\|/,
      );
      expect(m.payload).to.contain("\rPID|1||100234^^^GHH-MRN||Everyman^Adam||19610615|M\r");
      expect(m.topic).to.equal("ADT^A28");
      expect(m.hl7.controlId).to.not.equal("OLD");
      expect(m.hl7).to.include({ type: "ADT", event: "A28", structure: "ADT_A05", version: "2.5.1" });
      expect(parseHl7(m.payload).header.controlId).to.equal(m.hl7.controlId);
    });

    it("msg.hl7.event A31 asks for an update", async () => {
      await load([{ id: "n", direction: "to-hl7" }]);
      const { out } = await exchange("n", { payload: patient, hl7: { event: "A31" } });
      expect(out[0].topic).to.equal("ADT^A31");
    });

    it("sends one message per Appointment of a Bundle", async () => {
      await load([
        { id: "fhir", direction: "to-fhir" },
        { id: "n", direction: "to-hl7", version: "2.8" },
      ]);
      const s12 = (await exchange("fhir", { payload: fixture("siu-s12-v2.5.1.hl7") })).out[0].payload;
      const s15 = (await exchange("fhir", { payload: fixture("siu-s15-v2.8.hl7") })).out[0].payload;
      const bundle = { resourceType: "Bundle", type: "collection", entry: [...s12.entry, ...s15.entry] };
      const { out, caught } = await exchange("n", { payload: bundle }, 2);
      expect(caught).to.equal(undefined);
      expect(out.map((m) => m.topic)).to.deep.equal(["SIU^S12", "SIU^S15"]);
      expect(out[0].hl7.controlId).to.not.equal(out[1].hl7.controlId);
      expect(out.map((m) => parseHl7(m.payload).header.version)).to.deep.equal(["2.8", "2.8"]);
    });

    it("HL7_UNSUPPORTED for other resources, HL7_CONVERT for a Patient without identifier", async () => {
      await load([{ id: "n", direction: "to-hl7" }]);
      const a = await fails("n", { payload: { resourceType: "Observation", status: "final" } });
      expect(a.error.code).to.equal("HL7_UNSUPPORTED");
      expect(a.error.message).to.contain("Observation");
      const b = await fails("n", { payload: { resourceType: "Patient", name: [{ family: "X" }] } });
      expect(b.error.code).to.equal("HL7_CONVERT");
      expect(b.hl7.error.location).to.equal("Patient.identifier");
    });
  });

  it("the shipped example converts in both directions", async () => {
    const example = JSON.parse(
      readFileSync(join(ROOT, "examples", "Convert HL7 v2 ADT and SIU to FHIR and back.json"), "utf8"),
    ) as Msg[];
    const z = example[0].z as string;
    const nodes = example.map((n) => (n.type === "debug" ? { id: n.id, type: "helper", z } : { ...n }));
    const flow = [{ id: z, type: "tab", label: "example" }, ...nodes];
    await helper.load([hl7FhirNode, injectNode, commentNode] as any, flow as any);
    const debugIds = example.filter((n) => n.type === "debug").map((n) => n.id as string);
    const got = new Map<string, Msg>();
    const arrived = new Promise<void>((resolve) => {
      for (const id of debugIds) {
        helper.getNode(id).on("input", (m: Msg) => {
          got.set(id, m);
          if (got.size === 2) resolve();
        });
      }
    });
    for (const inject of example.filter((n) => n.type === "inject")) helper.getNode(inject.id).receive({});
    await arrived;
    const bundle = [...got.values()].find((m) => typeof m.payload === "object")!;
    const text = [...got.values()].find((m) => typeof m.payload === "string")!;
    expect(bundle.payload.type).to.equal("transaction");
    expect(bundle.topic).to.equal("ADT^A01");
    expect(text.topic).to.equal("ADT^A28");
    expect(parseHl7(text.payload).get("PID", 3, 4)).to.equal("GHH-MRN");
  });
});
