import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import {
  FhirClient,
  FhirError,
  type FhirServerConfig,
  type InteractionInput,
  type RetryInfo,
} from "../../../lib/fhir";
import { startFhirSandbox, type FhirSandbox } from "../../../sandbox/fhir/server";

type Bundle = {
  resourceType: string;
  type: string;
  total?: number;
  entry?: Array<{ fullUrl?: string; resource?: Record<string, unknown>; response?: { status: string } }>;
};

const MRN = "urn:oid:1.2.36.146.595.217.0.1";

function patient(mrn: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: "Patient",
    identifier: [{ system: MRN, value: mrn }],
    name: [{ family: "Test", given: ["Pat"] }],
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<FhirError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected the interaction to fail").to.be.instanceOf(FhirError);
  const fhirErr = err as FhirError;
  expect(fhirErr.meta, "every FhirError carries meta").to.be.an("object");
  return fhirErr;
}

/** Resources of a type with an identifier, counted through the sandbox's repository-backed search. */
async function countByIdentifier(client: FhirClient, type: string, mrn: string): Promise<number> {
  const result = await client.interaction({
    operation: "search-all",
    resourceType: type,
    params: { identifier: `${MRN}|${mrn}` },
  });
  return (result.body as Bundle).total ?? 0;
}

describe("lib/fhir FhirClient against the FHIR sandbox", function () {
  this.timeout(30_000);

  describe("interactions (no auth)", () => {
    let sandbox: FhirSandbox;
    let client: FhirClient;
    const config = (extra: Partial<FhirServerConfig> = {}): FhirServerConfig => ({
      baseUrl: sandbox.url,
      authType: "none",
      retryBaseMs: 5,
      retryMaxMs: 50,
      ...extra,
    });

    before(async () => {
      sandbox = await startFhirSandbox({ port: 0 });
      client = new FhirClient(config());
    });

    after(async () => {
      await client?.close();
      await sandbox?.close();
    });

    beforeEach(async () => {
      sandbox.faults.clear();
      await sandbox.reset();
    });

    it("summarises the capability statement with the SMART configuration", async () => {
      const summary = await client.capabilities();
      expect(summary.fhirVersion).to.equal("4.0.1");
      expect(summary.resources.Patient!.interactions).to.include.members([
        "read",
        "create",
        "search-type",
        "patch",
      ]);
      expect(summary.resources.Patient!.searchParams).to.include("identifier");
      expect(summary.resources.Patient!.conditional).to.include.members(["create", "update"]);
      expect(summary.interactions).to.include.members(["transaction", "batch"]);
      expect(summary.security).to.deep.include({ smart: true, tokenUrl: sandbox.tokenUrl });
      expect(summary.security.services).to.include("SMART-on-FHIR");
      expect(summary.security.tokenEndpointAuthMethods).to.include("private_key_jwt");
      expect(summary.bulkData).to.equal(false);
      expect((summary.statement as { resourceType: string }).resourceType).to.equal("CapabilityStatement");
      const asInteraction = await client.interaction({ operation: "capabilities" });
      expect(asInteraction.meta).to.deep.include({ status: 200, attempts: 1 });
      expect(asInteraction.meta.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/metadata` });
    });

    it("creates, reads, vreads, updates, patches, reads history and deletes", async () => {
      const created = await client.interaction({ operation: "create", body: patient("crud-1") });
      expect(created.meta.status).to.equal(201);
      const id = (created.body as { id: string }).id;
      expect(created.meta.location).to.equal(`${sandbox.url}/Patient/${id}/_history/1`);
      expect(created.meta).to.deep.include({ versionId: "1", etag: 'W/"1"', attempts: 1 });
      expect(created.meta.lastModified).to.be.a("string");
      expect(created.meta.durationMs).to.be.a("number").and.at.least(0);

      const read = await client.interaction({ operation: "read", resourceType: "Patient", id });
      expect(read.meta).to.deep.include({ status: 200, versionId: "1" });
      expect((read.body as { id: string }).id).to.equal(id);

      const updated = await client.interaction({
        operation: "update",
        resourceType: "Patient",
        id,
        body: { ...(read.body as object), active: true },
        ifMatch: read.meta.etag,
      });
      expect(updated.meta).to.deep.include({ status: 200, versionId: "2" });
      expect((updated.body as { active: boolean }).active).to.equal(true);

      const patched = await client.interaction({
        operation: "patch",
        resourceType: "Patient",
        id,
        body: [{ op: "replace", path: "/active", value: false }],
        ifMatch: "2",
      });
      expect(patched.meta.versionId).to.equal("3");
      expect((patched.body as { active: boolean }).active).to.equal(false);

      const v1 = await client.interaction({
        operation: "vread",
        resourceType: "Patient",
        id,
        versionId: "1",
      });
      expect((v1.body as { active?: boolean }).active).to.equal(undefined);

      const history = await client.interaction({ operation: "history", resourceType: "Patient", id });
      expect((history.body as Bundle).type).to.equal("history");
      expect((history.body as Bundle).entry).to.have.length(3);

      const deleted = await client.interaction({ operation: "delete", resourceType: "Patient", id });
      expect(deleted.meta.status).to.be.oneOf([200, 204]);
      const gone = await failure(client.interaction({ operation: "read", resourceType: "Patient", id }));
      expect(gone.code).to.be.oneOf(["FHIR_HTTP_404", "FHIR_HTTP_410"]);
      expect(gone.meta?.request.url).to.equal(`${sandbox.url}/Patient/${id}`);
    });

    it("fails an update with a stale If-Match with FHIR_HTTP_412 and the server's OperationOutcome", async () => {
      const created = await client.interaction({ operation: "create", body: patient("stale-1") });
      const id = (created.body as { id: string }).id;
      await client.interaction({
        operation: "update",
        resourceType: "Patient",
        id,
        body: { ...(created.body as object), active: true },
      });
      const err = await failure(
        client.interaction({
          operation: "update",
          resourceType: "Patient",
          id,
          body: { ...(created.body as object), active: false },
          ifMatch: 'W/"1"',
        }),
      );
      expect(err.code).to.equal("FHIR_HTTP_412");
      expect(err.message).to.match(/PUT Patient\/[\w.-]+ answered HTTP 412/);
      expect((err.details as { resourceType: string }).resourceType).to.equal("OperationOutcome");
      expect(err.meta).to.deep.include({ status: 412, attempts: 1 });
      expect(err.meta?.outcome).to.deep.equal(err.details);
      const now = await client.interaction({ operation: "read", resourceType: "Patient", id });
      expect(now.meta.versionId).to.equal("2");
    });

    it("searches with object or query-string params, and long searches via POST _search", async () => {
      for (const mrn of ["s-1", "s-2", "s-3"]) {
        await client.interaction({
          operation: "create",
          body: patient(mrn, { name: [{ family: "Searchable" }] }),
        });
      }
      const byObject = await client.interaction({
        operation: "search",
        resourceType: "Patient",
        params: { family: "Searchable" },
      });
      expect((byObject.body as Bundle).type).to.equal("searchset");
      expect((byObject.body as Bundle).entry).to.have.length(3);
      const byString = await client.interaction({
        operation: "search",
        resourceType: "Patient",
        params: "?family=Searchable&_count=2",
      });
      expect((byString.body as Bundle).entry).to.have.length(2);
      const many = Array.from({ length: 120 }, (_, i) => `${MRN}|none-${i}`).concat(`${MRN}|s-2`);
      const long = await client.interaction({
        operation: "search",
        resourceType: "Patient",
        params: { identifier: many.join(",") },
      });
      expect(long.meta.request).to.deep.equal({ method: "POST", url: `${sandbox.url}/Patient/_search` });
      expect((long.body as Bundle).entry).to.have.length(1);
    });

    it("pages through 250 Patients at _count=50: 250 unique resources, total 250", async () => {
      const entries = Array.from({ length: 250 }, (_, i) => ({
        fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        resource: patient(`page-${i}`),
        request: { method: "POST", url: "Patient" },
      }));
      const tx = await client.interaction({
        operation: "transaction",
        body: { resourceType: "Bundle", type: "transaction", entry: entries },
      });
      expect((tx.body as Bundle).type).to.equal("transaction-response");
      expect((tx.body as Bundle).entry).to.have.length(250);

      const all = await client.interaction({
        operation: "search-all",
        resourceType: "Patient",
        params: { _count: 50 },
      });
      const bundle = all.body as Bundle;
      expect(bundle).to.deep.include({ resourceType: "Bundle", type: "searchset", total: 250 });
      const ids = new Set(bundle.entry!.map((e) => e.resource!.id));
      expect(ids.size).to.equal(250);
      expect(bundle.entry).to.have.length(250);
      expect(all.meta.pages).to.equal(5);
      expect(all.meta.truncated).to.equal(undefined);
      expect(all.meta.attempts).to.equal(5);

      const capped = await client.interaction({
        operation: "search-all",
        resourceType: "Patient",
        params: { _count: 50 },
        maxPages: 2,
      });
      expect((capped.body as Bundle).total).to.equal(100);
      expect(capped.meta).to.deep.include({ pages: 2, truncated: true });
    });

    it("upserts by identifier: the same msg twice leaves one resource", async () => {
      const first = await client.interaction({ operation: "upsert", body: patient("up-1") });
      expect(first.meta.status).to.equal(201);
      const second = await client.interaction({
        operation: "upsert",
        body: patient("up-1", { active: true }),
      });
      expect(second.meta.status).to.equal(200);
      expect((second.body as { id: string }).id).to.equal((first.body as { id: string }).id);
      expect(second.meta.versionId).to.equal("2");
      expect(await countByIdentifier(client, "Patient", "up-1")).to.equal(1);
      const explicit = await client.interaction({
        operation: "upsert",
        resourceType: "Patient",
        identifier: { system: MRN, value: "up-1" },
        body: { resourceType: "Patient", identifier: [{ system: MRN, value: "up-1" }], gender: "female" },
      });
      expect((explicit.body as { id: string }).id).to.equal((first.body as { id: string }).id);
      expect(await countByIdentifier(client, "Patient", "up-1")).to.equal(1);
    });

    it("serialises 10 parallel upserts of one identifier (one resource), other identifiers in parallel", async () => {
      const same = Array.from({ length: 10 }, (_, i) =>
        client.interaction({
          operation: "upsert",
          body: patient("race-1", { birthDate: `1990-01-${String(i + 1).padStart(2, "0")}` }),
        }),
      );
      const others = Array.from({ length: 5 }, (_, i) =>
        client.interaction({ operation: "upsert", body: patient(`race-other-${i}`) }),
      );
      const results = await Promise.all([...same, ...others]);
      const ids = new Set(results.slice(0, 10).map((r) => (r.body as { id: string }).id));
      expect(ids.size).to.equal(1);
      expect(
        results
          .slice(0, 10)
          .map((r) => r.meta.status)
          .sort(),
      ).to.deep.equal([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      expect(await countByIdentifier(client, "Patient", "race-1")).to.equal(1);
      for (let i = 0; i < 5; i++)
        expect(await countByIdentifier(client, "Patient", `race-other-${i}`)).to.equal(1);
    });

    it("creates conditionally with If-None-Exist: twice leaves one resource", async () => {
      const input: InteractionInput = {
        operation: "create",
        body: patient("cond-1"),
        ifNoneExist: `identifier=${MRN}|cond-1`,
      };
      const [a, b] = await Promise.all([client.interaction(input), client.interaction(input)]);
      expect([a.meta.status, b.meta.status].sort()).to.deep.equal([200, 201]);
      expect(await countByIdentifier(client, "Patient", "cond-1")).to.equal(1);
    });

    it("returns a failed transaction as an error with its OperationOutcome, and writes nothing", async () => {
      const err = await failure(
        client.interaction({
          operation: "transaction",
          body: {
            resourceType: "Bundle",
            type: "transaction",
            entry: [
              { resource: patient("tx-ok"), request: { method: "POST", url: "Patient" } },
              {
                resource: { resourceType: "Patient", birthDate: "not-a-date" },
                request: { method: "POST", url: "Patient" },
              },
            ],
          },
        }),
      );
      expect(err.code).to.match(/^FHIR_HTTP_4\d\d$/);
      expect((err.details as { resourceType: string }).resourceType).to.equal("OperationOutcome");
      expect(err.meta?.outcome).to.deep.equal(err.details);
      expect(err.meta?.request).to.deep.equal({ method: "POST", url: sandbox.url });
      expect(await countByIdentifier(client, "Patient", "tx-ok")).to.equal(0);
    });

    it("returns a batch's response Bundle with a status per entry", async () => {
      const result = await client.interaction({
        operation: "batch",
        body: {
          resourceType: "Bundle",
          type: "batch",
          entry: [
            { resource: patient("batch-1"), request: { method: "POST", url: "Patient" } },
            { request: { method: "GET", url: "Patient/does-not-exist" } },
          ],
        },
      });
      const bundle = result.body as Bundle;
      expect(bundle.type).to.equal("batch-response");
      expect(bundle.entry![0]!.response!.status).to.match(/^201/);
      expect(bundle.entry![1]!.response!.status).to.match(/^404/);
    });

    it("reads type and system history, and maps an unknown operation to FHIR_HTTP_404", async () => {
      await client.interaction({ operation: "create", body: patient("h-1") });
      const typeHistory = await client.interaction({
        operation: "history",
        resourceType: "Patient",
        params: { _count: 10 },
      });
      expect((typeHistory.body as Bundle).type).to.equal("history");
      const systemHistory = await client.interaction({ operation: "history" });
      expect((systemHistory.body as Bundle).entry!.length).to.be.at.least(1);
      const created = await client.interaction({ operation: "create", body: patient("op-1") });
      const err = await failure(
        client.interaction({
          operation: "operation",
          resourceType: "Patient",
          id: (created.body as { id: string }).id,
          operationName: "$everything",
        }),
      );
      expect(err.code).to.equal("FHIR_HTTP_404");
      expect(err.meta?.request.url).to.match(/\/Patient\/[\w.-]+\/\$everything$/);
    });

    it("sends nothing for bad input", async () => {
      const before = sandbox.stats().requests;
      const cases: unknown[] = [
        { operation: "read", resourceType: "Patient" },
        { operation: "create", resourceType: "Patient", body: "x" },
        { operation: "patch", resourceType: "Patient", id: "1", body: {} },
        { operation: "upsert", body: { resourceType: "Patient" } },
        { operation: "transaction", body: { resourceType: "Bundle", type: "batch" } },
        { operation: "nope" },
      ];
      for (const input of cases) {
        const err = await failure(client.interaction(input as InteractionInput));
        expect(err.code).to.equal("FHIR_BAD_INPUT");
        expect(err.meta).to.deep.include({ status: 0, attempts: 0 });
      }
      expect(sandbox.stats().requests).to.equal(before);
    });

    describe("retries", () => {
      it("honours Retry-After in delta-seconds after a 429", async () => {
        const slow = new FhirClient(config({ retryMaxMs: 5000 }));
        try {
          const created = await slow.interaction({ operation: "create", body: patient("ra-1") });
          sandbox.faults.next(1, { status: 429, retryAfter: 1 });
          const retries: RetryInfo[] = [];
          const read = await slow.interaction(
            { operation: "read", resourceType: "Patient", id: (created.body as { id: string }).id },
            { onRetry: (info) => retries.push(info) },
          );
          expect(read.meta).to.deep.include({ status: 200, attempts: 2 });
          expect(retries).to.deep.equal([{ attempt: 1, delayMs: 1000, reason: "429" }]);
        } finally {
          await slow.close();
        }
      });

      it("honours Retry-After as an HTTP-date, capped at retryMaxMs", async () => {
        const capped = new FhirClient(config({ retryMaxMs: 150 }));
        try {
          sandbox.faults.next(1, { status: 429, retryAfter: new Date(Date.now() + 60_000).toUTCString() });
          const retries: RetryInfo[] = [];
          const res = await capped.interaction(
            { operation: "search", resourceType: "Patient" },
            { onRetry: (i) => retries.push(i) },
          );
          expect(res.meta.attempts).to.equal(2);
          expect(retries).to.deep.equal([{ attempt: 1, delayMs: 150, reason: "429" }]);
        } finally {
          await capped.close();
        }
      });

      it("retries 503, 502 and 504 with backoff, then succeeds", async () => {
        sandbox.faults.next(1, { status: 503 });
        sandbox.faults.next(1, { status: 502 });
        sandbox.faults.next(1, { status: 504 });
        const retries: RetryInfo[] = [];
        const res = await client.interaction(
          { operation: "search", resourceType: "Patient" },
          { onRetry: (i) => retries.push(i) },
        );
        expect(res.meta.attempts).to.equal(4);
        expect(retries.map((r) => r.reason)).to.deep.equal(["503", "502", "504"]);
        expect(retries.map((r) => r.attempt)).to.deep.equal([1, 2, 3]);
        for (const r of retries) expect(r.delayMs).to.be.at.least(0).and.at.most(50);
      });

      it("gives up after `retries` with FHIR_HTTP_503 and the server's outcome", async () => {
        sandbox.faults.next(4, { status: 503 });
        const err = await failure(client.interaction({ operation: "search", resourceType: "Patient" }));
        expect(err.code).to.equal("FHIR_HTTP_503");
        expect(err.meta).to.deep.include({ status: 503, attempts: 4 });
        expect((err.details as { issue: Array<{ code: string }> }).issue[0]!.code).to.equal("transient");
      });

      it("retries a dropped connection (FHIR_NETWORK) for a read", async () => {
        const created = await client.interaction({ operation: "create", body: patient("drop-1") });
        sandbox.faults.next(1, { drop: true });
        const retries: RetryInfo[] = [];
        const read = await client.interaction(
          { operation: "read", resourceType: "Patient", id: (created.body as { id: string }).id },
          { onRetry: (i) => retries.push(i) },
        );
        expect(read.meta.attempts).to.equal(2);
        expect(retries[0]!.reason).to.equal("network");
      });

      it("never retries a plain POST create (503, or an answer lost after the write)", async () => {
        sandbox.faults.next(1, { status: 503 });
        const err = await failure(client.interaction({ operation: "create", body: patient("post-1") }));
        expect(err.code).to.equal("FHIR_HTTP_503");
        expect(err.meta?.attempts).to.equal(1);
        expect(await countByIdentifier(client, "Patient", "post-1")).to.equal(0);

        sandbox.faults.next(1, { drop: true, after: true });
        const lost = await failure(client.interaction({ operation: "create", body: patient("post-2") }));
        expect(lost.code).to.equal("FHIR_NETWORK");
        expect(lost.meta).to.deep.include({ status: 0, attempts: 1 });
        expect(await countByIdentifier(client, "Patient", "post-2")).to.equal(1);
      });

      it("retries a conditional create whose answer was lost, still leaving one resource", async () => {
        sandbox.faults.next(1, { drop: true, after: true });
        const res = await client.interaction({
          operation: "create",
          body: patient("post-3"),
          ifNoneExist: `identifier=${MRN}|post-3`,
        });
        expect(res.meta).to.deep.include({ status: 200, attempts: 2 });
        expect(await countByIdentifier(client, "Patient", "post-3")).to.equal(1);
      });

      it("does not retry transactions, nor patches without If-Match; retries patches with one", async () => {
        sandbox.faults.next(1, { status: 503 });
        const tx = await failure(
          client.interaction({
            operation: "transaction",
            body: { resourceType: "Bundle", type: "transaction", entry: [] },
          }),
        );
        expect(tx.meta).to.deep.include({ status: 503, attempts: 1 });
        const created = await client.interaction({ operation: "create", body: patient("patch-1") });
        const id = (created.body as { id: string }).id;
        sandbox.faults.next(1, { status: 503 });
        const plain = await failure(
          client.interaction({
            operation: "patch",
            resourceType: "Patient",
            id,
            body: [{ op: "add", path: "/active", value: true }],
          }),
        );
        expect(plain.meta?.attempts).to.equal(1);
        sandbox.faults.next(1, { status: 503 });
        const guarded = await client.interaction({
          operation: "patch",
          resourceType: "Patient",
          id,
          body: [{ op: "add", path: "/active", value: true }],
          ifMatch: created.meta.versionId,
        });
        expect(guarded.meta).to.deep.include({ status: 200, attempts: 2, versionId: "2" });
      });

      it("times out a slow answer with FHIR_TIMEOUT, and retries a timed-out read", async () => {
        const quick = new FhirClient(config({ timeout: 400, retries: 0 }));
        try {
          sandbox.faults.next(1, { delayMs: 1500 });
          const err = await failure(quick.interaction({ operation: "search", resourceType: "Patient" }));
          expect(err.code).to.equal("FHIR_TIMEOUT");
          expect(err.meta).to.deep.include({ status: 0, attempts: 1 });
        } finally {
          await quick.close();
        }
        const retrying = new FhirClient(config({ timeout: 400, retries: 1 }));
        try {
          sandbox.faults.next(1, { delayMs: 1500 });
          const retries: RetryInfo[] = [];
          const ok = await retrying.interaction(
            { operation: "search", resourceType: "Patient" },
            { onRetry: (i) => retries.push(i) },
          );
          expect(ok.meta.attempts).to.equal(2);
          expect(retries[0]!.reason).to.equal("timeout");
        } finally {
          await retrying.close();
        }
      });
    });

    it("opens no more than maxConcurrent connections under 50 parallel reads", async () => {
      const created = await client.interaction({ operation: "create", body: patient("conc-1") });
      const id = (created.body as { id: string }).id;
      const pooled = new FhirClient(config({ maxConcurrent: 4 }));
      const connectionsBefore = sandbox.stats().connections;
      try {
        let maxInFlight = 0;
        let maxQueued = 0;
        const sample = () => {
          const now = pooled.stats();
          maxInFlight = Math.max(maxInFlight, now.inFlight);
          maxQueued = Math.max(maxQueued, now.queued);
        };
        const reads = Array.from({ length: 50 }, () =>
          pooled.interaction({ operation: "read", resourceType: "Patient", id }).then((r) => {
            sample();
            return r;
          }),
        );
        await new Promise((r) => setImmediate(r));
        sample();
        const results = await Promise.all(reads);
        expect(results.every((r) => r.meta.status === 200)).to.equal(true);
        expect(maxQueued).to.be.above(0);
        expect(maxInFlight).to.be.at.most(4);
        expect(pooled.stats().connectionsOpened).to.be.within(1, 4);
        expect(pooled.stats().connectionsPeak).to.be.within(1, 4);
        expect(sandbox.stats().connections - connectionsBefore).to.equal(pooled.stats().connectionsOpened);
      } finally {
        await pooled.close();
      }
    });
  });

  describe("auth", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsaPem = rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const strangerPem = stranger.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const ecJwk = JSON.stringify({ ...ec.privateKey.export({ format: "jwk" }), kid: "ec-1" });
    const SECRET = "s3cr3t-Client-Value!";
    const PASSWORD = "pa55-Word-Value";
    const STATIC = "static-Token-Value-123";
    const seen: FhirError[] = [];
    let sandbox: FhirSandbox;

    const config = (extra: Partial<FhirServerConfig>): FhirServerConfig => ({
      baseUrl: sandbox.url,
      authType: "none",
      retryBaseMs: 5,
      retryMaxMs: 50,
      ...extra,
    });

    async function use<T>(cfg: FhirServerConfig, fn: (c: FhirClient) => Promise<T>): Promise<T> {
      const c = new FhirClient(cfg);
      try {
        return await fn(c);
      } finally {
        await c.close();
      }
    }

    async function authFailure(p: Promise<unknown>): Promise<FhirError> {
      const err = await failure(p);
      seen.push(err);
      return err;
    }

    before(async () => {
      sandbox = await startFhirSandbox({
        port: 0,
        auth: true,
        clients: [
          { clientId: "cc-client", clientSecret: SECRET },
          {
            clientId: "rs-client",
            jwks: { keys: [{ ...rsa.publicKey.export({ format: "jwk" }), kid: "rs-1", alg: "RS384" }] },
          },
          {
            clientId: "es-client",
            jwks: { keys: [{ ...ec.publicKey.export({ format: "jwk" }), kid: "ec-1", alg: "ES384" }] },
          },
        ],
        basicUsers: { alice: PASSWORD },
        staticTokens: [STATIC],
      });
    });

    after(async () => {
      await sandbox?.close();
    });

    beforeEach(() => sandbox.faults.clear());

    it("is refused without credentials (FHIR_HTTP_401, outcome login)", async () => {
      const err = await use(config({}), (c) =>
        authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(err.code).to.equal("FHIR_HTTP_401");
      expect((err.details as { issue: Array<{ code: string }> }).issue[0]!.code).to.equal("login");
    });

    it("authenticates with basic", async () => {
      await use(
        config({ authType: "basic", credentials: { username: "alice", password: PASSWORD } }),
        async (c) => {
          expect(
            (await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status,
          ).to.equal(200);
        },
      );
      const err = await use(
        config({ authType: "basic", credentials: { username: "alice", password: "wrong-" + PASSWORD } }),
        (c) => authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(err.code).to.equal("FHIR_HTTP_401");
      expect(err.meta?.attempts).to.equal(1);
    });

    it("authenticates with a static bearer token, and does not retry a refused one", async () => {
      await use(config({ authType: "bearer", credentials: { token: STATIC } }), async (c) => {
        expect((await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status).to.equal(
          200,
        );
      });
      const err = await use(config({ authType: "bearer", credentials: { token: "not-" + STATIC } }), (c) =>
        authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(err.code).to.equal("FHIR_HTTP_401");
      expect(err.meta?.attempts).to.equal(1);
    });

    it("uses client credentials with a configured or a discovered token URL", async () => {
      for (const tokenUrl of [sandbox.tokenUrl, ""]) {
        await use(
          config({
            authType: "client-credentials",
            tokenUrl,
            clientId: "cc-client",
            credentials: { clientSecret: SECRET },
            scope: "system/*.rs",
          }),
          async (c) => {
            expect(
              (await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status,
            ).to.equal(200);
            expect(c.stats().tokenFetches).to.equal(1);
          },
        );
      }
    });

    it("uses SMART backend services with RS384 (PEM) and ES384 (JWK)", async () => {
      const rs = config({
        authType: "smart-backend",
        clientId: "rs-client",
        keyId: "rs-1",
        jwtAlg: "RS384",
        credentials: { privateKey: rsaPem },
      });
      const es = config({
        authType: "smart-backend",
        clientId: "es-client",
        jwtAlg: "ES384",
        credentials: { privateKey: ecJwk },
      });
      for (const cfg of [rs, es]) {
        await use(cfg, async (c) => {
          expect(
            (await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status,
          ).to.equal(200);
          expect(
            (await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status,
          ).to.equal(200);
          expect(c.stats().tokenFetches).to.equal(1);
        });
      }
    });

    it("shares ONE token fetch between 20 concurrent requests", async () => {
      const before = sandbox.stats().tokensIssued;
      await use(
        config({
          authType: "client-credentials",
          clientId: "cc-client",
          credentials: { clientSecret: SECRET },
        }),
        async (c) => {
          const results = await Promise.all(
            Array.from({ length: 20 }, () => c.interaction({ operation: "search", resourceType: "Patient" })),
          );
          expect(results.every((r) => r.meta.status === 200)).to.equal(true);
          expect(sandbox.stats().tokensIssued - before).to.equal(1);
          expect(c.stats().tokenFetches).to.equal(1);
        },
      );
    });

    it("renews a token that expires mid-run once, after a 401, for 20 concurrent requests", async () => {
      await use(
        config({
          authType: "smart-backend",
          clientId: "rs-client",
          keyId: "rs-1",
          credentials: { privateKey: rsaPem },
        }),
        async (c) => {
          await c.interaction({ operation: "search", resourceType: "Patient" });
          const before = sandbox.stats().tokensIssued;
          sandbox.expireTokens();
          const retries: RetryInfo[] = [];
          const results = await Promise.all(
            Array.from({ length: 20 }, () =>
              c.interaction(
                { operation: "search", resourceType: "Patient" },
                { onRetry: (i) => retries.push(i) },
              ),
            ),
          );
          expect(results.every((r) => r.meta.status === 200)).to.equal(true);
          expect(results.every((r) => r.meta.attempts === 2)).to.equal(true);
          expect(retries.every((r) => r.reason === "401")).to.equal(true);
          expect(sandbox.stats().tokensIssued - before).to.equal(1);
          expect(c.stats().tokenFetches).to.equal(2);
        },
      );
    });

    it("renews a short-lived token before it expires (no 401)", async () => {
      const shortLived = await startFhirSandbox({
        port: 0,
        auth: true,
        tokenLifetimeSeconds: 1,
        clients: [{ clientId: "cc-client", clientSecret: SECRET }],
      });
      try {
        await use(
          {
            baseUrl: shortLived.url,
            authType: "client-credentials",
            clientId: "cc-client",
            credentials: { clientSecret: SECRET },
          },
          async (c) => {
            const first = await c.interaction({ operation: "search", resourceType: "Patient" });
            await new Promise((r) => setTimeout(r, 600));
            const second = await c.interaction({ operation: "search", resourceType: "Patient" });
            expect([first.meta.attempts, second.meta.attempts]).to.deep.equal([1, 1]);
            expect(c.stats().tokenFetches).to.equal(2);
            expect(shortLived.stats().tokensIssued).to.equal(2);
          },
        );
      } finally {
        await shortLived.close();
      }
    });

    it("retries a token endpoint that answers 503 once", async () => {
      sandbox.faults.next(1, { status: 503, target: "token" });
      await use(
        config({
          authType: "client-credentials",
          clientId: "cc-client",
          credentials: { clientSecret: SECRET },
        }),
        async (c) => {
          expect(
            (await c.interaction({ operation: "search", resourceType: "Patient" })).meta.status,
          ).to.equal(200);
        },
      );
    });

    it("fails token and discovery problems with FHIR_AUTH, without sending the FHIR request", async () => {
      const fhirBefore = sandbox.stats().fhirRequests;
      const wrongSecret = await use(
        config({
          authType: "client-credentials",
          clientId: "cc-client",
          credentials: { clientSecret: "x" + SECRET },
        }),
        (c) => authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(wrongSecret.code).to.equal("FHIR_AUTH");
      expect(wrongSecret.message).to.match(/token endpoint answered HTTP 401 \(invalid_client\)/);
      expect(wrongSecret.meta).to.deep.include({ status: 0 });
      expect(wrongSecret.meta?.request.url).to.equal(`${sandbox.url}/Patient`);

      const unknownKey = await use(
        config({
          authType: "smart-backend",
          clientId: "rs-client",
          keyId: "rs-1",
          credentials: { privateKey: strangerPem },
        }),
        (c) => authFailure(c.interaction({ operation: "read", resourceType: "Patient", id: "1" })),
      );
      expect(unknownKey.code).to.equal("FHIR_AUTH");

      const noDiscovery = await use(
        config({
          baseUrl: `http://127.0.0.1:${sandbox.port}/elsewhere`,
          authType: "client-credentials",
          clientId: "cc-client",
          credentials: { clientSecret: SECRET },
        }),
        (c) => authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(noDiscovery.code).to.equal("FHIR_AUTH");
      expect(noDiscovery.message).to.match(/SMART discovery failed/);

      const unreachable = await use(
        config({
          authType: "client-credentials",
          tokenUrl: "http://127.0.0.1:9/token",
          retries: 0,
          clientId: "cc-client",
          credentials: { clientSecret: SECRET },
        }),
        (c) => authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(unreachable.code).to.equal("FHIR_AUTH");
      expect(unreachable.message).to.match(/token endpoint unreachable/);

      const missing = await use(config({ authType: "smart-backend", clientId: "rs-client" }), (c) =>
        authFailure(c.interaction({ operation: "search", resourceType: "Patient" })),
      );
      expect(missing.code).to.equal("FHIR_AUTH");
      expect(missing.message).to.match(/needs a private key/);
      expect(sandbox.stats().fhirRequests).to.equal(fhirBefore);
    });

    it("gives each interaction sharing one failed token fetch its own meta", async () => {
      const before = sandbox.stats().tokenRequests;
      const errors = await use(
        config({
          authType: "client-credentials",
          clientId: "cc-client",
          credentials: { clientSecret: "y" + SECRET },
        }),
        (c) =>
          Promise.all(
            ["a", "b", "c", "d", "e"].map((id) =>
              authFailure(c.interaction({ operation: "read", resourceType: "Patient", id })),
            ),
          ),
      );
      expect(sandbox.stats().tokenRequests - before).to.equal(1);
      expect(errors.map((e) => e.code)).to.deep.equal(Array(5).fill("FHIR_AUTH"));
      expect(errors.map((e) => e.meta!.request.url)).to.deep.equal(
        ["a", "b", "c", "d", "e"].map((id) => `${sandbox.url}/Patient/${id}`),
      );
    });

    it("never puts a secret, password, token or key in an error", () => {
      expect(seen.length).to.be.at.least(8);
      const secrets = [
        SECRET,
        PASSWORD,
        STATIC,
        "PRIVATE KEY",
        rsaPem.split("\n")[1]!,
        Buffer.from(`alice:wrong-${PASSWORD}`).toString("base64"),
      ];
      for (const err of seen) {
        const text = [
          err.message,
          err.stack ?? "",
          JSON.stringify(err.details ?? null),
          JSON.stringify(err.meta ?? null),
        ].join("\n");
        for (const secret of secrets) expect(text, err.code).to.not.include(secret);
        expect(text).to.not.match(/Authorization/i);
      }
    });
  });
});
