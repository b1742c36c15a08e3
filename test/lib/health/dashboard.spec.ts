import { expect } from "chai";
import { runInNewContext } from "node:vm";
import { renderDashboard } from "../../../lib/health";
import type {
  CheckpointSnapshot,
  HealthSnapshot,
  IntegrationSnapshot,
  QueueSnapshot,
  RefusalCount,
} from "../../../lib/health";

/**
 * Just enough of a DOM for the dashboard's script: elements with classes, attributes, text,
 * children, fragments and `hidden`. No innerHTML: names must reach the page as text.
 */
class FakeElement {
  className = "";
  hidden = false;
  children: FakeElement[] = [];
  private readonly attrs = new Map<string, string>();
  private text = "";
  constructor(
    readonly tagName: string,
    readonly fragment = false,
  ) {}
  get textContent(): string {
    return this.text + this.children.map((c) => c.textContent).join("");
  }
  set textContent(v: string) {
    this.text = String(v);
    this.children = [];
  }
  setAttribute(k: string, v: string): void {
    this.attrs.set(k, String(v));
  }
  getAttribute(k: string): string | null {
    return this.attrs.get(k) ?? null;
  }
  appendChild(c: FakeElement): FakeElement {
    if (c.fragment) this.children.push(...c.children.splice(0));
    else this.children.push(c);
    return c;
  }
  replaceChildren(...nodes: FakeElement[]): void {
    this.children = [];
    for (const n of nodes) this.appendChild(n);
  }
  /** Descendants whose tag is `tag`, in document order. */
  all(tag: string): FakeElement[] {
    const out: FakeElement[] = [];
    for (const c of this.children) {
      if (c.tagName === tag) out.push(c);
      out.push(...c.all(tag));
    }
    return out;
  }
}

function textNode(text: string): FakeElement {
  const t = new FakeElement("#text");
  t.textContent = text;
  return t;
}

/** Runs the page's own script against the fake DOM with `snap` as the monitor's answer. */
async function renderPage(snap: HealthSnapshot): Promise<Map<string, FakeElement>> {
  const html = renderDashboard({
    src: "../health?format=json",
    authKey: "k",
    refreshSeconds: 5,
    nonce: "n",
    title: "t",
  });
  const script = /<script nonce="n"[^>]*>([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (!script) throw new Error("no script in the page");
  const ids = new Map<string, FakeElement>();
  const all = [
    "cards",
    "queues",
    "queue-rows",
    "queue-alerts",
    "refusals",
    "refusal-rows",
    "checkpoints",
    "checkpoint-rows",
  ];
  for (const id of [...all, "overall", "updated", "message"]) {
    const e = new FakeElement(id.endsWith("-rows") ? "tbody" : "div");
    e.hidden = ["queues", "queue-alerts", "refusals", "checkpoints", "message"].includes(id);
    ids.set(id, e);
  }
  // The page's own markup holds these elements, hidden where the script expects them hidden.
  for (const id of all.slice(1)) expect(html).to.include(`id="${id}"`);
  const current = new FakeElement("script");
  current.setAttribute("data-src", "../health?format=json");
  current.setAttribute("data-auth-key", "k");
  current.setAttribute("data-refresh", "5");
  const document = {
    currentScript: current,
    body: new FakeElement("body"),
    getElementById: (id: string) => ids.get(id) ?? null,
    createElement: (tag: string) => new FakeElement(tag),
    createElementNS: (_ns: string, tag: string) => new FakeElement(tag),
    createDocumentFragment: () => new FakeElement("#fragment", true),
    createTextNode: textNode,
  };
  const fetched: string[] = [];
  runInNewContext(script, {
    document,
    location: { hash: "", pathname: "/pms-ehr/health/dashboard", search: "" },
    history: { replaceState: () => undefined },
    sessionStorage: { getItem: () => null, setItem: () => undefined },
    localStorage: { getItem: () => null },
    fetch: (url: string) => {
      fetched.push(url);
      return Promise.resolve({ status: 200, ok: true, json: () => Promise.resolve(snap) });
    },
    setTimeout: () => 0,
  });
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  expect(fetched).to.deep.equal(["../health?format=json"]);
  expect(ids.get("message")?.hidden, ids.get("message")?.textContent).to.equal(true);
  return ids;
}

const T = "2025-03-01T12:00:00.000Z";

function queue(q: Partial<QueueSnapshot> & { store: string; queue: string }): QueueSnapshot {
  return {
    depth: 0,
    inFlight: 0,
    oldestAgeMs: 0,
    deadLetters: 0,
    deliveredTotal: 0,
    deadTotal: 0,
    reportedAt: T,
    stale: false,
    alert: false,
    reasons: [],
    ...q,
  };
}

function snapshot(
  queues: QueueSnapshot[],
  refusals: RefusalCount[] = [],
  checkpoints: CheckpointSnapshot[] = [],
): HealthSnapshot {
  return {
    time: T,
    windowSeconds: 300,
    state: "unknown",
    counts: { unknown: 0, healthy: 0, warning: 0, critical: 0 },
    integrations: {},
    queues,
    refusals,
    checkpoints,
  };
}

describe("health: the dashboard's queues table", () => {
  it("shows a row per queue, alerted first and stale last, with its figures as text", async () => {
    const page = await renderPage(
      snapshot([
        queue({
          store: "<b>old</b>",
          queue: "inbound",
          depth: 4,
          oldestAgeMs: 61000,
          deliveredTotal: 9,
          stale: true,
        }),
        queue({ store: "main", queue: "idle", deliveredTotal: 30 }),
        queue({ store: "main", queue: "a-first", depth: 1, oldestAgeMs: 4200, deliveredTotal: 12 }),
        queue({
          store: "main",
          queue: "outbound",
          depth: 3,
          inFlight: 1,
          oldestAgeMs: 754000,
          deadLetters: 2,
          deliveredTotal: 120,
          alert: true,
          reasons: ["oldest message 754 s > 600 s"],
        }),
      ]),
    );
    const rows = page.get("queue-rows")?.all("tr") ?? [];
    const at = new Date(T).toLocaleTimeString([], { hour12: false });
    expect(rows.map((r) => r.all("td").map((c) => c.textContent))).to.deep.equal([
      ["main", "outbound", "3", "1", "13 min", "2", "120", at, "alertoldest message 754 s > 600 s"],
      ["main", "a-first", "1", "0", "4.2 s", "0", "12", at, ""],
      ["main", "idle", "0", "0", "–", "0", "30", at, ""],
      ["<b>old</b>", "inbound", "4", "0", "1.0 min", "0", "9", at, "stale"],
    ]);
    expect(rows.map((r) => r.className)).to.deep.equal(["alert", "", "", "stale"]);
    expect(rows[0].getAttribute("data-store")).to.equal("main");
    expect(rows[0].getAttribute("data-queue")).to.equal("outbound");
    expect(rows[3].all("b")).to.deep.equal([]);
    expect(page.get("queues")?.hidden).to.equal(false);
    expect(page.get("queue-alerts")).to.include({ hidden: false, textContent: "1 queue alert" });
    expect(page.get("cards")?.textContent).to.equal("No integration has reported yet.");
  });

  it("hides the table and the alert badge while no queue has reported", async () => {
    const page = await renderPage(snapshot([]));
    expect(page.get("queue-rows")?.children).to.deep.equal([]);
    expect(page.get("queues")?.hidden).to.equal(true);
    expect(page.get("queue-alerts")?.hidden).to.equal(true);
  });
});

describe("health: the dashboard's refusals table", () => {
  it("shows a row per (integration, source, reason) with its count, names as text", async () => {
    const page = await renderPage(
      snapshot(
        [],
        [
          { integration: "<i>adt</i>", source: "mllp-in", reason: "budget", count: 12, lastAt: T },
          { integration: "siu", source: "mllp-in", reason: "frame_timeout", count: 1, lastAt: T },
        ],
      ),
    );
    const rows = page.get("refusal-rows")?.all("tr") ?? [];
    const at = new Date(T).toLocaleTimeString([], { hour12: false });
    expect(rows.map((r) => r.all("td").map((c) => c.textContent))).to.deep.equal([
      ["<i>adt</i>", "mllp-in", "budget", "12", at],
      ["siu", "mllp-in", "frame_timeout", "1", at],
    ]);
    expect(rows[0].all("i")).to.deep.equal([]);
    expect(page.get("refusals")?.hidden).to.equal(false);
  });

  it("hides the table while nothing was refused", async () => {
    const page = await renderPage(snapshot([]));
    expect(page.get("refusal-rows")?.children).to.deep.equal([]);
    expect(page.get("refusals")?.hidden).to.equal(true);
  });
});

describe("health: the dashboard's checkpoints and history", () => {
  it("shows a row per checkpoint: watermark, how far behind, last commit; hidden while none reported", async () => {
    let page = await renderPage(snapshot([]));
    expect(page.get("checkpoints")?.hidden).to.equal(true);
    page = await renderPage(
      snapshot(
        [],
        [],
        [
          {
            checkpoint: "<b>appointments</b>",
            highWater: "2025-03-01T11:59:30.000Z",
            lagSeconds: 30,
            lastCommitAt: T,
            reportedAt: T,
          },
          {
            checkpoint: "patients",
            highWater: "2025-03-01T09:00:00.000Z",
            lagSeconds: 10800,
            lastCommitAt: null,
            reportedAt: T,
          },
        ],
      ),
    );
    const at = new Date(T).toLocaleTimeString([], { hour12: false });
    const rows = page.get("checkpoint-rows")?.all("tr") ?? [];
    expect(rows.map((r) => r.all("td").map((c) => c.textContent))).to.deep.equal([
      ["<b>appointments</b>", "2025-03-01T11:59:30.000Z", "30 s", at, at],
      ["patients", "2025-03-01T09:00:00.000Z", "3.0 h", "–", at],
    ]);
    expect(rows[0].all("b")).to.deep.equal([]);
    expect(page.get("checkpoints")?.hidden).to.equal(false);
  });

  it("draws each integration's last 24 h: one bar per period with calls, coloured by success", async () => {
    const history = Array.from({ length: 96 }, (_, i) => ({
      start: Date.parse(T) - (95 - i) * 900000,
      total: i % 2 === 0 ? 10 : 0,
      failures: i === 94 ? 5 : 0,
      meanMs: i % 2 === 0 ? 20 : null,
      p95Ms: i % 2 === 0 ? 25 : null,
    }));
    const integration = {
      integration: "fhir",
      state: "healthy",
      stateSince: T,
      alert: false,
      reasons: [],
      total: 0,
      successes: 0,
      failures: 0,
      successRate: null,
      latencyMs: null,
      throughput: 0,
      consecutiveFailures: 0,
      lastError: null,
      lastEventAt: null,
      lifetime: { total: 480, failures: 5, latencySumMs: 9600, latencyBuckets: [] },
      series: [],
      history,
    } as IntegrationSnapshot;
    const page = await renderPage({ ...snapshot([]), integrations: { fhir: integration } });
    const card = page.get("cards")!.all("section")[0];
    const chart = card
      .all("svg")
      .find((svg) => svg.className === "history" || svg.getAttribute("class") === "history");
    expect(chart, "a history chart").to.not.equal(undefined);
    const bars = chart!.all("rect");
    expect(bars).to.have.length(48);
    expect(bars.filter((b) => b.getAttribute("fill") === "#c0392b")).to.have.length(1);
    expect(card.textContent).to.include("last 24 h (15 min)").and.include("480 calls, 5 failed");
  });
});
