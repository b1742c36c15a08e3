/* eslint-disable @typescript-eslint/no-explicit-any -- messages are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import helper from "node-red-node-test-helper";
import capabilityCheckNode from "../../nodes/capability-check/capability-check";
import fhirServerNode from "../../nodes/fhir-server/fhir-server";
import legacyApiNode from "../../nodes/legacy-api/legacy-api";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { startPmsSimulator, type PmsSimulator } from "../../sandbox/pms/server";

helper.init(require.resolve("node-red"));

const TAB = "tab-check";
const KEY = "check-key";
const SECRET = "check-secret";
type Msg = Record<string, any>;

let fhir: FhirSandbox;
let pms: PmsSimulator;
const sink = new EventEmitter();

async function load(check: Msg, opts: { pmsUrl?: string; secret?: string } = {}): Promise<void> {
  const flow: Msg[] = [
    { id: TAB, type: "tab", label: "check" },
    {
      id: "srv",
      type: "fhir-server",
      baseUrl: fhir.url,
      fhirVersion: "4.0.1",
      authType: "none",
      timeout: "5000",
      retries: "0",
      maxConcurrent: "4",
      tls: "",
    },
    {
      id: "api",
      type: "legacy-api",
      baseUrl: opts.pmsUrl ?? pms.url,
      scheme: "pms-hmac",
      encoding: "hex",
      timeout: "5000",
      retries: "0",
    },
    { id: "check", type: "capability-check", z: TAB, wires: [["out"]], ...check },
    { id: "out", type: "helper", z: TAB },
    { id: "catch", type: "catch", z: TAB, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB },
  ].map((n) => (n.z ? { x: 0, y: 0, ...n } : n));
  await helper.load(
    [fhirServerNode, legacyApiNode, capabilityCheckNode],
    flow as any,
    {
      api: { apiKey: KEY, apiSecret: opts.secret ?? SECRET },
    } as any,
  );
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

function run(): Promise<{ out?: Msg; caught?: Msg }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no output within 10 s")), 10000);
    const finish = (r: { out?: Msg; caught?: Msg }) => {
      clearTimeout(timer);
      sink.removeAllListeners();
      resolve(r);
    };
    sink.once("out", (out: Msg) => finish({ out }));
    sink.once("caught", (caught: Msg) => finish({ caught }));
    helper.getNode("check").receive({ payload: "go" });
  });
}

function flowValue(key: string): Promise<any> {
  return new Promise((resolve, reject) =>
    helper
      .getNode("check")
      .context()
      .flow.get(key, undefined as unknown as string, (err: Error | undefined, v: unknown) =>
        err ? reject(err) : resolve(v),
      ),
  );
}

describe("capability-check node", function () {
  this.timeout(20000);
  before(async () => {
    fhir = await startFhirSandbox({ port: 0 });
    pms = await startPmsSimulator({ apiKey: KEY, apiSecret: SECRET, seed: 5, patients: 2, appointments: 2 });
  });
  after(async () => {
    await pms?.close();
    await fhir?.close();
  });
  afterEach(async () => {
    await helper.unload();
  });

  it("assesses both systems read-only, keeps the report in flow context and counts the calls under its names", async () => {
    const heard: HealthEvent[] = [];
    const listen = (e: HealthEvent) => heard.push(e);
    healthBus().on(HEALTH_EVENT, listen);
    try {
      await load({
        server: "srv",
        api: "api",
        fhirIntegration: "ehr",
        pmsIntegration: "pms",
        contextKey: "report",
      });
      const { out, caught } = await run();
      expect(caught).to.equal(undefined);
      const r = out!.payload;
      expect(out!.topic).to.equal("capability assessment");
      expect(r.ehr).to.include({ ok: true, fhirVersion: "4.0.1" });
      expect(r.ehr.needs.length).to.be.above(10);
      expect(r.pms.probes.map((p: Msg) => [p.name, p.ok, p.status])).to.deep.equal([
        ["health", true, 200],
        ["capabilities", true, 200],
        ["patients", true, 200],
        ["appointments", true, 200],
      ]);
      expect(r.pms).to.include({ reachable: true, signedAccess: "accepted", health: "ok" });
      const text = JSON.stringify(r);
      for (const p of pms.data.patients) expect(text).to.not.contain(p.lastName);
      expect(await flowValue("report")).to.deep.equal(r);
      expect(pms.charges).to.deep.equal([]);
      expect(heard.filter((e) => e.integration === "ehr" && e.success)).to.have.length(1);
      expect(heard.filter((e) => e.integration === "pms" && e.success)).to.have.length(4);
    } finally {
      healthBus().removeListener(HEALTH_EVENT, listen);
    }
  });

  it("reports a PMS that refuses the key, and one that does not answer, probe by probe; the msg is still sent", async () => {
    await load({ api: "api" }, { secret: "wrong" });
    const refused = (await run()).out!.payload;
    expect(refused.ehr).to.equal(undefined);
    expect(refused.pms.probes.map((p: Msg) => [p.name, p.ok, p.status, p.code])).to.deep.equal([
      ["health", true, 200, undefined],
      ["capabilities", true, 200, undefined],
      ["patients", false, 401, "LEGACY_HTTP_401"],
      ["appointments", false, 401, "LEGACY_HTTP_401"],
    ]);
    expect(refused.pms.signedAccess).to.equal("refused (401): check the API key and secret");
    await helper.unload();

    const gone = await startPmsSimulator({ apiKey: KEY, apiSecret: SECRET, patients: 1, appointments: 0 });
    const url = gone.url;
    await gone.close();
    await load({ api: "api" }, { pmsUrl: url });
    const down = (await run()).out!.payload;
    expect(
      down.pms.probes.every((p: Msg) => !p.ok && p.status === undefined && /^LEGACY_/.test(p.code)),
    ).to.equal(true);
    expect(down.pms).to.include({
      reachable: false,
      signedAccess: "failed",
      health: "no /health",
      api: null,
    });
  });

  it("says how the EHR failed, with its code and status", async () => {
    await load({ server: "srv" });
    fhir.faults.next(1, { status: 503 });
    const r = (await run()).out!.payload;
    expect(r).to.have.keys(["at", "ehr"]);
    expect(r.ehr).to.deep.equal({ ok: false, code: "FHIR_HTTP_503", status: 503 });
  });

  it("refuses to run with neither system selected, or with a context key that is not an identifier: CAPABILITY_CONFIG", async () => {
    for (const props of [{}, { server: "srv", contextKey: "my report" }]) {
      await load(props);
      const { caught } = await run();
      expect(caught!.error.code, JSON.stringify(props)).to.equal("CAPABILITY_CONFIG");
      await helper.unload();
    }
  });
});
