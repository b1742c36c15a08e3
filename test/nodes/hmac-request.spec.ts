/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import legacyApiNode from "../../nodes/legacy-api/legacy-api";
import hmacRequestNode from "../../nodes/hmac-request/hmac-request";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import type { PmsPatient } from "../../lib/mapping/records";
import { startPmsSimulator, type PmsSimulator } from "../../sandbox/pms/server";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const splitJoinNodes = require("@node-red/nodes/core/sequence/17-split.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-legacy";
const KEY = "node-test-key";
const SECRET = "node-test-secret";

type Msg = Record<string, any>;
interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

let sim: PmsSimulator;
const sink = new EventEmitter();
const statuses = new Map<string, StatusCall[]>();
const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: StatusCall }) => {
  statuses.set(e.id, [...(statuses.get(e.id) ?? []), e.status]);
});

/** hmac-request nodes on a tab with a legacy-api, each wired to "out", a Catch wired to "caught". */
async function load(
  requests: Msg[],
  opts: { api?: Msg; credentials?: Msg; extra?: Msg[] } = {},
): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "legacy" },
    {
      id: "api",
      type: "legacy-api",
      baseUrl: sim.url,
      scheme: "pms-hmac",
      encoding: "hex",
      timeout: "5000",
      retries: "1",
      ...opts.api,
    },
    ...requests.map((r) => ({
      z: TAB,
      type: "hmac-request",
      api: "api",
      method: "GET",
      path: "/patients/{{msg.patientId}}",
      integration: "pms-test",
      paging: "none",
      wires: [["out"]],
      ...r,
    })),
    { id: "out", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
    ...(opts.extra ?? []),
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load(
    [legacyApiNode, hmacRequestNode, splitJoinNodes],
    flow as any,
    {
      api: { apiKey: KEY, apiSecret: SECRET },
      ...opts.credentials,
    } as any,
  );
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

/** Sends msg into node id; resolves with the first `count` outputs, or with what Catch got. */
function exchange(id: string, msg: Msg, count = 1): Promise<{ out: Msg[]; caught?: Msg }> {
  return new Promise((resolve) => {
    const out: Msg[] = [];
    const finish = (r: { out: Msg[]; caught?: Msg }) => {
      sink.removeAllListeners();
      resolve(r);
    };
    sink.on("out", (m: Msg) => {
      out.push(m);
      if (out.length >= count) finish({ out });
    });
    sink.on("caught", (m: Msg) => finish({ out, caught: m }));
    helper.getNode(id).receive(msg);
  });
}

async function ok(id: string, msg: Msg, count = 1): Promise<Msg[]> {
  const r = await exchange(id, msg, count);
  if (r.caught) throw new Error(`${id} failed: ${r.caught.error?.code} ${r.caught.error?.message}`);
  return r.out;
}

async function fails(id: string, msg: Msg): Promise<Msg> {
  const r = await exchange(id, msg);
  if (!r.caught) throw new Error(`${id} unexpectedly succeeded`);
  return r.caught;
}

function healthEvents(): { events: HealthEvent[]; stop: () => void } {
  const events: HealthEvent[] = [];
  const listener = (e: HealthEvent) => events.push(e);
  healthBus().on(HEALTH_EVENT, listener);
  return { events, stop: () => healthBus().removeListener(HEALTH_EVENT, listener) };
}

describe("hmac-request node against the PMS simulator", function () {
  this.timeout(20000);

  before(async () => {
    sim = await startPmsSimulator({ apiKey: KEY, apiSecret: SECRET, seed: 3 });
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(() => statuses.clear());
  afterEach(async () => {
    sink.removeAllListeners();
    await helper.unload();
  });

  it("warns once when the API key would go over plain http to another machine, naming the host only", async () => {
    await load([{ id: "r1" }], { api: { baseUrl: "http://pms.invalid:8104/api" } });
    const warned = helper
      .log()
      .args.map((a) => a[0] as { level: number; id?: string; msg?: unknown })
      .filter((e) => e.id === "api" && e.level === 30)
      .map((e) => String(e.msg));
    expect(warned).to.deep.equal([
      "legacy-api: the API key and signed requests go to pms.invalid:8104 over plain http: use https",
    ]);
    await helper.unload();
    await load([{ id: "r1" }]);
    expect(
      helper
        .log()
        .args.map((a) => a[0] as { level: number; id?: string })
        .filter((e) => e.id === "api" && e.level === 30),
    ).to.deep.equal([]);
  });

  it("reads a patient: path placeholder filled, signature accepted, payload and msg.legacy set", async () => {
    await load([{ id: "get" }]);
    const health = healthEvents();
    const before = sim.stats().unauthorized;
    const [msg] = await ok("get", { patientId: "pat-00004", topic: "keep" });
    health.stop();
    expect(msg.payload).to.deep.equal(sim.data.patients[3]);
    expect(msg.topic).to.equal("keep");
    expect(msg.legacy.status).to.equal(200);
    expect(msg.legacy.durationMs).to.be.a("number");
    expect(msg.legacy.request).to.deep.equal({
      method: "GET",
      url: `${sim.url}/patients/pat-00004`,
      attempts: 1,
    });
    expect(sim.stats().unauthorized).to.equal(before);
    expect(health.events).to.have.length(1);
    expect(health.events[0]).to.deep.include({
      integration: "pms-test",
      success: true,
      source: "hmac-request",
    });
    expect(statuses.get("get")?.at(-1)).to.deep.equal({ fill: "green", shape: "dot", text: "200 GET" });
  });

  it("sends msg.params as the query and never lets msg.headers replace the signature headers", async () => {
    await load([{ id: "list", path: "/appointments" }]);
    const patientId = sim.data.appointments[0].patientId;
    const [msg] = await ok("list", {
      params: { patientId, pageSize: 100 },
      headers: { "X-Signature": "forged", "X-API-Key": "someone-else", "X-Trace": "t-1" },
    });
    expect(msg.legacy.status).to.equal(200);
    expect(msg.payload.items.every((a: Msg) => a.patientId === patientId)).to.equal(true);
    expect(msg.legacy.request.url).to.contain(`patientId=${patientId}`);
    const [asString] = await ok("list", { params: `patientId=${patientId}&pageSize=1` });
    expect(asString.payload.items).to.have.length(1);
  });

  it("POSTs msg.payload serialized once, those bytes signed, and the PMS records it", async () => {
    await load([{ id: "charge", method: "POST", path: "/charges" }]);
    const appt = sim.data.appointments[1];
    const body = {
      patientId: appt.patientId,
      appointmentId: appt.id,
      code: "99214",
      amount: 80,
      description: "Zoë's visit",
    };
    const [msg] = await ok("charge", { payload: body });
    expect(msg.legacy.status).to.equal(201);
    expect(msg.payload).to.deep.include(body);
    expect(sim.charges.at(-1)).to.deep.include(body);
  });

  it("PATCHes an appointment status", async () => {
    await load([{ id: "patch", method: "PATCH", path: "/appointments/{{msg.appointment.id}}" }]);
    const appt = sim.data.appointments.find((a) => a.status === "scheduled") as Msg;
    const [msg] = await ok("patch", { appointment: { id: appt.id }, payload: { status: "arrived" } });
    expect(msg.payload).to.deep.include({ id: appt.id, status: "arrived" });
  });

  it("follows pages until the short page and sends every item in one msg", async () => {
    await load([{ id: "all", path: "/patients", paging: "pages", pageSize: "45", pagingOutput: "all" }]);
    const [msg] = await ok("all", { params: { modifiedSince: "2000-01-01T00:00:00Z" } });
    expect(msg.payload).to.have.length(200);
    expect(new Set(msg.payload.map((p: PmsPatient) => p.id)).size).to.equal(200);
    expect(msg.legacy).to.deep.include({ status: 200, pages: 5, count: 200 });
    expect(msg.legacy.request.url).to.contain("page=5&pageSize=45");
  });

  it("sends one msg per item with msg.parts that a join rebuilds", async () => {
    await load(
      [
        {
          id: "each",
          path: "/appointments",
          paging: "pages",
          pageSize: "7",
          pagingOutput: "each",
          wires: [["join"]],
        },
      ],
      { extra: [{ id: "join", type: "join", z: TAB, mode: "auto", wires: [["out"]] }] },
    );
    const patientId = sim.data.appointments[0].patientId;
    const expected = sim.data.appointments.filter((a) => a.patientId === patientId);
    const [joined] = await ok("each", { params: { patientId } });
    expect(joined.payload.map((a: Msg) => a.id).sort()).to.deep.equal(expected.map((a) => a.id).sort());
  });

  it("codes HTTP errors LEGACY_HTTP_<status> for a Catch node, with msg.legacy set and msg.payload untouched", async () => {
    await load([{ id: "get" }]);
    const health = healthEvents();
    const caught = await fails("get", { patientId: "pat-99999", payload: "original" });
    health.stop();
    expect(caught.error.code).to.equal("LEGACY_HTTP_404");
    expect(caught.legacy.status).to.equal(404);
    expect(caught.legacy.body).to.deep.equal({ error: "patient not found" });
    expect(caught.payload).to.equal("original");
    expect(health.events[0]).to.deep.include({
      success: false,
      error: "LEGACY_HTTP_404",
      integration: "pms-test",
    });
    expect(statuses.get("get")?.at(-1)).to.deep.include({ fill: "red", text: "404 GET" });
  });

  it("codes a refused signature LEGACY_HTTP_401 without showing the secret", async () => {
    await load([{ id: "get" }], { credentials: { api: { apiKey: KEY, apiSecret: "wrong-secret" } } });
    const caught = await fails("get", { patientId: "pat-00001" });
    expect(caught.error.code).to.equal("LEGACY_HTTP_401");
    expect(JSON.stringify(caught)).to.not.contain("wrong-secret");
  });

  it("codes bad input without making a call: missing placeholder, dot segment, bad params, bad headers", async () => {
    await load([{ id: "get" }]);
    const before = sim.stats().requests;
    for (const [msg, code] of [
      [{}, "LEGACY_PATH_PARAM"],
      [{ patientId: ".." }, "LEGACY_PATH_PARAM"],
      [{ patientId: { a: 1 } }, "LEGACY_PATH_PARAM"],
      [{ patientId: "pat-00001", params: 42 }, "LEGACY_BAD_INPUT"],
      [{ patientId: "pat-00001", params: { nested: { a: 1 } } }, "LEGACY_BAD_INPUT"],
      [{ patientId: "pat-00001", headers: "x" }, "LEGACY_BAD_INPUT"],
    ] as const) {
      const caught = await fails("get", msg);
      expect(caught.error.code, JSON.stringify(msg)).to.equal(code);
      expect(caught.legacy, JSON.stringify(msg)).to.equal(undefined);
    }
    expect(sim.stats().requests).to.equal(before);
  });

  it("codes a paging answer without items LEGACY_PAGING", async () => {
    await load([{ id: "bad", path: "/patients/pat-00001", paging: "pages", pageSize: "10" }]);
    const caught = await fails("bad", {});
    expect(caught.error.code).to.equal("LEGACY_PAGING");
  });

  it("codes a misconfigured api or node LEGACY_CONFIG, at every msg", async () => {
    await load(
      [
        { id: "noSecret" },
        { id: "badPaging", api: "api2", method: "POST", paging: "pages" },
        { id: "noApi", api: "missing" },
      ],
      {
        extra: [{ id: "api2", type: "legacy-api", baseUrl: sim.url }],
        credentials: { api: { apiKey: KEY }, api2: { apiKey: KEY, apiSecret: SECRET } },
      },
    );
    for (const id of ["noSecret", "badPaging", "noApi"]) {
      const caught = await fails(id, { patientId: "pat-00001" });
      expect(caught.error.code, id).to.equal("LEGACY_CONFIG");
      expect(caught.error.message).to.not.contain(SECRET);
    }
    expect(statuses.get("noSecret")?.[0]).to.deep.include({ fill: "red", text: "api config" });
    expect(statuses.get("badPaging")?.[0]).to.deep.include({ fill: "red", text: "bad config" });
  });

  it("codes an unreachable API LEGACY_NETWORK", async () => {
    const gone = await startPmsSimulator({ apiKey: KEY, apiSecret: SECRET, patients: 1, appointments: 0 });
    const url = gone.url;
    await gone.close();
    await load([{ id: "get" }], { api: { baseUrl: url, retries: "0" } });
    const caught = await fails("get", { patientId: "pat-00001" });
    expect(caught.error.code).to.equal("LEGACY_NETWORK");
    expect(caught.legacy.status).to.equal(0);
  });

  describe("path from msg, flow, global, env or JSONata", () => {
    const ENV = "PMS_TEST_TYPED_PATH";
    afterEach(() => {
      delete process.env[ENV];
    });

    it("evaluates the path for every message, then fills its placeholders; a flow from before (no pathType) is str", async () => {
      process.env[ENV] = "/patients/{{msg.patientId}}";
      await load([
        { id: "byMsg", path: "target", pathType: "msg" },
        { id: "byFlow", path: "pmsPath", pathType: "flow" },
        { id: "byGlobal", path: "pmsPath", pathType: "global" },
        { id: "byEnv", path: ENV, pathType: "env" },
        { id: "byJsonata", path: '"/patients/" & $encodeUrlComponent(patient.id)', pathType: "jsonata" },
        { id: "old", path: `\${${ENV}}` },
      ]);
      const url = async (id: string, msg: Msg) => {
        const [out] = await ok(id, msg);
        expect(out.legacy.status, id).to.equal(200);
        return out.legacy.request.url as string;
      };
      const patientUrl = (n: number) => `${sim.url}/patients/${sim.data.patients[n - 1].id}`;

      expect(await url("byMsg", { target: "/patients/pat-00004" })).to.equal(patientUrl(4));
      expect(await url("byMsg", { target: "/patients/{{msg.patientId}}", patientId: "pat-00002" })).to.equal(
        patientUrl(2),
      );
      const [list] = await ok("byMsg", { target: "/appointments", params: { pageSize: 3 } });
      expect(list.payload.items).to.have.length(3);

      helper.getNode("byFlow").context().flow.set("pmsPath", "/patients/pat-00001");
      expect(await url("byFlow", {})).to.equal(patientUrl(1));
      helper.getNode("byFlow").context().flow.set("pmsPath", "/patients/pat-00003");
      expect(await url("byFlow", {})).to.equal(patientUrl(3));

      helper.getNode("byGlobal").context().global.set("pmsPath", "/patients/pat-00005");
      expect(await url("byGlobal", {})).to.equal(patientUrl(5));

      expect(await url("byEnv", { patientId: "pat-00006" })).to.equal(patientUrl(6));
      expect(await url("byJsonata", { patient: { id: "pat-00007" } })).to.equal(patientUrl(7));
      expect(await url("old", { patientId: "pat-00008" })).to.equal(patientUrl(8));
    });

    it("codes a bad path for a message LEGACY_BAD_INPUT, naming its source, without making a call", async () => {
      await load([
        { id: "byMsg", path: "target", pathType: "msg" },
        { id: "throws", path: '$error("no path for " & kind)', pathType: "jsonata" },
      ]);
      const before = sim.stats().requests;
      for (const [id, msg, message] of [
        ["byMsg", {}, "path from msg.target has no value"],
        ["byMsg", { target: 42 }, "path from msg.target must be a string, got a number"],
        ["byMsg", { target: "patients/pat-00001" }, 'path from msg.target must start with "/"'],
        [
          "byMsg",
          { target: "/patients/../admin" },
          'path from msg.target may not hold a "." or ".." segment',
        ],
        [
          "byMsg",
          { target: "/patients/%2E%2e?x=1" },
          'path from msg.target may not hold a "." or ".." segment',
        ],
        ["throws", { kind: "visit" }, "path from its JSONata expression: no path for visit"],
      ] as const) {
        const caught = await fails(id, msg);
        expect(caught.error.code, message).to.equal("LEGACY_BAD_INPUT");
        expect(caught.error.message).to.equal(`PackError: ${message}`);
        expect(caught.legacy, message).to.equal(undefined);
      }
      expect(sim.stats().requests).to.equal(before);
      expect(statuses.get("byMsg")?.at(-1)).to.deep.include({ fill: "red", text: "bad input" });
    });

    it("codes a JSONata path that does not parse LEGACY_CONFIG, shown at deploy and at every msg", async () => {
      await load([{ id: "unparsable", path: '"/patients/" & ', pathType: "jsonata" }]);
      expect(statuses.get("unparsable")?.[0]).to.deep.include({ fill: "red", text: "bad config" });
      const caught = await fails("unparsable", {});
      expect(caught.error.code).to.equal("LEGACY_CONFIG");
      expect(caught.error.message).to.match(
        /^PackError: hmac-request: path from its JSONata expression: the expression does not parse: /,
      );
    });
  });

  it("clears its status on close", async () => {
    await load([{ id: "get" }]);
    await ok("get", { patientId: "pat-00001" });
    await helper.unload();
    expect(statuses.get("get")?.at(-1)).to.deep.equal({});
    await load([{ id: "get" }]);
  });
});
