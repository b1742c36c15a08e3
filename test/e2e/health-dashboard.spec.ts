import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import type { HealthSnapshot } from "../../lib/health/monitor";
import { launchChromium, watchPage } from "../support/browser";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";
import { parsePrometheus, sampleOf } from "../lib/health/prom-parse";

const TAB = "health-e2e";

function monitor(id: string, path: string): FlowNode {
  return {
    id,
    type: "health-monitor",
    z: TAB,
    name: "",
    integrations: "",
    window: "60",
    interval: "0",
    path,
    hold: "0",
    x: 300,
    y: 100,
    wires: [[], []],
  };
}

/** POST /feed with a msg.health body records it in the monitor `hm`. */
function flow(monitors: FlowNode[]): FlowNode[] {
  return [
    { id: TAB, type: "tab", label: "health" },
    { id: "feed", type: "http in", z: TAB, url: "/feed", method: "post", x: 100, y: 100, wires: [["args"]] },
    {
      id: "args",
      type: "change",
      z: TAB,
      rules: [{ t: "set", p: "health", pt: "msg", to: "payload", tot: "msg" }],
      x: 200,
      y: 100,
      wires: [[...monitors.map((m) => m.id), "res"]],
    },
    { id: "res", type: "http response", z: TAB, statusCode: "", x: 300, y: 200, wires: [] },
    ...monitors,
  ];
}

async function feed(
  rt: Runtime,
  integration: string,
  success: boolean,
  durationMs: number,
  n = 1,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${rt.url}/feed`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        integration,
        success,
        durationMs: durationMs + i,
        error: success ? undefined : "FHIR_HTTP_503",
      }),
    });
    expect(res.status).to.equal(200);
  }
}

async function getSnapshot(
  rt: Runtime,
  path: string,
  headers: Record<string, string> = {},
): Promise<HealthSnapshot> {
  const res = await fetch(`${rt.url}${path}`, { headers });
  expect(res.status, path).to.equal(200);
  return (await res.json()) as HealthSnapshot;
}

/** Polls until `check` holds (the monitor judges once a second). */
async function until<T>(get: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (check(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("health-monitor in a real Node-RED: HTTP and the dashboard", function () {
  this.timeout(120000);
  let rt: Runtime;
  let browser: Browser | undefined;

  before(async () => {
    rt = await startRuntime({ flows: flow([monitor("hm", "/pms-ehr/health")]) });
    await feed(rt, "fhir", true, 100, 20);
    await feed(rt, "pms-api", false, 40, 6);
    await feed(rt, 'odd "name"\\x', true, 5);
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
  });

  it("serves the snapshot as JSON and as Prometheus text that parses; another format is a 400", async () => {
    const snap = await until(
      () => getSnapshot(rt, "/pms-ehr/health"),
      (s) => s.integrations["pms-api"]?.state === "critical",
    );
    expect(snap.integrations.fhir).to.include({ total: 20, successes: 20, state: "healthy" });
    expect(snap.integrations["pms-api"]).to.include({ failures: 6, consecutiveFailures: 6, alert: true });
    expect(snap.state).to.equal("critical");

    const res = await fetch(`${rt.url}/pms-ehr/health?format=prometheus`);
    const type = (res.headers.get("content-type") ?? "").split(";").map((p) => p.trim());
    expect(type[0]).to.equal("text/plain");
    expect(type.slice(1)).to.have.members(["version=0.0.4", "charset=utf-8"]);
    const families = parsePrometheus(await res.text());
    expect(
      sampleOf(families, "pmsehr_integration_window_events", { integration: "fhir", outcome: "success" }),
    ).to.equal(20);
    expect(sampleOf(families, "pmsehr_integration_alert", { integration: "pms-api" })).to.equal(1);
    expect(
      sampleOf(families, "pmsehr_integration_calls_total", {
        integration: 'odd "name"\\x',
        outcome: "success",
      }),
    ).to.equal(1);

    const bad = await fetch(`${rt.url}/pms-ehr/health?format=xml`);
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { code: string }).code).to.equal("HEALTH_BAD_INPUT");
  });

  it("the dashboard loads in headless Chromium with no console error, draws charts and refreshes itself", async function () {
    browser = await launchChromium(this);
    const page = await browser.newPage();
    const problems = watchPage(page);
    await page.goto(`${rt.url}/pms-ehr/health/dashboard?refresh=1`);
    await page.waitForSelector('section.card[data-integration="fhir"]');
    const fhir = page.locator('section.card[data-integration="fhir"]');
    expect(await fhir.locator(".badge.state").textContent()).to.equal("healthy");
    expect(await fhir.locator("svg.success rect").count()).to.be.above(0);
    expect(await fhir.locator("svg.latency polyline.mean").getAttribute("points")).to.match(/^\d/);
    expect(await fhir.locator("svg.latency polyline.p95").count()).to.equal(1);
    const pms = page.locator('section.card[data-integration="pms-api"]');
    expect(await pms.locator(".badge.state").textContent()).to.equal("critical");
    expect(await pms.locator(".badge.alert").count()).to.equal(1);
    expect(await pms.locator(".error").textContent()).to.match(/^last error FHIR_HTTP_503 at /);
    expect(await page.locator("section.card .name").allTextContents()).to.include('odd "name"\\x');
    expect(await page.locator("section.card").first().getAttribute("data-integration")).to.equal("pms-api");

    await feed(rt, "fhir", true, 100, 3);
    await page.waitForFunction(
      () => document.querySelector('section.card[data-integration="fhir"] .stats b')?.textContent === "23",
    );
    expect(await page.locator("#overall").textContent()).to.equal("critical");
    expect(problems.errors).to.deep.equal([]);

    const html = await page.goto(`${rt.url}/pms-ehr/health?format=html`);
    expect(html?.status()).to.equal(200);
    await page.waitForSelector('section.card[data-integration="fhir"]');
    expect(problems.errors).to.deep.equal([]);
    await page.close();
  });

  it("two monitors on different paths both answer; a redeploy without them removes their routes", async () => {
    const from = rt.logs.length;
    await rt.deploy(flow([monitor("a", "/ops/health-a"), monitor("b", "/ops/health-b")]));
    await feed(rt, "x", true, 1);
    expect(Object.keys((await getSnapshot(rt, "/ops/health-a")).integrations)).to.deep.equal(["x"]);
    expect(Object.keys((await getSnapshot(rt, "/ops/health-b")).integrations)).to.deep.equal(["x"]);
    expect((await fetch(`${rt.url}/pms-ehr/health`)).status).to.equal(404);
    await rt.deploy(flow([]));
    for (const p of ["/ops/health-a", "/ops/health-b", "/ops/health-a/dashboard"]) {
      expect((await fetch(`${rt.url}${p}`)).status, p).to.equal(404);
    }
    expect(rt.logs.slice(from).filter((l) => /\[(error|warn)\]/.test(l))).to.deep.equal([]);
  });
});

describe("health-monitor in a real Node-RED with adminAuth", function () {
  this.timeout(120000);
  // bcrypt of "pms-ehr-dashboard-test": a throwaway test user.
  const HASH = "$2b$08$LFEC9zqwPEuWGBy.D/XpquYgs4zYilIV3XdDuzsRnu/Itbx5dtsIe";
  let rt: Runtime;
  let dir: string;
  let token: string;
  let browser: Browser | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nr-health-auth-"));
    writeFileSync(join(dir, "flows.json"), JSON.stringify(flow([monitor("hm", "/pms-ehr/health")])));
    rt = await startRuntime({
      userDir: dir,
      settings: {
        adminAuth: { type: "credentials", users: [{ username: "ops", password: HASH, permissions: "read" }] },
      },
    });
    const res = await fetch(`${rt.url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_id: "node-red-admin",
        grant_type: "password",
        scope: "read",
        username: "ops",
        password: "pms-ehr-dashboard-test",
      }),
    });
    expect(res.status).to.equal(200);
    token = ((await res.json()) as { access_token: string }).access_token;
    await feed(rt, "fhir", true, 80, 5);
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("needs the editor's token for the data: 401 without, JSON and Prometheus with a read-only user's token", async () => {
    for (const p of ["/pms-ehr/health", "/pms-ehr/health?format=prometheus", "/pms-ehr/health?format=html"]) {
      expect((await fetch(`${rt.url}${p}`)).status, p).to.equal(401);
    }
    const auth = { authorization: `Bearer ${token}` };
    const snap = await getSnapshot(rt, "/pms-ehr/health", auth);
    expect(snap.integrations.fhir.total).to.equal(5);
    const prom = await fetch(`${rt.url}/pms-ehr/health?format=prometheus`, { headers: auth });
    parsePrometheus(await prom.text());
    const shell = await fetch(`${rt.url}/pms-ehr/health/dashboard`);
    expect(shell.status).to.equal(200);
    expect(await shell.text()).to.not.include("fhir");
  });

  it("the dashboard loads the data with the token the editor keeps in localStorage, without console errors", async function () {
    browser = await launchChromium(this);
    const context = await browser.newContext();
    await context.addInitScript((t: string) => {
      localStorage.setItem(
        "auth-tokens",
        JSON.stringify({ access_token: t, expires_in: 604800, token_type: "Bearer" }),
      );
    }, token);
    const page = await context.newPage();
    const problems = watchPage(page);
    // Fresh calls: those fed in before() may have left the 60 s window on a slow machine.
    await feed(rt, "fhir", true, 80, 5);
    await page.goto(`${rt.url}/pms-ehr/health/dashboard`);
    await page.waitForSelector('section.card[data-integration="fhir"]');
    // The monitor judges states on a one-second tick, and the page refreshes itself: until the
    // first judgement of these calls the card may read "unknown".
    await page.waitForFunction(
      () =>
        document.querySelector('section.card[data-integration="fhir"] .badge.state')?.textContent ===
        "healthy",
      undefined,
      { timeout: 20000 },
    );
    expect(problems.errors).to.deep.equal([]);
    await context.close();
  });

  it("without a token the page says to sign in (the data request is refused)", async function () {
    browser ??= await launchChromium(this);
    const page = await browser.newPage();
    const problems = watchPage(page);
    await page.goto(`${rt.url}/pms-ehr/health/dashboard`);
    await page.waitForSelector("#message:not([hidden])");
    expect(await page.locator("#message").textContent()).to.match(/^Not signed in/);
    expect(await page.locator("section.card").count()).to.equal(0);
    expect(problems.errors.length).to.be.above(0);
    expect(problems.errors.every((e) => /401/.test(e))).to.equal(true, problems.errors.join("\n"));
    await page.close();
  });
});
