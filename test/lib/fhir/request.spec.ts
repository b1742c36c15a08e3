import { expect } from "chai";
import { FhirError, validateInteraction, type InteractionInput } from "../../../lib/fhir";
import {
  conditionalKey,
  describeRequest,
  encodeParams,
  identifierToken,
  normalizeBaseUrl,
  normalizeIfMatch,
  parseIdentifier,
  planInteraction,
  resolveUrl,
  SEARCH_POST_THRESHOLD,
} from "../../../lib/fhir/request";

function badInput(input: unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    validateInteraction(input as InteractionInput);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, JSON.stringify(input)).to.be.instanceOf(FhirError);
  expect((thrown as FhirError).code).to.equal("FHIR_BAD_INPUT");
  expect((thrown as FhirError).message).to.match(pattern);
}

const patient = { resourceType: "Patient", identifier: [{ system: "urn:mrn", value: "A1" }] };

describe("lib/fhir request building", () => {
  describe("validation (FHIR_BAD_INPUT, nothing sent)", () => {
    it("rejects an unknown or missing operation", () => {
      badInput({ operation: "fetch" }, /unknown operation "fetch"/);
      badInput({}, /unknown operation/);
      badInput(null, /must be an object/);
    });

    it("rejects a missing resource type or id", () => {
      badInput({ operation: "read", id: "1" }, /read: resourceType is required/);
      badInput({ operation: "read", resourceType: "Patient" }, /read: id is required/);
      badInput({ operation: "vread", resourceType: "Patient", id: "1" }, /versionId is required/);
      badInput({ operation: "delete", resourceType: "Patient" }, /delete: id is required/);
      badInput({ operation: "search" }, /search: resourceType is required/);
      badInput({ operation: "update", body: { resourceType: "Patient" } }, /update: id is required/);
      badInput({ operation: "create", body: {} }, /create: resourceType is required/);
    });

    it("rejects malformed resource types and ids (no path injection)", () => {
      badInput({ operation: "read", resourceType: "patient", id: "1" }, /resource type name/);
      badInput({ operation: "read", resourceType: "Patient", id: "../metadata" }, /FHIR id/);
      badInput({ operation: "read", resourceType: "Patient", id: "a/b" }, /FHIR id/);
      badInput({ operation: "read", resourceType: "Patient", id: "x".repeat(65) }, /FHIR id/);
    });

    it("rejects ids made of dots, which a URL resolves away (delete Patient/. would reach Patient/)", () => {
      for (const id of [".", "..", "..."]) {
        for (const operation of ["read", "delete"] as const) {
          badInput({ operation, resourceType: "Patient", id }, /must not be only dots/);
        }
        badInput({ operation: "vread", resourceType: "Patient", id: "1", versionId: id }, /only dots/);
        badInput(
          { operation: "update", resourceType: "Patient", id, body: { resourceType: "Patient", id } },
          /only dots/,
        );
      }
      // Dots inside an id are allowed by FHIR and stay allowed.
      expect(() =>
        validateInteraction({ operation: "read", resourceType: "Patient", id: "a.b" }),
      ).to.not.throw();
      expect(() =>
        validateInteraction({ operation: "read", resourceType: "Patient", id: ".5" }),
      ).to.not.throw();
    });

    it("rejects a body that is not an object", () => {
      badInput({ operation: "create", resourceType: "Patient", body: "text" }, /must be a FHIR resource/);
      badInput({ operation: "create", resourceType: "Patient", body: [patient] }, /must be a FHIR resource/);
      badInput({ operation: "update", resourceType: "Patient", id: "1" }, /must be a FHIR resource/);
      badInput({ operation: "upsert", resourceType: "Patient", body: 5 }, /must be a FHIR resource/);
    });

    it("rejects a body whose type or id disagrees", () => {
      badInput({ operation: "create", resourceType: "Observation", body: patient }, /does not match/);
      badInput(
        { operation: "update", resourceType: "Patient", id: "1", body: { resourceType: "Patient", id: "2" } },
        /does not match the body's id/,
      );
    });

    it("rejects a patch that is not an array of operations", () => {
      badInput(
        { operation: "patch", resourceType: "Patient", id: "1", body: { op: "add" } },
        /JSON Patch array/,
      );
      badInput(
        { operation: "patch", resourceType: "Patient", id: "1", body: [{ path: "/a" }] },
        /"op" and "path"/,
      );
    });

    it("rejects an upsert without any identifier", () => {
      badInput({ operation: "upsert", body: { resourceType: "Patient" } }, /upsert: no identifier/);
      badInput(
        { operation: "upsert", body: { resourceType: "Patient", identifier: [{ system: "s" }] } },
        /no identifier/,
      );
      badInput(
        { operation: "upsert", body: { resourceType: "Patient" }, identifier: "urn:mrn|" },
        /has no value/,
      );
      badInput(
        { operation: "upsert", body: { resourceType: "Patient" }, identifier: { system: "s" } },
        /value/,
      );
      badInput({ operation: "upsert", body: { resourceType: "Patient" }, identifier: 7 }, /system\|value/);
    });

    it("rejects a transaction or batch whose body is not a Bundle of that type", () => {
      badInput({ operation: "transaction", body: patient }, /must be a Bundle/);
      badInput(
        { operation: "transaction", body: { resourceType: "Bundle", type: "batch" } },
        /type must be "transaction"/,
      );
      badInput(
        { operation: "batch", body: { resourceType: "Bundle", type: "transaction" } },
        /type must be "batch"/,
      );
      badInput({ operation: "transaction" }, /must be a Bundle/);
      badInput(
        { operation: "batch", body: { resourceType: "Bundle", type: "batch", entry: {} } },
        /entry must be an array/,
      );
    });

    it("asks for return=<prefer> on writes and on every entry of a batch or transaction, and rejects others", () => {
      expect(
        planInteraction({ operation: "create", body: patient, prefer: "minimal" }).headers.Prefer,
      ).to.equal("return=minimal");
      const bundle = { resourceType: "Bundle", type: "batch", entry: [] };
      expect(planInteraction({ operation: "batch", body: bundle }).headers).to.not.have.property("Prefer");
      expect(
        planInteraction({ operation: "batch", body: bundle, prefer: "minimal" }).headers.Prefer,
      ).to.equal("return=minimal");
      const tx = { resourceType: "Bundle", type: "transaction", entry: [] };
      expect(
        planInteraction({ operation: "transaction", body: tx, prefer: "OperationOutcome" }).headers.Prefer,
      ).to.equal("return=OperationOutcome");
      badInput({ operation: "batch", body: bundle, prefer: "none" as never }, /prefer must be one of/);
      badInput({ operation: "batch", body: bundle, prefer: 1 as never }, /prefer must be one of/);
      badInput(
        { operation: "read", resourceType: "Patient", id: "1", prefer: "minimal" },
        /prefer applies to/,
      );
    });

    it("rejects bad params, maxPages, operation names and header values", () => {
      badInput({ operation: "search", resourceType: "Patient", params: { name: { a: 1 } } }, /params.name/);
      badInput({ operation: "search", resourceType: "Patient", params: 5 }, /object or a query string/);
      badInput({ operation: "search-all", resourceType: "Patient", maxPages: 0 }, /maxPages/);
      badInput({ operation: "search-all", resourceType: "Patient", maxPages: 1.5 }, /maxPages/);
      badInput({ operation: "operation", resourceType: "Patient" }, /operationName is required/);
      badInput({ operation: "operation", operationName: "$bad name" }, /operationName/);
      badInput({ operation: "operation", id: "1", operationName: "$everything" }, /needs a resourceType/);
      badInput({ operation: "history", id: "1" }, /needs a resourceType/);
      badInput(
        { operation: "delete", resourceType: "Patient", id: "1", ifMatch: 'W/"1"\r\nX: y' },
        /line breaks/,
      );
    });
  });

  describe("planning", () => {
    it("plans reads, vreads and deletes", () => {
      expect(planInteraction({ operation: "read", resourceType: "Patient", id: "p-1" })).to.deep.include({
        method: "GET",
        path: "Patient/p-1",
        retrySafe: true,
      });
      expect(
        planInteraction({ operation: "vread", resourceType: "Patient", id: "p-1", versionId: "2" }).path,
      ).to.equal("Patient/p-1/_history/2");
      const del = planInteraction({ operation: "delete", resourceType: "Patient", id: "1", ifMatch: "3" });
      expect(del.method).to.equal("DELETE");
      expect(del.headers["If-Match"]).to.equal('W/"3"');
    });

    it("encodes searches from an object or a query string", () => {
      const fromObject = planInteraction({
        operation: "search",
        resourceType: "Patient",
        params: {
          family: "O'Brien",
          _count: 10,
          active: true,
          identifier: ["a|1", "b|2"],
          skip: undefined as never,
        },
      });
      expect(fromObject.path).to.equal(
        "Patient?family=O'Brien&_count=10&active=true&identifier=a%7C1&identifier=b%7C2",
      );
      const fromString = planInteraction({
        operation: "search",
        resourceType: "Patient",
        params: "?name=x&_count=5",
      });
      expect(fromString.path).to.equal("Patient?name=x&_count=5");
      expect(planInteraction({ operation: "search", resourceType: "Patient" }).path).to.equal("Patient");
      expect(planInteraction({ operation: "search-all", resourceType: "Patient" }).maxPages).to.equal(100);
    });

    it("sends a long search as POST [type]/_search with a form body, still retry-safe", () => {
      const long = planInteraction({
        operation: "search",
        resourceType: "Patient",
        params: { _id: Array.from({ length: 400 }, (_, i) => `id-${i}`).join(",") },
      });
      expect(long.method).to.equal("POST");
      expect(long.path).to.equal("Patient/_search");
      expect(long.headers["Content-Type"]).to.equal("application/x-www-form-urlencoded");
      expect(long.body!.length).to.be.above(SEARCH_POST_THRESHOLD);
      expect(long.retrySafe).to.equal(true);
    });

    it("makes a plain create unsafe to retry, and a conditional create safe and keyed", () => {
      const plain = planInteraction({ operation: "create", body: patient });
      expect(plain).to.deep.include({
        method: "POST",
        path: "Patient",
        retrySafe: false,
        writeKey: undefined,
      });
      expect(JSON.parse(plain.body!)).to.deep.equal(patient);
      expect(plain.headers.Prefer).to.equal("return=representation");
      const conditional = planInteraction({
        operation: "create",
        body: patient,
        ifNoneExist: "identifier=urn:mrn|A1",
      });
      expect(conditional.headers["If-None-Exist"]).to.equal("identifier=urn:mrn|A1");
      expect(conditional.retrySafe).to.equal(true);
      expect(conditional.writeKey).to.equal(conditionalKey("Patient", "identifier=urn%3Amrn%7CA1"));
    });

    it("plans update with the id in the body, and If-Match", () => {
      const upd = planInteraction({
        operation: "update",
        resourceType: "Patient",
        id: "7",
        body: { resourceType: "Patient", active: true },
        ifMatch: 'W/"2"',
      });
      expect(upd).to.deep.include({ method: "PUT", path: "Patient/7", retrySafe: true });
      expect(JSON.parse(upd.body!)).to.deep.equal({ resourceType: "Patient", active: true, id: "7" });
      expect(upd.headers["If-Match"]).to.equal('W/"2"');
      const fromBody = planInteraction({ operation: "update", body: { resourceType: "Patient", id: "9" } });
      expect(fromBody.path).to.equal("Patient/9");
    });

    it("plans upsert as a conditional update on the identifier, keyed by type and identifier", () => {
      const fromBody = planInteraction({ operation: "upsert", body: patient });
      expect(fromBody.method).to.equal("PUT");
      expect(fromBody.path).to.equal("Patient?identifier=urn%3Amrn%7CA1");
      expect(fromBody.retrySafe).to.equal(true);
      const explicit = planInteraction({ operation: "upsert", body: patient, identifier: "urn:mrn|A1" });
      const asObject = planInteraction({
        operation: "upsert",
        body: patient,
        identifier: { system: "urn:mrn", value: "A1" },
      });
      expect(explicit.writeKey).to.equal(fromBody.writeKey);
      expect(asObject.writeKey).to.equal(fromBody.writeKey);
      const other = planInteraction({ operation: "upsert", body: patient, identifier: "urn:mrn|A2" });
      expect(other.writeKey).to.not.equal(fromBody.writeKey);
      const sameAsCreate = planInteraction({
        operation: "create",
        body: patient,
        ifNoneExist: "identifier=urn:mrn|A1",
      });
      expect(sameAsCreate.writeKey).to.equal(fromBody.writeKey);
    });

    it("escapes FHIR search specials in identifier values", () => {
      expect(identifierToken(parseIdentifier("urn:x|a,b$c\\d"))).to.equal("urn:x|a\\,b\\$c\\\\d");
      expect(identifierToken(parseIdentifier("|local"))).to.equal("|local");
      expect(identifierToken(parseIdentifier("any-system"))).to.equal("any-system");
      expect(parseIdentifier({ system: "urn:s", value: " v " })).to.deep.equal({
        system: "urn:s",
        value: "v",
      });
      const p = planInteraction({ operation: "upsert", body: patient, identifier: "urn:x|a|b" });
      expect(decodeURIComponent(p.path.split("=")[1]!)).to.equal("urn:x|a\\|b");
    });

    it("plans patch as JSON Patch, retry-safe only with If-Match", () => {
      const ops = [{ op: "replace", path: "/active", value: false }];
      const patch = planInteraction({ operation: "patch", resourceType: "Patient", id: "1", body: ops });
      expect(patch.method).to.equal("PATCH");
      expect(patch.headers["Content-Type"]).to.equal("application/json-patch+json");
      expect(patch.retrySafe).to.equal(false);
      const guarded = planInteraction({
        operation: "patch",
        resourceType: "Patient",
        id: "1",
        body: ops,
        ifMatch: "4",
      });
      expect(guarded.retrySafe).to.equal(true);
      expect(guarded.headers["If-Match"]).to.equal('W/"4"');
    });

    it("plans transaction, batch, history, capabilities and operations", () => {
      const tx = planInteraction({
        operation: "transaction",
        body: { resourceType: "Bundle", type: "transaction", entry: [] },
      });
      expect(tx).to.deep.include({ method: "POST", path: "", retrySafe: false });
      expect(
        planInteraction({ operation: "batch", body: { resourceType: "Bundle", type: "batch" } }).retrySafe,
      ).to.equal(false);
      expect(planInteraction({ operation: "history" }).path).to.equal("_history");
      expect(planInteraction({ operation: "history", resourceType: "Patient" }).path).to.equal(
        "Patient/_history",
      );
      expect(
        planInteraction({ operation: "history", resourceType: "Patient", id: "1", params: { _count: 2 } })
          .path,
      ).to.equal("Patient/1/_history?_count=2");
      expect(planInteraction({ operation: "capabilities" }).path).to.equal("metadata");
      const everything = planInteraction({
        operation: "operation",
        resourceType: "Patient",
        id: "1",
        operationName: "everything",
      });
      expect(everything).to.deep.include({ method: "GET", path: "Patient/1/$everything", retrySafe: true });
      const validate = planInteraction({
        operation: "operation",
        resourceType: "Patient",
        operationName: "$validate",
        body: { resourceType: "Parameters", parameter: [] },
      });
      expect(validate).to.deep.include({ method: "POST", path: "Patient/$validate", retrySafe: false });
      expect(planInteraction({ operation: "operation", operationName: "$meta" }).path).to.equal("$meta");
    });
  });

  describe("helpers", () => {
    it("normalises If-Match values", () => {
      expect(normalizeIfMatch("3")).to.equal('W/"3"');
      expect(normalizeIfMatch('W/"3"')).to.equal('W/"3"');
      expect(normalizeIfMatch('"abc"')).to.equal('"abc"');
    });

    it("builds conditional keys independent of parameter order and encoding", () => {
      expect(conditionalKey("Patient", "b=2&a=1")).to.equal(conditionalKey("Patient", "a=1&b=2"));
      expect(conditionalKey("Patient", "identifier=s%7Cv")).to.equal(
        conditionalKey("Patient", "identifier=s|v"),
      );
      expect(conditionalKey("Patient", "a=1")).to.not.equal(conditionalKey("Observation", "a=1"));
    });

    it("encodes params and drops empty ones", () => {
      expect(encodeParams(undefined)).to.equal("");
      expect(encodeParams("")).to.equal("");
      expect(encodeParams({ "_has:Observation:patient:code": "1234-5" })).to.equal(
        "_has%3AObservation%3Apatient%3Acode=1234-5",
      );
      expect(encodeParams({ a: null as never, b: "x y" })).to.equal("b=x%20y");
    });

    it("takes a query string's leading '?' off after trimming it, so that no path gets two", () => {
      expect(encodeParams(" ?name=Smith ")).to.equal("name=Smith");
      expect(encodeParams("?name=Smith")).to.equal("name=Smith");
      expect(encodeParams("\t?a=1&b=2\t")).to.equal("a=1&b=2");
    });

    it("normalises the base URL and describes requests without their query", () => {
      const base = normalizeBaseUrl("https://ehr.example.org/fhir/R4///");
      expect(resolveUrl(base, "")).to.equal("https://ehr.example.org/fhir/R4");
      expect(resolveUrl(base, "Patient/1")).to.equal("https://ehr.example.org/fhir/R4/Patient/1");
      expect(describeRequest("GET", "https://ehr.example.org/fhir/R4/Patient?name=Smith", base)).to.equal(
        "GET Patient",
      );
      expect(describeRequest("POST", "https://ehr.example.org/fhir/R4", base)).to.equal("POST [base]");
      expect(describeRequest("GET", "https://ehr.example.org/fhir/R4?_type=Patient", base)).to.equal(
        "GET [base]",
      );
      // A next link on the same origin but outside the base: its whole path, not a clipped one.
      expect(describeRequest("GET", "https://ehr.example.org/fhir/R42/Patient?page=2", base)).to.equal(
        "GET /fhir/R42/Patient",
      );
      expect(() => normalizeBaseUrl("ftp://x")).to.throw(/http or https/);
      expect(() => normalizeBaseUrl("not a url")).to.throw(/not a valid URL/);
      expect(() => normalizeBaseUrl("https://u:p@x/fhir")).to.throw(/credentials/);
    });
  });
  describe("rules of the planner", () => {
    const plan = (input: unknown) => planInteraction(input as InteractionInput);

    it("names the known operations when the operation is unknown", () => {
      badInput({ operation: "fetch" }, /expected one of read, vread, search/);
    });

    it("requires the type and id of vread, patch and delete, and the id to be a FHIR id in history and operations", () => {
      badInput({ operation: "vread", id: "1", versionId: "2" }, /^vread: resourceType is required$/);
      badInput({ operation: "vread", resourceType: "Patient", versionId: "2" }, /^vread: id is required$/);
      badInput({ operation: "patch", id: "1", body: [] }, /^patch: resourceType is required$/);
      badInput({ operation: "patch", resourceType: "Patient", body: [] }, /^patch: id is required$/);
      badInput({ operation: "delete", id: "1" }, /^delete: resourceType is required$/);
      badInput(
        { operation: "history", resourceType: "Patient", id: "a/b" },
        /^history: id must be a FHIR id/,
      );
      badInput(
        { operation: "operation", resourceType: "Patient", id: "a/b", operationName: "$everything" },
        /^operation: id must be a FHIR id/,
      );
    });

    it("takes a whole-number id as its decimal text, and refuses a negative one", () => {
      expect(plan({ operation: "read", resourceType: "Patient", id: 7 }).path).to.equal("Patient/7");
      expect(plan({ operation: "read", resourceType: "Patient", id: 0 }).path).to.equal("Patient/0");
      badInput({ operation: "read", resourceType: "Patient", id: -1 }, /FHIR id/);
      badInput({ operation: "read", resourceType: "Patient", id: 1.5 }, /FHIR id/);
    });

    it("marks every read and every idempotent write retry-safe (RFC 9110 9.2.2)", () => {
      const safe = [
        { operation: "read", resourceType: "Patient", id: "1" },
        { operation: "vread", resourceType: "Patient", id: "1", versionId: "2" },
        { operation: "search", resourceType: "Patient" },
        { operation: "history", resourceType: "Patient" },
        { operation: "capabilities" },
        { operation: "delete", resourceType: "Patient", id: "1" },
        { operation: "operation", operationName: "$meta" },
      ];
      for (const input of safe) expect(plan(input).retrySafe, input.operation).to.equal(true);
    });

    it("asks for FHIR JSON on searches, and sends no search-only fields on a plain search", () => {
      const search = plan({ operation: "search", resourceType: "Patient", params: { name: "x" } });
      expect(search.headers).to.deep.equal({ Accept: "application/fhir+json" });
      expect(search).to.not.have.property("maxPages");
      expect(plan({ operation: "search-all", resourceType: "Patient", maxPages: 1 }).maxPages).to.equal(1);
    });

    it("sends a search of exactly the threshold as GET, one character more as POST", () => {
      const params = (length: number) => `name=${"x".repeat(length - 5)}`;
      const at = plan({
        operation: "search",
        resourceType: "Patient",
        params: params(SEARCH_POST_THRESHOLD),
      });
      expect(at.method).to.equal("GET");
      const above = plan({
        operation: "search",
        resourceType: "Patient",
        params: params(SEARCH_POST_THRESHOLD + 1),
      });
      expect(above.method).to.equal("POST");
    });

    it("treats null and empty optional fields as absent", () => {
      const read = plan({ operation: "read", resourceType: "Patient", id: "1", prefer: null, ifMatch: null });
      expect(read.headers).to.deep.equal({ Accept: "application/fhir+json" });
      expect(plan({ operation: "read", resourceType: "Patient", id: "1", prefer: "" }).path).to.equal(
        "Patient/1",
      );
      expect(plan({ operation: "search", resourceType: "Patient", params: null }).path).to.equal("Patient");
      const op = plan({
        operation: "operation",
        resourceType: "Patient",
        operationName: "$match",
        body: null,
      });
      expect(op).to.deep.include({ method: "GET", path: "Patient/$match" });
    });

    it("refuses header values that are not text or that hold line breaks, and trims them", () => {
      badInput(
        { operation: "delete", resourceType: "Patient", id: "1", ifMatch: 3 },
        /^delete: ifMatch must be a string$/,
      );
      badInput(
        { operation: "create", body: patient, ifNoneExist: "identifier=a\nX-Evil: 1" },
        /^create: ifNoneExist must not contain line breaks$/,
      );
      const del = plan({ operation: "delete", resourceType: "Patient", id: "1", ifMatch: "  3 " });
      expect(del.headers["If-Match"]).to.equal('W/"3"');
    });

    it("lists the allowed Prefer values when refusing one", () => {
      badInput(
        { operation: "create", body: patient, prefer: "all" },
        /^create: prefer must be one of representation, minimal, OperationOutcome$/,
      );
    });

    it("sends If-None-Exist without a leading '?', keeps a '?' inside it, and no header for a plain create", () => {
      const conditional = plan({ operation: "create", body: patient, ifNoneExist: "?identifier=urn:mrn|A1" });
      expect(conditional.headers["If-None-Exist"]).to.equal("identifier=urn:mrn|A1");
      const inner = plan({ operation: "create", body: patient, ifNoneExist: "name=who?" });
      expect(inner.headers["If-None-Exist"]).to.equal("name=who?");
      expect(plan({ operation: "create", body: patient }).headers).to.not.have.property("If-None-Exist");
    });

    it("takes the type from the input when the body has none, and refuses a malformed body type", () => {
      const created = plan({ operation: "create", resourceType: "Patient", body: { active: true } });
      expect(created.path).to.equal("Patient");
      expect(JSON.parse(created.body!)).to.deep.equal({ resourceType: "Patient", active: true });
      badInput(
        { operation: "create", body: { resourceType: "patient" } },
        /^create: the body's resourceType is not a resource type name$/,
      );
      badInput(
        { operation: "create", resourceType: "Patient", body: { resourceType: 5 } },
        /the body's resourceType is not a resource type name/,
      );
      // An array whose text looks like a type name is still not one.
      badInput(
        { operation: "create", body: { resourceType: ["Patient"] } },
        /the body's resourceType is not a resource type name/,
      );
    });

    it("refuses a patch operation without a path, and an operation body that is not a resource", () => {
      badInput(
        { operation: "patch", resourceType: "Patient", id: "1", body: [{ op: "remove" }] },
        /"op" and "path"/,
      );
      badInput(
        {
          operation: "operation",
          resourceType: "Patient",
          operationName: "$validate",
          body: { parameter: [] },
        },
        /^operation: the body must be a FHIR resource, usually Parameters$/,
      );
    });

    it("requires search-all's maxPages to be a whole number of at least 1", () => {
      badInput({ operation: "search-all", resourceType: "Patient", maxPages: "5" }, /maxPages/);
      expect(plan({ operation: "search-all", resourceType: "Patient", maxPages: 1 }).maxPages).to.equal(1);
    });

    it("falls back to the body's identifier when the given one is null or empty", () => {
      for (const identifier of [null, ""]) {
        expect(plan({ operation: "upsert", body: patient, identifier }).path).to.equal(
          "Patient?identifier=urn%3Amrn%7CA1",
        );
      }
      badInput(
        {
          operation: "upsert",
          body: { resourceType: "Patient", identifier: [{ system: "s", value: "  " }] },
        },
        /^upsert: no identifier/,
      );
    });
  });

  describe("rules of the helpers", () => {
    it("passes only a whole entity-tag through as If-Match; anything else is a version id", () => {
      expect(normalizeIfMatch('3"x"')).to.equal('W/"3"x""');
      expect(normalizeIfMatch('"x"3')).to.equal('W/""x"3"');
    });

    it("refuses query strings with line breaks or a fragment, and params with an empty name", () => {
      for (const params of ["name=x\r\nHost: evil", "name=a#b", "name=\0"]) {
        expect(() => encodeParams(params), JSON.stringify(params)).to.throw(
          /^search: params must not contain line breaks or "#"$/,
        );
      }
      expect(() => encodeParams({ "": "x" })).to.throw(/^search: params has an empty name$/);
      expect(() => encodeParams({ a: "1", "": "x" }, "history")).to.throw(
        /^history: params has an empty name$/,
      );
    });

    it("keeps a query string as given except a leading '?' and surrounding spaces", () => {
      expect(encodeParams("?_text=why?")).to.equal("_text=why?");
      expect(encodeParams("name=x ")).to.equal("name=x");
      expect(encodeParams("_text=why?")).to.equal("_text=why?");
      expect(encodeParams(null as never)).to.equal("");
    });

    it("reads identifiers as trimmed system|value, treating an empty or null object system as any system", () => {
      expect(parseIdentifier("  urn:mrn|A1  ")).to.deep.equal({ system: "urn:mrn", value: "A1" });
      expect(parseIdentifier({ value: " A1 " })).to.deep.equal({ value: "A1" });
      for (const system of [null, ""]) {
        expect(identifierToken(parseIdentifier({ system, value: "A1" })), String(system)).to.equal("A1");
      }
      expect(() => parseIdentifier({ system: 5, value: "A1" })).to.throw(
        /^upsert: identifier.system must be a string$/,
      );
      expect(() => parseIdentifier({ system: "s", value: "  " })).to.throw(
        /identifier.value must be a non-empty string/,
      );
    });

    it("sorts a conditional key's parameters by name, then value, whatever their order", () => {
      const orders = ["b=1&a=2&a=1", "a=1&a=2&b=1", "a=2&b=1&a=1", "?a=2&a=1&b=1"];
      for (const q of orders) expect(conditionalKey("Patient", q), q).to.equal("Patient?a=1&a=2&b=1");
      expect(conditionalKey("Patient", "a=1&b=1")).to.equal(conditionalKey("Patient", "b=1&a=1"));
      expect(conditionalKey("Patient", "q=a?b")).to.not.equal(conditionalKey("Patient", "q=ab"));
      // Many values of one name (an _id list split up): still one key for any order.
      const ids = Array.from({ length: 100 }, (_, i) => `_id=p${String(i).padStart(3, "0")}`);
      const shuffled = ids.map((_, i) => ids[(i * 37) % ids.length]!);
      expect(new Set(shuffled).size).to.equal(ids.length);
      expect(conditionalKey("Patient", shuffled.join("&"))).to.equal(`Patient?${ids.join("&")}`);
      expect(conditionalKey("Patient", [...ids].reverse().join("&"))).to.equal(`Patient?${ids.join("&")}`);
    });

    it("describes requests to a server at the root of its host", () => {
      const base = normalizeBaseUrl("https://ehr.example.org/");
      expect(describeRequest("GET", "https://ehr.example.org/Patient/1?x=y", base)).to.equal("GET Patient/1");
    });
  });
});
