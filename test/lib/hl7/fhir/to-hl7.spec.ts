import { expect } from "chai";
import { createConverter, type Hl7FhirConfig } from "../../../../lib/hl7/fhir";
import type { Appointment, Bundle, Patient, Resource } from "../../../../lib/hl7/fhir/fhir-types";
import { CONFIG, fixture } from "./to-fhir.spec";

const SYSTEMS = {
  "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000",
  SSA: "http://hl7.org/fhir/sid/us-ssn",
};

function toHl7(config: Partial<Hl7FhirConfig> = {}) {
  return createConverter({
    direction: "to-hl7",
    systems: SYSTEMS,
    sendingApplication: "FHIR-BRIDGE",
    sendingFacility: "HB",
    receivingApplication: "ADT1",
    receivingFacility: "GOOD HEALTH HOSPITAL",
    ...config,
  });
}

const toFhir = createConverter({ ...CONFIG, systems: SYSTEMS });

function segment(text: string, name: string): string[] {
  const line = text.split("\r").find((l) => l.startsWith(`${name}|`));
  if (!line) throw new Error(`no ${name} segment`);
  return line.split("|");
}

const PATIENT: Patient = {
  resourceType: "Patient",
  identifier: [
    {
      system: "urn:oid:2.16.840.1.113883.19.1000",
      value: "100234",
      type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
    },
    { system: "http://hl7.org/fhir/sid/us-ssn", value: "123-45-6789" },
    { system: "https://ids.example.org/member", value: "M|77^&" },
    { system: "urn:healthbridge:hl7v2:CLINIC-A", value: "X9911" },
  ],
  name: [
    {
      use: "official",
      family: "O'Neil|Smith^Jr",
      given: ["Mary", "Kate"],
      prefix: ["Ms"],
      suffix: ["III", "MD"],
    },
    { use: "maiden", family: "Smith", given: ["Mary"] },
  ],
  telecom: [
    { system: "phone", value: "+353 21 555 0101", use: "home" },
    { system: "phone", value: "+353 87 555 0199", use: "mobile" },
    { system: "email", value: "mary@example.ie" },
    { system: "phone", value: "+353 21 555 0300", use: "work" },
  ],
  gender: "female",
  birthDate: "1950-03",
  address: [
    { use: "home", line: ["12 Harbour Rd", "Unit 3"], city: "Cork", postalCode: "T12 X2Y", country: "IRL" },
  ],
  maritalStatus: {
    coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", code: "W" }],
  },
  deceasedDateTime: "2024-02-29T22:15:00-05:00",
  multipleBirthInteger: 2,
};

/** The facts of a Patient a round trip must keep. */
function patientFacts(p: Patient) {
  return {
    identifier: (p.identifier ?? []).map((i) => ({
      system: i.system,
      value: i.value,
      type: i.type?.coding?.[0]?.code,
    })),
    name: (p.name ?? []).map((n) => ({
      use: n.use,
      family: n.family,
      given: n.given,
      prefix: n.prefix,
      suffix: n.suffix,
    })),
    telecom: (p.telecom ?? []).map((t) => ({ system: t.system, value: t.value, use: t.use })),
    gender: p.gender,
    birthDate: p.birthDate,
    address: p.address,
    maritalStatus: p.maritalStatus?.coding?.[0]?.code,
    deceasedDateTime: p.deceasedDateTime,
    multipleBirthInteger: p.multipleBirthInteger,
  };
}

function backToFhir(text: string): Bundle {
  return toFhir.toFhir(text).bundle;
}

function resourceOf<T extends Resource>(bundle: Bundle, type: string): T {
  const list = (bundle.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type);
  expect(list, type).to.have.length(1);
  return list[0] as T;
}

describe("hl7-fhir to-hl7: Patient -> ADT", () => {
  for (const version of ["2.3", "2.5.1", "2.8"]) {
    it(`round trip in v${version}: ADT^A28 re-parsed and converted back gives the same Patient facts`, () => {
      const [out] = toHl7({ version }).toHl7(PATIENT);
      expect(out.header).to.include({ type: "ADT", event: "A28", version });
      const back = resourceOf<Patient>(backToFhir(out.text), "Patient");
      const telecomWithDefaultUse = PATIENT.telecom!.map((t) =>
        t.system === "email" ? { ...t, use: undefined } : t,
      );
      expect(patientFacts(back)).to.deep.equal(patientFacts({ ...PATIENT, telecom: telecomWithDefaultUse }));
    });
  }

  it("writes MSH from the node properties, with a fresh control id each time", () => {
    const converter = toHl7();
    const [a] = converter.toHl7(PATIENT);
    const [b] = converter.toHl7(PATIENT);
    const msh = segment(a.text, "MSH");
    expect(msh.slice(0, 6)).to.deep.equal([
      "MSH",
      "^~\\&",
      "FHIR-BRIDGE",
      "HB",
      "ADT1",
      "GOOD HEALTH HOSPITAL",
    ]);
    expect(msh[8]).to.equal("ADT^A28^ADT_A05");
    expect(msh[11]).to.equal("2.5.1");
    expect(a.header.controlId).to.equal(msh[9]).and.not.equal("");
    expect(b.header.controlId).to.not.equal(a.header.controlId);
    expect(a.header).to.include({
      structure: "ADT_A05",
      sendingApplication: "FHIR-BRIDGE",
      sendingFacility: "HB",
      receivingApplication: "ADT1",
      receivingFacility: "GOOD HEALTH HOSPITAL",
    });
    expect(segment(a.text, "PV1").slice(0, 3)).to.deep.equal(["PV1", "1", "N"]);
    expect(a.text.endsWith("\r")).to.equal(true);
  });

  it("escapes the delimiters in values", () => {
    const [out] = toHl7().toHl7(PATIENT);
    const pid = segment(out.text, "PID");
    expect(pid[5].startsWith("O'Neil\\F\\Smith\\S\\Jr^Mary^Kate^III^Ms^MD^L")).to.equal(true);
    expect(pid[3]).to.contain("M\\F\\77\\S\\\\T\\");
  });

  it("chooses A31 when msg.hl7.event says so or the version is above 1", () => {
    expect(toHl7().toHl7(PATIENT, "A31")[0].header.event).to.equal("A31");
    expect(toHl7().toHl7(PATIENT, "A01")[0].header.event).to.equal("A28");
    expect(toHl7().toHl7({ ...PATIENT, meta: { versionId: "3" } })[0].header.event).to.equal("A31");
    expect(toHl7().toHl7({ ...PATIENT, meta: { versionId: "1" } })[0].header.event).to.equal("A28");
    expect(toHl7().toHl7({ ...PATIENT, meta: { versionId: "b7e2-uuid" } })[0].header.event).to.equal("A28");
  });

  it("rejects what it cannot convert", () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return (err as { code: string }).code;
      }
      return "none";
    };
    expect(code(() => toHl7().toHl7({ resourceType: "Observation" }))).to.equal("HL7_UNSUPPORTED");
    expect(code(() => toHl7().toHl7("ADT text"))).to.equal("HL7_UNSUPPORTED");
    expect(code(() => toHl7().toHl7({ resourceType: "Bundle", type: "searchset", entry: [] }))).to.equal(
      "HL7_UNSUPPORTED",
    );
    expect(code(() => toHl7().toHl7({ resourceType: "Patient", name: [{ family: "X" }] }))).to.equal(
      "HL7_CONVERT",
    );
    expect(code(() => toHl7().toHl7({ ...PATIENT, birthDate: "15/03/1950" }))).to.equal("HL7_CONVERT");
    expect(code(() => toHl7({ version: "3.0" }))).to.equal("HL7_CONFIG");
  });
});

/** The facts of an Appointment a round trip must keep (participants by kind of actor). */
function appointmentFacts(a: Appointment, bundle: Bundle) {
  const byUrl = new Map((bundle.entry ?? []).map((e) => [e.fullUrl, e.resource]));
  return {
    identifier: (a.identifier ?? []).map((i) => ({
      system: i.system,
      value: i.value,
      type: i.type?.coding?.[0]?.code,
    })),
    status: a.status,
    start: a.start,
    end: a.end,
    minutesDuration: a.minutesDuration,
    serviceType: a.serviceType?.map((s) => s.coding?.[0]?.code),
    appointmentType: a.appointmentType?.coding?.[0]?.code,
    reasonCode: a.reasonCode?.map((r) => r.coding?.[0]?.code ?? r.text),
    participant: a.participant.map((p) => {
      const actor = p.actor?.reference ? byUrl.get(p.actor.reference) : undefined;
      const ids = (actor as { identifier?: Array<{ system?: string; value?: string }> } | undefined)
        ?.identifier;
      return {
        type: actor?.resourceType ?? "display",
        id: ids?.[0] ? `${ids[0].system}|${ids[0].value}` : p.actor?.display,
        status: p.status,
        role: p.type?.[0]?.coding?.[0]?.code,
      };
    }),
  };
}

describe("hl7-fhir to-hl7: Appointment -> SIU", () => {
  for (const version of ["2.3", "2.5.1", "2.8"]) {
    it(`round trip in v${version}: the SIU^S12 sample -> FHIR -> SIU -> FHIR keeps the Appointment facts`, () => {
      const first = backToFhir(fixture("siu-s12-v2.5.1.hl7"));
      const outs = toHl7({ version }).toHl7(first);
      expect(outs).to.have.length(1);
      expect(outs[0].header).to.include({ type: "SIU", event: "S12", version });
      if (version === "2.3") expect(outs[0].text).to.not.contain("\rTQ1|");
      else expect(outs[0].text).to.contain("\rTQ1|");
      const second = backToFhir(outs[0].text);
      const a1 = resourceOf<Appointment>(first, "Appointment");
      const a2 = resourceOf<Appointment>(second, "Appointment");
      expect(appointmentFacts(a2, second)).to.deep.equal(appointmentFacts(a1, first));
      expect(patientFacts(resourceOf<Patient>(second, "Patient"))).to.deep.equal(
        patientFacts(resourceOf<Patient>(first, "Patient")),
      );
    });
  }

  it("chooses S15 for cancelled, S26 for noshow, S17 for entered-in-error and S14 for a later version", () => {
    const bundle = backToFhir(fixture("siu-s12-v2.5.1.hl7"));
    const appt = resourceOf<Appointment>(bundle, "Appointment");
    const event = (change: Partial<Appointment>): string => {
      const copy: Bundle = {
        ...bundle,
        entry: bundle.entry!.map((e) =>
          e.resource === appt ? { ...e, resource: { ...appt, ...change } } : e,
        ),
      };
      return toHl7().toHl7(copy)[0].header.event;
    };
    expect(event({})).to.equal("S12");
    expect(event({ status: "cancelled" })).to.equal("S15");
    expect(event({ status: "noshow" })).to.equal("S26");
    expect(event({ status: "entered-in-error" })).to.equal("S17");
    expect(event({ meta: { versionId: "2" } })).to.equal("S14");
  });

  it("a cancelled Appointment round-trips as cancelled with declined participants", () => {
    const first = backToFhir(fixture("siu-s15-v2.8.hl7"));
    const [out] = toHl7({ version: "2.8" }).toHl7(first);
    expect(out.header.event).to.equal("S15");
    const second = backToFhir(out.text);
    expect(appointmentFacts(resourceOf<Appointment>(second, "Appointment"), second)).to.deep.equal(
      appointmentFacts(resourceOf<Appointment>(first, "Appointment"), first),
    );
  });

  it("gives one message per Appointment of a Bundle", () => {
    const a = backToFhir(fixture("siu-s12-v2.5.1.hl7"));
    const b = backToFhir(fixture("siu-s15-v2.8.hl7"));
    const outs = toHl7().toHl7({
      resourceType: "Bundle",
      type: "collection",
      entry: [...a.entry!, ...b.entry!],
    });
    expect(outs.map((o) => o.header.event)).to.deep.equal(["S12", "S15"]);
    expect(new Set(outs.map((o) => o.header.controlId)).size).to.equal(2);
  });
});

describe("hl7-fhir to-hl7: Location -> PL (AIL-3, PV1-3)", () => {
  /** AIL-3 of the SIU sample with `pl` as AIL-3, after v2 -> FHIR -> v2. */
  function ailRoundTrip(pl: string): string {
    const text = fixture("siu-s12-v2.5.1.hl7").replace("|CLINIC^ROOM 4^^GHH|", `|${pl}|`);
    const [out] = toHl7().toHl7(backToFhir(text));
    return segment(out.text, "AIL")[3];
  }

  it("v2 -> FHIR -> v2 keeps AIL-3's point of care, room, bed, facility and description", () => {
    for (const pl of [
      "CLINIC^ROOM 4^^GHH",
      "CLINIC^ROOM 4^B2^GHH",
      "CLINIC^^B2^GHH",
      "^ROOM 4^B2^GHH",
      "CLINIC^^^GHH",
      "CLINIC^ROOM 4^B2^GHH^^^^^Quiet room",
      "ICU/A^50%^1^GHH",
      "ICU\\S\\A^R\\T\\1^^GHH",
    ]) {
      expect(ailRoundTrip(pl), pl).to.equal(pl);
    }
  });

  it("v2 -> FHIR -> v2 keeps PV1-3 of a DFT^P03 (the Encounter's bed, its room and point of care)", () => {
    const dft = [
      "MSH|^~\\&|PMS|CLINIC|BILL|HOSP|20260101120000||DFT^P03|C1|P|2.5.1",
      "PID|1||MRN1^^^CLINIC^MR||DOE^JANE||19800101|F",
      "PV1|1|I|2000^2012^01^GHH||||||||||||||||V100^^^CLINIC",
      "FT1|1|TX1||20260105||CG|99213^Office visit^CPT|||1|150.50&USD",
    ].join("\r");
    const bundle = toFhir.toFhir(`${dft}\r`).bundle;
    const [out] = toHl7().toHl7(bundle);
    expect(out.header.type).to.equal("DFT");
    expect(segment(out.text, "PV1")[3]).to.equal("2000^2012^01^GHH");
  });

  const PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type";
  const at = (code: string) => ({ coding: [{ system: PHYSICAL, code }] });
  function appointmentAt(locations: Resource[], actor: string): Bundle {
    return {
      resourceType: "Bundle",
      type: "collection",
      entry: [
        ...locations.map((r) => ({ fullUrl: `urn:uuid:${r.id}`, resource: r })),
        {
          resource: {
            resourceType: "Appointment",
            identifier: [{ system: "urn:x", value: "A1" }],
            status: "booked",
            participant: [{ actor: { reference: `urn:uuid:${actor}` }, status: "accepted" }],
          } as Appointment,
        },
      ],
    };
  }

  it("reads a hierarchy of other Locations through partOf in the Bundle, by name at each level", () => {
    const ward = { resourceType: "Location", id: "w", name: "EAST", physicalType: at("wa") } as Resource;
    const room = {
      resourceType: "Location",
      id: "r",
      name: "12",
      identifier: [{ system: "urn:healthbridge:hl7v2:GHH", value: "room-12" }],
      physicalType: at("ro"),
      partOf: { reference: "urn:uuid:w" },
    } as Resource;
    const bed = {
      resourceType: "Location",
      id: "b",
      name: "A",
      identifier: [{ system: "urn:healthbridge:hl7v2:GHH", value: "bed-12a" }],
      physicalType: at("bd"),
      partOf: { reference: "urn:uuid:r" },
    } as Resource;
    const [out] = toHl7().toHl7(appointmentAt([ward, room, bed], "b"));
    expect(segment(out.text, "AIL")[3]).to.equal("EAST^12^A^GHH");
  });

  it("reads a Location written by an earlier version (identifier point of care^room^bed, PL-9 as name)", () => {
    const old = {
      resourceType: "Location",
      id: "o",
      identifier: [{ system: "urn:healthbridge:hl7v2:GHH", value: "2000^2012^01" }],
      name: "North wing",
      physicalType: at("bd"),
    } as Resource;
    const [out] = toHl7().toHl7(appointmentAt([old], "o"));
    expect(segment(out.text, "AIL")[3]).to.equal("2000^2012^01^GHH^^^^^North wing");
  });
});
