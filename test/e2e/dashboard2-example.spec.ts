import { expect } from "chai";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { PACK_DIR } from "../../sandbox/node-red";
import { launchChromium, updateDocsPicture, watchPage, type PageProblems } from "../support/browser";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * examples/Show integration health on FlowFuse Dashboard 2.json in a real Node-RED with
 * @flowfuse/node-red-dashboard installed (a dev dependency, loaded through nodesDir), and its page
 * in headless Chromium: what the example promises an operator, seen where the operator sees it.
 * The editor suite's import check leaves this example out: its runtime has no Dashboard 2.
 */

const EXAMPLE = "Show integration health on FlowFuse Dashboard 2";
const SHOTS = join(PACK_DIR, "test-output", "screenshots");
const flow = JSON.parse(readFileSync(join(PACK_DIR, "examples", `${EXAMPLE}.json`), "utf8")) as FlowNode[];
const idOf = (name: string): string => {
  const node = flow.find((n) => n.name === name);
  if (!node) throw new Error(`the example has no node named ${name}`);
  return node.id as string;
};

/** Beside the example: a checkpoint committed once, and a queue holding one message nobody finishes. */
const Z = "d2-extra";
const EXTRA: FlowNode[] = [
  { id: Z, type: "tab", label: "sources" },
  { id: "x-run", type: "inject", z: Z, name: "run", props: [], wires: [["x-get"]] },
  {
    id: "x-get",
    type: "sync-checkpoint",
    z: Z,
    checkpoint: "pms-patients",
    action: "get",
    store: "",
    initial: "2025-01-01T00:00:00Z",
    wires: [["x-mark"]],
  },
  {
    id: "x-mark",
    type: "change",
    z: Z,
    rules: [{ t: "set", p: "checkpoint.highWater", pt: "msg", to: "2025-01-06T09:00:00Z", tot: "str" }],
    wires: [["x-commit"]],
  },
  {
    id: "x-commit",
    type: "sync-checkpoint",
    z: Z,
    checkpoint: "pms-patients",
    action: "commit",
    store: "",
    wires: [[]],
  },
  { id: "x-store", type: "message-store", name: "d2 store", backend: "sqlite", file: "d2-messages.db" },
  {
    id: "x-send",
    type: "inject",
    z: Z,
    name: "send",
    props: [{ p: "payload", v: "{}", vt: "json" }],
    wires: [["x-queue"]],
  },
  {
    id: "x-queue",
    type: "durable-queue",
    z: Z,
    store: "x-store",
    queue: "pms-events",
    key: "",
    keyType: "str",
    dedupe: "",
    concurrency: "1",
    maxAttempts: "3",
    maxAge: "24",
    backoffBase: "1",
    backoffCap: "300",
    visibility: "300",
    wires: [[], []],
  },
];

describe(`examples/${EXAMPLE}.json with FlowFuse Dashboard 2, in Chromium`, function () {
  this.timeout(120_000);
  let rt: Runtime | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let problems: PageProblems;

  before(async function () {
    browser = await launchChromium(this);
    const dashboard = dirname(require.resolve("@flowfuse/node-red-dashboard/package.json"));
    rt = await startRuntime({ settings: { nodesDir: [PACK_DIR, dashboard] } });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    problems = watchPage(page);
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
  });

  async function press(name: string): Promise<void> {
    const id = name.startsWith("x-") ? name : idOf(name);
    const res = await fetch(`${rt!.url}/inject/${id}`, { method: "POST" });
    expect(res.status, name).to.equal(200);
  }

  it("deploys: every node type it uses is installed and every node starts, with nothing logged as an error", async () => {
    const sets = await rt!.getJson<Array<{ types: string[]; enabled: boolean }>>("/nodes");
    const installed = new Set(sets.filter((s) => s.enabled).flatMap((s) => s.types));
    const used = [...new Set(flow.map((n) => n.type as string))].filter((t) => t !== "tab");
    expect(
      used.filter((t) => !installed.has(t)),
      "types not installed",
    ).to.deep.equal([]);
    const from = rt!.logs.length;
    await rt!.deploy([...flow, ...EXTRA]);
    const logged = rt!.logs.slice(from);
    expect(logged.filter((l) => /\[(error|warn)\]/.test(l))).to.deep.equal([]);
  });

  it("shows each integration's state, figures and last error code, and pops up an alert when one turns critical", async () => {
    await page.goto(`${rt!.url}/dashboard/pms-ehr-health`);
    await page.getByText("Integrations", { exact: true }).first().waitFor();
    await press("demo: call ok");
    for (let n = 0; n < 5; n++) await press("demo: call failed");
    await press("snapshot now");

    const row = page.locator("tr", { hasText: "demo-pms" });
    await row.waitFor({ timeout: 20_000 });
    const cells = (await row.locator("td").allTextContents()).map((t) => t.trim());
    expect(cells[0]).to.equal("demo-pms");
    expect(cells).to.include("LEGACY_HTTP_503");
    expect(cells).to.include("16.7"); // 1 success in 6 calls
    expect(cells).to.include("5"); // failures in a row
    const headers = (await page.locator("th").allTextContents()).map((t) => t.trim());
    expect(headers).to.include.members(["integration", "state", "success %", "p95 ms", "last error"]);

    // Five failures in a row raise the alert (the monitor's alertConsecutive): a notification.
    const alert = page.getByText(/^ALERT demo-pms \(critical\): /);
    await alert.waitFor({ timeout: 20_000 });
    expect(await alert.textContent()).to.contain("5 failures in a row");
    // The worst state of all integrations, beside its label.
    await page
      .locator(".nrdb-ui-text", { hasText: "Overall" })
      .locator(".nrdb-ui-text-value", { hasText: /^critical$/ })
      .waitFor();
  });

  it("shows each queue's figures and each checkpoint's watermark and lag", async () => {
    await press("x-run");
    await press("x-send");
    // A queue reports its figures to the monitors when they change, a moment after the enqueue.
    const queue = page.locator("tr", { hasText: "d2 store / pms-events" });
    let q: string[] = [];
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      await press("snapshot now");
      if (await queue.count()) {
        q = (await queue.locator("td").allTextContents()).map((t) => t.trim());
        if (q[1] === "1") break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // queue, queued, in flight, oldest s, dead letters, delivered, alert
    expect([q[0], q[1], q[2], q[4], q[5]]).to.deep.equal(["d2 store / pms-events", "1", "1", "0", "0"]);
    const checkpoint = page.locator("tr", { hasText: "pms-patients" });
    await checkpoint.waitFor({ timeout: 20_000 });
    const c = (await checkpoint.locator("td").allTextContents()).map((t) => t.trim());
    expect(c[0]).to.equal("pms-patients");
    expect(c[1]).to.equal("2025-01-06T09:00:00.000Z");
    expect(Number(c[2]), "minutes behind now").to.be.above(0);
    expect(c[3], "last commit").to.match(/^\d{4}-\d\d-\d\dT/);
    mkdirSync(SHOTS, { recursive: true });
    const shot = join(SHOTS, "example-dashboard2.png");
    await page.screenshot({ path: shot, fullPage: true });
    updateDocsPicture(
      shot,
      join(PACK_DIR, "docs", "images", "dashboard2.png"),
      join(PACK_DIR, "examples", `${EXAMPLE}.json`),
    );
    expect(problems.errors).to.deep.equal([]);
  });
});
