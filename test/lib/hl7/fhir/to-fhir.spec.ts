import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createConverter, type Hl7FhirConfig } from "../../../../lib/hl7/fhir";
import type { Bundle, Resource } from "../../../../lib/hl7/fhir/fhir-types";
import { codeOf, entries, only } from "./bundle-helpers";

const FIXTURES = join(__dirname, "..", "..", "..", "..", "..", "test", "fixtures", "hl7-fhir");

export const CONFIG: Hl7FhirConfig = {
  direction: "to-fhir",
  systems: JSON.stringify({
    "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000",
    SSA: "http://hl7.org/fhir/sid/us-ssn",
  }),
  timezone: "Europe/Berlin",
};

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

function convert(text: string, config: Partial<Hl7FhirConfig> = {}) {
  return createConverter({ ...CONFIG, ...config }).toFhir(text);
}

/** The message with MSH-9 and EVN-1 set to another trigger. */
function retrigger(text: string, event: string): string {
  return text
    .replace(/\|ADT\^A\d\d(\^[A-Z0-9_]+)?\|/, `|ADT^${event}^ADT_A01|`)
    .replace(/^EVN\|A\d\d\|/m, `EVN|${event}|`);
}

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
const PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type";
const idType = (code: string, display: string) => ({ coding: [{ system: V2_0203, code, display }] });

/** The Bundle's resources by fullUrl, to follow references. */
function byUrl(bundle: Bundle): Map<string, Resource> {
  return new Map((bundle.entry ?? []).map((e) => [e.fullUrl!, e.resource!]));
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The sample messages' facts, each stated from the HL7 field it comes from and mapped as the HL7
 * v2-to-FHIR IG (segment maps PID[Patient], PV1[Encounter], MRG, SCH[Appointment]; datatype maps
 * CX, XPN, XAD, XTN, XCN, PL) and FHIR-Converter's expected bundles map it. Identifier systems come
 * from CONFIG's table (GHH-MRN, SSA), an ISO universal ID (urn:oid:) or the pattern
 * urn:healthbridge:hl7v2:{authority}; fullUrls are only compared as references between entries.
 */
describe("hl7-fhir to-fhir: the sample messages' facts", () => {
  it("adt-a01-v2.5.1: PID -> Patient", () => {
    const { bundle, warnings } = convert(fixture("adt-a01-v2.5.1.hl7"));
    expect(warnings).to.deep.equal([]);
    const p = only<Json & Resource>(bundle, "Patient");
    // PID-3 100234^^^GHH-MRN^MR ~ 123-45-6789^^^SSA^SS
    expect(p.identifier).to.deep.equal([
      {
        system: "urn:oid:2.16.840.1.113883.19.1000",
        value: "100234",
        type: idType("MR", "Medical record number"),
      },
      {
        system: "http://hl7.org/fhir/sid/us-ssn",
        value: "123-45-6789",
        type: idType("SS", "Social Security number"),
      },
    ]);
    // PID-5 Everyman^Adam^Alan^Jr^Mr^^L ~ Everyman^Ad^^^^^N: XPN-1 family, -2 and -3 given, -4 suffix, -5 prefix, -7 use
    expect(p.name).to.deep.equal([
      { use: "official", family: "Everyman", given: ["Adam", "Alan"], prefix: ["Mr"], suffix: ["Jr"] },
      { use: "nickname", family: "Everyman", given: ["Ad"] },
    ]);
    expect(p.birthDate).to.equal("1961-06-15"); // PID-7 19610615
    expect(p.gender).to.equal("male"); // PID-8 M
    // PID-11 2222 Home Street^Apt 4^Greensboro^NC^27401^USA^H
    expect(p.address).to.deep.equal([
      {
        use: "home",
        line: ["2222 Home Street", "Apt 4"],
        city: "Greensboro",
        state: "NC",
        postalCode: "27401",
        country: "USA",
      },
    ]);
    // PID-13 ^PRN^PH^^1^555^5552004 ~ ^NET^Internet^adam@example.org; PID-14 ^WPN^PH^^1^555^5553001^22
    expect(p.telecom).to.deep.equal([
      { system: "phone", value: "+1 (555) 5552004", use: "home" },
      { system: "email", value: "adam@example.org" },
      { system: "phone", value: "+1 (555) 5553001 ext. 22", use: "work" },
    ]);
    // PID-16 M (table 0002 -> v3 MaritalStatus), PID-30 N
    expect(p.maritalStatus.coding).to.deep.equal([
      { system: "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", code: "M", display: "Married" },
    ]);
    expect(p.deceasedBoolean).to.equal(false);
  });

  it("adt-a01-v2.5.1: PV1 -> Encounter, its Practitioners, and PV1-3 as point of care, room and bed", () => {
    const { bundle } = convert(fixture("adt-a01-v2.5.1.hl7"));
    const urls = byUrl(bundle);
    const e = only<Json & Resource>(bundle, "Encounter");
    // PV1-19 V00017^^^GHH-VN^VN
    expect(e.identifier).to.deep.equal([
      { system: "urn:healthbridge:hl7v2:GHH-VN", value: "V00017", type: idType("VN", "Visit number") },
    ]);
    expect(e.status).to.equal("in-progress"); // A01 admits
    expect(e.class).to.deep.equal({
      system: "http://terminology.hl7.org/CodeSystem/v3-ActCode",
      code: "IMP",
      display: "inpatient encounter",
    }); // PV1-2 I
    expect(e.type[0].coding[0]).to.include({
      system: "http://terminology.hl7.org/CodeSystem/v2-0007",
      code: "E",
    }); // PV1-4
    expect(e.serviceType.coding[0]).to.include({
      system: "http://terminology.hl7.org/CodeSystem/v2-0069",
      code: "MED",
    }); // PV1-10
    expect(e.hospitalization.admitSource.coding[0]).to.include({ code: "7" }); // PV1-14
    expect(e.period).to.deep.equal({ start: "2024-01-15T08:00:00+01:00" }); // PV1-44 20240115080000+0100
    expect((urls.get(e.subject.reference) as Json).identifier[0].value).to.equal("100234");
    // PV1-7 attending, PV1-8 referring, PV1-17 admitting: XCN-1 id, -2 family, -3/-4 given, -6 prefix, -9 authority, -13 type
    const roles = (e.participant as Json[]).map((x) => {
      const pr = urls.get(x.individual.reference) as Json;
      return [
        x.type[0].coding[0].code,
        pr.identifier[0].system,
        pr.identifier[0].value,
        x.individual.display,
      ];
    });
    expect(roles).to.deep.equal([
      ["ATND", "urn:oid:2.16.840.1.113883.4.6", "004777", "Dr Aaron A Attend"],
      ["REF", "urn:healthbridge:hl7v2:GHH-STAFF", "008888", "Dr Rita Refer"],
      ["ADM", "urn:oid:2.16.840.1.113883.4.6", "004777", "Dr Aaron A Attend"],
    ]);
    const attending = urls.get(e.participant[0].individual.reference) as Json;
    expect(attending.name).to.deep.equal([{ family: "Attend", given: ["Aaron", "A"], prefix: ["Dr"] }]);
    expect(attending.identifier[0].type).to.deep.equal(idType("NPI", "National provider identifier"));
    // PV1-3 2000^2012^01^GHH: point of care 2000, room 2012, bed 01 of facility GHH
    const bed = urls.get(e.location[0].location.reference) as Json;
    const room = urls.get(bed.partOf.reference) as Json;
    const ward = urls.get(room.partOf.reference) as Json;
    expect(e.location).to.have.length(1);
    expect(e.location[0].status).to.equal("active");
    expect(
      [ward, room, bed].map((l) => [l.name, l.physicalType.coding[0].code, l.identifier[0].value]),
    ).to.deep.equal([
      ["2000", "wa", "2000"],
      ["2012", "ro", "2000/2012"],
      ["01", "bd", "2000/2012/01"],
    ]);
    for (const l of [ward, room, bed]) {
      expect(l).to.include({ status: "active", mode: "instance" });
      expect(l.identifier[0].system).to.equal("urn:healthbridge:hl7v2:GHH");
      expect(l.physicalType.coding[0].system).to.equal(PHYSICAL_TYPE);
    }
    expect(ward).to.not.have.property("partOf");
    expect(entries(bundle, "Location")).to.have.length(3);
  });

  it("adt-a04-v2.3: old layouts (PID-2, XTN-1, XAD type M), unescaped values, a one-level PL", () => {
    const { bundle, warnings } = convert(fixture("adt-a04-v2.3.hl7"));
    expect(warnings).to.deep.equal([]);
    const p = only<Json & Resource>(bundle, "Patient");
    // PID-3 555444^^^CLINIC-A^MR, then PID-2 X9911^^^CLINIC-A
    expect(p.identifier).to.deep.equal([
      {
        system: "urn:healthbridge:hl7v2:CLINIC-A",
        value: "555444",
        type: idType("MR", "Medical record number"),
      },
      { system: "urn:healthbridge:hl7v2:CLINIC-A", value: "X9911" },
    ]);
    // PID-5 O\S\Neil^Mary^Kate^^Ms^^L: \S\ is a "^" inside the family name
    expect(p.name).to.deep.equal([
      { use: "official", family: "O^Neil", given: ["Mary", "Kate"], prefix: ["Ms"] },
    ]);
    expect(p.birthDate).to.equal("1950-03"); // PID-7 195003: month precision kept
    expect(p.gender).to.equal("female");
    // PID-11 12 Harbour Rd\.br\Unit 3^^Cork^^T12 X2Y^IRL^M: XAD-7 M (mailing) is type postal
    expect(p.address).to.deep.equal([
      {
        type: "postal",
        line: ["12 Harbour Rd\nUnit 3"],
        city: "Cork",
        postalCode: "T12 X2Y",
        country: "IRL",
      },
    ]);
    expect(p.maritalStatus.coding[0]).to.include({ code: "W", display: "Widowed" }); // PID-16 W
    const e = only<Json & Resource>(bundle, "Encounter");
    expect(e.identifier[0]).to.include({ system: "urn:healthbridge:hl7v2:CLINIC-A", value: "VIS-3321" }); // PV1-19
    expect(e.status).to.equal("planned"); // A04 registers
    expect(e.class.code).to.equal("AMB"); // PV1-2 O
    expect(e.participant).to.deep.equal([
      // PV1-7 ^Nurse^Nora: a name without ID is a display, no Practitioner
      {
        type: [
          {
            coding: [
              {
                system: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                code: "ATND",
                display: "attender",
              },
            ],
          },
        ],
        individual: { display: "Nora Nurse" },
      },
    ]);
    expect(entries(bundle, "Practitioner")).to.have.length(0);
    // PV1-44 200312011000 without offset, read in CONFIG's zone (Europe/Berlin)
    expect(e.period).to.deep.equal({ start: "2003-12-01T10:00:00+01:00" });
    // PV1-3 CLIN1^^^CLINIC-A: a point of care only
    const ward = only<Json & Resource>(bundle, "Location");
    expect(ward).to.deep.include({
      identifier: [{ system: "urn:healthbridge:hl7v2:CLINIC-A", value: "CLIN1" }],
      name: "CLIN1",
    });
    expect(ward.physicalType.coding[0].code).to.equal("wa");
    expect(byUrl(bundle).get(e.location[0].location.reference)).to.equal(ward);
  });

  it("adt-a08-v2.8: XPN validity and maiden name, XTN-12, birth time, death, multiple birth, discharge", () => {
    const { bundle, warnings } = convert(fixture("adt-a08-v2.8.hl7"));
    expect(warnings).to.deep.equal([]);
    const p = only<Json & Resource>(bundle, "Patient");
    // PID-3 MRN-77^^^NMC&2.16.840.1.113883.19.5&ISO^MR ~ PE-1^^^ENTERPRISE^PE
    expect(p.identifier.map((i: Json) => [i.system, i.value, i.type.coding[0].code])).to.deep.equal([
      ["urn:oid:2.16.840.1.113883.19.5", "MRN-77", "MR"],
      ["urn:healthbridge:hl7v2:ENTERPRISE", "PE-1", "PE"],
    ]);
    // PID-5 Doe^Jane^^^^^L^^^^^20100101 ~ Smith^Jane^^^^^M^^^^^^20091231: XPN-12/13 the validity period
    expect(p.name).to.deep.equal([
      { use: "official", family: "Doe", given: ["Jane"], period: { start: "2010-01-01" } },
      { use: "maiden", family: "Smith", given: ["Jane"], period: { end: "2009-12-31" } },
    ]);
    // PID-7 19750412093000-0500: the date, and the time in the patient-birthTime extension
    expect(p.birthDate).to.equal("1975-04-12");
    expect(p._birthDate.extension[0]).to.deep.equal({
      url: "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
      valueDateTime: "1975-04-12T09:30:00-05:00",
    });
    // PID-13 ^PRN^CP^^1^217^5550199^^^^^+12175550199: XTN-12 (unformatted) wins, CP is a mobile
    expect(p.telecom[0]).to.deep.equal({ system: "phone", value: "+12175550199", use: "mobile" });
    expect(p.deceasedDateTime).to.equal("2024-02-29T22:15:00-05:00"); // PID-29, PID-30 Y
    expect(p.multipleBirthInteger).to.equal(2); // PID-24 Y, PID-25 2
    expect(p.maritalStatus.coding[0].code).to.equal("D");
    const e = only<Json & Resource>(bundle, "Encounter");
    expect(e.identifier[0]).to.include({ system: "urn:healthbridge:hl7v2:NMC-VN", value: "ENC-9" });
    expect(e.status).to.equal("finished"); // A08 with PV1-45 valued
    expect(e.class.code).to.equal("EMER"); // PV1-2 E
    expect(e.period).to.deep.equal({ start: "2024-02-28T19:00:00-05:00", end: "2024-02-29T22:15:00-05:00" });
    const ward = only<Json & Resource>(bundle, "Location"); // PV1-3 ED^^^NMC
    expect(ward.identifier).to.deep.equal([{ system: "urn:healthbridge:hl7v2:NMC", value: "ED" }]);
  });

  it("adt-a40-v2.5.1: the surviving patient (PID-3) replaces the merged one (MRG-1), which is inactive", () => {
    const { bundle, warnings } = convert(fixture("adt-a40-v2.5.1.hl7"));
    expect(warnings).to.deep.equal([]);
    const [surviving, merged] = entries(bundle, "Patient");
    const s = surviving.resource as Json;
    const m = merged.resource as Json;
    expect(s.identifier.map((i: Json) => i.value)).to.deep.equal(["100234"]);
    expect(m.identifier).to.deep.equal([
      {
        system: "urn:oid:2.16.840.1.113883.19.1000",
        value: "100999",
        type: idType("MR", "Medical record number"),
      },
    ]);
    expect(s.link).to.deep.equal([{ other: { reference: merged.fullUrl }, type: "replaces" }]);
    expect(m.link).to.deep.equal([{ other: { reference: surviving.fullUrl }, type: "replaced-by" }]);
    expect(m.active).to.equal(false);
    expect(m.name).to.deep.equal([{ use: "official", family: "Everyman", given: ["Adam"] }]); // MRG-7
    expect(s).to.not.have.property("active");
    expect(entries(bundle, "Encounter")).to.have.length(0);
  });

  it("siu-s12-v2.5.1: SCH/TQ1 -> Appointment with its patient, equipment, place and doctor", () => {
    const { bundle, warnings } = convert(fixture("siu-s12-v2.5.1.hl7"));
    expect(warnings).to.deep.equal([]);
    const urls = byUrl(bundle);
    const a = only<Json & Resource>(bundle, "Appointment");
    // SCH-1 PL-778^SCHED (placer), SCH-2 AP-4501^SCHED (filler)
    expect(a.identifier).to.deep.equal([
      { system: "urn:healthbridge:hl7v2:SCHED", value: "PL-778", type: idType("PLAC", "Placer Identifier") },
      { system: "urn:healthbridge:hl7v2:SCHED", value: "AP-4501", type: idType("FILL", "Filler Identifier") },
    ]);
    expect(a.status).to.equal("booked"); // SCH-25 Booked
    expect(a.start).to.equal("2024-03-05T09:30:00+01:00"); // TQ1-7
    expect(a.end).to.equal("2024-03-05T10:00:00+01:00"); // TQ1-8
    expect(a.minutesDuration).to.equal(30); // SCH-9 30, SCH-10 min
    expect(a.reasonCode[0].coding[0]).to.include({ code: "CHK", display: "Check-up" }); // SCH-7
    expect(a.appointmentType.coding[0]).to.include({ code: "NORMAL", display: "Routine" }); // SCH-8
    expect(a.serviceType[0].coding[0]).to.deep.equal({ code: "CONSULT", display: "General consultation" }); // AIS-3
    const actors = (a.participant as Json[]).map((x) => [
      x.actor.reference ? urls.get(x.actor.reference)!.resourceType : x.actor.display,
      x.status,
    ]);
    expect(actors).to.deep.equal([
      ["Patient", "accepted"],
      ["ECG machine 2", "tentative"], // AIG-3, AIG-14 Pending
      ["Location", "accepted"], // AIL-3, AIL-12 Booked
      ["Practitioner", "accepted"], // AIP-3, AIP-12 Booked
    ]);
    expect((urls.get(a.participant[0].actor.reference) as Json).identifier[0].value).to.equal("100234");
    // AIL-3 CLINIC^ROOM 4^^GHH: point of care CLINIC, room ROOM 4; the appointment is in the room
    const room = urls.get(a.participant[2].actor.reference) as Json;
    const clinic = urls.get(room.partOf.reference) as Json;
    expect(
      [clinic, room].map((l) => [l.name, l.physicalType.coding[0].code, l.identifier[0].value]),
    ).to.deep.equal([
      ["CLINIC", "wa", "CLINIC"],
      ["ROOM 4", "ro", "CLINIC/ROOM 4"],
    ]);
    expect(a.participant[3].type[0].coding[0]).to.include({ code: "PP" }); // AIP-4
    expect((urls.get(a.participant[3].actor.reference) as Json).identifier[0].value).to.equal("004777");
  });

  it("siu-s14-v2.3: SCH-11 timing and SCH-9 duration, a PI identifier, a dentist", () => {
    const { bundle, warnings } = convert(fixture("siu-s14-v2.3.hl7"));
    expect(warnings).to.deep.equal([]);
    const a = only<Json & Resource>(bundle, "Appointment");
    expect(a.identifier).to.deep.equal([
      { system: "urn:healthbridge:hl7v2:PMS", value: "88120", type: idType("PLAC", "Placer Identifier") },
    ]); // SCH-1 88120^PMS
    expect(a.status).to.equal("booked"); // S14 without SCH-25
    // SCH-11.4 200311201400 (no offset: CONFIG's zone), SCH-9 45 MIN
    expect([a.start, a.end, a.minutesDuration]).to.deep.equal([
      "2003-11-20T14:00:00+01:00",
      "2003-11-20T14:45:00+01:00",
      45,
    ]);
    expect(a.reasonCode).to.deep.equal([{ text: "Filling" }]); // SCH-7 ^Filling
    const p = only<Json & Resource>(bundle, "Patient"); // PID-3 D-0042^^^SMILE^PI
    expect(p.identifier).to.deep.equal([
      {
        system: "urn:healthbridge:hl7v2:SMILE",
        value: "D-0042",
        type: idType("PI", "Patient internal identifier"),
      },
    ]);
    expect(p.birthDate).to.equal("1988");
    const dr = only<Json & Resource>(bundle, "Practitioner"); // AIP-3 DR7^Kaur^Preet^^^Dr^^^SMILE
    expect(dr.identifier).to.deep.equal([{ system: "urn:healthbridge:hl7v2:SMILE", value: "DR7" }]);
    expect(dr.name).to.deep.equal([{ family: "Kaur", given: ["Preet"], prefix: ["Dr"] }]);
    expect(a.participant[1].type[0].coding[0]).to.include({ code: "D", display: "Dentist" }); // AIP-4
  });

  it("siu-s15-v2.8: a cancelled appointment declines its participants; PL-9 is the place's description", () => {
    const { bundle, warnings } = convert(fixture("siu-s15-v2.8.hl7"));
    expect(warnings).to.deep.equal([]);
    const a = only<Json & Resource>(bundle, "Appointment");
    expect(a.identifier[0]).to.include({ system: "urn:healthbridge:hl7v2:NMC-SCHED", value: "APT-31" }); // SCH-2
    expect(a.status).to.equal("cancelled"); // SCH-25 Cancelled
    expect([a.start, a.end]).to.deep.equal(["2024-03-12T14:00:00-05:00", "2024-03-12T14:30:00-05:00"]); // TQ1-7/8
    expect((a.participant as Json[]).map((x) => x.status)).to.deep.equal(["declined", "declined"]);
    // AIL-3 MRI^^^NMC^^^^^MRI suite: point of care MRI, PL-9 its description
    const ward = only<Json & Resource>(bundle, "Location");
    expect(ward).to.deep.include({
      identifier: [{ system: "urn:healthbridge:hl7v2:NMC", value: "MRI" }],
      name: "MRI",
      description: "MRI suite",
    });
    expect(a.participant[1].actor.display).to.equal("MRI suite");
  });
});

describe("hl7-fhir to-fhir: message handling", () => {
  it("gives the same Bundle for CR, LF and CRLF segment ends and a BOM", () => {
    const text = fixture("adt-a01-v2.5.1.hl7");
    const expected = convert(text).bundle;
    for (const variant of [
      text.replace(/\n/g, "\r"),
      text.replace(/\n/g, "\r\n"),
      `\uFEFF${text}`,
      Buffer.from(text.replace(/\n/g, "\r"), "utf8"),
    ]) {
      expect(createConverter(CONFIG).toFhir(variant).bundle).to.deep.equal(expected);
    }
  });

  it("is deterministic: the same message gives the same Bundle every time", () => {
    const text = fixture("siu-s12-v2.5.1.hl7");
    expect(JSON.stringify(convert(text).bundle)).to.equal(JSON.stringify(convert(text).bundle));
  });

  it("returns the header facts of the message", () => {
    const { header } = convert(fixture("adt-a01-v2.5.1.hl7"));
    expect(header).to.include({
      type: "ADT",
      event: "A01",
      structure: "ADT_A01",
      controlId: "MSG00001",
      version: "2.5.1",
      sendingApplication: "ADT1",
      sendingFacility: "GOOD HEALTH HOSPITAL",
    });
  });
});

describe("hl7-fhir to-fhir: Patient", () => {
  it("writes a conditional PUT on the MR identifier, all PID-3 repetitions and all names", () => {
    const { bundle } = convert(fixture("adt-a01-v2.5.1.hl7"));
    const entry = entries(bundle, "Patient")[0];
    expect(entry.request).to.deep.equal({
      method: "PUT",
      url: "Patient?identifier=urn%3Aoid%3A2.16.840.1.113883.19.1000%7C100234",
    });
    const p = entry.resource as unknown as {
      identifier: Array<{ system: string }>;
      name: Array<{ use?: string }>;
    };
    expect(p.identifier.map((i) => i.system)).to.deep.equal([
      "urn:oid:2.16.840.1.113883.19.1000",
      "http://hl7.org/fhir/sid/us-ssn",
    ]);
    expect(p.name.map((n) => n.use)).to.deep.equal(["official", "nickname"]);
  });

  it("uses the pattern for unknown authorities and the table's empty key for none", () => {
    const text = fixture("adt-a01-v2.5.1.hl7").replace("100234^^^GHH-MRN^MR", "100234^^^^MR");
    const p1 = only<{ identifier: Array<{ system: string }> } & Resource>(convert(text).bundle, "Patient");
    expect(p1.identifier[0].system).to.equal("urn:healthbridge:hl7v2:GOOD%20HEALTH%20HOSPITAL");
    const p2 = only<{ identifier: Array<{ system: string }> } & Resource>(
      convert(text, {
        systems: { "": "urn:oid:1.2.3" },
        systemPattern: "https://ids.example.org/{authority}",
      }).bundle,
      "Patient",
    );
    expect(p2.identifier[0].system).to.equal("urn:oid:1.2.3");
    expect(p2.identifier[1].system).to.equal("https://ids.example.org/SSA");
  });

  it("maps every code of table 0001 and leaves unknown codes out with a warning", () => {
    const base = fixture("adt-a01-v2.5.1.hl7");
    const cases: Record<string, string | undefined> = {
      F: "female",
      M: "male",
      O: "other",
      U: "unknown",
      A: "other",
      N: "other",
      X: undefined,
    };
    for (const [code, gender] of Object.entries(cases)) {
      const result = convert(base.replace("|19610615|M|", `|19610615|${code}|`));
      const p = only<{ gender?: string } & Resource>(result.bundle, "Patient");
      expect(p.gender, code).to.equal(gender);
      expect(result.warnings.length, code).to.equal(gender ? 0 : 1);
    }
  });

  it("keeps birth date precision and never shifts it", () => {
    const base = fixture("adt-a01-v2.5.1.hl7");
    for (const [v2, fhir] of [
      ["1961", "1961"],
      ["196106", "1961-06"],
      ["19610615", "1961-06-15"],
      ["19610615233000-1100", "1961-06-15"],
    ]) {
      const p = only<{ birthDate?: string } & Resource>(
        convert(base.replace("|19610615|", `|${v2}|`)).bundle,
        "Patient",
      );
      expect(p.birthDate).to.equal(fhir);
    }
  });

  it("reads XTN in the old (XTN-1) and new (XTN-5..8, XTN-12) layouts", () => {
    const a04 = only<{ telecom: unknown[] } & Resource>(
      convert(fixture("adt-a04-v2.3.hl7")).bundle,
      "Patient",
    );
    expect(a04.telecom).to.deep.equal([
      { system: "phone", value: "(021)555-0101", use: "home" },
      { system: "email", value: "mary@example.ie" },
    ]);
    const a08 = only<{ telecom: unknown[] } & Resource>(
      convert(fixture("adt-a08-v2.8.hl7")).bundle,
      "Patient",
    );
    expect(a08.telecom).to.deep.equal([
      { system: "phone", value: "+12175550199", use: "mobile" },
      { system: "email", value: "jane@example.com" },
    ]);
  });

  it("unescapes values (\\S\\ and \\.br\\)", () => {
    const p = only<{ name: Array<{ family: string }>; address: Array<{ line: string[] }> } & Resource>(
      convert(fixture("adt-a04-v2.3.hl7")).bundle,
      "Patient",
    );
    expect(p.name[0].family).to.equal("O^Neil");
    expect(p.address[0].line[0]).to.equal("12 Harbour Rd\nUnit 3");
  });

  it("A29 makes the patient inactive; A17 converts both patients", () => {
    const a29 = only<{ active?: boolean } & Resource>(
      convert(retrigger(fixture("adt-a01-v2.5.1.hl7"), "A29")).bundle,
      "Patient",
    );
    expect(a29.active).to.equal(false);
    const a01 = fixture("adt-a01-v2.5.1.hl7");
    const [, pid, pv1] = /\n(PID\|[^\n]*)\n(PV1\|[^\n]*)/.exec(a01)!;
    const second = `${pid.replace("100234^^^GHH-MRN^MR", "100777^^^GHH-MRN^MR")}\n${pv1.replace("V00017", "V00018")}`;
    const a17 = convert(`${retrigger(a01, "A17")}${second}\n`);
    expect(entries(a17.bundle, "Patient")).to.have.length(2);
    expect(entries(a17.bundle, "Encounter")).to.have.length(2);
  });
});

describe("hl7-fhir to-fhir: Encounter", () => {
  function encounter(event: string, edit = (t: string) => t) {
    return only<{ status: string; class: { code: string }; period?: object } & Resource>(
      convert(edit(retrigger(fixture("adt-a01-v2.5.1.hl7"), event))).bundle,
      "Encounter",
    );
  }

  it("takes the status from the trigger: A01 in-progress, A03 finished, A04 planned, A11 cancelled, A13 in-progress", () => {
    expect(encounter("A01").status).to.equal("in-progress");
    expect(encounter("A03").status).to.equal("finished");
    expect(encounter("A04").status).to.equal("planned");
    expect(encounter("A05").status).to.equal("planned");
    expect(encounter("A11").status).to.equal("cancelled");
    expect(encounter("A13").status).to.equal("in-progress");
    expect(encounter("A23").status).to.equal("entered-in-error");
  });

  it("A08 takes the status from PV1-45 (finished) or PV1-2", () => {
    expect(encounter("A08").status).to.equal("in-progress");
    const discharged = encounter("A08", (t) =>
      t.replace("|20240115080000+0100\n", "|20240115080000+0100|20240118120000+0100\n"),
    );
    expect(discharged.status).to.equal("finished");
    expect(discharged.period).to.deep.equal({
      start: "2024-01-15T08:00:00+01:00",
      end: "2024-01-18T12:00:00+01:00",
    });
    expect(encounter("A08", (t) => t.replace("PV1|1|I|", "PV1|1|P|")).status).to.equal("planned");
  });

  it("maps table 0004 to the class", () => {
    const classes: Record<string, string> = { E: "EMER", I: "IMP", O: "AMB", P: "PRENC", R: "R", B: "B" };
    for (const [v2, code] of Object.entries(classes)) {
      expect(encounter("A01", (t) => t.replace("PV1|1|I|", `PV1|1|${v2}|`)).class.code).to.equal(code);
    }
  });

  it("writes one Practitioner per doctor and refers to it from every role", () => {
    const { bundle } = convert(fixture("adt-a01-v2.5.1.hl7"));
    const practitioners = entries(bundle, "Practitioner");
    expect(practitioners).to.have.length(2);
    expect(practitioners[0].request).to.deep.equal({
      method: "POST",
      url: "Practitioner",
      ifNoneExist: "identifier=urn%3Aoid%3A2.16.840.1.113883.4.6%7C004777",
    });
    const enc = only<{ participant: Array<{ individual: { reference: string } }> } & Resource>(
      bundle,
      "Encounter",
    );
    expect(enc.participant.map((p) => p.individual.reference)).to.deep.equal([
      practitioners[0].fullUrl,
      practitioners[1].fullUrl,
      practitioners[0].fullUrl,
    ]);
  });

  it("PV1-3: each place is ensured (POST ifNoneExist on facility + path), the same in every message", () => {
    const locations = (pl: string, controlId = "MSG00001") =>
      entries(
        convert(
          fixture("adt-a01-v2.5.1.hl7")
            .replace("|2000^2012^01^GHH|", `|${pl}|`)
            .replace("MSG00001", controlId),
        ).bundle,
        "Location",
      );
    const first = locations("2000^2012^01^GHH");
    expect(first.map((e) => e.request)).to.deep.equal(
      ["2000", "2000%2F2012", "2000%2F2012%2F01"].map((v) => ({
        method: "POST",
        url: "Location",
        ifNoneExist: `identifier=urn%3Ahealthbridge%3Ahl7v2%3AGHH%7C${v}`,
      })),
    );
    // another message naming the same bed: the same three entries, so the server keeps one of each
    expect(locations("2000^2012^01^GHH", "MSG00002")).to.deep.equal(first);
    // bed 01 of another room is another bed; room 2012 and point of care 2000 are the same
    const other = locations("2000^2013^01^GHH");
    expect(other.map((e) => e.fullUrl)).to.deep.equal([first[0].fullUrl, other[1].fullUrl, other[2].fullUrl]);
    expect(other[1].fullUrl).to.not.equal(first[1].fullUrl);
    expect(other[2].fullUrl).to.not.equal(first[2].fullUrl);
    // an empty level stays an empty path segment, and the bed is part of the point of care
    const noRoom = locations("2000^^01^GHH").map((e) => e.resource as Json);
    expect(noRoom.map((l) => l.identifier[0].value)).to.deep.equal(["2000", "2000//01"]);
    expect(noRoom[1].partOf.reference).to.equal(first[0].fullUrl);
    // "/" and "%" inside a component are percent-encoded: no two places share a path
    const slashed = locations("ICU/A^1^^GHH").map((e) => (e.resource as Json).identifier[0].value);
    expect(slashed).to.deep.equal(["ICU%2FA", "ICU%2FA/1"]);
    expect(locations("^^^GHH^^^^^Lobby")).to.deep.equal([]);
  });

  it("writes no Encounter without PV1-19 and says so in the warnings", () => {
    const result = convert(fixture("adt-a01-v2.5.1.hl7").replace("V00017^^^GHH-VN^VN", ""));
    expect(entries(result.bundle, "Encounter")).to.have.length(0);
    expect(result.warnings).to.deep.equal(["PV1-19: no visit number, so no Encounter was written"]);
  });
});

describe("hl7-fhir to-fhir: Appointment", () => {
  it("takes the status from the trigger unless SCH-25 maps", () => {
    const base = fixture("siu-s12-v2.5.1.hl7").replace("|Booked\nTQ1", "|\nTQ1");
    const status = (event: string, filler = ""): string =>
      only<{ status: string } & Resource>(
        convert(base.replace("SIU^S12^SIU_S12", `SIU^${event}^SIU_S12`).replace("|\nTQ1", `|${filler}\nTQ1`))
          .bundle,
        "Appointment",
      ).status;
    expect(status("S12")).to.equal("booked");
    expect(status("S13")).to.equal("booked");
    expect(status("S14")).to.equal("booked");
    expect(status("S15")).to.equal("cancelled");
    expect(status("S17")).to.equal("entered-in-error");
    expect(status("S26")).to.equal("noshow");
    expect(status("S14", "Complete")).to.equal("fulfilled");
    expect(status("S12", "Started")).to.equal("checked-in");
    expect(status("S12", "Blocked")).to.equal("booked");
  });

  it("computes the end from SCH-11 start and the SCH-9 duration (v2.3)", () => {
    const a = only<{ start: string; end: string; minutesDuration: number } & Resource>(
      convert(fixture("siu-s14-v2.3.hl7"), { timezone: "Australia/Melbourne" }).bundle,
      "Appointment",
    );
    expect(a).to.include({
      start: "2003-11-20T14:00:00+11:00",
      end: "2003-11-20T14:45:00+11:00",
      minutesDuration: 45,
    });
  });

  it("ensures the SIU patient exists without overwriting ADT demographics", () => {
    const entry = entries(convert(fixture("siu-s12-v2.5.1.hl7")).bundle, "Patient")[0];
    expect(entry.request).to.deep.equal({
      method: "POST",
      url: "Patient",
      ifNoneExist: "identifier=urn%3Aoid%3A2.16.840.1.113883.19.1000%7C100234",
    });
  });

  it("leaves out resources whose segment action code is D", () => {
    const text = fixture("siu-s12-v2.5.1.hl7").replace("AIG|1|A|", "AIG|1|D|");
    const a = only<{ participant: unknown[] } & Resource>(convert(text).bundle, "Appointment");
    expect(a.participant).to.have.length(3);
  });
});

describe("hl7-fhir to-fhir: errors", () => {
  it("HL7_UNSUPPORTED names the message type", () => {
    const oru = fixture("adt-a01-v2.5.1.hl7").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01");
    const e = codeOf(() => convert(oru));
    expect(e.code).to.equal("HL7_UNSUPPORTED");
    expect(e.message).to.contain("ORU^R01");
    const a19 = codeOf(() => convert(retrigger(fixture("adt-a01-v2.5.1.hl7"), "A19")));
    expect(a19.code).to.equal("HL7_UNSUPPORTED");
    expect(a19.message).to.contain("ADT^A19");
    const s18 = fixture("siu-s12-v2.5.1.hl7").replace("SIU^S12", "SIU^S18");
    expect(codeOf(() => convert(s18)).code).to.equal("HL7_UNSUPPORTED");
  });

  it("HL7_CONVERT with the location, and never the value, in the message", () => {
    const cases: Array<[string, string]> = [
      [fixture("adt-a01-v2.5.1.hl7").replace(/\nPID\|[^\n]*/, ""), "PID"],
      [fixture("adt-a01-v2.5.1.hl7").replace("100234^^^GHH-MRN^MR~123-45-6789^^^SSA^SS", ""), "PID-3"],
      [fixture("adt-a01-v2.5.1.hl7").replace("|19610615|", "|19613015|"), "PID-7"],
      [fixture("adt-a01-v2.5.1.hl7").replace("|20240115080000+0100\n", "|2024-01-15\n"), "PV1-44"],
      [fixture("adt-a40-v2.5.1.hl7").replace(/\nMRG\|[^\n]*/, ""), "PID#3"],
      [fixture("adt-a40-v2.5.1.hl7").replace("100999^^^GHH-MRN^MR", ""), "MRG-1"],
      [fixture("adt-a40-v2.5.1.hl7").replace("100999^^^GHH-MRN^MR", "100234^^^GHH-MRN^MR"), "MRG-1"],
      [fixture("siu-s12-v2.5.1.hl7").replace(/\nSCH\|[^\n]*/, ""), "SCH"],
      [fixture("siu-s12-v2.5.1.hl7").replace("PL-778^SCHED|AP-4501^SCHED", "|"), "SCH-1"],
      [
        fixture("siu-s12-v2.5.1.hl7")
          .replace(/\nTQ1\|[^\n]*/, "")
          .replace(/\nAIS\|[^\n]*/, ""),
        "SCH-11",
      ],
      [fixture("siu-s12-v2.5.1.hl7").replace("|30|min^minutes^UCUM|", "|half|min^minutes^UCUM|"), "SCH-9"],
    ];
    for (const [text, where] of cases) {
      const e = codeOf(() => convert(text));
      expect(e.code, where).to.equal("HL7_CONVERT");
      expect(e.details, where).to.deep.equal({ location: where });
      expect(e.message, where).to.not.match(/19613015|100234|2024-01-15|half/);
    }
  });

  it("HL7_CONFIG for a bad systems table or time zone", () => {
    expect(codeOf(() => createConverter({ ...CONFIG, systems: "{not json" })).code).to.equal("HL7_CONFIG");
    expect(codeOf(() => createConverter({ ...CONFIG, systems: '{"A": 5}' })).code).to.equal("HL7_CONFIG");
    expect(codeOf(() => createConverter({ ...CONFIG, systems: "[]" })).code).to.equal("HL7_CONFIG");
    expect(codeOf(() => createConverter({ ...CONFIG, timezone: "Mars/Base" })).code).to.equal("HL7_CONFIG");
    expect(codeOf(() => createConverter({ ...CONFIG, systemPattern: "no pattern" })).code).to.equal(
      "HL7_CONFIG",
    );
  });

  it("HL7_PARSE for text that is not HL7, and rejects payloads that are neither text nor a parsed message", () => {
    expect(codeOf(() => convert("hello world")).code).to.equal("HL7_PARSE");
    expect(codeOf(() => createConverter(CONFIG).toFhir({ resourceType: "Patient" })).code).to.equal(
      "HL7_BAD_INPUT",
    );
    expect(codeOf(() => createConverter(CONFIG).toFhir(42)).code).to.equal("HL7_BAD_INPUT");
  });
});
