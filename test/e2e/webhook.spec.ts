import { expect } from "chai";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { signWebhook, WEBHOOK_SCHEMES, type WebhookScheme } from "../../lib/webhook/schemes";
import type { PmsPatient } from "../../lib/mapping/records";
import { startPmsSimulator, type PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * End to end in a real Node-RED runtime (the test helper cannot reach http-in routes):
 * core http in with raw body -> webhook-verify, for every scheme and every way a delivery can be
 * wrong; and the PMS simulator's webhooks -> http in -> webhook-verify -> hmac-request (fetch
 * the patient) -> assertions. What leaves the nodes is POSTed by core http request nodes to a
 * collector in this process.
 */

const TAB = "e2e-webhook";
const KEY = "e2e-key";
const API_SECRET = "e2e-api-secret";
const SECRETS: Record<WebhookScheme, string> = {
  "pms-hmac": "pms-webhook-secret",
  "standard-webhooks": "whsec_" + Buffer.from("e2e-standard-webhooks-secret-32b").toString("base64"),
  stripe: "whsec_e2e_stripe_secret",
  github: "e2e github secret",
};
const ROTATED: Record<WebhookScheme, string> = {
  "pms-hmac": "pms-webhook-secret-next",
  "standard-webhooks": "whsec_" + Buffer.from("e2e-standard-webhooks-secret-nxt").toString("base64"),
  stripe: "whsec_e2e_stripe_secret_next",
  github: "e2e github secret next",
};
const MAX_BYTES = 4096;

interface Collected {
  port: "verified" | "rejected" | "caught" | "pipeline";
  case?: string;
  webhook?: Record<string, unknown>;
  payload?: unknown;
  topic?: string;
  hasRes?: boolean;
  code?: string;
  patient?: PmsPatient;
  legacy?: { status: number };
}

/** Receives what the flows POST and lets a test wait for it. */
class Collector {
  readonly got: Collected[] = [];
  private waiters: Array<{ test: (c: Collected) => boolean; resolve: (c: Collected) => void }> = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const item = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Collected;
      this.got.push(item);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(item)) return true;
        w.resolve(item);
        return false;
      });
      res.writeHead(204).end();
    });
  });
  url = "";

  async start(): Promise<void> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/collect`;
  }

  waitFor(test: (c: Collected) => boolean, what: string, timeoutMs = 15000): Promise<Collected> {
    const seen = this.got.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`collector never got ${what}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  }

  forCase(name: string): Promise<Collected> {
    return this.waitFor((c) => c.case === name, `case ${name}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function post(id: string, z: string, collector: string, x: number, y: number): FlowNode {
  return {
    id,
    type: "http request",
    z,
    method: "POST",
    ret: "txt",
    paytoqs: "ignore",
    url: collector,
    tls: "",
    persist: false,
    proxy: "",
    insecureHTTPParser: false,
    authType: "",
    senderr: false,
    headers: [],
    x,
    y,
    wires: [],
  };
}

function jsonata(id: string, z: string, expression: string, next: string, x: number, y: number): FlowNode {
  return {
    id,
    type: "change",
    z,
    rules: [{ t: "set", p: "payload", pt: "msg", to: expression, tot: "jsonata" }],
    x,
    y,
    wires: [[next]],
  };
}

const CASE = `req.headers."x-test-case"`;

function flows(collector: string, sim: PmsSimulator): FlowNode[] {
  const nodes: FlowNode[] = [{ id: TAB, type: "tab", label: "webhook e2e" }];
  const toCollector = post("collect", TAB, collector, 900, 40);
  nodes.push(toCollector);
  nodes.push(
    jsonata(
      "verifiedOut",
      TAB,
      `{"port": "verified", "case": ${CASE}, "webhook": webhook, "payload": payload, "topic": topic, "hasRes": $exists(res)}`,
      "collect",
      700,
      40,
    ),
    jsonata(
      "rejectedOut",
      TAB,
      `{"port": "rejected", "case": ${CASE}, "webhook": webhook}`,
      "collect",
      700,
      80,
    ),
    {
      id: "catch",
      type: "catch",
      z: TAB,
      scope: null,
      uncaught: false,
      x: 100,
      y: 600,
      wires: [["caughtOut"]],
    },
    jsonata("caughtOut", TAB, `{"port": "caught", "case": ${CASE}, "code": error.code}`, "collect", 700, 120),
  );
  let y = 200;
  const route = (
    path: string,
    verifyId: string,
    verify: Record<string, unknown>,
    raw = true,
    out1 = "verifiedOut",
  ) => {
    nodes.push(
      {
        id: `in-${verifyId}`,
        type: "http in",
        z: TAB,
        url: path,
        method: "post",
        upload: false,
        skipBodyParsing: raw,
        swaggerDoc: "",
        x: 100,
        y,
        wires: [[verifyId]],
      },
      {
        id: verifyId,
        type: "webhook-verify",
        z: TAB,
        tolerance: "300",
        maxBytes: String(MAX_BYTES),
        maxIds: "1000",
        respond: true,
        integration: "",
        store: "",
        x: 300,
        y,
        wires: [[out1], ["rejectedOut"]],
        ...verify,
      },
    );
    y += 60;
  };
  for (const scheme of WEBHOOK_SCHEMES) route(`/hooks/${scheme}`, `verify-${scheme}`, { scheme });
  for (const scheme of WEBHOOK_SCHEMES)
    route(`/hooks/parsed/${scheme}`, `parsed-${scheme}`, { scheme }, false);
  route("/hooks/persist", "verify-persist", { scheme: "standard-webhooks", store: "file" });
  for (const scheme of WEBHOOK_SCHEMES) {
    route(`/pipeline/${scheme}`, `pipe-${scheme}`, { scheme }, true, "toFetch");
  }
  nodes.push(
    {
      id: "toFetch",
      type: "change",
      z: TAB,
      rules: [{ t: "set", p: "patientId", pt: "msg", to: "payload.resourceId", tot: "msg" }],
      x: 500,
      y: 500,
      wires: [["fetch"]],
    },
    {
      id: "fetch",
      type: "hmac-request",
      z: TAB,
      api: "pms",
      method: "GET",
      path: "/patients/{{msg.patientId}}",
      integration: "pms",
      paging: "none",
      x: 700,
      y: 500,
      wires: [["pipelineOut"]],
    },
    jsonata(
      "pipelineOut",
      TAB,
      `{"port": "pipeline", "case": webhook.id, "webhook": webhook, "patient": payload, "legacy": legacy}`,
      "collect",
      900,
      500,
    ),
    {
      id: "pms",
      type: "legacy-api",
      baseUrl: sim.url,
      scheme: "pms-hmac",
      encoding: "hex",
      timeout: "5000",
      retries: "2",
    },
  );
  return nodes;
}

function credentials(): Record<string, Record<string, unknown>> {
  const creds: Record<string, Record<string, unknown>> = { pms: { apiKey: KEY, apiSecret: API_SECRET } };
  for (const scheme of WEBHOOK_SCHEMES) {
    creds[`verify-${scheme}`] = { secrets: `${SECRETS[scheme]}\n${ROTATED[scheme]}` };
    creds[`pipe-${scheme}`] = { secrets: SECRETS[scheme] };
  }
  for (const scheme of WEBHOOK_SCHEMES) creds[`parsed-${scheme}`] = { secrets: SECRETS[scheme] };
  creds["verify-persist"] = { secrets: SECRETS["standard-webhooks"] };
  return creds;
}

interface Answer {
  status: number;
  body: string;
}

describe("webhook-verify and hmac-request in a real Node-RED runtime", function () {
  this.timeout(120000);
  let rt: Runtime;
  let sim: PmsSimulator;
  const collector = new Collector();
  let n = 0;

  before(async () => {
    await collector.start();
    sim = await startPmsSimulator({ apiKey: KEY, apiSecret: API_SECRET, seed: 11 });
    rt = await startRuntime({
      flows: flows(collector.url, sim),
      credentials: credentials(),
      env: { PMS_BASE_URL: sim.url },
    });
  });
  after(async () => {
    await rt?.stop();
    await sim?.close();
    await collector.close();
  });

  /** Sends one delivery to `path`: headers as [name, value] pairs so that one can repeat. */
  async function deliver(
    path: string,
    testCase: string,
    headers: Array<[string, string]>,
    body: string,
  ): Promise<Answer> {
    const flat = [["content-type", "application/json"], ["x-test-case", testCase], ...headers].flat();
    const res = await request(`${rt.url}${path}`, { method: "POST", headers: flat, body });
    return { status: res.statusCode, body: await res.body.text() };
  }

  function sign(scheme: WebhookScheme, body: string, over: { secret?: string; at?: Date; id?: string } = {}) {
    n++;
    const path = `/hooks/${scheme}`;
    return signWebhook({
      scheme,
      secret: over.secret ?? SECRETS[scheme],
      body,
      id: over.id ?? `evt_${n}`,
      timestamp: over.at ?? new Date(),
      method: "POST",
      pathWithQuery: path,
      eventType: "patient.updated",
    });
  }

  const pairs = (h: Record<string, string>): Array<[string, string]> => Object.entries(h);
  const body = (i: number) =>
    JSON.stringify({
      eventType: "patient.updated",
      resourceType: "patient",
      resourceId: `pat-${i}`,
      data: { n: i },
    });

  for (const scheme of WEBHOOK_SCHEMES) {
    describe(scheme, () => {
      const path = `/hooks/${scheme}`;
      const sigHeader = {
        "pms-hmac": "X-Signature",
        "standard-webhooks": "webhook-signature",
        stripe: "Stripe-Signature",
        github: "X-Hub-Signature-256",
      }[scheme];

      /** The delivery is answered `status` and reaches output 2 with `reason`, never output 1. */
      async function rejected(
        testCase: string,
        answer: Answer,
        status: number,
        reason: string,
      ): Promise<void> {
        expect(answer.status, `${testCase}: ${answer.body}`).to.equal(status);
        const got = await collector.forCase(testCase);
        expect(got.port, testCase).to.equal("rejected");
        expect(got.webhook?.reason, testCase).to.equal(reason);
        expect(collector.got.filter((c) => c.case === testCase)).to.have.length(1);
        for (const secret of [SECRETS[scheme], ROTATED[scheme]]) expect(answer.body).to.not.contain(secret);
      }

      it("verifies a delivery signed with the current secret: 202, parsed, forwarded", async () => {
        const b = body(1);
        const answer = await deliver(path, `${scheme}-ok`, pairs(sign(scheme, b)), b);
        expect(answer.status).to.equal(202);
        const got = await collector.forCase(`${scheme}-ok`);
        expect(got.port).to.equal("verified");
        expect(got.payload).to.deep.equal(JSON.parse(b));
        expect(got.topic).to.equal("patient.updated");
        expect(got.hasRes).to.equal(false);
        expect(got.webhook).to.deep.include({ scheme, eventType: "patient.updated" });
        if (scheme === "github") expect(got.webhook?.timestamp).to.equal(undefined);
        else expect(Date.parse(got.webhook?.timestamp as string)).to.be.closeTo(Date.now(), 60_000);
      });

      it("accepts a rotated secret", async () => {
        const b = body(2);
        const answer = await deliver(
          path,
          `${scheme}-rotated`,
          pairs(sign(scheme, b, { secret: ROTATED[scheme] })),
          b,
        );
        expect(answer.status).to.equal(202);
        expect((await collector.forCase(`${scheme}-rotated`)).port).to.equal("verified");
      });

      it("rejects a tampered body, a tampered header and a wrong secret with 401", async () => {
        const b = body(3);
        await rejected(
          `${scheme}-body`,
          await deliver(path, `${scheme}-body`, pairs(sign(scheme, b)), body(4)),
          401,
          "signature",
        );

        const headers = sign(scheme, b);
        if (scheme === "github") {
          const hex = headers[sigHeader].slice("sha256=".length);
          headers[sigHeader] = `sha256=${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}`;
        } else if (scheme === "stripe") {
          const t = Number(/t=(\d+)/.exec(headers[sigHeader])?.[1]);
          headers[sigHeader] = headers[sigHeader].replace(`t=${t}`, `t=${t + 1}`);
        } else if (scheme === "pms-hmac") {
          headers["X-Timestamp"] = new Date(Date.parse(headers["X-Timestamp"]) + 1000).toISOString();
        } else {
          headers["webhook-id"] = "evt_someone_else";
        }
        await rejected(
          `${scheme}-header`,
          await deliver(path, `${scheme}-header`, pairs(headers), b),
          401,
          "signature",
        );

        const wrong =
          scheme === "standard-webhooks"
            ? "whsec_" + Buffer.from("x".repeat(32)).toString("base64")
            : "wrong";
        await rejected(
          `${scheme}-secret`,
          await deliver(path, `${scheme}-secret`, pairs(sign(scheme, b, { secret: wrong })), b),
          401,
          "signature",
        );
      });

      if (scheme !== "github") {
        it("rejects stale and future timestamps with 401", async () => {
          const b = body(5);
          const stale = sign(scheme, b, { at: new Date(Date.now() - 301_000) });
          await rejected(
            `${scheme}-stale`,
            await deliver(path, `${scheme}-stale`, pairs(stale), b),
            401,
            "stale",
          );
          const future = sign(scheme, b, { at: new Date(Date.now() + 301_000) });
          await rejected(
            `${scheme}-future`,
            await deliver(path, `${scheme}-future`, pairs(future), b),
            401,
            "future",
          );
        });
      }

      it("answers a repeated delivery 202 and forwards it once", async () => {
        const b = body(6);
        const headers = pairs(sign(scheme, b));
        const first = await deliver(path, `${scheme}-repeat-1`, headers, b);
        const second = await deliver(path, `${scheme}-repeat-2`, headers, b);
        expect([first.status, second.status]).to.deep.equal([202, 202]);
        expect(JSON.parse(second.body)).to.deep.equal({ status: "accepted", duplicate: true });
        expect((await collector.forCase(`${scheme}-repeat-1`)).port).to.equal("verified");
        const dup = await collector.forCase(`${scheme}-repeat-2`);
        expect(dup.port).to.equal("rejected");
        expect(dup.webhook?.reason).to.equal("duplicate");
      });

      it("rejects missing headers and a duplicated signature header with 400", async () => {
        const b = body(7);
        const headers = sign(scheme, b);
        const without = pairs(headers).filter(([name]) => name !== sigHeader);
        await rejected(
          `${scheme}-missing`,
          await deliver(path, `${scheme}-missing`, without, b),
          400,
          "missing-headers",
        );
        const twice: Array<[string, string]> = [...pairs(headers), [sigHeader, headers[sigHeader]]];
        await rejected(`${scheme}-twice`, await deliver(path, `${scheme}-twice`, twice, b), 400, "malformed");
      });

      it("rejects an oversized body with 413", async () => {
        const big = JSON.stringify({ eventType: "patient.updated", pad: "x".repeat(MAX_BYTES) });
        await rejected(
          `${scheme}-big`,
          await deliver(path, `${scheme}-big`, pairs(sign(scheme, big)), big),
          413,
          "too-large",
        );
      });
    });
  }

  for (const scheme of WEBHOOK_SCHEMES) {
    it(`fails a parsed (non-raw) body (${scheme}): 500 to the sender, WEBHOOK_NOT_RAW to Catch, nothing forwarded`, async () => {
      const b = body(8);
      const testCase = `parsed-${scheme}`;
      const answer = await deliver(`/hooks/parsed/${scheme}`, testCase, pairs(sign(scheme, b)), b);
      expect(answer.status).to.equal(500);
      const got = await collector.forCase(testCase);
      expect(got).to.deep.include({ port: "caught", code: "WEBHOOK_NOT_RAW" });
      expect(collector.got.filter((c) => c.case === testCase)).to.have.length(1);
    });
  }

  for (const scheme of WEBHOOK_SCHEMES) {
    it(`pipeline (${scheme}): simulator webhook -> http in -> webhook-verify -> hmac-request fetches the patient`, async () => {
      sim.configureWebhook({
        url: `${rt.url}/pipeline/${scheme}`,
        scheme,
        secret: SECRETS[scheme],
        backoffMs: 50,
      });
      const before = sim.stats().unauthorized;
      const updated = await sim.updatePatient("pat-00010", {
        phone: `(555) 01${WEBHOOK_SCHEMES.indexOf(scheme)}-4242`,
      });
      const delivery = sim.deliveries.at(-1);
      expect(delivery).to.deep.include({ delivered: true, attempts: 1, status: 202 });
      const got = await collector.waitFor(
        (c) => c.port === "pipeline" && c.webhook?.scheme === scheme && c.patient?.phone === updated.phone,
        `the ${scheme} pipeline result`,
      );
      expect(got.patient).to.deep.equal(updated);
      expect(got.legacy?.status).to.equal(200);
      expect(got.webhook).to.deep.include({ scheme, eventType: "patient.updated" });
      expect(sim.stats().unauthorized).to.equal(before);
    });
  }

  it("keeps seen ids in the file context store across a restart", async () => {
    const b = body(9);
    const headers = pairs(sign("standard-webhooks", b, { id: "evt_persisted" }));
    const first = await deliver("/hooks/persist", "persist-1", headers, b);
    expect(first.status).to.equal(202);
    expect((await collector.forCase("persist-1")).port).to.equal("verified");
    await rt.restart();
    const again = await deliver("/hooks/persist", "persist-2", headers, b);
    expect(again.status).to.equal(202);
    const dup = await collector.forCase("persist-2");
    expect(dup.port).to.equal("rejected");
    expect(dup.webhook?.reason).to.equal("duplicate");
  });

  describe("the shipped examples", () => {
    const example = (name: string) =>
      JSON.parse(
        readFileSync(join(__dirname, "..", "..", "..", "examples", `${name}.json`), "utf8"),
      ) as FlowNode[];

    it("run as shipped: signed reads, paging and a charge; webhooks verified, answered and fetched", async () => {
      const hmac = example("Call a signed PMS API");
      const hooks = example("Receive signed PMS webhooks");
      const tabs = [
        ...new Set([...hmac, ...hooks].map((n) => n.z).filter((z): z is string => typeof z === "string")),
      ];
      const byType = (list: FlowNode[], type: string) => list.filter((n) => n.type === type);
      const creds: Record<string, Record<string, unknown>> = {};
      for (const api of [...byType(hmac, "legacy-api"), ...byType(hooks, "legacy-api")]) {
        creds[api.id] = { apiKey: KEY, apiSecret: API_SECRET };
      }
      const [pmsHook, standardHook] = byType(hooks, "webhook-verify");
      creds[pmsHook.id] = { secrets: SECRETS["pms-hmac"] };
      creds[standardHook.id] = { secrets: SECRETS["standard-webhooks"] };
      await rt.deploy([...tabs.map((id) => ({ id, type: "tab", label: id })), ...hmac, ...hooks], creds);

      const before = sim.stats().byRoute;
      const charges = sim.charges.length;
      for (const inject of byType(hmac, "inject")) {
        const res = await fetch(`${rt.url}/inject/${inject.id}`, { method: "POST" });
        expect(res.status, inject.name as string).to.equal(200);
      }
      const waitUntil = async (test: () => boolean, what: string) => {
        for (let i = 0; i < 300 && !test(); i++) await new Promise((r) => setTimeout(r, 20));
        expect(test(), what).to.equal(true);
      };
      await waitUntil(() => sim.charges.length === charges + 1, "the example's charge");
      await waitUntil(
        () => (sim.stats().byRoute["GET /patients"] ?? 0) >= (before["GET /patients"] ?? 0) + 3,
        "the example's pages",
      );

      sim.configureWebhook({ url: `${rt.url}/hooks/pms`, scheme: "pms-hmac", secret: SECRETS["pms-hmac"] });
      const reads = sim.stats().byRoute["GET /patients/:id"] ?? 0;
      await sim.updatePatient("pat-00020", { email: "renee.dangelo@example.org" });
      expect(sim.deliveries.at(-1)).to.deep.include({ delivered: true, status: 202 });
      await waitUntil(
        () => (sim.stats().byRoute["GET /patients/:id"] ?? 0) === reads + 1,
        "the fetch of pat-00020",
      );

      sim.configureWebhook({
        url: `${rt.url}/hooks/standard`,
        scheme: "standard-webhooks",
        secret: SECRETS["standard-webhooks"],
      });
      await sim.updatePatient("pat-00021", { phone: "(555) 010-2121" });
      expect(sim.deliveries.at(-1)).to.deep.include({ delivered: true, status: 204 });
      expect(sim.stats().unauthorized).to.equal(0);
    });
  });

  describe("at the end", () => {
    it("nothing logged an error or a secret", () => {
      const log = rt.logs.join("\n");
      for (const secret of [...Object.values(SECRETS), ...Object.values(ROTATED), API_SECRET]) {
        expect(log).to.not.contain(secret);
      }
      expect(
        rt.logs.filter((l) => /\[error\]/.test(l) && !/WEBHOOK_NOT_RAW|not the raw request body/.test(l)),
      ).to.deep.equal([]);
    });
  });
});
