import type { Patient, Resource } from "@medplum/fhirtypes";
import { matchesSearchRequest, parseSearchRequest } from "@medplum/core";
import { expect } from "chai";
import { SandboxRepository } from "../../sandbox/fhir/repository";
import { loadFhirDefinitions } from "../../sandbox/fhir/schema";

describe("sandbox/fhir repository: identifier searches", function () {
  this.timeout(20000);
  before(() => loadFhirDefinitions());

  const patients: (Patient & { id: string })[] = [
    {
      resourceType: "Patient",
      id: "p1",
      identifier: [{ system: "urn:A:B", value: "MiXeD" }, { value: "NoSys" }],
    },
    {
      resourceType: "Patient",
      id: "p2",
      identifier: [{ type: { text: "MRN" }, system: "urn:a:b", value: "other" }],
    },
    {
      resourceType: "Patient",
      id: "p3",
      identifier: [{ system: "urn:greek", value: "ΟΔΟΣ" }, { value: "mixed" }],
    },
    { resourceType: "Patient", id: "p4", identifier: [{ system: "urn:x", value: "İstanbul" }] },
    {
      resourceType: "Patient",
      id: "p5",
      identifier: [
        { system: "a|b", value: "c" },
        { system: "a", value: "b|c" },
      ],
    },
    { resourceType: "Patient", id: "p6", identifier: [{ system: "urn:a:b", value: "mixed" }] },
    { resourceType: "Patient", id: "p7", name: [{ family: "None" }] },
  ];
  const queries = [
    "identifier=mixed",
    "identifier=MIXED",
    "identifier=urn:a:b|mixed",
    "identifier=URN:A:B|MiXeD",
    "identifier=nosys",
    "identifier=|nosys",
    "identifier=urn:a:b|",
    "identifier=MRN",
    "identifier=urn:greek|οδος",
    "identifier=urn:greek|οδοσ",
    "identifier=urn:x|i̇stanbul",
    "identifier=a|b|c",
    "identifier=a|b",
    "identifier=c",
    "identifier=urn:a:b|mixed,urn:greek|ΟΔΟΣ",
    "identifier=mixed&identifier=urn:a:b|mixed",
    "identifier=mixed&_id=p3,p6",
    "identifier=mixed&family=none",
    "identifier:not=urn:a:b|mixed",
    "identifier=nothing",
  ];

  function seeded(validate: boolean): SandboxRepository {
    const repo = new SandboxRepository({ validate });
    for (const p of patients) repo.createWithIdStored(p);
    // A second version of p6 and a deletion: the index follows both.
    repo.updateStored({ ...patients[5], identifier: [{ system: "urn:a:b", value: "MIXED" }] });
    repo.createWithIdStored({
      resourceType: "Patient",
      id: "gone",
      identifier: [{ value: "mixed" }],
    } as Resource & {
      id: string;
    });
    repo.delete("Patient", "gone");
    return repo;
  }

  it("answers from the index what Medplum's matcher answers, resource by resource", () => {
    // Without validation the repository tests the identifier filter with Medplum's matcher too.
    const validated = seeded(true);
    const unvalidated = seeded(false);
    const all = validated.match({ resourceType: "Patient" });
    for (const query of queries) {
      const request = parseSearchRequest(`Patient?${encodeURI(query)}`);
      const ids = validated.match(request).map((r) => r.id);
      expect(ids, query).to.deep.equal(unvalidated.match(request).map((r) => r.id));
      // Medplum also matches an identifier's type.text; the index never did (p2's "MRN").
      const truth = all.filter((r) => matchesSearchRequest(r, request) && !(query === "identifier=MRN"));
      expect(ids, query).to.deep.equal(truth.map((r) => r.id));
    }
  });

  it("keeps the index right through rollback", async () => {
    const repo = seeded(true);
    try {
      await repo.withTransaction(async () => {
        repo.updateStored({ ...patients[0], identifier: [{ value: "renamed" }] });
        repo.delete("Patient", "p3");
        throw new Error("roll back");
      });
    } catch {
      // expected
    }
    const ids = (q: string) => repo.match(parseSearchRequest(`Patient?${q}`)).map((r) => r.id);
    expect(ids("identifier=mixed")).to.have.members(["p1", "p3", "p6"]);
    expect(ids("identifier=renamed")).to.deep.equal([]);
  });
});
