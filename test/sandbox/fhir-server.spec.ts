import type { Bundle, BundleEntry, OperationOutcome, Patient, Resource } from "@medplum/fhirtypes";
import { expect } from "chai";
import type { FhirSandbox } from "../../sandbox/fhir/server";
import { startFhirSandbox } from "../../sandbox/fhir/server";
import { FHIR_JSON, call, nextLink, patient, postBundle } from "./fhir-helpers";

const SYS = "urn:test:mrn";

describe("sandbox/fhir server: REST semantics over HTTP", function () {
  let sandbox: FhirSandbox;

  before(async function () {
    this.timeout(20000);
    sandbox = await startFhirSandbox();
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    await sandbox.reset();
  });

  async function create(resource: Resource): Promise<Resource & { id: string }> {
    const r = await call<Resource & { id: string }>(`${sandbox.url}/${resource.resourceType}`, {
      method: "POST",
      json: resource,
    });
    expect(r.status, r.text).to.equal(201);
    return r.body;
  }

  describe("create, read, vread", () => {
    it("answers a create with 201, Location of the version, ETag and Last-Modified", async () => {
      const r = await call<Patient>(`${sandbox.url}/Patient`, { method: "POST", json: patient(SYS, "1") });
      expect(r.status).to.equal(201);
      expect(r.headers.get("content-type")).to.match(/^application\/fhir\+json/);
      const id = r.body.id as string;
      expect(id).to.match(/^[A-Za-z0-9\-.]{1,64}$/);
      expect(r.body.meta?.versionId).to.equal("1");
      expect(r.headers.get("location")).to.equal(`${sandbox.url}/Patient/${id}/_history/1`);
      expect(r.headers.get("etag")).to.equal('W/"1"');
      const lastModified = r.headers.get("last-modified") as string;
      expect(new Date(lastModified).toUTCString()).to.equal(lastModified);
      expect(
        Math.abs(Date.parse(lastModified) - Date.parse(r.body.meta?.lastUpdated as string)),
      ).to.be.lessThan(1000);
    });

    it("ignores an id in the body of a create", async () => {
      const first = await create({ ...patient(SYS, "1"), id: "chosen" } as Resource);
      expect(first.id).to.not.equal("chosen");
      expect((await call(`${sandbox.url}/Patient/chosen`)).status).to.equal(404);
    });

    it("reads with ETag and Last-Modified, and vreads earlier versions", async () => {
      const p = await create(patient(SYS, "1"));
      const updated = await call<Patient>(`${sandbox.url}/Patient/${p.id}`, {
        method: "PUT",
        json: { ...p, gender: "female" },
      });
      expect(updated.status).to.equal(200);
      expect(updated.headers.get("etag")).to.equal('W/"2"');
      const read = await call<Patient>(`${sandbox.url}/Patient/${p.id}`);
      expect(read.status).to.equal(200);
      expect(read.headers.get("etag")).to.equal('W/"2"');
      expect(read.headers.get("last-modified")).to.be.a("string");
      expect(read.body.gender).to.equal("female");
      const v1 = await call<Patient>(`${sandbox.url}/Patient/${p.id}/_history/1`);
      expect(v1.status).to.equal(200);
      expect(v1.headers.get("etag")).to.equal('W/"1"');
      expect(v1.body.gender).to.equal(undefined);
      expect((await call(`${sandbox.url}/Patient/${p.id}/_history/9`)).status).to.equal(404);
    });

    it("answers 404 with an OperationOutcome for an unknown id and an unknown type", async () => {
      const missing = await call<OperationOutcome>(`${sandbox.url}/Patient/nope`);
      expect(missing.status).to.equal(404);
      expect(missing.body.resourceType).to.equal("OperationOutcome");
      expect(missing.headers.get("content-type")).to.match(/^application\/fhir\+json/);
      const unknownType = await call<OperationOutcome>(`${sandbox.url}/Nonsense/1`);
      expect(unknownType.status).to.equal(404);
      expect(unknownType.body.resourceType).to.equal("OperationOutcome");
    });

    it("answers 304 to a read whose If-None-Match names the current version", async () => {
      const p = await create(patient(SYS, "1"));
      const r = await call(`${sandbox.url}/Patient/${p.id}`, { headers: { "If-None-Match": 'W/"1"' } });
      expect(r.status).to.equal(304);
      const changed = await call(`${sandbox.url}/Patient/${p.id}`, { headers: { "If-None-Match": 'W/"0"' } });
      expect(changed.status).to.equal(200);
    });
  });

  describe("bad requests", () => {
    it("answers malformed JSON with 400 and an OperationOutcome", async () => {
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "content-type": FHIR_JSON },
        body: '{"resourceType": "Patient",',
      });
      expect(r.status).to.equal(400);
      expect(r.body.resourceType).to.equal("OperationOutcome");
      expect(r.body.issue[0].severity).to.equal("error");
    });

    it("answers a resource that fails validation with 422, and stores nothing", async () => {
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient`, {
        method: "POST",
        json: { resourceType: "Patient", birthDate: "last tuesday", unknownElement: true },
      });
      expect(r.status).to.equal(422);
      expect(r.body.resourceType).to.equal("OperationOutcome");
      const texts = r.body.issue.map((i) => `${i.details?.text} ${i.expression?.join()}`).join(" | ");
      expect(texts).to.match(/Patient\.birthDate/);
      expect(texts).to.match(/unknownElement/);
      const all = await call<Bundle>(`${sandbox.url}/Patient`);
      expect(all.body.total).to.equal(0);
    });

    it("answers 400 when the body type differs from the URL, or the update id differs", async () => {
      const wrongType = await call(`${sandbox.url}/Patient`, {
        method: "POST",
        json: { resourceType: "Observation" },
      });
      expect(wrongType.status).to.equal(400);
      const p = await create(patient(SYS, "1"));
      const wrongId = await call(`${sandbox.url}/Patient/${p.id}`, {
        method: "PUT",
        json: { ...p, id: "other" },
      });
      expect(wrongId.status).to.equal(400);
    });

    it("answers 415 for XML and 405 for a method a path does not support", async () => {
      const xml = await call(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "content-type": "application/fhir+xml" },
        body: "<Patient/>",
      });
      expect(xml.status).to.equal(415);
      const metadataPost = await call(`${sandbox.url}/metadata`, { method: "POST", json: {} });
      expect(metadataPost.status).to.equal(405);
    });

    it("answers 413 to a body over the limit", async () => {
      const small = await startFhirSandbox({ maxBodyBytes: 1024 });
      try {
        const r = await call(`${small.url}/Patient`, {
          method: "POST",
          json: {
            ...patient(SYS, "big"),
            text: { status: "generated", div: `<div>${"x".repeat(4096)}</div>` },
          },
        });
        expect(r.status).to.equal(413);
      } finally {
        await small.close();
      }
    });

    it("answers 404 outside the FHIR base", async () => {
      const r = await call<OperationOutcome>(`${sandbox.url.replace("/fhir/R4", "")}/elsewhere`);
      expect(r.status).to.equal(404);
      expect(r.body.resourceType).to.equal("OperationOutcome");
    });
  });

  describe("update, If-Match, delete", () => {
    it("applies If-Match optimistic locking: 412 on a stale version, 200 on the current one", async () => {
      const p = await create(patient(SYS, "1"));
      const stale = await call<OperationOutcome>(`${sandbox.url}/Patient/${p.id}`, {
        method: "PUT",
        headers: { "If-Match": 'W/"7"' },
        json: { ...p, gender: "male" },
      });
      expect(stale.status).to.equal(412);
      expect(stale.body.resourceType).to.equal("OperationOutcome");
      const current = await call<Patient>(`${sandbox.url}/Patient/${p.id}`, {
        method: "PUT",
        headers: { "If-Match": 'W/"1"' },
        json: { ...p, gender: "male" },
      });
      expect(current.status).to.equal(200);
      expect(current.body.meta?.versionId).to.equal("2");
      const again = await call(`${sandbox.url}/Patient/${p.id}`, {
        method: "PUT",
        headers: { "If-Match": 'W/"1"' },
        json: { ...p, gender: "other" },
      });
      expect(again.status).to.equal(412);
      const read = await call<Patient>(`${sandbox.url}/Patient/${p.id}`);
      expect(read.body.gender).to.equal("male");
    });

    it("stores an unchanged update as a new version, and still refuses invalid changes, meta included", async () => {
      const p = (await create({
        ...patient(SYS, "same"),
        meta: { tag: [{ code: "ok" }] },
      } as Resource)) as Patient;
      const put = (body: unknown) =>
        call<Patient>(`${sandbox.url}/Patient/${p.id}`, { method: "PUT", json: body });
      // The client echoes the meta it read (versionId 1, an old lastUpdated): the same content.
      const same = await put(p);
      expect(same.status).to.equal(200);
      expect(same.body.meta?.versionId).to.equal("2");
      expect(Date.parse(same.body.meta?.lastUpdated as string)).to.be.greaterThan(
        Date.parse(p.meta?.lastUpdated as string),
      );
      const { meta: _meta, ...withoutMeta } = p;
      expect((await put(withoutMeta)).body.meta?.versionId).to.equal("3");
      const badTag = await put({ ...p, meta: { tag: [{ code: " not a code" }] } });
      expect(badTag.status).to.equal(422);
      const badId = await put({
        ...p,
        identifier: [{ system: SYS, value: "same", period: { start: "soon" } }],
      });
      expect(badId.status).to.equal(422);
      const badVersionShape = await put({ ...p, meta: { ...p.meta, versionId: 7 } });
      expect(badVersionShape.status).to.equal(200);
      const history = await call<Bundle>(`${sandbox.url}/Patient/${p.id}/_history`);
      expect(history.body.total).to.equal(4);
      expect(history.body.entry?.map((e) => (e.resource as Patient).identifier)).to.deep.equal(
        Array(4).fill(p.identifier),
      );
    });

    it("creates with 201 on an update to a new id (update as create)", async () => {
      const r = await call<Patient>(`${sandbox.url}/Patient/client-chosen-1`, {
        method: "PUT",
        json: { ...patient(SYS, "9"), id: "client-chosen-1" },
      });
      expect(r.status).to.equal(201);
      expect(r.headers.get("location")).to.equal(`${sandbox.url}/Patient/client-chosen-1/_history/1`);
    });

    it("deletes with 204, then answers 410 Gone; deleting again is 204; an unknown id is 404", async () => {
      const p = await create(patient(SYS, "1"));
      const del = await call(`${sandbox.url}/Patient/${p.id}`, { method: "DELETE" });
      expect(del.status).to.equal(204);
      expect(del.text).to.equal("");
      const gone = await call<OperationOutcome>(`${sandbox.url}/Patient/${p.id}`);
      expect(gone.status).to.equal(410);
      expect(gone.body.resourceType).to.equal("OperationOutcome");
      expect((await call(`${sandbox.url}/Patient/${p.id}`, { method: "DELETE" })).status).to.equal(204);
      expect((await call(`${sandbox.url}/Patient/never`, { method: "DELETE" })).status).to.equal(404);
      const search = await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|1`);
      expect(search.body.total).to.equal(0);
    });

    it("brings a deleted resource back with an update (201), its versions continuing", async () => {
      const p = await create(patient(SYS, "1"));
      await call(`${sandbox.url}/Patient/${p.id}`, { method: "DELETE" });
      const back = await call<Patient>(`${sandbox.url}/Patient/${p.id}`, { method: "PUT", json: p });
      expect(back.status).to.equal(201);
      expect(back.body.meta?.versionId).to.equal("3");
      expect((await call(`${sandbox.url}/Patient/${p.id}`)).status).to.equal(200);
    });

    it("refuses a delete whose If-Match is stale", async () => {
      const p = await create(patient(SYS, "1"));
      const r = await call(`${sandbox.url}/Patient/${p.id}`, {
        method: "DELETE",
        headers: { "If-Match": 'W/"2"' },
      });
      expect(r.status).to.equal(412);
      expect((await call(`${sandbox.url}/Patient/${p.id}`)).status).to.equal(200);
    });

    it("honours Prefer: return=minimal on writes", async () => {
      const r = await call(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { Prefer: "return=minimal" },
        json: patient(SYS, "1"),
      });
      expect(r.status).to.equal(201);
      expect(r.text).to.equal("");
      expect(r.headers.get("location")).to.match(/\/Patient\/[^/]+\/_history\/1$/);
      expect(r.headers.get("etag")).to.equal('W/"1"');
    });
  });

  describe("conditional create and update", () => {
    it("creates once with If-None-Exist: the second answers 200 with the existing resource", async () => {
      const headers = { "If-None-Exist": `identifier=${SYS}|42` };
      const first = await call<Patient>(`${sandbox.url}/Patient`, {
        method: "POST",
        headers,
        json: patient(SYS, "42"),
      });
      expect(first.status).to.equal(201);
      const second = await call<Patient>(`${sandbox.url}/Patient`, {
        method: "POST",
        headers,
        json: patient(SYS, "42", "Other"),
      });
      expect(second.status).to.equal(200);
      expect(second.body.id).to.equal(first.body.id);
      expect(second.body.name?.[0].family).to.equal("Test");
      const all = await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|42`);
      expect(all.body.total).to.equal(1);
    });

    it("answers 412 to If-None-Exist when several resources match", async () => {
      await create(patient(SYS, "7"));
      await create(patient(SYS, "7"));
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "If-None-Exist": `identifier=${SYS}|7` },
        json: patient(SYS, "7"),
      });
      expect(r.status).to.equal(412);
      expect(r.body.resourceType).to.equal("OperationOutcome");
    });

    it("answers 400 to conditional criteria the server does not know", async () => {
      const r = await call(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "If-None-Exist": "no-such-param=1" },
        json: patient(SYS, "7"),
      });
      expect(r.status).to.equal(400);
    });

    it("makes concurrent conditional creates of one identifier leave one resource", async () => {
      const replies = await Promise.all(
        Array.from({ length: 20 }, () =>
          call<Patient>(`${sandbox.url}/Patient`, {
            method: "POST",
            headers: { "If-None-Exist": `identifier=${SYS}|race` },
            json: patient(SYS, "race"),
          }),
        ),
      );
      expect(replies.filter((r) => r.status === 201)).to.have.length(1);
      expect(replies.filter((r) => r.status === 200)).to.have.length(19);
      expect(new Set(replies.map((r) => r.body.id)).size).to.equal(1);
    });

    it("conditional update: 201 when none matches, 200 updating the one that does, 412 when several", async () => {
      const url = `${sandbox.url}/Patient?identifier=${encodeURIComponent(`${SYS}|55`)}`;
      const first = await call<Patient>(url, { method: "PUT", json: patient(SYS, "55", "One") });
      expect(first.status).to.equal(201);
      expect(first.headers.get("location")).to.equal(`${sandbox.url}/Patient/${first.body.id}/_history/1`);
      const second = await call<Patient>(url, { method: "PUT", json: patient(SYS, "55", "Two") });
      expect(second.status).to.equal(200);
      expect(second.body.id).to.equal(first.body.id);
      expect(second.body.meta?.versionId).to.equal("2");
      expect(second.headers.get("etag")).to.equal('W/"2"');
      await create(patient(SYS, "55"));
      const third = await call(url, { method: "PUT", json: patient(SYS, "55", "Three") });
      expect(third.status).to.equal(412);
    });

    it("conditional update with an id that exists but does not match is a 409 conflict", async () => {
      const other = await create(patient(SYS, "a"));
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient?identifier=${SYS}|b`, {
        method: "PUT",
        json: { ...patient(SYS, "b"), id: other.id },
      });
      expect(r.status).to.equal(409);
      expect(r.body.resourceType).to.equal("OperationOutcome");
    });

    it("makes concurrent conditional updates of one identifier leave one resource", async () => {
      const url = `${sandbox.url}/Patient?identifier=${SYS}|same`;
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call<Patient>(url, { method: "PUT", json: patient(SYS, "same", `F${i}`) }),
        ),
      );
      expect(replies.filter((r) => r.status === 201)).to.have.length(1);
      expect(replies.filter((r) => r.status === 200)).to.have.length(19);
      const all = await call<Bundle>(url);
      expect(all.body.total).to.equal(1);
      expect(all.body.entry?.[0].resource?.meta?.versionId).to.equal("20");
    });
  });

  describe("conditional patch and delete", () => {
    it("patches the one match, 404 for none, 412 for several", async () => {
      await create(patient(SYS, "p1"));
      const headers = { "content-type": "application/json-patch+json" };
      const body = JSON.stringify([{ op: "add", path: "/gender", value: "unknown" }]);
      const one = await call<Patient>(`${sandbox.url}/Patient?identifier=${SYS}|p1`, {
        method: "PATCH",
        headers,
        body,
      });
      expect(one.status).to.equal(200);
      expect(one.body.gender).to.equal("unknown");
      const none = await call(`${sandbox.url}/Patient?identifier=${SYS}|zz`, {
        method: "PATCH",
        headers,
        body,
      });
      expect(none.status).to.equal(404);
      await create(patient(SYS, "p1"));
      const several = await call(`${sandbox.url}/Patient?identifier=${SYS}|p1`, {
        method: "PATCH",
        headers,
        body,
      });
      expect(several.status).to.equal(412);
    });

    it("deletes the one match (204), does nothing for none (204), 412 for several", async () => {
      const p = await create(patient(SYS, "d1"));
      expect(
        (await call(`${sandbox.url}/Patient?identifier=${SYS}|d1`, { method: "DELETE" })).status,
      ).to.equal(204);
      expect((await call(`${sandbox.url}/Patient/${p.id}`)).status).to.equal(410);
      expect(
        (await call(`${sandbox.url}/Patient?identifier=${SYS}|d1`, { method: "DELETE" })).status,
      ).to.equal(204);
      await create(patient(SYS, "d2"));
      await create(patient(SYS, "d2"));
      expect(
        (await call(`${sandbox.url}/Patient?identifier=${SYS}|d2`, { method: "DELETE" })).status,
      ).to.equal(412);
      expect((await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|d2`)).body.total).to.equal(2);
    });
  });

  describe("JSON Patch", () => {
    it("patches with application/json-patch+json and bumps the version", async () => {
      const p = await create(patient(SYS, "1"));
      const r = await call<Patient>(`${sandbox.url}/Patient/${p.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json-patch+json", "If-Match": 'W/"1"' },
        body: JSON.stringify([
          { op: "test", path: "/name/0/family", value: "Test" },
          { op: "replace", path: "/name/0/family", value: "Patched" },
          { op: "add", path: "/gender", value: "female" },
        ]),
      });
      expect(r.status, r.text).to.equal(200);
      expect(r.headers.get("etag")).to.equal('W/"2"');
      expect(r.body.name?.[0].family).to.equal("Patched");
      expect(r.body.gender).to.equal("female");
    });

    it("answers a failed test op with 409, a malformed patch with 400, a stale If-Match with 412", async () => {
      const p = await create(patient(SYS, "1"));
      const patchUrl = `${sandbox.url}/Patient/${p.id}`;
      const headers = { "content-type": "application/json-patch+json" };
      const failedTest = await call(patchUrl, {
        method: "PATCH",
        headers,
        body: JSON.stringify([
          { op: "test", path: "/name/0/family", value: "Wrong" },
          { op: "replace", path: "/name/0/family", value: "X" },
        ]),
      });
      expect(failedTest.status).to.equal(409);
      const malformed = await call(patchUrl, {
        method: "PATCH",
        headers,
        body: JSON.stringify({ op: "add" }),
      });
      expect(malformed.status).to.equal(400);
      const stale = await call(patchUrl, {
        method: "PATCH",
        headers: { ...headers, "If-Match": 'W/"5"' },
        body: JSON.stringify([{ op: "add", path: "/gender", value: "male" }]),
      });
      expect(stale.status).to.equal(412);
      const invalid = await call(patchUrl, {
        method: "PATCH",
        headers,
        body: JSON.stringify([{ op: "add", path: "/birthDate", value: "not a date" }]),
      });
      expect(invalid.status).to.equal(422);
      const read = await call<Patient>(patchUrl);
      expect(read.body.meta?.versionId).to.equal("1");
    });

    it("refuses a FHIR-typed PATCH body with 415", async () => {
      const p = await create(patient(SYS, "1"));
      const r = await call(`${sandbox.url}/Patient/${p.id}`, {
        method: "PATCH",
        json: { resourceType: "Parameters" },
      });
      expect(r.status).to.equal(415);
    });
  });

  describe("search and paging", () => {
    it("pages 250 Patients at _count=50 through absolute next links: 250 unique ids", async () => {
      const entries = Array.from({ length: 250 }, (_, i) => ({
        request: { method: "POST", url: "Patient" },
        resource: patient(SYS, `p${i}`),
      }));
      const seeded = await postBundle(sandbox.url, "batch", entries);
      expect(seeded.status).to.equal(200);
      let url: string | undefined = `${sandbox.url}/Patient?_count=50`;
      const ids: string[] = [];
      let pages = 0;
      while (url) {
        expect(url.startsWith(`${sandbox.url}/Patient?`), url).to.equal(true);
        const page: { status: number; body: Bundle } = await call<Bundle>(url);
        expect(page.status).to.equal(200);
        expect(page.body.type).to.equal("searchset");
        expect(page.body.total).to.equal(250);
        expect(page.body.entry?.length).to.be.at.most(50);
        for (const e of page.body.entry ?? []) {
          ids.push(e.resource?.id as string);
          expect(e.fullUrl).to.equal(`${sandbox.url}/Patient/${e.resource?.id}`);
          expect(e.search?.mode).to.equal("match");
        }
        url = nextLink(page.body);
        pages++;
      }
      expect(pages).to.equal(5);
      expect(ids).to.have.length(250);
      expect(new Set(ids).size).to.equal(250);
    });

    it("filters by identifier, honours _count=0 and _total, and sorts", async () => {
      await create(patient(SYS, "b", "Beta"));
      await create(patient(SYS, "a", "Alpha"));
      await create(patient("urn:other", "a", "Gamma"));
      const bySystem = await call<Bundle>(
        `${sandbox.url}/Patient?identifier=${encodeURIComponent(`${SYS}|a`)}`,
      );
      expect(bySystem.body.total).to.equal(1);
      expect((bySystem.body.entry?.[0].resource as Patient).name?.[0].family).to.equal("Alpha");
      const byValue = await call<Bundle>(`${sandbox.url}/Patient?identifier=a`);
      expect(byValue.body.total).to.equal(2);
      const countOnly = await call<Bundle>(`${sandbox.url}/Patient?_count=0`);
      expect(countOnly.body.total).to.equal(3);
      expect(countOnly.body.entry ?? []).to.have.length(0);
      const noTotal = await call<Bundle>(`${sandbox.url}/Patient?_total=none`);
      expect(noTotal.body.total).to.equal(undefined);
      const sorted = await call<Bundle>(`${sandbox.url}/Patient?_sort=-family`);
      expect(sorted.body.entry?.map((e) => (e.resource as Patient).name?.[0].family)).to.deep.equal([
        "Gamma",
        "Beta",
        "Alpha",
      ]);
    });

    it("ignores unknown parameters (left out of the self link) unless Prefer: handling=strict", async () => {
      await create(patient(SYS, "a"));
      const lenient = await call<Bundle>(`${sandbox.url}/Patient?bogus=1&identifier=a`);
      expect(lenient.status).to.equal(200);
      expect(lenient.body.total).to.equal(1);
      const self = lenient.body.link?.find((l) => l.relation === "self")?.url as string;
      expect(self).to.not.include("bogus");
      expect(self).to.include("identifier=a");
      const strict = await call(`${sandbox.url}/Patient?bogus=1`, { headers: { Prefer: "handling=strict" } });
      expect(strict.status).to.equal(400);
      const badCount = await call(`${sandbox.url}/Patient?_count=many`);
      expect(badCount.status).to.equal(400);
    });

    it("supports _summary=count, _elements, _offset, and a system search by _type", async () => {
      await create(patient(SYS, "a", "Alpha"));
      await create(patient(SYS, "b", "Beta"));
      await create({ resourceType: "Organization", name: "Clinic" } as Resource);
      const summary = await call<Bundle>(`${sandbox.url}/Patient?_summary=count`);
      expect(summary.body.total).to.equal(2);
      expect(summary.body.entry ?? []).to.have.length(0);
      const elements = await call<Bundle>(`${sandbox.url}/Patient?_elements=identifier&_count=1&_offset=1`);
      const only = elements.body.entry?.[0].resource as Patient;
      expect(only.name).to.equal(undefined);
      expect(only.identifier?.[0].value).to.equal("b");
      expect(only.meta?.tag?.map((t) => t.code)).to.include("SUBSETTED");
      const previous = elements.body.link?.find((l) => l.relation === "previous")?.url as string;
      expect(previous.startsWith(`${sandbox.url}/Patient?`)).to.equal(true);
      const system = await call<Bundle>(`${sandbox.url}?_type=Patient,Organization`);
      expect(system.status).to.equal(200);
      expect(system.body.total).to.equal(3);
      expect((await call(`${sandbox.url}?_type=Nonsense`)).status).to.equal(404);
    });

    it("matches strings the FHIR way: starts-with by default, :contains, :exact, accents and case folded", async () => {
      await create(patient(SYS, "1", "Smith"));
      await create(patient(SYS, "2", "Goldsmith"));
      await create(patient(SYS, "3", "Zoë"));
      const families = async (query: string) =>
        ((await call<Bundle>(`${sandbox.url}/Patient?${query}`)).body.entry ?? [])
          .map((e) => (e.resource as Patient).name?.[0].family)
          .sort();
      expect(await families("family=smi")).to.deep.equal(["Smith"]);
      expect(await families("family:contains=smith")).to.deep.equal(["Goldsmith", "Smith"]);
      expect(await families("family:exact=smith")).to.deep.equal([]);
      expect(await families("family:exact=Smith")).to.deep.equal(["Smith"]);
      expect(await families("family=zoe")).to.deep.equal(["Zoë"]);
      expect(await families("family=gold,zo")).to.deep.equal(["Goldsmith", "Zoë"]);
      expect(await families("name=pat")).to.deep.equal(["Goldsmith", "Smith", "Zoë"]);
      expect(await families("name=pat&family=sm")).to.deep.equal(["Smith"]);
    });

    it("searches by POST _search with a form body", async () => {
      await create(patient(SYS, "a"));
      await create(patient(SYS, "b"));
      const r = await call<Bundle>(`${sandbox.url}/Patient/_search`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ identifier: `${SYS}|b` }).toString(),
      });
      expect(r.status).to.equal(200);
      expect(r.body.total).to.equal(1);
    });

    it("searches by _lastUpdated so incremental sync sees only newer changes", async () => {
      await create(patient(SYS, "old"));
      const mark = await create(patient(SYS, "mark"));
      const fresh = await create(patient(SYS, "fresh"));
      const since = mark.meta?.lastUpdated as string;
      const r = await call<Bundle>(`${sandbox.url}/Patient?_lastUpdated=gt${encodeURIComponent(since)}`);
      expect(r.body.entry?.map((e) => e.resource?.id)).to.deep.equal([fresh.id]);
    });
  });

  describe("stored versions shared with the answers", () => {
    it("leaves what is stored as it was after answers that share it: _elements, history, batches, patches", async () => {
      const p = await create(patient(SYS, "keep", "Keeper"));
      const before = (await call<Patient>(`${sandbox.url}/Patient/${p.id}`)).body;
      const subset = await call<Bundle>(`${sandbox.url}/Patient?_id=${p.id}&_elements=gender`);
      expect(subset.body.entry?.[0].resource?.meta?.tag?.map((t) => t.code)).to.deep.equal(["SUBSETTED"]);
      await call(`${sandbox.url}/Patient/${p.id}/_history`);
      await call(`${sandbox.url}/_history`);
      await call(`${sandbox.url}/Patient/${p.id}/_history/1`);
      const batch = await postBundle(sandbox.url, "batch", [
        { request: { method: "GET", url: `Patient/${p.id}` } },
        { request: { method: "GET", url: `Patient?identifier=${SYS}|keep&_elements=name` } },
        { request: { method: "GET", url: `Patient/${p.id}/_history/1` } },
      ]);
      expect(batch.body.entry?.map((e) => e.response?.status)).to.deep.equal(["200", "200", "200"]);
      const patched = await call<Patient>(`${sandbox.url}/Patient/${p.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json-patch+json" },
        body: JSON.stringify([{ op: "add", path: "/gender", value: "other" }]),
      });
      expect(patched.body.gender).to.equal("other");
      const v1 = await call<Patient>(`${sandbox.url}/Patient/${p.id}/_history/1`);
      expect(v1.body).to.deep.equal(before);
      const v2 = await call<Patient>(`${sandbox.url}/Patient/${p.id}`);
      expect(v2.body).to.deep.equal({ ...before, gender: "other", meta: v2.body.meta });
      expect(v2.body.meta?.tag).to.equal(undefined);
    });

    it("answers in-process callers of the repository with copies they may change", async () => {
      const repo = sandbox.repository;
      const made = (await repo.createResource(patient(SYS, "copy") as Patient)) as Patient;
      made.gender = "male";
      const read = (await repo.readResource("Patient", made.id as string)) as Patient;
      expect(read.gender).to.equal(undefined);
      read.gender = "female";
      const updated = (await repo.updateResource({ ...read, gender: "other" })) as Patient;
      updated.name = [];
      expect(((await repo.readResource("Patient", made.id as string)) as Patient).gender).to.equal("other");
      expect(repo.current("Patient", made.id as string)).to.deep.include({
        gender: "other",
        name: read.name,
      });
      const v1 = (await repo.readVersion("Patient", made.id as string, "1")) as Patient;
      v1.gender = "unknown";
      expect(((await repo.readVersion("Patient", made.id as string, "1")) as Patient).gender).to.equal(
        undefined,
      );
    });
  });

  describe("history", () => {
    it("keeps instance history newest first, deletions included, with request and response", async () => {
      const p = await create(patient(SYS, "1"));
      await call(`${sandbox.url}/Patient/${p.id}`, { method: "PUT", json: { ...p, gender: "male" } });
      await call(`${sandbox.url}/Patient/${p.id}`, { method: "DELETE" });
      const r = await call<Bundle>(`${sandbox.url}/Patient/${p.id}/_history`);
      expect(r.status).to.equal(200);
      expect(r.body.type).to.equal("history");
      expect(r.body.total).to.equal(3);
      const entries = r.body.entry ?? [];
      expect(entries.map((e) => e.request?.method)).to.deep.equal(["DELETE", "PUT", "POST"]);
      expect(entries.map((e) => e.response?.etag)).to.deep.equal(['W/"3"', 'W/"2"', 'W/"1"']);
      expect(entries[0].resource).to.equal(undefined);
      expect((entries[1].resource as Patient).gender).to.equal("male");
      expect(entries[2].request?.url).to.equal("Patient");
      expect((await call(`${sandbox.url}/Patient/${p.id}/_history/2`)).status).to.equal(200);
      expect((await call(`${sandbox.url}/Patient/${p.id}/_history/3`)).status).to.equal(410);
    });

    it("serves type and system history with paging and _since", async () => {
      const a = await create(patient(SYS, "1"));
      await create(patient(SYS, "2"));
      await create({ resourceType: "Organization", name: "Clinic" } as Resource);
      const typeHistory = await call<Bundle>(`${sandbox.url}/Patient/_history?_count=1`);
      expect(typeHistory.body.total).to.equal(2);
      expect(typeHistory.body.entry).to.have.length(1);
      const next = nextLink(typeHistory.body) as string;
      expect(next.startsWith(`${sandbox.url}/Patient/_history?`)).to.equal(true);
      const second = await call<Bundle>(next);
      expect(second.body.entry?.[0].resource?.id).to.equal(a.id);
      const system = await call<Bundle>(`${sandbox.url}/_history`);
      expect(system.body.total).to.equal(3);
      const since = await call<Bundle>(
        `${sandbox.url}/_history?_since=${encodeURIComponent(a.meta?.lastUpdated as string)}`,
      );
      expect(since.body.total).to.equal(3);
      const none = await call<Bundle>(`${sandbox.url}/_history?_since=2999-01-01T00:00:00Z`);
      expect(none.body.total).to.equal(0);
      expect((await call(`${sandbox.url}/Patient/never/_history`)).status).to.equal(404);
    });
  });

  describe("batch and transaction", () => {
    const pid = "urn:uuid:3f1c2a8e-0d5b-4b7e-9c61-2a4f8e6d1b90";

    it("runs a transaction: references rewritten, 201s with Location and ETag, one commit", async () => {
      const r = await postBundle(sandbox.url, "transaction", [
        {
          fullUrl: pid,
          resource: patient(SYS, "tx"),
          request: { method: "POST", url: "Patient", ifNoneExist: `identifier=${SYS}|tx` },
        },
        {
          resource: {
            resourceType: "Observation",
            status: "final",
            code: { text: "weight" },
            subject: { reference: pid },
          },
          request: { method: "POST", url: "Observation" },
        },
      ]);
      expect(r.status, r.text).to.equal(200);
      expect(r.body.type).to.equal("transaction-response");
      const [pEntry, oEntry] = r.body.entry ?? [];
      expect(pEntry.response?.status).to.equal("201");
      expect(pEntry.response?.location).to.match(/^Patient\/[^/]+\/_history\/1$/);
      expect(pEntry.response?.etag).to.equal('W/"1"');
      const patientId = pEntry.resource?.id;
      const obs = await call<{ subject: { reference: string } }>(
        `${sandbox.url}/Observation/${oEntry.resource?.id}`,
      );
      expect(obs.body.subject.reference).to.equal(`Patient/${patientId}`);
    });

    it("rolls a transaction back entirely when one entry fails", async () => {
      const existing = await create(patient(SYS, "keep"));
      const r = await call<OperationOutcome>(sandbox.url, {
        method: "POST",
        json: {
          resourceType: "Bundle",
          type: "transaction",
          entry: [
            { resource: patient(SYS, "new"), request: { method: "POST", url: "Patient" } },
            {
              resource: { ...existing, gender: "male" },
              request: { method: "PUT", url: `Patient/${existing.id}`, ifMatch: 'W/"9"' },
            },
          ],
        },
      });
      expect(r.status).to.equal(412);
      expect(r.body.resourceType).to.equal("OperationOutcome");
      const all = await call<Bundle>(`${sandbox.url}/Patient`);
      expect(all.body.total).to.equal(1);
      const history = await call<Bundle>(`${sandbox.url}/_history`);
      expect(history.body.total).to.equal(1);
    });

    it("restores deleted and updated resources, versions and history on rollback", async () => {
      const a = await create(patient(SYS, "a"));
      const b = await create(patient(SYS, "b"));
      const r = await postBundle(sandbox.url, "transaction", [
        { request: { method: "DELETE", url: `Patient/${a.id}` } },
        { resource: { ...b, gender: "male" }, request: { method: "PUT", url: `Patient/${b.id}` } },
        {
          resource: { resourceType: "Patient", birthDate: "soon" },
          request: { method: "POST", url: "Patient" },
        },
      ]);
      expect(r.status).to.equal(422);
      const readA = await call<Patient>(`${sandbox.url}/Patient/${a.id}`);
      expect(readA.status).to.equal(200);
      expect(readA.headers.get("etag")).to.equal('W/"1"');
      const readB = await call<Patient>(`${sandbox.url}/Patient/${b.id}`);
      expect(readB.body.gender).to.equal(undefined);
      expect(readB.body.meta?.versionId).to.equal("1");
      expect((await call<Bundle>(`${sandbox.url}/_history`)).body.total).to.equal(2);
      expect((await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|a`)).body.total).to.equal(1);
      const next = await call<Patient>(`${sandbox.url}/Patient/${b.id}`, {
        method: "PUT",
        json: { ...b, gender: "female" },
      });
      expect(next.body.meta?.versionId).to.equal("2");
    });

    it("runs more than eight conditional entries in one transaction", async () => {
      const entry = Array.from({ length: 12 }, (_, i) => ({
        resource: patient(SYS, `c${i}`),
        request: { method: "PUT", url: `Patient?identifier=${SYS}|c${i}` },
      }));
      const r = await postBundle(sandbox.url, "transaction", entry);
      expect(r.status, r.text).to.equal(200);
      expect(r.body.entry?.map((e) => e.response?.status)).to.deep.equal(Array(12).fill("201"));
    });

    it("runs a batch: each entry on its own, failures reported per entry", async () => {
      const p = await create(patient(SYS, "1"));
      const q = await create(patient(SYS, "3"));
      const r = await postBundle(sandbox.url, "batch", [
        { request: { method: "GET", url: `Patient/${p.id}` } },
        { request: { method: "GET", url: "Patient/missing" } },
        { resource: patient(SYS, "2"), request: { method: "POST", url: "Patient" } },
        { request: { method: "DELETE", url: `Patient/${q.id}` } },
        { request: { method: "GET", url: `Patient?identifier=${SYS}|2` } },
      ]);
      expect(r.status).to.equal(200);
      expect(r.body.type).to.equal("batch-response");
      const statuses = r.body.entry?.map((e) => e.response?.status);
      expect(statuses).to.deep.equal(["200", "404", "201", "204", "200"]);
      expect(r.body.entry?.[1].response?.outcome?.resourceType).to.equal("OperationOutcome");
      expect((r.body.entry?.[4].resource as Bundle).total).to.equal(1);
    });

    it("honours Prefer: return= on the write entries of a batch or transaction, never on reads", async () => {
      const p = await create(patient(SYS, "1"));
      const entry = (type: string, value: string): BundleEntry[] => [
        { request: { method: "GET", url: `Patient/${p.id}` } },
        {
          resource: patient(SYS, `${type}-${value}`),
          request: { method: "PUT", url: `Patient?identifier=${SYS}|${type}-${value}` },
        },
      ];
      for (const type of ["batch", "transaction"] as const) {
        const minimal = await postBundle(sandbox.url, type, entry(type, "minimal"), {
          Prefer: "return=minimal",
        });
        expect(minimal.status, minimal.text).to.equal(200);
        const [read, write] = minimal.body.entry ?? [];
        expect(read.resource?.id, type).to.equal(p.id);
        expect(write.resource, type).to.equal(undefined);
        expect(write.response?.status, type).to.equal("201");
        expect(write.response?.location, type).to.match(/^Patient\/[^/]+\/_history\/1$/);
        expect(write.response?.etag, type).to.equal('W/"1"');

        const outcome = await postBundle(sandbox.url, type, entry(type, "outcome"), {
          Prefer: "return=OperationOutcome",
        });
        const answered = outcome.body.entry?.[1];
        expect(answered?.resource, type).to.equal(undefined);
        expect(answered?.response?.outcome?.resourceType, type).to.equal("OperationOutcome");

        const full = await postBundle(sandbox.url, type, entry(type, "full"));
        expect(full.body.entry?.[1].resource?.resourceType, type).to.equal("Patient");
      }
    });

    it("reports an invalid entry as 422: per entry in a batch, for the whole transaction", async () => {
      const bad = { resourceType: "Patient", birthDate: "someday" };
      const batch = await postBundle(sandbox.url, "batch", [
        { resource: bad, request: { method: "POST", url: "Patient" } },
        { resource: patient(SYS, "ok"), request: { method: "POST", url: "Patient" } },
      ]);
      expect(batch.body.entry?.map((e) => e.response?.status)).to.deep.equal(["422", "201"]);
      const tx = await call<OperationOutcome>(sandbox.url, {
        method: "POST",
        json: {
          resourceType: "Bundle",
          type: "transaction",
          entry: [
            { resource: patient(SYS, "tx-ok"), request: { method: "POST", url: "Patient" } },
            { resource: bad, request: { method: "POST", url: "Patient" } },
          ],
        },
      });
      expect(tx.status).to.equal(422);
      expect(tx.body.resourceType).to.equal("OperationOutcome");
      expect((await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|tx-ok`)).body.total).to.equal(0);
    });

    it("answers 412 for a conditional entry that matches several resources", async () => {
      await create(patient(SYS, "dup"));
      await create(patient(SYS, "dup"));
      const entry = [
        { resource: patient(SYS, "dup"), request: { method: "PUT", url: `Patient?identifier=${SYS}|dup` } },
        { resource: patient(SYS, "fine"), request: { method: "POST", url: "Patient" } },
      ];
      const batch = await postBundle(sandbox.url, "batch", entry);
      expect(batch.body.entry?.map((e) => e.response?.status)).to.deep.equal(["412", "201"]);
      const tx = await postBundle(sandbox.url, "transaction", entry);
      expect(tx.status).to.equal(412);
      expect((await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|fine`)).body.total).to.equal(1);
    });

    it("answers 400 to a Bundle that is neither batch nor transaction", async () => {
      const r = await call(sandbox.url, {
        method: "POST",
        json: { resourceType: "Bundle", type: "collection" },
      });
      expect(r.status).to.equal(400);
    });
  });

  describe("conditional references (Patient?identifier=...)", () => {
    const proposed = (reference: string): Resource =>
      ({
        resourceType: "Appointment",
        status: "proposed",
        participant: [{ actor: { reference }, status: "accepted" }],
      }) as Resource;
    const actorOf = (r: unknown) =>
      (r as { participant: Array<{ actor: { reference: string } }> }).participant[0].actor.reference;
    /** A transaction-response Bundle or, when it failed, an OperationOutcome. */
    type Answer = { entry?: Bundle["entry"]; issue: NonNullable<OperationOutcome["issue"]> };
    const transaction = (...entry: unknown[]) =>
      call<Answer>(sandbox.url, {
        method: "POST",
        json: { resourceType: "Bundle", type: "transaction", entry },
      });
    const count = async (type: string) =>
      (await call<Bundle>(`${sandbox.url}/${type}?_summary=count`)).body.total;

    it("resolves one in a transaction to the one resource its search finds, in create and update entries", async () => {
      const pat = await create(patient(SYS, "p1"));
      const tx = await transaction(
        {
          resource: proposed(`Patient?identifier=${SYS}|p1`),
          request: { method: "POST", url: "Appointment" },
        },
        {
          resource: { ...proposed(`Patient?identifier=${encodeURIComponent(`${SYS}|p1`)}`), id: undefined },
          request: { method: "PUT", url: `Appointment?identifier=${SYS}|a2` },
        },
      );
      expect(tx.status, tx.text).to.equal(200);
      for (const e of tx.body.entry!) {
        expect(e.response?.status).to.equal("201");
        const stored = await call(`${sandbox.url}/${e.response!.location!.split("/_history")[0]}`);
        expect(actorOf(stored.body)).to.equal(`Patient/${pat.id}`);
        const target = await call<Patient>(`${sandbox.url}/${actorOf(stored.body)}`);
        expect(target.status).to.equal(200);
        expect(target.body.identifier).to.deep.equal([{ system: SYS, value: "p1" }]);
      }
    });

    it("fails the transaction when the search finds none (400) or several (412), naming the reference; nothing is written", async () => {
      await create(patient(SYS, "twin"));
      await create(patient(SYS, "twin"));
      const fine = { resource: patient(SYS, "fine"), request: { method: "POST", url: "Patient" } };
      const none = await transaction(fine, {
        resource: proposed(`Patient?identifier=${SYS}|nobody`),
        request: { method: "POST", url: "Appointment" },
      });
      expect(none.status).to.equal(400);
      expect(none.body.issue[0]).to.include({ code: "not-found" });
      expect(none.body.issue[0].expression).to.deep.equal([
        "Bundle.entry[1].resource.participant[0].actor.reference",
      ]);
      const several = await transaction(fine, {
        resource: proposed(`Patient?identifier=${SYS}|twin`),
        request: { method: "POST", url: "Appointment" },
      });
      expect(several.status).to.equal(412);
      expect(several.body.issue[0]).to.include({ code: "multiple-matches" });
      expect(await count("Appointment")).to.equal(0);
      expect(await count("Patient")).to.equal(2);
    });

    it("answers 400 to a search the server cannot run or a type it does not know, in a transaction", async () => {
      for (const reference of ["Patient?nonsense=1", "Patientish?identifier=x|y"]) {
        const tx = await transaction({
          resource: proposed(reference),
          request: { method: "POST", url: "Appointment" },
        });
        expect(tx.status, reference).to.equal(400);
        expect(tx.body.issue[0].expression, reference).to.deep.equal([
          "Bundle.entry[0].resource.participant[0].actor.reference",
        ]);
      }
      expect(await count("Appointment")).to.equal(0);
    });

    it("refuses one outside a transaction (plain create, update, batch entry, patch) with 400, as R4 allows them only there", async () => {
      await create(patient(SYS, "p1"));
      const reference = `Patient?identifier=${SYS}|p1`;
      const post = await call<OperationOutcome>(`${sandbox.url}/Appointment`, {
        method: "POST",
        json: proposed(reference),
      });
      expect(post.status).to.equal(400);
      expect(post.body.issue[0].expression).to.deep.equal(["Appointment.participant[0].actor.reference"]);
      const put = await call(`${sandbox.url}/Appointment/a1`, {
        method: "PUT",
        json: { ...proposed(reference), id: "a1" },
      });
      expect(put.status).to.equal(400);
      const batch = await postBundle(sandbox.url, "batch", [
        { resource: proposed(reference), request: { method: "POST", url: "Appointment" } },
      ]);
      expect(batch.body.entry?.map((e) => e.response?.status)).to.deep.equal(["400"]);
      const appt = await create(proposed("Patient/whatever"));
      const patch = await call(`${sandbox.url}/Appointment/${appt.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json-patch+json" },
        body: JSON.stringify([{ op: "replace", path: "/participant/0/actor/reference", value: reference }]),
      });
      expect(patch.status).to.equal(400);
      expect(await count("Appointment")).to.equal(1);
    });

    it("leaves literal, absolute and bundle-local references alone", async () => {
      const pat = await create(patient(SYS, "p1"));
      const tx = await transaction(
        {
          fullUrl: "urn:uuid:3f1a2b4c-0000-4000-8000-000000000001",
          resource: patient(SYS, "p2"),
          request: { method: "POST", url: "Patient" },
        },
        {
          resource: proposed("urn:uuid:3f1a2b4c-0000-4000-8000-000000000001"),
          request: { method: "POST", url: "Appointment" },
        },
        { resource: proposed(`Patient/${pat.id}`), request: { method: "POST", url: "Appointment" } },
        {
          resource: proposed(`http://elsewhere.example.org/fhir/Patient/9?x=1`),
          request: { method: "POST", url: "Appointment" },
        },
      );
      expect(tx.status, tx.text).to.equal(200);
      const refs = await Promise.all(
        tx.body
          .entry!.slice(1)
          .map(async (e) =>
            actorOf((await call(`${sandbox.url}/${e.response!.location!.split("/_history")[0]}`)).body),
          ),
      );
      expect(refs[0]).to.match(/^Patient\/[0-9a-f-]{36}$/);
      expect(refs.slice(1)).to.deep.equal([
        `Patient/${pat.id}`,
        "http://elsewhere.example.org/fhir/Patient/9?x=1",
      ]);
    });
  });
});
