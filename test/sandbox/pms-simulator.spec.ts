import { expect } from "chai";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { LegacyClient } from "../../lib/legacy/client";
import { headersFromRaw, signPmsRequest } from "../../lib/legacy/pms-hmac";
import { schemeKey, verifyWebhook, WEBHOOK_SCHEMES, type WebhookScheme } from "../../lib/webhook/schemes";
import type { PmsAppointment, PmsPatient } from "../../lib/mapping/records";
import type { PackError } from "../../lib/errors";
import { TIE_BOUNDARY } from "../../sandbox/pms/data";
import {
  startPmsSimulator,
  WEBHOOK_EVENTS as WEBHOOK_EVENTS_LIST,
  type PmsSimulator,
  type WebhookEvent,
} from "../../sandbox/pms/server";

const KEY = "sim-key";
const SECRET = "sim-secret";

interface Received {
  verified: boolean;
  reason?: string;
  id?: string;
  headers: Record<string, string | string[] | undefined>;
  event: WebhookEvent;
}

/** A webhook receiver that verifies with lib/webhook, answering from a script. */
async function receiver(
  scheme: WebhookScheme,
  secret: string,
  answer: (n: number) => number = () => 204,
): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const keys = [schemeKey(scheme, secret)];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const r = verifyWebhook(
        scheme,
        keys,
        {
          method: req.method ?? "",
          pathWithQuery: req.url ?? "",
          headers: headersFromRaw(req.rawHeaders),
          body,
        },
        { toleranceSeconds: 300 },
      );
      got.push({
        verified: r.ok,
        reason: r.ok ? undefined : r.reason,
        id: r.ok ? r.id : undefined,
        headers: req.headers,
        event: JSON.parse(body.toString("utf8")) as WebhookEvent,
      });
      res.writeHead(answer(got.length)).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/pms?src=sim`, got, server };
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe("sandbox/pms simulator", function () {
  let sim: PmsSimulator;
  let client: LegacyClient;
  let hook: Server | undefined;

  beforeEach(async () => {
    sim = await startPmsSimulator({ apiKey: KEY, apiSecret: SECRET, seed: 7 });
    client = new LegacyClient({
      baseUrl: sim.url,
      credentials: { apiKey: KEY, apiSecret: SECRET },
      retries: 0,
    });
  });
  afterEach(async () => {
    await client.close();
    await sim.close();
    await closeServer(hook);
    hook = undefined;
  });

  it("answers /health and /capabilities without a signature, and never shows the secrets", async () => {
    const health = await request(`${sim.url}/health`);
    expect(health.statusCode).to.equal(200);
    expect(await health.body.json()).to.deep.equal({ status: "ok", patients: 200, appointments: 500 });
    sim.configureWebhook({ url: "http://127.0.0.1:1/hooks", scheme: "stripe", secret: "whsec_hidden" });
    const caps = await request(`${sim.url}/capabilities`);
    const text = await caps.body.text();
    const body = JSON.parse(text) as {
      webhooks: { configured: boolean; scheme: string };
      endpoints: unknown[];
    };
    expect(body.webhooks).to.deep.include({ configured: true, scheme: "stripe" });
    expect(body.endpoints).to.have.length(9);
    expect(text).to.not.contain("whsec_hidden").and.not.contain(SECRET);
  });

  it("accepts requests signed by the legacy client", async () => {
    const r = await client.request({ method: "GET", path: "/patients/pat-00001" });
    expect(r.status).to.equal(200);
    expect((r.body as PmsPatient).id).to.equal("pat-00001");
    expect(r.body).to.deep.equal(sim.data.patients[0]);
  });

  describe("refuses badly signed requests with 401", () => {
    const raw = async (headers: Record<string, string>, path = "/patients/pat-00001") =>
      (await request(`${sim.url}${path}`, { headers })).statusCode;
    const sign = (over: Partial<Parameters<typeof signPmsRequest>[0]> = {}) =>
      signPmsRequest({
        apiKey: KEY,
        apiSecret: SECRET,
        method: "GET",
        pathWithQuery: "/patients/pat-00001",
        ...over,
      });

    it("a good signature passes (control)", async () => {
      expect(await raw(sign())).to.equal(200);
    });
    it("a bad signature", async () => {
      expect(await raw(sign({ apiSecret: "not-the-secret" }))).to.equal(401);
      expect(await raw(sign({ pathWithQuery: "/patients/pat-00002" }))).to.equal(401);
    });
    it("a timestamp more than 5 minutes off, either way", async () => {
      expect(await raw(sign({ timestamp: new Date(Date.now() - 301_000) }))).to.equal(401);
      expect(await raw(sign({ timestamp: new Date(Date.now() + 301_000) }))).to.equal(401);
      expect(await raw(sign({ timestamp: new Date(Date.now() - 240_000) }))).to.equal(200);
    });
    it("a wrong key", async () => {
      expect(await raw(sign({ apiKey: "other-key" }))).to.equal(401);
    });
    it("missing headers", async () => {
      const headers = sign();
      delete headers["X-Signature"];
      expect(await raw(headers)).to.equal(401);
      expect(await raw({})).to.equal(401);
      expect(sim.stats().unauthorized).to.equal(2);
    });
  });

  it("pages patients in (updatedAt, id) order, each exactly once", async () => {
    const r = await client.paginate({ method: "GET", path: "/patients" }, { pageSize: 37 });
    const items = r.items as PmsPatient[];
    expect(r.pages).to.equal(6);
    expect(items.map((p) => p.id)).to.have.members(sim.data.patients.map((p) => p.id));
    expect(new Set(items.map((p) => p.id)).size).to.equal(200);
    for (let i = 1; i < items.length; i++) {
      const a = items[i - 1];
      const b = items[i];
      const order = Date.parse(a.updatedAt) - Date.parse(b.updatedAt) || (a.id < b.id ? -1 : 1);
      expect(order, `${a.id} before ${b.id}`).to.be.lessThan(0);
    }
    const first = await client.request({
      method: "GET",
      path: "/patients",
      query: { pageSize: 10, page: 2 },
    });
    expect(first.body).to.deep.include({ page: 2, pageSize: 10, total: 200 });
  });

  it("treats modifiedSince as inclusive, so records tied at the watermark are not lost", async () => {
    const sorted = [...sim.data.patients].sort(
      (a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt) || (a.id < b.id ? -1 : 1),
    );
    const boundary = sorted[TIE_BOUNDARY];
    const tied = sorted.filter((p) => p.updatedAt === boundary.updatedAt);
    expect(tied.length).to.be.greaterThan(1);
    const r = await client.paginate(
      { method: "GET", path: "/patients", query: { modifiedSince: boundary.updatedAt } },
      { pageSize: 50 },
    );
    const ids = (r.items as PmsPatient[]).map((p) => p.id);
    for (const p of tied) expect(ids).to.include(p.id);
    expect(ids).to.deep.equal(sorted.filter((p) => p.updatedAt >= boundary.updatedAt).map((p) => p.id));
  });

  it("lists appointments with paging and a patient filter, and reads one", async () => {
    const all = await client.paginate({ method: "GET", path: "/appointments" }, { pageSize: 200 });
    expect(all.items).to.have.length(500);
    const patientId = sim.data.appointments[0].patientId;
    const mine = await client.paginate(
      { method: "GET", path: "/appointments", query: { patientId } },
      { pageSize: 5 },
    );
    expect((mine.items as PmsAppointment[]).every((a) => a.patientId === patientId)).to.equal(true);
    expect(mine.items.length).to.equal(sim.data.appointments.filter((a) => a.patientId === patientId).length);
    const one = await client.request({ method: "GET", path: `/appointments/${sim.data.appointments[3].id}` });
    expect(one.body).to.deep.equal(sim.data.appointments[3]);
  });

  it("keeps paging in (updatedAt, id) order while records change: PATCH, POST, helpers, direct edits", async () => {
    // A clock that stands still (near the real one, which signatures are checked against) makes
    // changed records tie with each other at one instant.
    let clock = Date.now();
    const own = await startPmsSimulator({
      apiKey: KEY,
      apiSecret: SECRET,
      seed: 3,
      patients: 40,
      appointments: 120,
      now: () => clock,
    });
    const ownClient = new LegacyClient({
      baseUrl: own.url,
      credentials: { apiKey: KEY, apiSecret: SECRET },
      retries: 0,
    });
    const listed = async (path: string, query: Record<string, string>) => {
      const r = await ownClient.paginate({ method: "GET", path, query }, { pageSize: 7 });
      const first = await ownClient.request({ method: "GET", path, query: { ...query, pageSize: 7 } });
      return {
        ids: (r.items as { id: string }[]).map((x) => x.id),
        total: (first.body as { total: number }).total,
      };
    };
    const expected = (
      records: { id: string; updatedAt: string; patientId?: string }[],
      query: Record<string, string>,
    ) => {
      const since = query.modifiedSince ? Date.parse(query.modifiedSince) : -Infinity;
      const ids = records
        .filter(
          (r) => Date.parse(r.updatedAt) >= since && (!query.patientId || r.patientId === query.patientId),
        )
        .sort(
          (a, b) =>
            Date.parse(a.updatedAt) - Date.parse(b.updatedAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        )
        .map((r) => r.id);
      return { ids, total: ids.length };
    };
    const check = async (step: string) => {
      const patientId = own.data.appointments[0].patientId;
      const middle = [...own.data.appointments].sort((a, b) => (a.updatedAt < b.updatedAt ? -1 : 1))[60]
        .updatedAt;
      const queries: Record<string, string>[] = [
        {},
        { modifiedSince: middle },
        { patientId },
        { patientId, modifiedSince: middle },
      ];
      for (const query of queries) {
        expect(await listed("/appointments", query), `${step} ${JSON.stringify(query)}`).to.deep.equal(
          expected(own.data.appointments, query),
        );
      }
      expect(await listed("/patients", {}), `${step} patients`).to.deep.equal(
        expected(own.data.patients, {}),
      );
    };
    try {
      await check("seeded");
      const [a, b, c] = own.data.appointments.filter((x) => x.status === "scheduled");
      await ownClient.request({
        method: "PATCH",
        path: `/appointments/${a.id}`,
        body: { status: "completed" },
      });
      await check("after a PATCH");
      await ownClient.request({
        method: "PATCH",
        path: `/appointments/${b.id}`,
        body: { status: "confirmed" },
      });
      await check("after a second PATCH at the same instant");
      await ownClient.request({
        method: "POST",
        path: "/appointments",
        body: {
          patientId: own.data.appointments[0].patientId,
          providerId: own.data.providers[0].id,
          scheduledTime: "2031-02-03T09:00:00-05:00",
          duration: 30,
        },
      });
      await check("after a POST");
      clock += 1000;
      await own.cancelAppointment(c.id);
      await own.createPatient({ firstName: "Ada", lastName: "Byron", dateOfBirth: "1815-12-10" });
      await own.updatePatient(own.data.patients[3].id, { lastName: "Changed" });
      await check("after the helpers");
      own.data.appointments[5].updatedAt = "2020-01-01T00:00:00.000Z";
      own.data.appointments[6].id = "appt-zzzzzz";
      own.data.appointments[7].updatedAt = "not a date";
      own.data.appointments.splice(8, 1);
      own.data.appointments.push({ ...own.data.appointments[9], id: "appt-pushed" });
      own.data.appointments[10] = { ...own.data.appointments[10], updatedAt: "2030-06-01T00:00:00.000Z" };
      await check("after direct edits");
      own.data.appointments = [...own.data.appointments].reverse();
      own.data.patients = own.data.patients.slice(5);
      await check("after replacing the lists");
    } finally {
      await ownClient.close();
      await own.close();
    }
  });

  it("answers unknown records 404 and bad parameters 400, coded by the client", async () => {
    for (const [path, query, code] of [
      ["/patients/nope", undefined, "LEGACY_HTTP_404"],
      ["/appointments/nope", undefined, "LEGACY_HTTP_404"],
      ["/patients", { modifiedSince: "yesterday" }, "LEGACY_HTTP_400"],
      ["/patients", { pageSize: 0 }, "LEGACY_HTTP_400"],
      ["/patients", { page: "x" }, "LEGACY_HTTP_400"],
      ["/nothing", undefined, "LEGACY_HTTP_404"],
    ] as const) {
      try {
        await client.request({ method: "GET", path, query });
        expect.fail(path);
      } catch (err) {
        expect((err as PackError).code, path).to.equal(code);
      }
    }
  });

  it("books an appointment (201), refuses bad ones, and emits appointment.scheduled", async () => {
    const r = await receiver("standard-webhooks", "whsec_" + Buffer.from("k".repeat(32)).toString("base64"));
    hook = r.server;
    sim.configureWebhook({
      url: r.url,
      scheme: "standard-webhooks",
      secret: "whsec_" + Buffer.from("k".repeat(32)).toString("base64"),
    });
    const body = {
      patientId: "pat-00002",
      providerId: sim.data.providers[0].id,
      scheduledTime: "2031-02-03T09:00:00-05:00",
      duration: 30,
      reason: "Follow-up",
    };
    const created = await client.request({ method: "POST", path: "/appointments", body });
    expect(created.status).to.equal(201);
    const appt = created.body as PmsAppointment;
    expect(appt).to.deep.include({ ...body, status: "scheduled" });
    expect(sim.data.appointments.at(-1)).to.deep.equal(appt);
    for (const [bad, code] of [
      [{ ...body, patientId: "nope" }, "LEGACY_HTTP_404"],
      [{ ...body, providerId: "nope" }, "LEGACY_HTTP_422"],
      [{ ...body, duration: -5 }, "LEGACY_HTTP_400"],
      [{ ...body, scheduledTime: "soon" }, "LEGACY_HTTP_400"],
      [body, "LEGACY_HTTP_409"],
      ["not json", "LEGACY_HTTP_400"],
    ] as const) {
      try {
        await client.request({ method: "POST", path: "/appointments", body: bad });
        expect.fail(JSON.stringify(bad));
      } catch (err) {
        expect((err as PackError).code, JSON.stringify(bad)).to.equal(code);
      }
    }
    while (r.got.length < 1) await new Promise((x) => setTimeout(x, 10));
    expect(r.got[0].verified).to.equal(true);
    expect(r.got[0].event).to.deep.include({
      eventType: "appointment.scheduled",
      resourceType: "appointment",
      resourceId: appt.id,
    });
    expect(r.got[0].event.data).to.deep.equal(appt);
  });

  it("changes an appointment's status with PATCH and emits completed / cancelled", async () => {
    const r = await receiver("github", "gh");
    hook = r.server;
    sim.configureWebhook({ url: r.url, scheme: "github", secret: "gh" });
    const [a, b, c] = sim.data.appointments.filter((x) => x.status === "scheduled");
    const before = a.updatedAt;
    const done = await client.request({
      method: "PATCH",
      path: `/appointments/${a.id}`,
      body: { status: "completed" },
    });
    expect(done.body).to.deep.include({ id: a.id, status: "completed" });
    expect(Date.parse((done.body as PmsAppointment).updatedAt)).to.be.greaterThan(Date.parse(before));
    await client.request({ method: "PATCH", path: `/appointments/${b.id}`, body: { status: "cancelled" } });
    await client.request({ method: "PATCH", path: `/appointments/${c.id}`, body: { status: "confirmed" } });
    for (const bad of [{ status: "teleported" }, { status: "completed", duration: 5 }]) {
      try {
        await client.request({ method: "PATCH", path: `/appointments/${c.id}`, body: bad });
        expect.fail(JSON.stringify(bad));
      } catch (err) {
        expect((err as PackError).code).to.equal("LEGACY_HTTP_400");
      }
    }
    // The confirmed status calls for no event: two deliveries only, recorded as each was emitted.
    expect(sim.deliveries.map((d) => d.eventType)).to.deep.equal([
      "appointment.completed",
      "appointment.cancelled",
    ]);
    while (r.got.length < 2) await new Promise((x) => setTimeout(x, 10));
    expect(r.got.map((g) => [g.verified, g.event.eventType, g.event.resourceId])).to.have.deep.members([
      [true, "appointment.completed", a.id],
      [true, "appointment.cancelled", b.id],
    ]);
    expect(r.got.map((g) => g.headers["x-github-event"])).to.have.members([
      "appointment.completed",
      "appointment.cancelled",
    ]);
  });

  it("posts charges (201), returns the same charge for a repeated Idempotency-Key, and validates", async () => {
    const appt = sim.data.appointments[0];
    const body = { patientId: appt.patientId, appointmentId: appt.id, code: "99213", amount: 125.5 };
    const one = await client.request({
      method: "POST",
      path: "/charges",
      body,
      headers: { "Idempotency-Key": "k1" },
    });
    const again = await client.request({
      method: "POST",
      path: "/charges",
      body,
      headers: { "Idempotency-Key": "k1" },
    });
    expect(one.status).to.equal(201);
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.equal(one.body);
    expect(sim.charges).to.have.length(1);
    expect(sim.charges[0]).to.deep.include({ ...body, currency: "USD" });
    const otherPatient = sim.data.patients.find((p) => p.id !== appt.patientId) as PmsPatient;
    for (const [bad, code] of [
      [{ ...body, amount: 0 }, "LEGACY_HTTP_400"],
      [{ ...body, code: "" }, "LEGACY_HTTP_400"],
      [{ ...body, currency: "dollars" }, "LEGACY_HTTP_400"],
      [{ ...body, patientId: otherPatient.id }, "LEGACY_HTTP_422"],
    ] as const) {
      try {
        await client.request({ method: "POST", path: "/charges", body: bad });
        expect.fail(JSON.stringify(bad));
      } catch (err) {
        expect((err as PackError).code).to.equal(code);
      }
    }
    expect(sim.charges).to.have.length(1);
  });

  it("answers injected faults to the requests they match, changing nothing, then the API again", async () => {
    const appt = sim.data.appointments[0];
    const body = { patientId: appt.patientId, appointmentId: appt.id, code: "36415", amount: 15 };
    const post = (b: object) => client.request({ method: "POST", path: "/charges", body: b });
    sim.faults.next(2, { status: 503, retryAfter: 0, route: "POST /charges", bodyIncludes: "36415" });
    const codes: string[] = [];
    for (let i = 0; i < 2; i++) await post(body).catch((err: PackError) => codes.push(err.code));
    expect(codes).to.deep.equal(["LEGACY_HTTP_503", "LEGACY_HTTP_503"]);
    expect((await post({ ...body, code: "99213" })).status, "another body").to.equal(201);
    expect((await client.request({ method: "GET", path: "/patients" })).status, "another route").to.equal(
      200,
    );
    expect(sim.charges.map((c) => c.code)).to.deep.equal(["99213"]);
    expect((await post(body)).status, "the faults are used up").to.equal(201);
    sim.faults.next(5, { status: 500 });
    sim.faults.clear();
    expect((await post({ ...body, code: "99214" })).status, "cleared").to.equal(201);
    expect(sim.charges.map((c) => c.code)).to.deep.equal(["99213", "36415", "99214"]);
  });

  for (const scheme of WEBHOOK_SCHEMES) {
    it(`emits webhooks signed in ${scheme} that lib/webhook verifies`, async () => {
      const secret =
        scheme === "standard-webhooks"
          ? "whsec_" + Buffer.from("s".repeat(24)).toString("base64")
          : `${scheme}-secret`;
      const r = await receiver(scheme, secret);
      hook = r.server;
      sim.configureWebhook({ url: r.url, scheme, secret });
      const updated = await sim.updatePatient("pat-00003", { phone: "(555) 010-0000", lastName: "D'Angelo" });
      expect(updated.lastName).to.equal("D'Angelo");
      expect(r.got).to.have.length(1);
      expect(r.got[0].verified, r.got[0].reason).to.equal(true);
      expect(r.got[0].event).to.deep.include({
        eventType: "patient.updated",
        resourceType: "patient",
        resourceId: "pat-00003",
      });
      expect(r.got[0].event.data).to.deep.equal(updated);
      expect(sim.deliveries[0]).to.deep.include({ delivered: true, attempts: 1, status: 204 });
    });
  }

  it("retries a webhook on non-2xx with backoff, same id, fresh signature; gives up after maxAttempts", async () => {
    const secret = "whsec_" + Buffer.from("r".repeat(32)).toString("base64");
    const r = await receiver("standard-webhooks", secret, (n) => (n <= 2 ? 503 : 200));
    hook = r.server;
    sim.configureWebhook({ url: r.url, scheme: "standard-webhooks", secret, backoffMs: 5, maxAttempts: 4 });
    const result = await sim.emit("patient.updated", sim.data.patients[5]);
    expect(result).to.deep.include({ delivered: true, attempts: 3, status: 200 });
    expect(r.got.map((g) => g.id)).to.deep.equal([result?.id, result?.id, result?.id]);
    expect(r.got.every((g) => g.verified)).to.equal(true);

    const failing = await receiver("pms-hmac", "p", () => 500);
    await closeServer(hook);
    hook = failing.server;
    sim.configureWebhook({ url: failing.url, scheme: "pms-hmac", secret: "p", backoffMs: 1, maxAttempts: 3 });
    const gaveUp = await sim.emit("patient.updated", sim.data.patients[6]);
    expect(gaveUp).to.deep.include({ delivered: false, attempts: 3, status: 500 });
    expect(failing.got).to.have.length(3);
    expect(sim.stats().webhooks).to.deep.include({
      emitted: 2,
      delivered: 1,
      failed: 1,
      attempts: 6,
      pending: 0,
    });
  });

  it("creates patients and completes appointments through the helpers, bumping updatedAt", async () => {
    const r = await receiver("stripe", "whsec_x");
    hook = r.server;
    sim.configureWebhook({ url: r.url, scheme: "stripe", secret: "whsec_x" });
    const p = await sim.createPatient({ firstName: "Zoë", lastName: "O'Neil", dateOfBirth: "1980-02-29" });
    expect(p.id).to.equal("pat-00201");
    const open = sim.data.appointments.find((a) => a.status === "scheduled") as PmsAppointment;
    const done = await sim.completeAppointment(open.id);
    expect(done.status).to.equal("completed");
    expect(r.got.map((g) => g.event.eventType)).to.deep.equal(["patient.created", "appointment.completed"]);
    const since = await client.paginate(
      { method: "GET", path: "/patients", query: { modifiedSince: p.updatedAt } },
      { pageSize: 10 },
    );
    expect((since.items as PmsPatient[]).map((x) => x.id)).to.include("pat-00201");
  });

  it("is deterministic for a seed", async () => {
    const other = await startPmsSimulator({
      apiKey: KEY,
      apiSecret: SECRET,
      seed: 7,
      patients: 200,
      appointments: 500,
    });
    try {
      expect(other.data).to.deep.equal(sim.data);
    } finally {
      await other.close();
    }
  });

  it("runs from the environment (main.js), with a periodic signed change stream", async () => {
    const secret = "main-webhook-secret";
    const r = await receiver("pms-hmac", secret);
    hook = r.server;
    const child = spawn(process.execPath, [join(__dirname, "..", "..", "sandbox", "pms", "main.js")], {
      env: {
        ...process.env,
        PORT: "0",
        PMS_API_KEY: KEY,
        PMS_API_SECRET: SECRET,
        PMS_PATIENTS: "20",
        PMS_APPOINTMENTS: "40",
        WEBHOOK_URL: r.url,
        WEBHOOK_SCHEME: "pms-hmac",
        WEBHOOK_SECRET: secret,
        EMIT_EVERY_MS: "20",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`main.js exited with ${code}`)));
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const m = /PMS simulator on (\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
      });
      expect(out).to.contain("20 patients, 40 appointments");
      const other = new LegacyClient({
        baseUrl: url,
        credentials: { apiKey: KEY, apiSecret: SECRET },
        retries: 0,
      });
      try {
        expect(
          (await other.request({ method: "GET", path: "/patients", query: { pageSize: 5 } })).body,
        ).to.deep.include({
          total: 20,
        });
      } finally {
        await other.close();
      }
      while (r.got.length < 3) await new Promise((x) => setTimeout(x, 10));
      expect(r.got.slice(0, 3).every((g) => g.verified)).to.equal(true);
      for (const g of r.got.slice(0, 3)) expect(g.event.eventType).to.be.oneOf([...WEBHOOK_EVENTS_LIST]);
    } finally {
      child.removeAllListeners("exit");
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });

  it("refuses to start without a key and secret", async () => {
    const child = spawn(process.execPath, [join(__dirname, "..", "..", "sandbox", "pms", "main.js")], {
      env: { ...process.env, PORT: "0", PMS_API_KEY: "", PMS_API_SECRET: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const [code] = (await once(child, "exit")) as [number];
    expect(code).to.equal(1);
    expect(err).to.contain("PMS_API_KEY and PMS_API_SECRET are required");
  });
});
