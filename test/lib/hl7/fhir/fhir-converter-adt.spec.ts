import { expect } from "chai";
import { createConverter } from "../../../../lib/hl7/fhir";
import {
  ADT_SIU_BY_DESIGN,
  adtSiuDifferences,
  encounterFacts,
  expectedBundle,
  heldOf,
  MERGE_TRIGGERS,
  packLinks,
  referenceLinks,
  resourcesOf,
  sampleText,
  samples,
  unexplained,
  type Difference,
  type Json,
} from "../../../support/fhir-converter";

/**
 * Every ADT and SIU sample of Microsoft FHIR-Converter converted by hl7-fhir and compared, fact by
 * fact, with the reference's expected bundle: patient identifiers (value and type code; systems
 * differ by design), names, birth date, gender; for merges, moves and changes the links, visit numbers,
 * Encounter status and account; for SIU the appointment identifiers, status, start and end. Every
 * difference must be one of ADT_SIU_BY_DESIGN of
 * test/support/fhir-converter.ts (the same table is in docs/hl7-fhir.md), and every row of
 * BY_DESIGN must still explain one.
 */

const converter = createConverter({ direction: "to-fhir" });

const BY_DESIGN = ADT_SIU_BY_DESIGN;

const ADT_SIU = samples(["ADT", "SIU"]);

describe("hl7-fhir against FHIR-Converter's ADT and SIU samples", () => {
  const differences: Difference[] = [];

  it("has the reference's samples: ADT and SIU, each with its expected bundle", () => {
    expect(ADT_SIU.filter((n) => n.startsWith("ADT"))).to.have.length(57);
    expect(ADT_SIU.filter((n) => n.startsWith("SIU"))).to.have.length(14);
    for (const name of ADT_SIU) expect(resourcesOf(expectedBundle(name)).length, name).to.be.above(0);
  });

  for (const name of ADT_SIU) {
    it(`${name} converts, and its facts are the reference's but for the differences by design`, () => {
      const { bundle } = converter.toFhir(sampleText(name));
      const found = adtSiuDifferences(name, expectedBundle(name), heldOf(bundle as unknown as Json));
      differences.push(...found);
      const { left } = unexplained(found, BY_DESIGN);
      expect(left, JSON.stringify(left, null, 1)).to.deep.equal([]);
    });
  }

  it("the merge, move and change samples are compared on real facts (not vacuously)", () => {
    const merges = ADT_SIU.filter((n) => MERGE_TRIGGERS.test(n));
    expect(merges).to.deep.equal([
      "ADT-A40-01",
      "ADT-A40-02",
      "ADT-A41-01",
      "ADT-A41-02",
      "ADT-A45-01",
      "ADT-A45-02",
      "ADT-A47-01",
      "ADT-A47-02",
    ]);
    const facts: Record<string, string[]> = {};
    for (const name of merges) {
      const reference = expectedBundle(name);
      const ours = heldOf(converter.toFhir(sampleText(name)).bundle as unknown as Json);
      expect(packLinks(ours), name).to.deep.equal(referenceLinks(reference));
      facts[name] = [
        ...referenceLinks(reference),
        ...resourcesOf(reference, "Encounter").map((e) => JSON.stringify(encounterFacts(e))),
      ];
    }
    expect(facts["ADT-A40-01"]).to.deep.equal(["Patient: 12345 (MR) <- 56789 (MR)"]);
    expect(facts["ADT-A41-01"]).to.deep.equal(["Account: 4000776 (VN) <- ACC1234 (MR)"]);
    expect(facts["ADT-A41-02"]).to.deep.equal(["Account: 4000776 (VN) <- -"]);
    expect(facts["ADT-A47-02"]).to.deep.equal([
      "Patient: 145 (MR) <- 569 (MR)",
      "Patient: MR101 (MR) <- MR102 (MR)",
    ]);
    expect(facts["ADT-A45-02"]).to.deep.equal([
      '{"identifiers":["5001 (VN)"],"hasAccount":true,"status":"in-progress"}',
      '{"identifiers":["5010 (VN)"],"hasAccount":true,"status":"in-progress"}',
    ]);
  });

  it("every row of the by-design table explains a difference that is there", () => {
    expect(differences.length).to.be.above(0);
    expect(unexplained(differences, BY_DESIGN).unused).to.deep.equal([]);
  });
});
