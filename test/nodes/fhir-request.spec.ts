/* eslint-disable @typescript-eslint/no-explicit-any -- messages and FHIR resources are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import fhirServerNode from "../../nodes/fhir-server/fhir-server";
import fhirRequestNode from "../../nodes/fhir-request/fhir-request";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { readFileSync } from "node:fs";
import { join } from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");

// The core split/join pair: join in automatic mode must rebuild what search-all sends.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const splitJoinNodes = require("@node-red/nodes/core/sequence/17-split.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-fhir";
const SYSTEM = "http://pms.example.org/patients";

type Msg = Record<string, any>;
interface Exchange {
  out: Msg[];
  caught?: Msg;
}
interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

let sandbox: FhirSandbox;
const sink = new EventEmitter();
const statuses = new Map<string, StatusCall[]>();

/** Every status a node shows, close included, from the runtime's own "node-status" events. */
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  const calls = statuses.get(e.id) ?? [];
  calls.push(e.status);
  statuses.set(e.id, calls);
});

function patient(value: string, family = "Chalmers", given = "Peter"): Msg {
  return {
    resourceType: "Patient",
    identifier: [{ system: SYSTEM, value }],
    name: [{ family, given: [given] }],
    gender: "male",
    birthDate: "1974-12-25",
  };
}

interface RequestSpec extends Record<string, unknown> {
  id: string;
  operation: string;
  wires?: string[][];
}

/**
 * One flow on a tab: a fhir-server, the given fhir-request nodes (wired to "out" unless they say
 * otherwise), a Catch node for all of them wired to "caught", and any extra nodes.
 */
async function load(
  requests: RequestSpec[],
  opts: { server?: Record<string, unknown>; extra?: Msg[]; credentials?: Record<string, unknown> } = {},
): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "fhir" },
    {
      id: "srv",
      type: "fhir-server",
      name: "",
      baseUrl: sandbox.url,
      fhirVersion: "4.0.1",
      authType: "none",
      timeout: "5000",
      retries: "2",
      maxConcurrent: "4",
      tls: "",
      ...opts.server,
    },
    ...requests.map((r) => ({
      z: TAB,
      type: "fhir-request",
      name: "",
      server: "srv",
      resourceType: "Patient",
      searchParams: "",
      operationName: "",
      maxPages: "100",
      output: "bundle",
      integration: "fhir-test",
      wires: [["out"]],
      ...r,
    })),
    { id: "out", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
    ...(opts.extra ?? []),
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load([fhirServerNode, fhirRequestNode, splitJoinNodes], flow as any, opts.credentials as any);
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

/** Sends msg into node `id`; resolves with the first `outputs` messages at "out", or the first at "caught". */
function exchange(id: string, msg: Msg, outputs = 1): Promise<Exchange> {
  return new Promise((resolve) => {
    const out: Msg[] = [];
    const finish = (result: Exchange): void => {
      sink.removeListener("out", onOut);
      sink.removeListener("caught", onCaught);
      resolve(result);
    };
    const onOut = (m: Msg): void => {
      out.push(m);
      if (out.length >= outputs) finish({ out });
    };
    const onCaught = (m: Msg): void => finish({ out, caught: m });
    sink.on("out", onOut);
    sink.on("caught", onCaught);
    helper.getNode(id).receive(msg);
  });
}

async function ok(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  if (r.caught) throw new Error(`${id} failed: ${r.caught.error?.code} ${r.caught.error?.message}`);
  return r.out[0];
}

async function fails(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  if (!r.caught) throw new Error(`${id} unexpectedly succeeded with status ${r.out[0]?.fhir?.status}`);
  return r.caught;
}

function statusesOf(id: string): StatusCall[] {
  return statuses.get(id) ?? [];
}

/** Sends every msg into node `id` at once; resolves with their outputs, rejects on the first caught. */
function parallel(id: string, msgs: Msg[]): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const out: Msg[] = [];
    const finish = (): void => {
      sink.removeListener("out", onOut);
      sink.removeListener("caught", onCaught);
    };
    const onOut = (m: Msg): void => {
      out.push(m);
      if (out.length === msgs.length) {
        finish();
        resolve(out);
      }
    };
    const onCaught = (m: Msg): void => {
      finish();
      reject(new Error(`${id} failed: ${m.error?.code} ${m.error?.message}`));
    };
    sink.on("out", onOut);
    sink.on("caught", onCaught);
    for (const msg of msgs) helper.getNode(id).receive(msg);
  });
}

function healthEvents(): { events: HealthEvent[]; stop: () => void } {
  const events: HealthEvent[] = [];
  const listener = (e: HealthEvent): void => {
    events.push(e);
  };
  healthBus().on(HEALTH_EVENT, listener);
  return { events, stop: () => healthBus().removeListener(HEALTH_EVENT, listener) };
}

describe("fhir-request node against the sandbox FHIR server", function () {
  this.timeout(20000);

  before(async () => {
    sandbox = await startFhirSandbox({ port: 0 });
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    await sandbox.reset();
    statuses.clear();
  });
  afterEach(async () => {
    sandbox.faults.clear();
    sink.removeAllListeners();
    await helper.unload();
  });

  describe("operations end to end", () => {
    it("create, read, update, vread, patch, history, delete: passes the same msg on with payload and msg.fhir", async () => {
      await load([
        { id: "create", operation: "create" },
        { id: "read", operation: "read" },
        { id: "update", operation: "update" },
        { id: "vread", operation: "vread" },
        { id: "patch", operation: "patch" },
        { id: "history", operation: "history" },
        { id: "delete", operation: "delete" },
      ]);

      const sent: Msg = { payload: patient("MRN-1"), topic: "patient.created" };
      const created = await ok("create", sent);
      expect(created).to.equal(sent);
      expect(created.topic).to.equal("patient.created");
      expect(created.fhir.status).to.equal(201);
      const id = created.payload.id as string;
      expect(id).to.be.a("string").and.not.equal("");
      expect(created.fhir.location).to.match(new RegExp(`Patient/${id}/_history/1$`));
      expect(created.fhir.versionId).to.equal("1");
      expect(created.fhir.etag).to.equal('W/"1"');
      expect(created.fhir.request).to.deep.equal({ method: "POST", url: `${sandbox.url}/Patient` });
      expect(created.fhir.durationMs).to.be.a("number").and.at.least(0);

      const read = await ok("read", { id });
      expect(read.fhir.status).to.equal(200);
      expect(read.payload.identifier[0].value).to.equal("MRN-1");
      expect(read.fhir.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/Patient/${id}` });

      const changed = { ...read.payload, name: [{ family: "Chalmers", given: ["Jim"] }] };
      const updated = await ok("update", { payload: changed });
      expect(updated.fhir.status).to.equal(200);
      expect(updated.fhir.versionId).to.equal("2");
      expect(updated.payload.name[0].given).to.deep.equal(["Jim"]);

      const v1 = await ok("vread", { id, versionId: "1" });
      expect(v1.payload.meta.versionId).to.equal("1");
      expect(v1.payload.name[0].given).to.deep.equal(["Peter"]);
      expect(v1.fhir.request.url).to.equal(`${sandbox.url}/Patient/${id}/_history/1`);

      const patched = await ok("patch", {
        id,
        ifMatch: "2",
        payload: [{ op: "replace", path: "/gender", value: "other" }],
      });
      expect(patched.fhir.status).to.equal(200);
      expect(patched.fhir.versionId).to.equal("3");
      expect(patched.payload.gender).to.equal("other");

      const history = await ok("history", { id });
      expect(history.payload.resourceType).to.equal("Bundle");
      expect(history.payload.type).to.equal("history");
      expect(history.payload.entry.map((e: Msg) => e.resource.meta.versionId)).to.deep.equal(["3", "2", "1"]);

      const deleted = await ok("delete", { id });
      expect(deleted.fhir.status).to.be.oneOf([200, 204]);
      expect(deleted.fhir.request).to.deep.equal({ method: "DELETE", url: `${sandbox.url}/Patient/${id}` });

      const gone = await fails("read", { id });
      expect(gone.error.code).to.equal("FHIR_HTTP_410");
      expect(gone.fhir.status).to.equal(410);
      expect(gone.fhir.outcome.resourceType).to.equal("OperationOutcome");
    });

    it("search: msg.params merged over the node's search params, one page", async () => {
      await load([
        { id: "tx", operation: "transaction" },
        { id: "search", operation: "search", searchParams: "family=Nobody&_count=2&_sort=_id" },
      ]);
      const entries = ["A", "B", "C"].map((v) => ({
        fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${v.charCodeAt(0) - 60}`,
        resource: patient(`S-${v}`, "Searchable"),
        request: { method: "POST", url: "Patient" },
      }));
      await ok("tx", { payload: { resourceType: "Bundle", type: "transaction", entry: entries } });

      const page = await ok("search", { params: { family: "Searchable" } });
      expect(page.payload.resourceType).to.equal("Bundle");
      expect(page.payload.type).to.equal("searchset");
      expect(page.payload.entry).to.have.length(2);
      expect(page.payload.link.some((l: Msg) => l.relation === "next")).to.equal(true);
      const url = new URL(page.fhir.request.url);
      expect(url.searchParams.get("family")).to.equal("Searchable");
      expect(url.searchParams.get("_count")).to.equal("2");
      expect(url.searchParams.get("_sort")).to.equal("_id");

      const asString = await ok("search", { params: "family=Searchable&_count=5" });
      expect(asString.payload.entry).to.have.length(3);
    });

    it("search-all: 250 resources, as one Bundle, and as one msg per resource that a core join rebuilds", async () => {
      await load(
        [
          { id: "tx", operation: "transaction" },
          { id: "all", operation: "search-all", searchParams: "_count=50" },
          {
            id: "each",
            operation: "search-all",
            output: "resources",
            searchParams: "_count=50",
            wires: [["join", "parts"]],
          },
          { id: "capped", operation: "search-all", maxPages: "2", searchParams: "_count=50" },
        ],
        {
          extra: [
            {
              id: "join",
              type: "join",
              z: TAB,
              name: "",
              mode: "auto",
              build: "object",
              property: "payload",
              propertyType: "msg",
              key: "topic",
              joiner: "\\n",
              joinerType: "str",
              accumulate: false,
              timeout: "",
              count: "",
              reduceRight: false,
              wires: [["out"]],
            },
            { id: "parts", type: "helper", z: TAB },
          ],
        },
      );
      const entry = Array.from({ length: 250 }, (_, i) => ({
        fullUrl: `urn:uuid:${String(i).padStart(8, "0")}-0000-4000-8000-000000000000`,
        resource: patient(`ALL-${i}`, `Family${i}`),
        request: { method: "POST", url: "Patient" },
      }));
      const tx = await ok("tx", { payload: { resourceType: "Bundle", type: "transaction", entry } });
      expect(tx.payload.type).to.equal("transaction-response");
      expect(tx.payload.entry).to.have.length(250);

      const bundle = await ok("all", {});
      expect(bundle.payload.resourceType).to.equal("Bundle");
      expect(bundle.payload.type).to.equal("searchset");
      const ids = bundle.payload.entry.map((e: Msg) => e.resource.id);
      expect(ids).to.have.length(250);
      expect(new Set(ids).size).to.equal(250);
      expect(bundle.fhir.pages).to.equal(5);
      expect(statusesOf("all").at(-1)).to.deep.equal({
        fill: "green",
        shape: "dot",
        text: "250 resources",
      });

      const parts: Msg[] = [];
      helper.getNode("parts").on("input", (m: Msg) => parts.push(m));
      const sent: Msg = { payload: "go", topic: "sync" };
      const joined = await ok("each", sent);
      expect(joined.payload).to.be.an("array").with.length(250);
      const joinedIds = joined.payload.map((p: Msg) => p.id);
      expect(new Set(joinedIds).size).to.equal(250);
      expect(new Set(joinedIds)).to.deep.equal(new Set(ids));
      expect(joined.parts).to.equal(undefined);
      expect(joined.topic).to.equal("sync");
      expect(joined.fhir.pages).to.equal(5);
      expect(parts).to.have.length(250);
      parts.forEach((m, i) => {
        expect(m.parts).to.deep.equal({ id: sent._msgid, index: i, count: 250, type: "array", len: 1 });
        expect(m.payload.resourceType).to.equal("Patient");
      });
      expect(statusesOf("each").at(-1)).to.deep.equal({
        fill: "green",
        shape: "dot",
        text: "250 resources",
      });

      const capped = await ok("capped", {});
      expect(capped.payload.entry).to.have.length(100);
      expect(capped.fhir.pages).to.equal(2);
      expect(capped.fhir.truncated).to.equal(true);
    });

    it("search-all resources keeps an incoming msg.parts as msg.parts.parts", async () => {
      await load([
        { id: "create", operation: "create" },
        { id: "each", operation: "search-all", output: "resources" },
      ]);
      await ok("create", { payload: patient("P-1") });
      await ok("create", { payload: patient("P-2") });
      const outer = { id: "outer-seq", index: 3, count: 7, type: "array", len: 1 };
      const r = await exchange("each", { parts: outer }, 2);
      expect(r.out.map((m) => m.parts)).to.deep.equal([
        { id: r.out[0].parts.id, index: 0, count: 2, type: "array", len: 1, parts: outer },
        { id: r.out[0].parts.id, index: 1, count: 2, type: "array", len: 1, parts: outer },
      ]);
    });

    it("upsert: creates, then updates the same resource by identifier; parallel upserts leave one", async () => {
      await load([
        { id: "upsert", operation: "upsert" },
        { id: "search", operation: "search" },
      ]);
      const first = await ok("upsert", { payload: patient("U-1") });
      expect(first.fhir.status).to.equal(201);
      const second = await ok("upsert", { payload: { ...patient("U-1"), gender: "female" } });
      expect(second.fhir.status).to.equal(200);
      expect(second.payload.id).to.equal(first.payload.id);
      expect(second.payload.gender).to.equal("female");
      expect(decodeURIComponent(second.fhir.request.url)).to.equal(
        `${sandbox.url}/Patient?identifier=${SYSTEM}|U-1`,
      );

      const explicit = await ok("upsert", {
        payload: { resourceType: "Patient", active: true, identifier: [{ system: SYSTEM, value: "U-1" }] },
        identifier: { system: SYSTEM, value: "U-1" },
      });
      expect(explicit.payload.id).to.equal(first.payload.id);

      const results = await parallel(
        "upsert",
        Array.from({ length: 6 }, (_, i) => ({
          payload: { ...patient("U-PAR"), gender: i % 2 ? "male" : "female" },
        })),
      );
      expect(results).to.have.length(6);
      expect(results.map((m) => m.fhir.status).sort()).to.deep.equal([200, 200, 200, 200, 200, 201]);
      expect(new Set(results.map((m) => m.payload.id)).size).to.equal(1);
      const found = await ok("search", { params: { identifier: `${SYSTEM}|U-PAR` } });
      expect(found.payload.entry).to.have.length(1);
    });

    it("transaction and batch return the response Bundle; a failed transaction carries its OperationOutcome and writes nothing", async () => {
      await load([
        { id: "tx", operation: "transaction" },
        { id: "batch", operation: "batch" },
        { id: "search", operation: "search" },
      ]);
      const batch = await ok("batch", {
        payload: {
          resourceType: "Bundle",
          type: "batch",
          entry: [
            { resource: patient("B-1"), request: { method: "POST", url: "Patient" } },
            { request: { method: "GET", url: "Patient/does-not-exist" } },
          ],
        },
      });
      expect(batch.fhir.status).to.equal(200);
      expect(batch.payload.type).to.equal("batch-response");
      expect(batch.payload.entry.map((e: Msg) => e.response.status.slice(0, 3))).to.deep.equal([
        "201",
        "404",
      ]);

      const failed = await fails("tx", {
        payload: {
          resourceType: "Bundle",
          type: "transaction",
          entry: [
            { resource: patient("T-1"), request: { method: "POST", url: "Patient" } },
            {
              resource: { resourceType: "Patient", id: "missing", gender: "not-a-gender" },
              request: { method: "PUT", url: "Patient/missing", ifMatch: 'W/"7"' },
            },
          ],
        },
      });
      expect(failed.error.code).to.match(/^FHIR_HTTP_4\d\d$/);
      expect(failed.fhir.status).to.be.within(400, 499);
      expect(failed.fhir.outcome.resourceType).to.equal("OperationOutcome");
      expect(failed.fhir.outcome.issue).to.be.an("array").with.length.greaterThan(0);
      const none = await ok("search", { params: { identifier: `${SYSTEM}|T-1` } });
      expect(none.payload.entry ?? []).to.have.length(0);
    });

    it("capabilities returns the summary", async () => {
      await load([{ id: "caps", operation: "capabilities", resourceType: "" }]);
      const caps = await ok("caps", { payload: "ignored" });
      expect(caps.fhir.status).to.equal(200);
      expect(caps.fhir.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/metadata` });
      expect(caps.payload.fhirVersion).to.equal("4.0.1");
      expect(caps.payload.resources.Patient.interactions).to.include.members(["read", "create", "update"]);
      expect(caps.payload.statement.resourceType).to.equal("CapabilityStatement");
      expect(statusesOf("caps").at(-1)).to.deep.equal({
        fill: "green",
        shape: "dot",
        text: "200 capabilities",
      });
    });

    it("operation: GET without a body, POST with a Parameters body, at the instance, type or system level", async () => {
      // The sandbox implements no $operations, so its 404/405 answers show what the node sent.
      await load([
        { id: "everything", operation: "operation", operationName: "$everything" },
        { id: "validate", operation: "operation", operationName: "validate", resourceType: "" },
      ]);
      const get = await fails("everything", { id: "p1", payload: 1700000000000, params: { _count: 10 } });
      expect(get.error.code).to.equal("FHIR_HTTP_404");
      expect(get.fhir.request).to.deep.equal({
        method: "GET",
        url: `${sandbox.url}/Patient/p1/$everything?_count=10`,
      });
      expect(get.fhir.outcome.resourceType).to.equal("OperationOutcome");

      const post = await fails("validate", {
        resourceType: "Patient",
        payload: { resourceType: "Parameters", parameter: [{ name: "resource", resource: patient("V") }] },
      });
      expect(post.fhir.request).to.deep.equal({ method: "POST", url: `${sandbox.url}/Patient/$validate` });
      expect(post.error.code).to.match(/^FHIR_HTTP_4\d\d$/);

      const system = await fails("validate", { operationName: "$meta" });
      expect(system.fhir.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/$meta` });
    });
  });

  describe("errors", () => {
    const badInputs: Array<[string, Record<string, unknown>, Msg, RegExp]> = [
      ["read without an id", { operation: "read" }, {}, /id is required/],
      ["read without a resource type", { operation: "read", resourceType: "" }, { id: "1" }, /resourceType/],
      [
        "an invalid msg.resourceType",
        { operation: "read" },
        { id: "1", resourceType: "patient; drop" },
        /resource type/,
      ],
      ["an invalid id", { operation: "read" }, { id: "../metadata" }, /FHIR id/],
      ["vread without a versionId", { operation: "vread" }, { id: "1" }, /versionId/],
      ["create with a string body", { operation: "create" }, { payload: "Patient Peter Chalmers" }, /object/],
      ["create with an array body", { operation: "create" }, { payload: [patient("X")] }, /resource|object/],
      ["create with no body", { operation: "create" }, {}, /body/],
      [
        "create of another type than configured",
        { operation: "create", resourceType: "Observation" },
        { payload: patient("X") },
        /match/,
      ],
      ["update without an id", { operation: "update" }, { payload: patient("X") }, /id is required/],
      [
        "upsert without an identifier",
        { operation: "upsert" },
        { payload: { resourceType: "Patient" } },
        /identifier/,
      ],
      [
        "upsert with a bad msg.identifier",
        { operation: "upsert" },
        { payload: patient("X"), identifier: 42 },
        /identifier/,
      ],
      [
        "patch with an object body",
        { operation: "patch" },
        { id: "1", payload: { gender: "male" } },
        /JSON Patch/,
      ],
      ["transaction with a resource body", { operation: "transaction" }, { payload: patient("X") }, /Bundle/],
      [
        "batch with a transaction Bundle",
        { operation: "batch" },
        { payload: { resourceType: "Bundle", type: "transaction" } },
        /batch/,
      ],
      [
        "batch with an unknown msg.prefer",
        { operation: "batch" },
        { payload: { resourceType: "Bundle", type: "batch", entry: [] }, prefer: "nothing" },
        /prefer must be one of/,
      ],
      ["read with msg.prefer", { operation: "read" }, { id: "1", prefer: "minimal" }, /prefer applies to/],
      ["search with numeric msg.params", { operation: "search" }, { params: 42 }, /params/],
      [
        "search with nested msg.params",
        { operation: "search" },
        { params: { name: { family: "X" } } },
        /params/,
      ],
      ["operation without a name", { operation: "operation" }, {}, /operation name/],
      ["an unknown operation", { operation: "frobnicate" }, { id: "1" }, /unknown operation/],
      ["search-all with max pages 0", { operation: "search-all", maxPages: "0" }, {}, /maxPages/],
      [
        "a line break in msg.ifMatch",
        { operation: "update" },
        { payload: { ...patient("X"), id: "1" }, ifMatch: '1"\r\nX-Evil: 1' },
        /line break/,
      ],
    ];

    it("every bad input reaches Catch with FHIR_BAD_INPUT, no request is sent, no health is reported", async () => {
      await load(badInputs.map(([, props], i) => ({ id: `bad${i}`, ...props }) as RequestSpec));
      const health = healthEvents();
      try {
        for (const [i, [name, , msg, message]] of badInputs.entries()) {
          const before = sandbox.stats().requests;
          const sent: Msg = { ...msg, fhir: { status: 200, stale: true } };
          const caught = await fails(`bad${i}`, sent);
          expect(caught.error.code, name).to.equal("FHIR_BAD_INPUT");
          expect(caught.error.message, name).to.match(message);
          expect(caught.error.source.id, name).to.equal(`bad${i}`);
          expect(caught.fhir, `${name}: a stale msg.fhir is removed`).to.equal(undefined);
          expect(sandbox.stats().requests, `${name}: nothing sent`).to.equal(before);
          expect(statusesOf(`bad${i}`).at(-1), name).to.deep.equal({
            fill: "red",
            shape: "ring",
            text: "bad input",
          });
        }
        expect(health.events).to.deep.equal([]);
      } finally {
        health.stop();
      }
    });

    it("a stale msg.ifMatch gives FHIR_HTTP_412 at Catch with msg.fhir.outcome, red status and a health failure", async () => {
      await load([
        { id: "create", operation: "create" },
        { id: "update", operation: "update", integration: "ehr-primary" },
      ]);
      const created = await ok("create", { payload: patient("IFM-1") });
      const id = created.payload.id;
      const v2 = await ok("update", { id, ifMatch: "1", payload: { ...created.payload, active: true } });
      expect(v2.fhir.versionId).to.equal("2");

      const health = healthEvents();
      try {
        const caught = await fails("update", {
          id,
          ifMatch: "1",
          payload: { ...created.payload, active: false },
        });
        expect(caught.error.code).to.equal("FHIR_HTTP_412");
        expect(caught.error.message).to.contain("412");
        expect(caught.fhir.status).to.equal(412);
        expect(caught.fhir.request).to.deep.equal({ method: "PUT", url: `${sandbox.url}/Patient/${id}` });
        expect(caught.fhir.outcome.resourceType).to.equal("OperationOutcome");
        expect(caught.fhir.outcome.issue[0].severity).to.equal("error");
        expect(statusesOf("update").at(-1)).to.deep.equal({
          fill: "red",
          shape: "ring",
          text: "412 update",
        });
        expect(health.events).to.have.length(1);
        expect(health.events[0]).to.include({
          integration: "ehr-primary",
          success: false,
          error: "FHIR_HTTP_412",
          source: "fhir-request",
        });
      } finally {
        health.stop();
      }
      const still = await ok("create", { payload: patient("IFM-2") });
      expect(still.fhir.status).to.equal(201);
    });

    it("retries a 429 (yellow ring), then shows the result; a 503 that persists fails with FHIR_HTTP_503", async () => {
      await load([
        { id: "read", operation: "read" },
        { id: "create", operation: "create" },
      ]);
      const created = await ok("create", { payload: patient("R-1") });
      statuses.delete("read");

      sandbox.faults.next(1, { status: 429, retryAfter: 0 });
      const read = await ok("read", { id: created.payload.id });
      expect(read.fhir.status).to.equal(200);
      expect(read.fhir.attempts).to.equal(2);
      expect(statusesOf("read")).to.deep.equal([
        { fill: "blue", shape: "dot", text: "GET Patient" },
        { fill: "yellow", shape: "ring", text: "retry 1 (429)" },
        { fill: "green", shape: "dot", text: "200 read" },
      ]);

      const before = sandbox.stats().requests;
      sandbox.faults.next(3, { status: 503, retryAfter: 0 });
      const caught = await fails("read", { id: created.payload.id });
      expect(caught.error.code).to.equal("FHIR_HTTP_503");
      expect(caught.fhir.status).to.equal(503);
      expect(caught.fhir.attempts).to.equal(3);
      expect(sandbox.stats().requests - before).to.equal(3);
      expect(statusesOf("read").at(-1)).to.deep.equal({
        fill: "red",
        shape: "ring",
        text: "503 read",
      });
    });

    it("a 404 reaches Catch as FHIR_HTTP_404 with the server's OperationOutcome", async () => {
      await load([{ id: "read", operation: "read" }]);
      const caught = await fails("read", { id: "nope" });
      expect(caught.error.code).to.equal("FHIR_HTTP_404");
      expect(caught.fhir.status).to.equal(404);
      expect(caught.fhir.outcome.resourceType).to.equal("OperationOutcome");
      expect(caught.fhir.outcome.issue[0].code).to.equal("not-found");
    });

    it("a timeout fails with FHIR_TIMEOUT and msg.fhir.status 0", async () => {
      await load([{ id: "read", operation: "read" }], { server: { timeout: "200", retries: "0" } });
      sandbox.faults.next(1, { delayMs: 1500 });
      const caught = await fails("read", { id: "slow" });
      expect(caught.error.code).to.equal("FHIR_TIMEOUT");
      expect(caught.fhir.status).to.equal(0);
      expect(caught.fhir.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/Patient/slow` });
      expect(statusesOf("read").at(-1)).to.deep.equal({
        fill: "red",
        shape: "ring",
        text: "timeout",
      });
    });

    it("a dropped connection is retried for a read, and fails with FHIR_NETWORK for a plain create", async () => {
      await load([
        { id: "read", operation: "read" },
        { id: "create", operation: "create" },
        { id: "search", operation: "search" },
      ]);
      sandbox.faults.next(1, { drop: true });
      const read = await fails("read", { id: "x" });
      expect(read.error.code).to.equal("FHIR_HTTP_404");
      expect(read.fhir.attempts).to.equal(2);

      const before = sandbox.stats().requests;
      sandbox.faults.next(1, { drop: true });
      const create = await fails("create", { payload: patient("NET-1") });
      expect(create.error.code).to.equal("FHIR_NETWORK");
      expect(sandbox.stats().requests - before).to.equal(1);
      const none = await ok("search", { params: { identifier: `${SYSTEM}|NET-1` } });
      expect(none.payload.entry ?? []).to.have.length(0);
    });
  });

  describe("health and status", () => {
    it("reports every completed interaction under the node's integration name", async () => {
      await load([
        { id: "create", operation: "create", integration: "ehr-a" },
        { id: "read", operation: "read", integration: "" },
      ]);
      const health = healthEvents();
      try {
        const created = await ok("create", { payload: patient("H-1") });
        await ok("read", { id: created.payload.id });
        await fails("read", { id: "missing" });
        expect(health.events.map((e) => [e.integration, e.success, e.error, e.source])).to.deep.equal([
          ["ehr-a", true, undefined, "fhir-request"],
          ["fhir", true, undefined, "fhir-request"],
          ["fhir", false, "FHIR_HTTP_404", "fhir-request"],
        ]);
        for (const e of health.events) {
          expect(e.durationMs).to.be.a("number").and.at.least(0);
          expect(e.time).to.be.a("number");
        }
      } finally {
        health.stop();
      }
    });

    it("shows working, then the result; concurrent messages keep it working until the last one ends", async () => {
      await load([
        { id: "create", operation: "create" },
        { id: "read", operation: "read" },
      ]);
      const created = await ok("create", { payload: patient("ST-1") });
      expect(statusesOf("create")).to.deep.equal([
        { fill: "blue", shape: "dot", text: "POST Patient" },
        { fill: "green", shape: "dot", text: "201 create" },
      ]);
      const reads = await parallel(
        "read",
        Array.from({ length: 5 }, () => ({ id: created.payload.id })),
      );
      expect(reads.map((m) => m.fhir.status)).to.deep.equal([200, 200, 200, 200, 200]);
      expect(statusesOf("read")).to.deep.equal([
        { fill: "blue", shape: "dot", text: "GET Patient" },
        { fill: "green", shape: "dot", text: "200 read" },
      ]);
    });

    it("clears its status on close", async () => {
      await load([{ id: "read", operation: "read" }]);
      await fails("read", { id: "missing" });
      await helper.unload();
      expect(statusesOf("read").at(-1)).to.deep.equal({});
      await load([{ id: "read", operation: "read" }]);
    });

    it("with no usable server fails with FHIR_CONFIG and sends nothing", async () => {
      await load([{ id: "read", operation: "read" }], { server: { baseUrl: "${FHIR_TEST_UNSET_VARIABLE}" } });
      const before = sandbox.stats().requests;
      const caught = await fails("read", { id: "1" });
      expect(caught.error.code).to.equal("FHIR_CONFIG");
      expect(caught.error.message).to.contain("FHIR_TEST_UNSET_VARIABLE");
      expect(sandbox.stats().requests).to.equal(before);
      expect(statusesOf("read").at(-1)).to.deep.equal({
        fill: "red",
        shape: "ring",
        text: "server config",
      });
    });
  });

  describe("typed properties: msg, flow, global, env, JSONata", () => {
    const ENV = "FHIR_TEST_TYPED_RESOURCE";
    afterEach(() => {
      delete process.env[ENV];
    });

    it("evaluates each source for every message and sends what it gives", async () => {
      process.env[ENV] = "Organization";
      await load([
        { id: "create", operation: "create", resourceType: "" },
        { id: "byMsg", operation: "read", resourceType: "target.type", resourceTypeType: "msg" },
        { id: "byFlow", operation: "read", resourceType: "fhirType", resourceTypeType: "flow" },
        { id: "byGlobal", operation: "read", resourceType: "fhirType", resourceTypeType: "global" },
        { id: "byEnv", operation: "read", resourceType: ENV, resourceTypeType: "env" },
        {
          id: "byJsonata",
          operation: "read",
          resourceType: 'kind = "org" ? "Organization" : "Patient"',
          resourceTypeType: "jsonata",
        },
        { id: "searchByMsg", operation: "search", searchParams: "query", searchParamsType: "msg" },
        {
          id: "searchByJsonata",
          operation: "search-all",
          searchParams: `{"identifier": "${SYSTEM}|" & mrn, "_count": 1}`,
          searchParamsType: "jsonata",
        },
        { id: "opByMsg", operation: "operation", operationName: "call.name", operationNameType: "msg" },
      ]);
      const pat = (await ok("create", { payload: patient("MRN-T1") })).payload;
      const org = (await ok("create", { payload: { resourceType: "Organization", name: "Clinic" } })).payload;
      await ok("create", { payload: patient("MRN-T2") });
      const patientUrl = `${sandbox.url}/Patient/${pat.id}`;
      const orgUrl = `${sandbox.url}/Organization/${org.id}`;
      const urlOf = async (id: string, msg: Msg) => (await ok(id, msg)).fhir.request.url as string;

      expect(await urlOf("byMsg", { id: pat.id, target: { type: "Patient" } })).to.equal(patientUrl);
      const read = await ok("byMsg", { id: org.id, target: { type: " Organization " } });
      expect(read.fhir.request.url).to.equal(orgUrl);
      expect(read.payload.name).to.equal("Clinic");

      const flow = helper.getNode("byFlow").context().flow;
      flow.set("fhirType", "Patient");
      expect(await urlOf("byFlow", { id: pat.id })).to.equal(patientUrl);
      flow.set("fhirType", "Organization");
      expect(await urlOf("byFlow", { id: org.id })).to.equal(orgUrl);

      helper.getNode("byGlobal").context().global.set("fhirType", "Organization");
      expect(await urlOf("byGlobal", { id: org.id })).to.equal(orgUrl);

      expect(await urlOf("byEnv", { id: org.id })).to.equal(orgUrl);
      process.env[ENV] = "Patient";
      expect(await urlOf("byEnv", { id: pat.id })).to.equal(patientUrl);

      expect(await urlOf("byJsonata", { id: org.id, kind: "org" })).to.equal(orgUrl);
      expect(await urlOf("byJsonata", { id: pat.id })).to.equal(patientUrl);

      const byString = await ok("searchByMsg", { query: `identifier=${SYSTEM}|MRN-T1&_count=5` });
      expect(byString.payload.entry.map((e: Msg) => e.resource.id)).to.deep.equal([pat.id]);
      const byObject = await ok("searchByMsg", { query: { identifier: `${SYSTEM}|MRN-T2`, _count: 5 } });
      expect(byObject.payload.entry.map((e: Msg) => e.resource.identifier[0].value)).to.deep.equal([
        "MRN-T2",
      ]);
      const merged = await ok("searchByMsg", { query: "gender=male&_count=5", params: { _count: 1 } });
      const mergedUrl = new URL(merged.fhir.request.url);
      expect(mergedUrl.searchParams.get("gender")).to.equal("male");
      expect(mergedUrl.searchParams.get("_count")).to.equal("1");
      expect(merged.payload.entry).to.have.length(1);

      const all = await ok("searchByJsonata", { mrn: "MRN-T2" });
      expect(all.payload.entry).to.have.length(1);
      expect(all.payload.entry[0].resource.identifier[0].value).to.equal("MRN-T2");
      expect(new URL(all.fhir.request.url).searchParams.get("identifier")).to.equal(`${SYSTEM}|MRN-T2`);

      // The sandbox implements no $operations: its 404 shows what was sent.
      const op = await fails("opByMsg", { id: pat.id, call: { name: "$everything" } });
      expect(op.error.code).to.equal("FHIR_HTTP_404");
      expect(op.fhir.request).to.deep.equal({ method: "GET", url: `${patientUrl}/$everything` });
    });

    it("a flow from before (no type property) is str: ${ENV} substituted, msg overrides win; msg.resourceType wins over any source, which is then not evaluated", async () => {
      process.env[ENV] = "Organization";
      await load([
        { id: "create", operation: "create", resourceType: "" },
        { id: "old", operation: "read", resourceType: `\${${ENV}}` },
        {
          id: "typed",
          operation: "read",
          resourceType: '$error("evaluated")',
          resourceTypeType: "jsonata",
        },
        {
          id: "typedOp",
          operation: "operation",
          resourceType: "",
          operationName: '$error("evaluated")',
          operationNameType: "jsonata",
        },
      ]);
      const pat = (await ok("create", { payload: patient("MRN-O1") })).payload;
      const org = (await ok("create", { payload: { resourceType: "Organization", name: "Old" } })).payload;

      expect((await ok("old", { id: org.id })).fhir.request.url).to.equal(
        `${sandbox.url}/Organization/${org.id}`,
      );
      expect((await ok("old", { id: pat.id, resourceType: "Patient" })).fhir.request.url).to.equal(
        `${sandbox.url}/Patient/${pat.id}`,
      );

      expect((await ok("typed", { id: pat.id, resourceType: "Patient" })).payload.id).to.equal(pat.id);
      const evaluated = await fails("typed", { id: pat.id });
      expect(evaluated.error.code).to.equal("FHIR_BAD_INPUT");
      expect(evaluated.error.message).to.equal(
        "PackError: resource type from its JSONata expression: evaluated",
      );

      const op = await fails("typedOp", { operationName: "$meta" });
      expect(op.fhir.request).to.deep.equal({ method: "GET", url: `${sandbox.url}/$meta` });
    });

    const badValues: Array<[string, Record<string, unknown>, Msg, RegExp]> = [
      [
        "a msg property holding no resource type",
        { operation: "read", resourceType: "target.type", resourceTypeType: "msg" },
        { id: "1", target: { type: "not a type!" } },
        /^PackError: resource type from msg\.target\.type must be a FHIR resource type name such as "Patient"$/,
      ],
      [
        "a msg property holding an object",
        { operation: "read", resourceType: "target.type", resourceTypeType: "msg" },
        { id: "1", target: { type: { name: "Patient" } } },
        /^PackError: resource type from msg\.target\.type must be a string, got an object$/,
      ],
      [
        "a msg property whose parent is missing",
        { operation: "read", resourceType: "target.type", resourceTypeType: "msg" },
        { id: "1" },
        /^PackError: resource type from msg\.target\.type: /,
      ],
      [
        "a JSONata expression that throws",
        { operation: "read", resourceType: '$error("no type here")', resourceTypeType: "jsonata" },
        { id: "1" },
        /^PackError: resource type from its JSONata expression: no type here$/,
      ],
      [
        "search params from msg that are a number",
        { operation: "search", searchParams: "query", searchParamsType: "msg" },
        { query: 42 },
        /^PackError: search params from msg\.query must be an object or a query string, got a number$/,
      ],
      [
        "a nested search param from JSONata",
        { operation: "search", searchParams: '{"name": {"family": "X"}}', searchParamsType: "jsonata" },
        {},
        /^PackError: search params from its JSONata expression: parameter name must be a string, number, boolean/,
      ],
      [
        "an operation name from msg that is not one",
        { operation: "operation", operationName: "call.name", operationNameType: "msg" },
        { call: { name: "$every thing" } },
        /^PackError: operation name from msg\.call\.name must be an operation name such as "\$everything"$/,
      ],
    ];

    it("a bad value for a message reaches Catch with FHIR_BAD_INPUT naming the property and the source; nothing is sent", async () => {
      await load(badValues.map(([, props], i) => ({ id: `bad${i}`, ...props }) as RequestSpec));
      for (const [i, [name, , msg, message]] of badValues.entries()) {
        const before = sandbox.stats().requests;
        const caught = await fails(`bad${i}`, msg);
        expect(caught.error.code, name).to.equal("FHIR_BAD_INPUT");
        expect(caught.error.message, name).to.match(message);
        expect(sandbox.stats().requests, `${name}: nothing sent`).to.equal(before);
        expect(statusesOf(`bad${i}`).at(-1), name).to.deep.include({ fill: "red", text: "bad input" });
      }
    });

    it("an expression that does not parse or an unknown source shows at deploy and fails every message with FHIR_BAD_INPUT", async () => {
      await load([
        { id: "unparsable", operation: "read", resourceType: 'kind = "org', resourceTypeType: "jsonata" },
        { id: "unknown", operation: "search", searchParams: "5", searchParamsType: "num" },
      ]);
      expect(statusesOf("unparsable").at(-1)).to.deep.include({ fill: "red", text: "bad resource type" });
      expect(statusesOf("unknown").at(-1)).to.deep.include({ fill: "red", text: "bad search params" });
      const before = sandbox.stats().requests;
      const unparsable = await fails("unparsable", { id: "1", resourceType: "Patient" });
      expect(unparsable.error.code).to.equal("FHIR_BAD_INPUT");
      expect(unparsable.error.message).to.match(
        /^PackError: resource type from its JSONata expression: the expression does not parse: /,
      );
      const unknown = await fails("unknown", {});
      expect(unknown.error.code).to.equal("FHIR_BAD_INPUT");
      expect(unknown.error.message).to.equal(
        'PackError: search params has an unknown source "num": use str, msg, flow, global, env, jsonata',
      );
      expect(sandbox.stats().requests).to.equal(before);
    });
  });

  describe("the shipped example", () => {
    it("examples/Search and upsert FHIR patients.json runs against the server in FHIR_BASE_URL: search, then upsert twice", async () => {
      const file = join(__dirname, "..", "..", "..", "examples", "Search and upsert FHIR patients.json");
      const example = JSON.parse(readFileSync(file, "utf8")) as Msg[];
      const tab = example.find((n) => n.z)!.z as string;
      // Debug nodes become helper nodes, so that the test sees what they would show.
      const flow = [
        { id: tab, type: "tab" },
        ...example.map((n) => (n.type === "debug" ? { ...n, type: "helper" } : n)),
      ];
      const byName = (type: string, name: string): string =>
        example.find((n) => n.type === type && n.name === name)!.id;
      process.env.FHIR_BASE_URL = sandbox.url;
      try {
        await helper.load([fhirServerNode, fhirRequestNode, injectNode, commentNode], flow as any);
      } finally {
        delete process.env.FHIR_BASE_URL;
      }
      const seen = new EventEmitter();
      for (const name of ["searchset", "upserted", "fhir error"]) {
        helper.getNode(byName("debug", name)).on("input", (m: Msg) => seen.emit(name, m));
      }
      const next = (name: string): Promise<Msg> =>
        new Promise((resolve, reject) => {
          seen.once(name, resolve);
          seen.once("fhir error", (m: Msg) => reject(new Error(`${m.error?.code}: ${m.error?.message}`)));
        });

      let got = next("upserted");
      helper.getNode(byName("inject", "patient")).receive({});
      const created = await got;
      expect(created.fhir.status).to.equal(201);
      got = next("upserted");
      helper.getNode(byName("inject", "patient")).receive({});
      expect((await got).fhir.status).to.equal(200);

      got = next("searchset");
      helper.getNode(byName("inject", "search")).receive({});
      const found = await got;
      expect(found.payload.type).to.equal("searchset");
      expect(found.payload.entry).to.have.length(1);
      expect(found.payload.entry[0].resource.name[0].family).to.equal("Chalmers");
    });
  });
});
