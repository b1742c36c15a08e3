import { expect } from "chai";
import { createConverter } from "../../../../lib/hl7/fhir";
import type { Bundle, Resource } from "../../../../lib/hl7/fhir/fhir-types";
import { expectedBundle, samples, sampleText } from "../../../support/fhir-converter";

/**
 * Every DFT and BAR sample of Microsoft FHIR-Converter (test/fixtures/fhir-converter, MIT, see
 * NOTICE.md) converted here and compared, fact by fact, with the converter's expected bundle: the
 * facts a PMS relies on. Where the pack differs on purpose, BY_DESIGN says so and why (also in
 * docs/hl7-fhir.md, "DFT and BAR").
 */

const BILLING_SAMPLES = samples(["DFT-", "BAR-"]);

type R = Resource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function all(b: Bundle, type: string): R[] {
  return (b.entry ?? []).map((e) => e.resource as R).filter((r) => r?.resourceType === type);
}

/** A reference of either bundle: FHIR-Converter's "Type/id", the pack's urn:uuid fullUrl. */
function deref(b: Bundle, ref: string | undefined): R | undefined {
  if (!ref) return undefined;
  const hit = (b.entry ?? []).find(
    (e) => e.fullUrl === ref || `${e.resource?.resourceType}/${e.resource?.id}` === ref,
  );
  return hit?.resource as R | undefined;
}

/** The facts compared, from either bundle. */
function billingFacts(b: Bundle) {
  const patients = all(b, "Patient").map((p) => ({
    identifiers: [...new Set((p.identifier ?? []).map((i: { value: string }) => i.value))].sort(),
    family: p.name?.[0]?.family,
    given: p.name?.[0]?.given?.[0],
    birthDate: p.birthDate,
  }));
  const charges = all(b, "ChargeItem").map((c) => ({
    code: c.code?.coding?.[0]?.code,
    quantity: c.quantity?.value,
    amount: c.priceOverride?.value,
    currency: c.priceOverride?.currency,
    serviceDate: c.occurrenceDateTime ?? c.occurrencePeriod?.start,
    account: deref(b, c.account?.[0]?.reference)?.identifier?.[0]?.value,
  }));
  // FHIR-Converter writes an Account per PID even when two PIDs name one account (BAR-P02): the
  // account numbers are compared as a set
  const accounts = [...new Set(all(b, "Account").map((a) => a.identifier?.[0]?.value))].sort();
  const coverages = all(b, "Coverage").map((c) => ({
    payor: deref(b, c.payor?.[0]?.reference)?.name ?? c.payor?.[0]?.display,
    subscriberId: c.subscriberId,
  }));
  return { patients, charges, accounts, coverages };
}

/** Where the pack differs from FHIR-Converter on purpose, per sample and fact. */
const BY_DESIGN: Record<string, { fact: "coverages"; ours: unknown; reason: string }[]> = {
  "DFT-P11-02": [
    {
      fact: "coverages",
      ours: [{ payor: "Blue Cross Blue Shield of Texas", subscriberId: "HMO-12345" }],
      reason:
        "both IN1 carry policy number 548851236L (IN1-36), the Coverage's business key: one Coverage, " +
        "the first IN1's subscriber; FHIR-Converter writes one Coverage per IN1 segment",
    },
  ],
  "BAR-P01-02": [],
  "BAR-P02-01": [],
};

describe("FHIR-Converter's DFT and BAR samples: the facts a PMS relies on", () => {
  const conv = createConverter({ direction: "to-fhir" });
  it("has the ten samples", () => expect(BILLING_SAMPLES).to.have.length(10));
  for (const file of BILLING_SAMPLES) {
    it(file, () => {
      const ours = billingFacts(conv.toFhir(sampleText(file)).bundle);
      const ref = billingFacts(expectedBundle(file) as Bundle);
      // Patient: identifiers the pack writes (PID-2/3/4) are a subset of the reference's, which adds
      // PID-19/20, DB1 and IN2 identifiers (the ADT converter owns the Patient; a DFT only ensures it)
      expect(ours.patients.length, "patients").to.equal(ref.patients.length);
      ours.patients.forEach((p, i) => {
        const r = ref.patients[i];
        expect(r.identifiers, "patient identifiers").to.include.members(p.identifiers);
        expect(p.identifiers.length).to.be.greaterThan(0);
        expect({ ...p, identifiers: [] }, "patient name and birth date").to.deep.equal({
          ...r,
          identifiers: [],
        });
      });
      expect(ours.charges, "charges").to.deep.equal(ref.charges);
      expect(ours.accounts, "accounts").to.deep.equal(ref.accounts);
      const designed = (BY_DESIGN[file] ?? []).find((d) => d.fact === "coverages");
      if (designed) {
        expect(ours.coverages, "coverages (by design)").to.deep.equal(designed.ours);
        expect(ref.coverages).to.not.deep.equal(designed.ours);
      } else {
        expect(ours.coverages, "coverages").to.deep.equal(ref.coverages);
      }
    });
  }
});
