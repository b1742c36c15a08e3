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

describe("hl7-fhir to-fhir: sample messages give their expected Bundles", () => {
  for (const name of [
    "adt-a01-v2.5.1",
    "adt-a04-v2.3",
    "adt-a08-v2.8",
    "adt-a40-v2.5.1",
    "siu-s12-v2.5.1",
    "siu-s14-v2.3",
    "siu-s15-v2.8",
  ]) {
    it(name, () => {
      const result = convert(fixture(`${name}.hl7`));
      const expected = JSON.parse(fixture(`${name}.json`)) as Bundle;
      expect(result.bundle).to.deep.equal(expected);
      expect(result.warnings).to.deep.equal([]);
    });
  }

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
