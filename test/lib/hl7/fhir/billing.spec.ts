import { expect } from "chai";
import { createConverter } from "../../../../lib/hl7/fhir";
import type { ChargeItem, Condition, Coverage } from "../../../../lib/hl7/fhir/billing-types";
import type { Account, Bundle, Resource } from "../../../../lib/hl7/fhir/fhir-types";
import { entries, only } from "./bundle-helpers";

const toFhir = createConverter({ direction: "to-fhir", timezone: "Z" });
const toHl7 = createConverter({ direction: "to-hl7", sendingApplication: "EHR", sendingFacility: "CLINIC" });

const MSH = (type: string, id = "C1"): string =>
  `MSH|^~\\&|PMS|CLINIC|BILL|HOSP|20260101120000||${type}|${id}|P|2.5.1`;
const PID = "PID|1||MRN1^^^CLINIC^MR||DOE^JANE||19800101|F||||||||||ACC77^^^BILL";
const PV1 = "PV1|1|O|||||||||||||||||V100^^^CLINIC";
const FT1 =
  "FT1|1|TX1||20260105|20260106|CG|99213^Office visit^CPT|||2|150.50&USD|75.25&USD|||||||J06.9^URI^I10|DR1^House^Greg^^^^^^CLINIC";

function msg(...segs: string[]): string {
  return segs.join("\r") + "\r";
}

function convertError(text: string): { code?: string; message: string; details?: { location?: string } } {
  try {
    toFhir.toFhir(text);
  } catch (err) {
    return err as { code?: string; message: string; details?: { location?: string } };
  }
  throw new Error("no error");
}

describe("lib/hl7/fhir DFT and BAR -> FHIR", () => {
  it("writes one ChargeItem per FT1 with code, quantity, price, dates, performer, reason, context, account", () => {
    const { bundle } = toFhir.toFhir(
      msg(MSH("DFT^P03"), "EVN|P03|20260101", PID, PV1, FT1, "DG1|1||J06.9^URI^I10|||F"),
    );
    const item = only<ChargeItem>(bundle, "ChargeItem");
    expect(item.status).to.equal("billable");
    expect(item.identifier?.[0]).to.include({ system: "urn:healthbridge:hl7v2:CLINIC", value: "TX1" });
    expect(item.code.coding?.[0]).to.deep.equal({
      system: "http://www.ama-assn.org/go/cpt",
      code: "99213",
      display: "Office visit",
    });
    expect(item.quantity).to.deep.equal({ value: 2 });
    expect(item.priceOverride).to.deep.equal({ value: 150.5, currency: "USD" });
    expect(item.occurrenceDateTime).to.equal("2026-01-05");
    expect(item.enteredDate).to.equal("2026-01-06");
    expect(item.performer?.[0].function?.coding?.[0].code).to.equal("PP");
    expect(item.reason?.[0].coding?.[0].code).to.equal("J06.9");
    const account = only<Account>(bundle, "Account");
    const accountEntry = entries(bundle, "Account")[0];
    expect(accountEntry.request?.method).to.equal("POST");
    expect(account.identifier?.[0].value).to.equal("ACC77");
    expect(item.account?.[0].reference).to.equal(accountEntry.fullUrl);
    expect(item.context?.reference).to.equal(entries(bundle, "Encounter")[0].fullUrl);
    expect(item.subject.reference).to.equal(entries(bundle, "Patient")[0].fullUrl);
    const cond = entries(bundle, "Condition")[0];
    expect(item.supportingInformation).to.deep.equal([{ reference: cond.fullUrl }]);
    expect(entries(bundle, "ChargeItem")[0].request).to.deep.equal({
      method: "PUT",
      url: "ChargeItem?identifier=urn%3Ahealthbridge%3Ahl7v2%3ACLINIC%7CTX1",
    });
    // the DFT only makes sure Patient and Encounter exist: ADT owns them
    expect(entries(bundle, "Patient")[0].request?.method).to.equal("POST");
    expect(entries(bundle, "Encounter")[0].request?.method).to.equal("POST");
  });

  it("gives an FT1 without FT1-2 the same derived identifier on a resend with a new control id", () => {
    const ft1 = "FT1|1|||20260105||CG|99213^Office visit^CPT|||1|80&USD";
    const a = toFhir.toFhir(msg(MSH("DFT^P03", "C1"), PID, PV1, ft1)).bundle;
    const b = toFhir.toFhir(msg(MSH("DFT^P03", "C2"), PID, PV1, ft1)).bundle;
    const ka = entries(a, "ChargeItem")[0].request?.url;
    expect(ka).to.match(/FT1-[0-9a-f]{32}$/);
    expect(entries(b, "ChargeItem")[0].request?.url).to.equal(ka);
    const other = toFhir.toFhir(msg(MSH("DFT^P03"), PID, PV1, ft1.replace("|1|80&USD", "|1|90&USD"))).bundle;
    expect(entries(other, "ChargeItem")[0].request?.url).to.not.equal(ka);
  });

  it("prices a line from the unit cost times quantity when FT1-11 is empty, and keeps the unit cost", () => {
    const { bundle } = toFhir.toFhir(msg(MSH("DFT^P03"), PID, "FT1|1|T2||20260105||CG|A1|||3||10.10&EUR"));
    const item = only<ChargeItem>(bundle, "ChargeItem");
    expect(item.priceOverride).to.deep.equal({ value: 30.3, currency: "EUR" });
    expect(item.extension?.[0].valueMoney).to.deep.equal({ value: 10.1, currency: "EUR" });
    expect(item.context).to.equal(undefined);
    expect(item.account?.[0].reference).to.be.a("string");
  });

  it("writes a period from FT1-4.1/4.2 and skips payments with a warning", () => {
    const { bundle, warnings } = toFhir.toFhir(
      msg(MSH("DFT^P03"), PID, "FT1|1|T3||20260105^20260107||CG|A1", "FT1|2|T4||20260105||PY|PAY"),
    );
    const item = only<ChargeItem>(bundle, "ChargeItem");
    expect(item.occurrencePeriod).to.deep.equal({ start: "2026-01-05", end: "2026-01-07" });
    expect(warnings).to.deep.equal(["FT1-6: not a charge (table 0017), no ChargeItem was written"]);
  });

  it("writes IN1 as a Coverage the Account lists", () => {
    const in1 =
      "IN1|1|PPO1^Gold PPO|INS1^^^PAYERS|Acme Insurance||||G7^^|Group Seven|||20250101|20251231||PPO||SEL|||||||||||||||||||POL9|||||||||||||MEM5^^^PAYERS";
    const { bundle } = toFhir.toFhir(msg(MSH("DFT^P03"), PID, PV1, FT1, in1));
    const cov = only<Coverage>(bundle, "Coverage");
    expect(cov.subscriberId).to.equal("MEM5");
    expect(cov.payor[0].display).to.equal("Acme Insurance");
    expect(cov.period).to.deep.equal({ start: "2025-01-01", end: "2025-12-31" });
    expect(cov.relationship?.coding?.[0].code).to.equal("self");
    expect(cov.class?.map((c) => c.value)).to.deep.equal(["PPO1", "G7"]);
    const account = only<Account>(bundle, "Account");
    expect(account.coverage?.[0].coverage.reference).to.equal(entries(bundle, "Coverage")[0].fullUrl);
  });

  it("BAR^P01 writes the Account (PUT), P02 makes it inactive, P12 writes Conditions and Procedures", () => {
    const p01 = toFhir.toFhir(
      msg(MSH("BAR^P01"), "EVN|P01|20260101", PID, PV1, "DG1|1||I10^HTN^I10|||F"),
    ).bundle;
    expect(entries(p01, "Account")[0].request?.method).to.equal("PUT");
    expect(only<Account>(p01, "Account").status).to.equal("active");
    expect(only<Condition>(p01, "Condition").code.coding?.[0].code).to.equal("I10");
    const p02 = toFhir.toFhir(msg(MSH("BAR^P02"), "EVN|P02|20260101", PID, PV1)).bundle;
    expect(only<Account>(p02, "Account").status).to.equal("inactive");
    expect(entries(p02, "Account")[0].request?.method).to.equal("PUT");
    const p12 = toFhir.toFhir(
      msg(
        MSH("BAR^P12"),
        "EVN|P12|20260101",
        PID,
        PV1,
        "DG1|1||I10^HTN^I10|||F",
        "PR1|1||99213^Visit^CPT||20260105",
      ),
    ).bundle;
    expect(entries(p12, "Condition")).to.have.length(1);
    expect(entries(p12, "Procedure")[0].request?.method).to.equal("PUT");
  });

  describe("bad input: HL7_CONVERT with the location, never the value", () => {
    const cases: Array<[string, string, string]> = [
      ["DFT without FT1", msg(MSH("DFT^P03"), PID, PV1), "FT1"],
      ["DFT without PID", msg(MSH("DFT^P03"), FT1), "PID"],
      ["FT1 without code", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105||CG||||1|10&USD"), "FT1-7"],
      ["FT1 without service date", msg(MSH("DFT^P03"), PID, "FT1|1|T1||||CG|A1|||1"), "FT1-4"],
      ["non-numeric quantity", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105||CG|A1|||SECRET7"), "FT1-10"],
      ["non-numeric amount", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105||CG|A1|||1|SECRET7&USD"), "FT1-11"],
      ["non-numeric unit cost", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105||CG|A1|||1||SECRET7"), "FT1-12"],
      ["bad currency", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105||CG|A1|||1|10&SECRET7"), "FT1-11.1"],
      ["bad service date", msg(MSH("DFT^P03"), PID, "FT1|1|T1||SECRET7||CG|A1"), "FT1-4"],
      ["bad posting date", msg(MSH("DFT^P03"), PID, "FT1|1|T1||20260105|SECRET7|CG|A1"), "FT1-5"],
      ["DG1 without code", msg(MSH("DFT^P03"), PID, FT1, "DG1|1||||||F"), "DG1-3"],
      ["IN1 without payor", msg(MSH("DFT^P03"), PID, FT1, "IN1|1|PLAN"), "IN1-3"],
      ["BAR without PID", msg(MSH("BAR^P01"), "EVN|P01|20260101", PV1), "PID"],
      ["BAR^P01 without account", msg(MSH("BAR^P01"), "PID|1||SECRET7^^^CLINIC^MR"), "PID-18"],
      ["BAR^P02 without account", msg(MSH("BAR^P02"), "PID|1||SECRET7^^^CLINIC^MR"), "PID-18"],
      ["BAR^P12 without DG1/PR1", msg(MSH("BAR^P12"), PID), "PID#2"],
      ["PR1 without code", msg(MSH("BAR^P12"), PID, "PR1|1||||20260105"), "PR1-3"],
      ["bad PR1 date", msg(MSH("BAR^P12"), PID, "PR1|1||A1||SECRET7"), "PR1-5"],
    ];
    for (const [what, text, where] of cases) {
      it(what, () => {
        const err = convertError(text);
        expect(err.code).to.equal("HL7_CONVERT");
        expect(err.details?.location).to.equal(where);
        expect(err.message).to.not.contain("SECRET7");
      });
    }
    it("an unsupported billing event is HL7_UNSUPPORTED", () => {
      const err = convertError(msg(MSH("DFT^P04"), PID, FT1));
      expect(err.code).to.equal("HL7_UNSUPPORTED");
    });
  });
});

describe("lib/hl7/fhir ChargeItem -> DFT^P03", () => {
  const source = msg(
    MSH("DFT^P03"),
    PID,
    PV1,
    FT1,
    "FT1|2|TX2||20260105^20260106||CG|71045^Xray^CPT|||1|120&USD|||||||||DR2^Wilson^James^^^^^^CLINIC|||||71045^Xray^CPT",
    "DG1|1||J06.9^URI^I10|||F",
  );

  function facts(b: Bundle): unknown[] {
    return entries(b, "ChargeItem").map((e) => {
      const c = e.resource as ChargeItem;
      const account = (b.entry ?? []).find((x) => x.fullUrl === c.account?.[0].reference)
        ?.resource as Account;
      const performers = (c.performer ?? []).map((p) => {
        const pr = (b.entry ?? []).find((x) => x.fullUrl === p.actor.reference)?.resource as Resource & {
          identifier: Array<{ value: string }>;
        };
        return [p.function?.coding?.[0].code, pr.identifier[0].value];
      });
      return {
        id: c.identifier?.[0].value,
        code: c.code.coding?.[0],
        quantity: c.quantity,
        price: c.priceOverride,
        when: c.occurrenceDateTime ?? c.occurrencePeriod,
        account: account.identifier?.[0].value,
        performers,
        reason: c.reason?.map((r) => r.coding?.[0].code),
      };
    });
  }

  it("round trips the charge facts: FHIR -> DFT -> FHIR", () => {
    const first = toFhir.toFhir(source).bundle;
    const out = toHl7.toHl7(first);
    expect(out).to.have.length(1);
    expect(out[0].header).to.include({ type: "DFT", event: "P03", structure: "DFT_P03" });
    const again = toFhir.toFhir(out[0].text).bundle;
    expect(facts(again)).to.deep.equal(facts(first));
    expect(facts(first)).to.have.length(2);
  });

  it("keeps a credit (FT1-6 CD), the unit cost and the ordering provider through FHIR -> DFT", () => {
    const credit = msg(
      MSH("DFT^P03"),
      PID,
      "FT1|1|TX9||20260105||CD|99213^Office visit^CPT|||1|-40&USD|40&USD|||||||||DR3^Cuddy^Lisa^^^^^^CLINIC",
    );
    const first = toFhir.toFhir(credit).bundle;
    const item = only<ChargeItem>(first, "ChargeItem");
    expect(item.performer?.[0].function?.coding?.[0].code).to.equal("OP");
    const [out] = toHl7.toHl7(first);
    const ft1 = out.text.split("\r").find((s) => s.startsWith("FT1|"));
    expect(ft1).to.equal(
      "FT1|1|TX9||20260105||CD|99213^Office visit^C4|||1|-40&USD|40&USD|||||||||DR3^Cuddy^Lisa^^^^^^CLINIC",
    );
  });

  it("takes a single ChargeItem whose subject is named by identifier, and a list", () => {
    const item: ChargeItem = {
      resourceType: "ChargeItem",
      status: "billable",
      code: { coding: [{ system: "http://www.ama-assn.org/go/cpt", code: "99213" }] },
      subject: {
        type: "Patient",
        identifier: { system: "urn:healthbridge:hl7v2:CLINIC", value: "MRN1" },
      } as never,
      occurrenceDateTime: "2026-01-05",
      quantity: { value: 1 },
      priceOverride: { value: 80, currency: "USD" },
    };
    const [one] = toHl7.toHl7(item);
    expect(one.text).to.contain("\rPID|1||MRN1^^^CLINIC\r");
    expect(one.text).to.contain("\rFT1|1|||20260105||CG|99213^^C4|||1|80&USD\r");
    expect(toHl7.toHl7([item, item])).to.have.length(1);
  });

  const base = (): ChargeItem => ({
    resourceType: "ChargeItem",
    status: "billable",
    code: { coding: [{ code: "A1" }] },
    subject: { reference: "#p" },
    contained: [{ resourceType: "Patient", id: "p", identifier: [{ system: "urn:x", value: "M1" }] }],
    occurrenceDateTime: "2026-01-05",
  });
  const bad: Array<[string, (c: ChargeItem) => unknown, string]> = [
    ["no Patient", (c) => ({ ...c, subject: { reference: "Patient/404" } }), "ChargeItem.subject"],
    ["no code", (c) => ({ ...c, code: { text: "visit" } }), "ChargeItem.code"],
    ["no service date", (c) => ({ ...c, occurrenceDateTime: undefined }), "ChargeItem.occurrence[x]"],
    ["bad service date", (c) => ({ ...c, occurrenceDateTime: "SECRET7" }), "ChargeItem.occurrenceDateTime"],
    ["non-numeric quantity", (c) => ({ ...c, quantity: { value: "SECRET7" } }), "ChargeItem.quantity.value"],
    [
      "non-numeric price",
      (c) => ({ ...c, priceOverride: { value: "SECRET7" } }),
      "ChargeItem.priceOverride.value",
    ],
  ];
  for (const [what, make, where] of bad) {
    it(`${what}: HL7_CONVERT at ${where}`, () => {
      let err: { code?: string; message: string; details?: { location?: string } } | undefined;
      try {
        toHl7.toHl7(make(base()));
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).to.equal("HL7_CONVERT");
      expect(err?.details?.location).to.equal(where);
      expect(err?.message).to.not.contain("SECRET7");
    });
  }
  it("a list without ChargeItems is HL7_UNSUPPORTED", () => {
    expect(() => toHl7.toHl7([{ resourceType: "Basic" }]))
      .to.throw()
      .with.property("code", "HL7_UNSUPPORTED");
  });
});
