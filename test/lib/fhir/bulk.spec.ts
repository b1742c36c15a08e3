import { expect } from "chai";
import {
  applyLookups,
  issueText,
  lookupBundle,
  planUpserts,
  readLookups,
  readWrites,
  substituteKnown,
  writeBundle,
  type UpsertProgress,
} from "../../../lib/fhir/bulk";
import { codeOf } from "../../support/errors";

const SYSTEM = "urn:pms:patient";

function patient(value: string, system = SYSTEM): Record<string, unknown> {
  return { resourceType: "Patient", identifier: [{ system, value }] };
}

function appointment(value: string, patientRef: string): Record<string, unknown> {
  return {
    resourceType: "Appointment",
    identifier: [{ system: "urn:pms:appt", value }],
    participant: [{ actor: { reference: patientRef } }, { actor: { reference: "Location/1" } }],
  };
}

const answer = (...entries: unknown[]) => ({
  resourceType: "Bundle",
  type: "batch-response",
  entry: entries,
});
const progress = (): UpsertProgress => ({ written: [], refused: [], bundles: 0 });

describe("lib/fhir/bulk: upserts in Bundles", () => {
  it("plans conditional upserts by each resource's first identifier with a system, escaped and URL-encoded", () => {
    const plan = planUpserts({
      bundle: "batch",
      resources: [
        {
          resourceType: "Patient",
          identifier: [{ value: "no-system" }, { system: "urn:a", value: "x|y,z" }],
        },
      ],
    });
    expect(plan.prefer).to.equal("minimal");
    const [e] = plan.bundles[0];
    expect(e).to.include({ index: 0, id: "x|y,z", key: "Patient?identifier=urn:a|x|y,z" });
    expect(decodeURIComponent(e.url)).to.equal("Patient?identifier=urn:a|x\\|y\\,z");
    expect(writeBundle(plan.bundles[0], "batch")).to.deep.equal({
      resourceType: "Bundle",
      type: "batch",
      entry: [{ resource: e.resource, request: { method: "PUT", url: e.url } }],
    });
  });

  it("cuts bundles at the bundle size and before an identifier already in the bundle", () => {
    const plan = planUpserts({
      bundle: "transaction",
      bundleSize: "2",
      resources: ["1", "2", "3", "3", "4"].map((v) => patient(v)),
    });
    expect(plan.bundles.map((b) => b.map((e) => e.id))).to.deep.equal([["1", "2"], ["3"], ["3", "4"]]);
    expect(planUpserts({ bundle: "batch", resources: patient("9") }).bundles).to.have.length(1);
    expect(planUpserts({ bundle: "batch", resources: [] }).bundles).to.deep.equal([]);
  });

  it("refuses, before anything is planned, every input it cannot send", () => {
    const bad: unknown[] = [
      { bundle: "bulk", resources: [] },
      { bundle: "batch", bundleSize: 0, resources: [] },
      { bundle: "batch", bundleSize: 2.5, resources: [] },
      { bundle: "batch", bundleSize: "x", resources: [] },
      { bundle: "batch", prefer: "all", resources: [] },
      { bundle: "batch", resourceType: "patient", resources: [] },
      { bundle: "batch", references: "Patient/1", resources: [] },
      { bundle: "batch", resources: "Patient" },
      { bundle: "batch", resources: [patient("1"), null] },
      { bundle: "batch", resources: [{ resourceType: "Patient" }] },
      {
        bundle: "batch",
        resources: [{ resourceType: "Patient", identifier: [{ system: SYSTEM, value: "" }] }],
      },
      { bundle: "batch", resourceType: "Appointment", resources: [patient("1")] },
    ];
    for (const input of bad) {
      expect(
        codeOf(() => planUpserts(input as never)),
        JSON.stringify(input),
      ).to.equal("FHIR_BAD_INPUT");
    }
  });

  it("puts known literal references in and lists the others once", () => {
    const plan = planUpserts({
      bundle: "batch",
      resources: [
        appointment("a1", `Patient?identifier=${SYSTEM}|1`),
        appointment("a2", `Patient?identifier=${SYSTEM}|2`),
        appointment("a3", `Patient?identifier=${SYSTEM}|2`),
      ],
    });
    const refs = substituteKnown(plan.bundles[0], { [`Patient?identifier=${SYSTEM}|1`]: "Patient/p1" });
    expect(refs).to.deep.equal([`Patient?identifier=${SYSTEM}|2`]);
    expect(plan.bundles[0][0].resource.participant).to.deep.equal([
      { actor: { reference: "Patient/p1" } },
      { actor: { reference: "Location/1" } },
    ]);
    expect(lookupBundle(refs)).to.deep.equal({
      resourceType: "Bundle",
      type: "batch",
      entry: [{ request: { method: "GET", url: `Patient?identifier=${SYSTEM}|2&_count=2` } }],
    });
  });

  it("creates a create-only type with If-None-Exist, and in a transaction points same-Bundle references at the entry", () => {
    const enc = {
      resourceType: "Encounter",
      identifier: [{ system: "urn:enc", value: "E|1" }],
      subject: { reference: `Patient?identifier=${SYSTEM}|1` },
    };
    const task = {
      resourceType: "Task",
      identifier: [{ system: "urn:task", value: "T-1" }],
      encounter: { reference: "Encounter?identifier=urn:enc|E|1" },
    };
    const plan = planUpserts({ bundle: "transaction", resources: [enc, task], createOnly: ["Task"] });
    const bundle = writeBundle(plan.bundles[0], "transaction") as {
      entry: Array<{ fullUrl?: string; request: unknown; resource: Record<string, unknown> }>;
    };
    const [e, t] = bundle.entry;
    expect(e.request).to.deep.equal({ method: "PUT", url: "Encounter?identifier=urn%3Aenc%7CE%5C%7C1" });
    expect(t.request).to.deep.equal({
      method: "POST",
      url: "Task",
      ifNoneExist: "identifier=urn%3Atask%7CT-1",
    });
    expect(e.fullUrl).to.match(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(t.fullUrl)
      .to.match(/^urn:uuid:/)
      .and.not.equal(e.fullUrl);
    expect(t.resource.encounter).to.deep.equal({ reference: e.fullUrl });
    // A reference to a record outside the Bundle is left for the server.
    expect(e.resource.subject).to.deep.equal({ reference: `Patient?identifier=${SYSTEM}|1` });
    // A batch has no fullUrls to point at: the entries go as they are.
    const batch = writeBundle(
      planUpserts({ bundle: "batch", resources: [patient("9")] }).bundles[0],
      "batch",
    ) as {
      entry: Array<Record<string, unknown>>;
    };
    expect(batch.entry[0]).to.not.have.property("fullUrl");
    for (const bad of [["task"], "Task", [1]]) {
      expect(
        codeOf(() => planUpserts({ bundle: "batch", resources: [patient("1")], createOnly: bad } as never)),
        JSON.stringify(bad),
      ).to.equal("FHIR_BAD_INPUT");
    }
  });

  it("checks a references object in full once, and a value again where it is used", () => {
    const ref1 = `Patient?identifier=${SYSTEM}|1`;
    const references: Record<string, unknown> = { [ref1]: "Patient/p1" };
    const input = { bundle: "batch" as const, resources: [appointment("a1", ref1)], references };
    planUpserts(input as never);
    // The same object on the next page, spoiled meanwhile: the value is refused where it is used.
    references[ref1] = 7;
    const plan = planUpserts({ ...input, resources: [appointment("a2", ref1)] } as never);
    expect(codeOf(() => substituteKnown(plan.bundles[0], references as Record<string, string>))).to.equal(
      "FHIR_BAD_INPUT",
    );
    // A new object is checked in full before anything is planned.
    expect(codeOf(() => planUpserts({ ...input, references: { ...references } } as never))).to.equal(
      "FHIR_BAD_INPUT",
    );
  });

  it("reads lookups: one match (includes aside) found, none or two refused, a 4xx refused with its issue, a 5xx thrown", () => {
    const refs = [
      "Patient?identifier=s|1",
      "Patient?identifier=s|2",
      "Patient?identifier=s|3",
      "Patient?identifier=s|4",
    ];
    const searchset = (...ids: string[]) => ({
      resourceType: "Bundle",
      type: "searchset",
      entry: [
        ...ids.map((id) => ({ resource: { resourceType: "Patient", id }, search: { mode: "match" } })),
        { resource: { resourceType: "Organization", id: "o" }, search: { mode: "include" } },
      ],
    });
    const outcome = {
      resourceType: "OperationOutcome",
      issue: [{ code: "invalid", expression: ["identifier"], diagnostics: "PHI" }],
    };
    const { target, refused } = readLookups(
      refs,
      answer(
        { response: { status: "200 OK" }, resource: searchset("p1") },
        { response: { status: "200" }, resource: searchset() },
        { response: { status: "200" }, resource: searchset("a", "b") },
        { response: { status: "400", outcome } },
      ),
    );
    expect([...target]).to.deep.equal([["Patient?identifier=s|1", "Patient/p1"]]);
    expect([...refused]).to.deep.equal([
      ["Patient?identifier=s|2", ["SYNC_REFERENCE_NOT_FOUND", "not-found"]],
      ["Patient?identifier=s|3", ["SYNC_REFERENCE_AMBIGUOUS", "multiple-matches"]],
      ["Patient?identifier=s|4", ["FHIR_HTTP_400", "invalid at identifier"]],
    ]);
    expect(codeOf(() => readLookups(refs.slice(0, 1), answer({ response: { status: "503" } })))).to.equal(
      "FHIR_HTTP_503",
    );
    expect(codeOf(() => readLookups(refs.slice(0, 1), answer({})))).to.equal("FHIR_BAD_RESPONSE");
    expect(codeOf(() => readLookups(refs.slice(0, 1), { resourceType: "OperationOutcome" }))).to.equal(
      "FHIR_BAD_RESPONSE",
    );

    const plan = planUpserts({
      bundle: "batch",
      resources: [appointment("a1", refs[0]), appointment("a2", refs[1]), appointment("a3", refs[3])],
    });
    const applied = applyLookups(plan.bundles[0], target, refused);
    expect(applied.keep.map((e) => e.id)).to.deep.equal(["a1"]);
    expect(applied.refused).to.deep.equal([
      {
        index: 1,
        id: "a2",
        code: "SYNC_REFERENCE_NOT_FOUND",
        message: "participant[0].actor.reference: not-found",
      },
      {
        index: 2,
        id: "a3",
        code: "FHIR_HTTP_400",
        message: "participant[0].actor.reference: invalid at identifier",
      },
    ]);
  });

  it("reads writes: 2xx written with its location remembered, a 4xx refused, 408/429/5xx or a missing answer thrown", () => {
    const plan = planUpserts({ bundle: "batch", resources: ["1", "2", "3"].map((v) => patient(v)) });
    const references: Record<string, string> = {};
    const p = progress();
    readWrites(
      plan.bundles[0],
      answer(
        { response: { status: "201 Created", location: "https://ehr/fhir/Patient/p1/_history/1" } },
        {
          response: { status: "412", outcome: { issue: [{ code: "multiple-matches", diagnostics: "PHI" }] } },
        },
        { response: { status: "200", location: "Patient/p3" } },
      ),
      references,
      p,
    );
    expect(p.written).to.deep.equal([
      { index: 0, id: "1", status: 201, location: "https://ehr/fhir/Patient/p1/_history/1" },
      { index: 2, id: "3", status: 200, location: "Patient/p3" },
    ]);
    expect(p.refused).to.deep.equal([
      { index: 1, id: "2", code: "FHIR_HTTP_412", message: "multiple-matches" },
    ]);
    expect(references).to.deep.equal({
      [`Patient?identifier=${SYSTEM}|1`]: "Patient/p1",
      [`Patient?identifier=${SYSTEM}|3`]: "Patient/p3",
    });
    for (const status of ["408", "429", "500"]) {
      expect(
        codeOf(() => readWrites(plan.bundles[0], answer({ response: { status } }), {}, progress())),
      ).to.equal(`FHIR_HTTP_${status}`);
    }
    expect(codeOf(() => readWrites(plan.bundles[0], answer(), {}, progress()))).to.equal("FHIR_BAD_RESPONSE");
  });

  it("describes an outcome by its first issue's code and expression, never its text", () => {
    expect(
      issueText({ issue: [{ code: "invalid", expression: ["a", "b"], diagnostics: "Smith" }] }),
    ).to.equal("invalid at a, b");
    expect(issueText(undefined)).to.equal("");
    expect(issueText({ issue: ["x"] })).to.equal("");
  });
});
