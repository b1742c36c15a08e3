import type { Bundle, OperationOutcome, Patient } from "@medplum/fhirtypes";
import { expect } from "chai";
import { spawn } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import path from "node:path";
import type { FhirSandbox } from "../../sandbox/fhir/server";
import { startFhirSandbox } from "../../sandbox/fhir/server";
import { call, patient } from "./fhir-helpers";

const SYS = "urn:test:faults";

describe("sandbox/fhir server: fault injection, control routes, stats, lifecycle", function () {
  let sandbox: FhirSandbox;
  let root: string;

  before(async function () {
    this.timeout(20000);
    sandbox = await startFhirSandbox({ clients: [{ clientId: "c", clientSecret: "s" }] });
    root = sandbox.url.replace("/fhir/R4", "");
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    sandbox.faults.clear();
    await sandbox.reset();
  });

  it("answers the next N requests with 429 and Retry-After in seconds, then normally", async () => {
    sandbox.faults.next(2, { status: 429, retryAfter: 3 });
    const first = await call<OperationOutcome>(`${sandbox.url}/Patient`);
    expect(first.status).to.equal(429);
    expect(first.headers.get("retry-after")).to.equal("3");
    expect(first.body.resourceType).to.equal("OperationOutcome");
    expect(first.body.issue[0].code).to.equal("throttled");
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(429);
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(200);
  });

  it("sends Retry-After as an HTTP-date when given one", async () => {
    const date = new Date(Date.now() + 2000).toUTCString();
    sandbox.faults.next(1, { status: 429, retryAfter: date });
    const r = await call(`${sandbox.url}/metadata`);
    expect(r.status).to.equal(429);
    expect(r.headers.get("retry-after")).to.equal(date);
  });

  it("answers 503 (and 500, 502, 504) with an OperationOutcome", async () => {
    for (const status of [503, 500, 502, 504] as const) {
      sandbox.faults.next(1, { status });
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient`);
      expect(r.status).to.equal(status);
      expect(r.body.resourceType).to.equal("OperationOutcome");
    }
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(200);
  });

  it("drops the connection without a response, and writes nothing", async () => {
    sandbox.faults.next(1, { drop: true });
    let error: unknown;
    try {
      await fetch(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "content-type": "application/fhir+json" },
        body: JSON.stringify(patient(SYS, "dropped")),
      });
    } catch (err) {
      error = err;
    }
    expect(error, "the request should fail").to.be.instanceOf(Error);
    const all = await call<Bundle>(`${sandbox.url}/Patient`);
    expect(all.status).to.equal(200);
    expect(all.body.total).to.equal(0);
  });

  it("with after: true, processes the write and then drops the answer", async () => {
    sandbox.faults.next(1, { drop: true, after: true });
    let error: unknown;
    try {
      await fetch(`${sandbox.url}/Patient`, {
        method: "POST",
        headers: { "content-type": "application/fhir+json" },
        body: JSON.stringify(patient(SYS, "committed")),
      });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
    const all = await call<Bundle>(`${sandbox.url}/Patient?identifier=${SYS}|committed`);
    expect(all.body.total).to.equal(1);
  });

  it("delays the response by delayMs and then answers normally", async () => {
    const injected = sandbox.stats().faultsInjected;
    sandbox.faults.next(1, { delayMs: 150 });
    const started = Date.now();
    const r = await call(`${sandbox.url}/Patient`);
    const elapsed = Date.now() - started;
    expect(r.status).to.equal(200);
    expect(elapsed).to.be.at.least(145);
    expect(sandbox.stats().faultsInjected - injected).to.equal(1);
  });

  it("leaves the token endpoint alone unless a fault targets it", async () => {
    sandbox.faults.next(1, { status: 503 });
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const body = "grant_type=client_credentials&client_id=c&client_secret=s";
    expect((await call(sandbox.tokenUrl, { method: "POST", headers: form, body })).status).to.equal(200);
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(503);
    sandbox.faults.next(1, { status: 429, retryAfter: 1, target: "token" });
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(200);
    const throttled = await call(sandbox.tokenUrl, { method: "POST", headers: form, body });
    expect(throttled.status).to.equal(429);
    expect(throttled.headers.get("retry-after")).to.equal("1");
    expect((await call(sandbox.tokenUrl, { method: "POST", headers: form, body })).status).to.equal(200);
  });

  it("clears pending faults", async () => {
    sandbox.faults.next(5, { status: 503 });
    sandbox.faults.clear();
    expect((await call(`${sandbox.url}/Patient`)).status).to.equal(200);
  });

  it("rejects a malformed fault in process", () => {
    expect(() => sandbox.faults.next(0, { status: 503 })).to.throw(TypeError);
    expect(() => sandbox.faults.next(1, { status: 404 as 503 })).to.throw(TypeError);
    expect(() => sandbox.faults.next(1, {})).to.throw(TypeError);
  });

  describe("HTTP control routes", () => {
    it("injects and clears faults with POST and DELETE /$sandbox/faults", async () => {
      const post = await fetch(`${root}/$sandbox/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ count: 2, fault: { status: 429, retryAfter: 5 } }),
      });
      expect(post.status).to.equal(204);
      const r = await call(`${sandbox.url}/Patient`);
      expect(r.status).to.equal(429);
      expect(r.headers.get("retry-after")).to.equal("5");
      const del = await fetch(`${root}/$sandbox/faults`, { method: "DELETE" });
      expect(del.status).to.equal(204);
      expect((await call(`${sandbox.url}/Patient`)).status).to.equal(200);
      const bad = await fetch(`${root}/$sandbox/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ count: 1, fault: { status: 418 } }),
      });
      expect(bad.status).to.equal(400);
    });

    it("empties the repository with POST /$sandbox/reset and reports stats", async () => {
      const created = await call<Patient>(`${sandbox.url}/Patient`, {
        method: "POST",
        json: patient(SYS, "1"),
      });
      expect(created.status).to.equal(201);
      const before = (await call<{ resources: number; requests: number }>(`${root}/$sandbox/stats`)).body;
      expect(before.resources).to.equal(1);
      expect((await fetch(`${root}/$sandbox/reset`, { method: "POST" })).status).to.equal(204);
      expect((await call(`${sandbox.url}/Patient/${created.body.id}`)).status).to.equal(404);
      const after = (await call<{ resources: number; requests: number }>(`${root}/$sandbox/stats`)).body;
      expect(after.resources).to.equal(0);
      expect(after.requests).to.equal(before.requests + 1);
    });

    it("expires tokens with POST /$sandbox/expire-tokens", async () => {
      const secured = await startFhirSandbox({ auth: true, clients: [{ clientId: "c", clientSecret: "s" }] });
      try {
        const t = await call<{ access_token: string }>(secured.tokenUrl, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "grant_type=client_credentials&client_id=c&client_secret=s",
        });
        const headers = { Authorization: `Bearer ${t.body.access_token}` };
        expect((await call(`${secured.url}/Patient`, { headers })).status).to.equal(200);
        const base = secured.url.replace("/fhir/R4", "");
        expect((await fetch(`${base}/$sandbox/expire-tokens`, { method: "POST" })).status).to.equal(204);
        expect((await call(`${secured.url}/Patient`, { headers })).status).to.equal(401);
      } finally {
        await secured.close();
      }
    });
  });

  describe("stats and lifecycle", () => {
    it("counts requests and connections; keep-alive reuses a connection", async () => {
      const before = sandbox.stats();
      await new Promise<void>((resolve, reject) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        let done = 0;
        const one = () =>
          httpRequest(`${sandbox.url}/metadata`, { agent }, (res) => {
            res.resume();
            res.on("end", () => {
              done++;
              if (done === 3) {
                agent.destroy();
                resolve();
              } else one();
            });
          })
            .on("error", reject)
            .end();
        one();
      });
      const after = sandbox.stats();
      expect(after.requests - before.requests).to.equal(3);
      expect(after.fhirRequests - before.fhirRequests).to.equal(3);
      expect(after.connections - before.connections).to.equal(1);
    });

    it("closes with keep-alive sockets open and a delayed request pending", async () => {
      const s = await startFhirSandbox();
      const agent = new Agent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => {
        httpRequest(`${s.url}/metadata`, { agent }, (res) => {
          res.resume();
          res.on("end", resolve);
        })
          .on("error", reject)
          .end();
      });
      s.faults.next(1, { delayMs: 60000 });
      const pending = fetch(`${s.url}/Patient`).then(
        () => "answered",
        () => "failed",
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      await s.close();
      expect(await pending).to.equal("failed");
      agent.destroy();
      let refused = false;
      try {
        await fetch(`${s.url}/metadata`);
      } catch {
        refused = true;
      }
      expect(refused).to.equal(true);
    });

    it("refuses bad options before listening", async () => {
      for (const bad of [
        { port: -1 },
        { tokenLifetimeSeconds: 0 },
        { maxCount: 1.5 },
        { defaultCount: Number.NaN },
      ]) {
        let error: unknown;
        try {
          const s = await startFhirSandbox(bad);
          await s.close();
        } catch (err) {
          error = err;
        }
        expect(error, JSON.stringify(bad)).to.be.instanceOf(TypeError);
      }
    });

    it("runs standalone from main.js, prints its URL and stops on SIGTERM", async function () {
      this.timeout(20000);
      const main = path.resolve(__dirname, "../../sandbox/fhir/main.js");
      const child = spawn(process.execPath, [main], {
        env: { ...process.env, FHIR_PORT: "0", FHIR_AUTH: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            const m = /FHIR R4 sandbox: (http:\/\/\S+)/.exec(out);
            if (m) resolve(m[1]);
          });
          child.on("exit", (code) => reject(new Error(`exited early with ${code}`)));
        });
        const r = await call<{ fhirVersion: string }>(`${url}/metadata`);
        expect(r.status).to.equal(200);
        expect(r.body.fhirVersion).to.equal("4.0.1");
        const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        child.kill("SIGTERM");
        expect(await exit).to.equal(0);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    });
  });
});
