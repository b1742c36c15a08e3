import { expect } from "chai";
import { createConverter } from "../../../../lib/hl7/fhir";
import type { Bundle, BundleEntry, Identifier, Resource } from "../../../../lib/hl7/fhir/fhir-types";
import { codeOf, entries } from "./bundle-helpers";

/**
 * The ADT merge, move, change and link events: what each writes, what each requires (an
 * HL7_CONVERT naming the location, never the value) and that repeated groups each convert.
 */

const SYS = "urn:clinic";
const converter = createConverter({ direction: "to-fhir", systems: { CLINIC: SYS }, timezone: "Z" });

const PID = "PID|1||MRN1^^^CLINIC^MR||DOE^JANE||19800101|F||||||||||ACC1^^^CLINIC";
const MRG_ALL = "MRG|MRN0^^^CLINIC^MR|ALT0^^^CLINIC|ACC0^^^CLINIC|OLD0^^^CLINIC|V0^^^CLINIC|AV0^^^CLINIC";

function pv1(visit = "V1^^^CLINIC", alternate = "AV1^^^CLINIC"): string {
  const f = new Array<string>(51).fill("");
  f[1] = "1";
  f[2] = "I";
  f[3] = "WARD^1^A";
  f[19] = visit;
  f[50] = alternate;
  return `PV1|${f.slice(1).join("|")}`;
}

function message(event: string, ...segments: string[]): string {
  return [
    `MSH|^~\\&|PMS|CLINIC|EHR|HOSP|20260101120000||ADT^${event}^ADT_A39|C-${event}|P|2.5.1`,
    `EVN|${event}|20260101120000`,
    ...segments,
  ].join("\r");
}

function convert(text: string) {
  return converter.toFhir(text);
}

type WithIds = Resource & { identifier?: Identifier[] };

function byValue(bundle: Bundle, type: string, value: string): { entry: BundleEntry; r: WithIds } {
  const hit = entries(bundle, type).find((e) =>
    (e.request?.url ?? "").split("identifier=")[1]?.split(",")[0].endsWith(`%7C${value}`),
  );
  if (!hit) throw new Error(`no ${type} entry found by ${value}`);
  return { entry: hit, r: hit.resource as WithIds };
}

const values = (r: WithIds): string[] => (r.identifier ?? []).map((i) => `${i.use ?? ""}:${i.value}`);

describe("hl7-fhir to-fhir: ADT merge, move, change and link events", () => {
  it("test PV1 puts the visit number in PV1-19 and the alternate visit ID in PV1-50", () => {
    const seg = pv1().split("|");
    expect(seg[0]).to.equal("PV1");
    expect(seg[2]).to.equal("I");
    expect(seg[19]).to.equal("V1^^^CLINIC");
    expect(seg[50]).to.equal("AV1^^^CLINIC");
  });

  for (const event of ["A30", "A34", "A39", "A40"]) {
    it(`${event} merges patients: the surviving one replaces the merged one, which is inactive`, () => {
      const { bundle } = convert(message(event, PID, "MRG|MRN0^^^CLINIC^MR"));
      const surviving = byValue(bundle, "Patient", "MRN1");
      const merged = byValue(bundle, "Patient", "MRN0");
      expect(surviving.r.link).to.deep.equal([
        { other: { reference: merged.entry.fullUrl }, type: "replaces" },
      ]);
      expect(merged.r.link).to.deep.equal([
        { other: { reference: surviving.entry.fullUrl }, type: "replaced-by" },
      ]);
      expect(merged.r.active).to.equal(false);
    });
  }

  it("A30 and A39 also take MRG-4 (prior patient ID, before 2.7) as the merged patient", () => {
    for (const event of ["A30", "A39"]) {
      const { bundle } = convert(message(event, PID, "MRG||||OLD0^^^CLINIC"));
      expect(byValue(bundle, "Patient", "OLD0").r.active).to.equal(false);
    }
  });

  it("A35 and A41 merge accounts: the prior Account (MRG-3) is inactive and partOf the surviving one (PID-18)", () => {
    for (const event of ["A35", "A41"]) {
      const { bundle } = convert(message(event, PID, "MRG|||ACC0^^^CLINIC"));
      const surviving = byValue(bundle, "Account", "ACC1");
      const prior = byValue(bundle, "Account", "ACC0");
      expect(surviving.r.status).to.equal("active");
      expect(prior.r.status).to.equal("inactive");
      expect(prior.r.partOf).to.deep.equal({ reference: surviving.entry.fullUrl });
      const patientUrl = byValue(bundle, "Patient", "MRN1").entry.fullUrl;
      expect(surviving.r.subject).to.deep.equal([{ reference: patientUrl }]);
      expect(entries(bundle, "Patient")).to.have.length(1);
    }
  });

  it("A41 without MRG-3 writes the surviving Account and warns that nothing was merged", () => {
    const { bundle, warnings } = convert(message("A41", PID, "MRG|MRN1^^^CLINIC^MR"));
    expect(entries(bundle, "Account").map((e) => values(e.resource as WithIds))).to.deep.equal([[":ACC1"]]);
    expect(warnings).to.deep.equal(["MRG-3: no prior account number, so no account was merged"]);
  });

  it("an Account several PIDs of one message name is written once with each patient as subject", () => {
    const other = PID.replace("MRN1", "MRN2");
    const { bundle } = convert(message("A41", PID, "MRG|||ACC0^^^CLINIC", other, "MRG|||ACC9^^^CLINIC"));
    const surviving = byValue(bundle, "Account", "ACC1");
    expect((surviving.r.subject as unknown[]).length).to.equal(2);
    expect(entries(bundle, "Account")).to.have.length(3);
  });

  it("A36 merges the patients and the accounts", () => {
    const { bundle } = convert(message("A36", PID, "MRG|MRN0^^^CLINIC^MR||ACC0^^^CLINIC"));
    expect(byValue(bundle, "Patient", "MRN0").r.active).to.equal(false);
    expect(byValue(bundle, "Account", "ACC0").r.status).to.equal("inactive");
  });

  it("A42 merges visits: the prior Encounter (MRG-5) is entered-in-error and partOf the surviving one", () => {
    const { bundle } = convert(message("A42", PID, "MRG|MRN1^^^CLINIC^MR||||V0^^^CLINIC", pv1()));
    const surviving = byValue(bundle, "Encounter", "V1");
    const prior = byValue(bundle, "Encounter", "V0");
    expect(prior.r.status).to.equal("entered-in-error");
    expect(prior.r.partOf).to.deep.equal({ reference: surviving.entry.fullUrl });
    expect(surviving.r.account).to.have.length(1);
  });

  it("A43 writes the target patient of PID", () => {
    const { bundle } = convert(message("A43", PID, "MRG|MRN1^^^CLINIC^MR"));
    expect(entries(bundle, "Patient")).to.have.length(1);
    expect(byValue(bundle, "Patient", "MRN1").r.link).to.equal(undefined);
  });

  it("A44 moves the Account: found by MRG-3, now of the PID patient, numbered PID-18 and keeping MRG-3", () => {
    const { bundle } = convert(message("A44", PID, "MRG|MRN9^^^CLINIC^MR||ACC0^^^CLINIC"));
    const account = byValue(bundle, "Account", "ACC0");
    expect(values(account.r)).to.deep.equal([":ACC1", "old:ACC0"]);
    expect(account.r.subject).to.deep.equal([
      { reference: byValue(bundle, "Patient", "MRN1").entry.fullUrl },
    ]);
  });

  it("A49 changes the account number the same way", () => {
    const { bundle } = convert(message("A49", PID, "MRG|MRN1^^^CLINIC^MR||ACC0^^^CLINIC"));
    expect(values(byValue(bundle, "Account", "ACC0").r)).to.deep.equal([":ACC1", "old:ACC0"]);
  });

  for (const event of ["A45", "A50"]) {
    it(`${event} updates the Encounter found by MRG-5: PV1-19 its number, MRG-5 kept (use old), PID its patient`, () => {
      const { bundle } = convert(message(event, PID, "MRG|MRN9^^^CLINIC^MR||||V0^^^CLINIC", pv1()));
      const enc = byValue(bundle, "Encounter", "V0");
      expect(values(enc.r)).to.deep.equal([":V1", "old:V0"]);
      expect(enc.r.subject).to.deep.equal({ reference: byValue(bundle, "Patient", "MRN1").entry.fullUrl });
      expect(entries(bundle, "Encounter")).to.have.length(1);
    });
  }

  it("A45 moves each visit of a PID with several MRG/PV1 pairs", () => {
    const text = message(
      "A45",
      PID,
      "MRG|MRN9^^^CLINIC^MR||||V0^^^CLINIC",
      pv1("V0^^^CLINIC"),
      "MRG|MRN9^^^CLINIC^MR||||V5^^^CLINIC",
      pv1("V5^^^CLINIC"),
    );
    const { bundle } = convert(text);
    expect(entries(bundle, "Encounter").map((e) => values(e.resource as WithIds))).to.deep.equal([
      [":V0"],
      [":V5"],
    ]);
  });

  for (const event of ["A46", "A47"]) {
    it(`${event} changes the patient identifier: found by MRG-1, which it keeps (use old)`, () => {
      const { bundle } = convert(message(event, PID, "MRG|MRN0^^^CLINIC^MR"));
      const patient = byValue(bundle, "Patient", "MRN0");
      expect(values(patient.r)).to.deep.equal([":MRN1", "old:MRN0"]);
      expect(entries(bundle, "Patient")).to.have.length(1);
    });
  }

  it("A46 also takes MRG-4 (prior patient ID, before 2.7)", () => {
    const { bundle } = convert(message("A46", PID, "MRG||||OLD0^^^CLINIC"));
    expect(values(byValue(bundle, "Patient", "OLD0").r)).to.deep.equal([":MRN1", "old:OLD0"]);
  });

  it("A47 with several PID/MRG groups changes each patient", () => {
    const other = PID.replace("MRN1", "MRN2");
    const { bundle } = convert(message("A47", PID, "MRG|MRN0^^^CLINIC^MR", other, "MRG|MRN8^^^CLINIC^MR"));
    expect(values(byValue(bundle, "Patient", "MRN0").r)).to.deep.equal([":MRN1", "old:MRN0"]);
    expect(values(byValue(bundle, "Patient", "MRN8").r)).to.deep.equal([":MRN2", "old:MRN8"]);
  });

  it("A48 changes the alternate patient ID: the Patient by PID-3, keeping MRG-2 (use old)", () => {
    const { bundle } = convert(message("A48", PID, "MRG|MRN1^^^CLINIC^MR|ALT0^^^CLINIC"));
    expect(values(byValue(bundle, "Patient", "MRN1").r)).to.deep.equal([":MRN1", "old:ALT0"]);
  });

  it("A51 changes the alternate visit ID: the Encounter by PV1-19 with PV1-50, keeping MRG-6 (use old)", () => {
    const { bundle } = convert(message("A51", PID, "MRG|MRN1^^^CLINIC^MR|||||AV0^^^CLINIC", pv1()));
    expect(values(byValue(bundle, "Encounter", "V1").r)).to.deep.equal([":V1", ":AV1", "old:AV0"]);
  });

  it("A24 links two patients both ways (seealso); A37 writes them without the link", () => {
    const other = PID.replace("MRN1", "MRN2");
    const linked = convert(message("A24", PID, other)).bundle;
    const a = byValue(linked, "Patient", "MRN1");
    const b = byValue(linked, "Patient", "MRN2");
    expect(a.r.link).to.deep.equal([{ other: { reference: b.entry.fullUrl }, type: "seealso" }]);
    expect(b.r.link).to.deep.equal([{ other: { reference: a.entry.fullUrl }, type: "seealso" }]);
    const unlinked = convert(message("A37", PID, other)).bundle;
    expect(entries(unlinked, "Patient").map((e) => e.resource?.link)).to.deep.equal([undefined, undefined]);
  });

  it("a resend of a change finds the resource it wrote: each is written by an identifier it keeps", () => {
    for (const event of ["A44", "A45", "A46", "A47", "A48", "A49", "A50", "A51"]) {
      const text = message(event, PID, MRG_ALL, pv1());
      const first = convert(text).bundle;
      expect(convert(text).bundle, event).to.deep.equal(first);
      for (const e of first.entry ?? []) {
        if (e.request?.method !== "PUT") continue;
        const searched = e.request.url
          .split("identifier=")[1]
          .split(",")
          .map((t) => decodeURIComponent(t));
        const kept = ((e.resource as WithIds).identifier ?? []).map((i) => `${i.system}|${i.value}`);
        expect(kept, `${event} ${e.request.url}`).to.include.members(searched);
      }
    }
  });

  it("a change is found by the prior or the new identifier, so a Patient already renumbered is updated, not doubled", () => {
    const patient = byValue(convert(message("A47", PID, "MRG|MRN0^^^CLINIC^MR")).bundle, "Patient", "MRN0");
    expect(patient.entry.request?.url).to.equal(
      `Patient?identifier=${encodeURIComponent(`${SYS}|MRN0`)},${encodeURIComponent(`${SYS}|MRN1`)}`,
    );
    for (const event of ["A45", "A49", "A50"]) {
      const { bundle } = convert(message(event, PID, MRG_ALL, pv1()));
      const changed = (bundle.entry ?? []).filter((e) => e.request?.url.includes(","));
      expect(changed, event).to.have.length(1);
    }
  });

  it("HL7_CONVERT names the missing segment or field of each event, never a value", () => {
    const cases: Array<[string, string, string]> = [
      ["A40", message("A40", PID), "PID#3"],
      ["A40", message("A40", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A34", message("A34", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A30", message("A30", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A39", message("A39", PID), "PID#3"],
      ["A40", message("A40", PID, "MRG|MRN1^^^CLINIC^MR"), "MRG-1"],
      ["A45", message("A45", PID, "MRG|||||V0^^^CLINIC"), "MRG#4"],
      ["A47", message("A47", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A46", message("A46", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A43", message("A43", PID, "MRG||ALT0^^^CLINIC"), "MRG-1"],
      ["A48", message("A48", PID, "MRG|MRN1^^^CLINIC^MR"), "MRG-2"],
      ["A35", message("A35", PID, "MRG|MRN1^^^CLINIC^MR"), "MRG-3"],
      ["A36", message("A36", PID, "MRG|MRN0^^^CLINIC^MR"), "MRG-3"],
      ["A35", message("A35", PID.replace("ACC1^^^CLINIC", ""), "MRG|||ACC0^^^CLINIC"), "PID-18"],
      ["A41", message("A41", PID.replace("ACC1^^^CLINIC", ""), "MRG|||ACC0^^^CLINIC"), "PID-18"],
      ["A41", message("A41", PID, "MRG|||ACC1^^^CLINIC"), "MRG-3"],
      ["A44", message("A44", PID, "MRG|MRN1^^^CLINIC^MR"), "MRG-3"],
      ["A49", message("A49", PID, "MRG|MRN1^^^CLINIC^MR"), "MRG-3"],
      ["A49", message("A49", PID.replace("ACC1^^^CLINIC", ""), "MRG|||ACC0^^^CLINIC"), "PID-18"],
      ["A42", message("A42", PID, "MRG|MRN1^^^CLINIC^MR", pv1()), "MRG-5"],
      ["A42", message("A42", PID, "MRG|||||V1^^^CLINIC", pv1()), "MRG-5"],
      ["A45", message("A45", PID, "MRG|MRN1^^^CLINIC^MR", pv1()), "MRG-5"],
      ["A50", message("A50", PID, "MRG|MRN1^^^CLINIC^MR", pv1()), "MRG-5"],
      ["A50", message("A50", PID, "MRG|||||V0^^^CLINIC"), "MRG#4"],
      ["A50", message("A50", PID, "MRG|||||V0^^^CLINIC", pv1("")), "PV1-19"],
      ["A51", message("A51", PID, "MRG|MRN1^^^CLINIC^MR", pv1()), "MRG-6"],
      ["A24", message("A24", PID), "PID"],
      ["A24", message("A24", PID, PID), "PID-3"],
      ["A37", message("A37", PID, PID.replace("MRN1", "MRN2"), PID.replace("MRN1", "MRN3")), "PID#5"],
    ];
    for (const [event, text, where] of cases) {
      const e = codeOf(() => convert(text));
      expect(e.code, `${event} ${where}`).to.equal("HL7_CONVERT");
      expect(e.details, `${event} ${where}`).to.deep.equal({ location: where });
      expect(e.message, `${event} ${where}`).to.not.match(/MRN\d|ACC\d|ALT\d|\bA?V\d|DOE|JANE/);
    }
  });
});
