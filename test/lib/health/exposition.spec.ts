import { expect } from "chai";
import {
  HealthMonitor,
  answerHealthRequest,
  parseHealthConfig,
  toPrometheus,
  validateHealthPath,
  type HealthSnapshot,
} from "../../../lib/health";
import { parsePrometheus, sampleOf } from "./prom-parse";
import { codeOf } from "../../support/errors";

const T0 = Date.parse("2025-03-01T12:00:00Z");

function monitorWithData() {
  const clock = { now: T0 };
  const m = new HealthMonitor(parseHealthConfig({ window: 60, hold: 0 }), { now: () => clock.now });
  for (let i = 1; i <= 20; i++) m.record({ integration: "fhir", success: true, durationMs: i * 10 });
  m.record({ integration: "fhir", success: false, durationMs: 1500, error: "FHIR_HTTP_503" });
  m.record({ integration: 'pms "main"\\east\nwing', success: true, durationMs: 0.25 });
  m.record({ integration: "idle", success: true, durationMs: 1, time: T0 - 3600000 });
  m.evaluate();
  return { m, clock };
}

describe("health: Prometheus exposition", () => {
  it("parses under a strict 0.0.4 parser, with HELP and TYPE for every family", () => {
    const { m } = monitorWithData();
    const text = toPrometheus(m.snapshot());
    const families = parsePrometheus(text);
    for (const f of families.values()) {
      expect(f.help, f.name).to.be.a("string").and.not.equal("");
      expect(["gauge", "counter", "summary", "histogram"], f.name).to.include(f.type);
      expect(f.name).to.match(/^pmsehr_/);
    }
    expect(families.get("pmsehr_integration_calls_total")?.type).to.equal("counter");
    expect(families.get("pmsehr_integration_latency_seconds")?.type).to.equal("summary");
    expect(families.get("pmsehr_integration_call_duration_seconds")?.type).to.equal("histogram");
    expect(sampleOf(families, "pmsehr_health_window_seconds", {})).to.equal(60);
  });

  it("carries the figures of the snapshot, in seconds where Prometheus expects them", () => {
    const { m } = monitorWithData();
    const f = parsePrometheus(toPrometheus(m.snapshot()));
    const fhir = { integration: "fhir" };
    expect(sampleOf(f, "pmsehr_integration_window_events", { ...fhir, outcome: "success" })).to.equal(20);
    expect(sampleOf(f, "pmsehr_integration_window_events", { ...fhir, outcome: "failure" })).to.equal(1);
    expect(sampleOf(f, "pmsehr_integration_success_ratio", fhir)).to.be.closeTo(20 / 21, 1e-12);
    expect(sampleOf(f, "pmsehr_integration_latency_seconds", { ...fhir, quantile: "0.5" })).to.equal(0.11);
    expect(sampleOf(f, "pmsehr_integration_latency_seconds", { ...fhir, quantile: "0.99" })).to.equal(1.5);
    expect(sampleOf(f, "pmsehr_integration_latency_seconds_count", fhir)).to.equal(21);
    expect(sampleOf(f, "pmsehr_integration_latency_seconds_sum", fhir)).to.be.closeTo(3.6, 1e-9);
    expect(sampleOf(f, "pmsehr_integration_calls_total", { ...fhir, outcome: "failure" })).to.equal(1);
    expect(sampleOf(f, "pmsehr_integration_consecutive_failures", fhir)).to.equal(1);
    expect(sampleOf(f, "pmsehr_integration_last_error_timestamp_seconds", fhir)).to.equal(T0 / 1000);
    expect(sampleOf(f, "pmsehr_integration_state", { ...fhir, state: "warning" })).to.equal(1);
    expect(sampleOf(f, "pmsehr_integration_state", { ...fhir, state: "healthy" })).to.equal(0);
    expect(sampleOf(f, "pmsehr_integration_alert", fhir)).to.equal(0);
  });

  it("exports call durations as a cumulative histogram: each bound counts the calls at or under it", () => {
    const { m } = monitorWithData();
    const f = parsePrometheus(toPrometheus(m.snapshot()));
    const bucket = (integration: string, le: string) =>
      sampleOf(f, "pmsehr_integration_call_duration_seconds_bucket", { integration, le });
    // fhir: 10, 20, ..., 200 ms and one 1.5 s failure.
    expect(bucket("fhir", "0.005")).to.equal(0);
    expect(bucket("fhir", "0.01")).to.equal(1);
    expect(bucket("fhir", "0.025")).to.equal(2);
    expect(bucket("fhir", "0.05")).to.equal(5);
    expect(bucket("fhir", "0.1")).to.equal(10);
    expect(bucket("fhir", "0.25")).to.equal(20);
    expect(bucket("fhir", "1")).to.equal(20);
    expect(bucket("fhir", "2.5")).to.equal(21);
    expect(bucket("fhir", "60")).to.equal(21);
    expect(bucket("fhir", "+Inf")).to.equal(21);
    expect(sampleOf(f, "pmsehr_integration_call_duration_seconds_count", { integration: "fhir" })).to.equal(
      21,
    );
    expect(
      sampleOf(f, "pmsehr_integration_call_duration_seconds_sum", { integration: "fhir" }),
    ).to.be.closeTo(3.6, 1e-9);
    // An event older than the window still counts: the histogram is since the monitor started.
    expect(bucket("idle", "0.005")).to.equal(1);
    const clock = { now: T0 };
    const slow = new HealthMonitor(parseHealthConfig({ window: 60 }), { now: () => clock.now });
    slow.record({ integration: "batch", success: true, durationMs: 61000 });
    slow.record({ integration: "batch", success: true, durationMs: 60000 });
    const g = parsePrometheus(toPrometheus(slow.snapshot()));
    expect(
      sampleOf(g, "pmsehr_integration_call_duration_seconds_bucket", { integration: "batch", le: "60" }),
    ).to.equal(1);
    expect(
      sampleOf(g, "pmsehr_integration_call_duration_seconds_bucket", { integration: "batch", le: "+Inf" }),
    ).to.equal(2);
  });

  it("escapes label values and leaves out figures an empty window does not have", () => {
    const { m } = monitorWithData();
    const f = parsePrometheus(toPrometheus(m.snapshot()));
    const odd = { integration: 'pms "main"\\east\nwing' };
    expect(sampleOf(f, "pmsehr_integration_window_events", { ...odd, outcome: "success" })).to.equal(1);
    const idle = { integration: "idle" };
    expect(sampleOf(f, "pmsehr_integration_success_ratio", idle)).to.equal(undefined);
    expect(sampleOf(f, "pmsehr_integration_latency_mean_seconds", idle)).to.equal(undefined);
    expect(
      Number.isNaN(sampleOf(f, "pmsehr_integration_latency_seconds", { ...idle, quantile: "0.95" })),
    ).to.equal(true);
    expect(sampleOf(f, "pmsehr_integration_state", { ...idle, state: "unknown" })).to.equal(1);
  });

  it("is a valid exposition with no integration at all", () => {
    const m = new HealthMonitor(parseHealthConfig({}));
    const f = parsePrometheus(toPrometheus(m.snapshot()));
    expect(f.get("pmsehr_integration_state")?.samples).to.deep.equal([]);
    expect(f.get("pmsehr_queue_depth")?.samples).to.deep.equal([]);
    expect(f.get("pmsehr_queue_depth")?.type).to.equal("gauge");
  });

  it("exposes each queue by store and queue, exactly; a stale queue keeps only its counters", () => {
    const clock = { now: T0 };
    const m = new HealthMonitor(parseHealthConfig({ window: 60, hold: 0, queueMaxDead: 2 }), {
      now: () => clock.now,
    });
    m.recordQueue({
      store: "old",
      queue: "closed",
      depth: 1,
      inFlight: 0,
      oldestAgeMs: 0,
      deadLetters: 0,
      deliveredTotal: 5,
      deadTotal: 0,
    });
    clock.now = T0 + 90000;
    m.recordQueue({
      store: 'main "db"\\x',
      queue: "out\nbound",
      depth: 3,
      inFlight: 1,
      oldestAgeMs: 2500,
      deadLetters: 2,
      deliveredTotal: 120,
      deadTotal: 7,
      time: T0 + 89000,
    });
    m.evaluate();
    const text = toPrometheus(m.snapshot());
    const queuePart = text.slice(
      text.indexOf("# HELP pmsehr_queue_depth"),
      text.indexOf("# HELP pmsehr_checkpoint_"),
    );
    const main = 'store="main \\"db\\"\\\\x",queue="out\\nbound"';
    const old = 'store="old",queue="closed"';
    expect(queuePart).to.equal(
      [
        "# HELP pmsehr_queue_depth Messages committed and not yet delivered or dead: waiting plus in flight (absent while the queue is stale).",
        "# TYPE pmsehr_queue_depth gauge",
        `pmsehr_queue_depth{${main}} 3`,
        "# HELP pmsehr_queue_in_flight Deliveries handed to the flow and not yet finished (absent while the queue is stale).",
        "# TYPE pmsehr_queue_in_flight gauge",
        `pmsehr_queue_in_flight{${main}} 1`,
        "# HELP pmsehr_queue_oldest_age_seconds Age of the oldest message not yet delivered or dead, 0 when the queue is empty (absent while the queue is stale).",
        "# TYPE pmsehr_queue_oldest_age_seconds gauge",
        `pmsehr_queue_oldest_age_seconds{${main}} 3.5`,
        "# HELP pmsehr_queue_dead_letters Dead letters kept now (absent while the queue is stale).",
        "# TYPE pmsehr_queue_dead_letters gauge",
        `pmsehr_queue_dead_letters{${main}} 2`,
        "# HELP pmsehr_queue_delivered_total Messages delivered since the store was created, as last reported.",
        "# TYPE pmsehr_queue_delivered_total counter",
        `pmsehr_queue_delivered_total{${main}} 120`,
        `pmsehr_queue_delivered_total{${old}} 5`,
        "# HELP pmsehr_queue_dead_total Messages turned into dead letters since the store was created, as last reported.",
        "# TYPE pmsehr_queue_dead_total counter",
        `pmsehr_queue_dead_total{${main}} 7`,
        `pmsehr_queue_dead_total{${old}} 0`,
        "# HELP pmsehr_queue_alert 1 while an alert is raised for the queue.",
        "# TYPE pmsehr_queue_alert gauge",
        `pmsehr_queue_alert{${main}} 1`,
        `pmsehr_queue_alert{${old}} 0`,
        "# HELP pmsehr_queue_last_report_timestamp_seconds When the queue last reported (Unix time); a window without a report makes it stale.",
        "# TYPE pmsehr_queue_last_report_timestamp_seconds gauge",
        `pmsehr_queue_last_report_timestamp_seconds{${main}} ${(T0 + 89000) / 1000}`,
        `pmsehr_queue_last_report_timestamp_seconds{${old}} ${T0 / 1000}`,
        "",
      ].join("\n"),
    );
    // The strict parser reads the escaped labels back as the names were.
    const f = parsePrometheus(text);
    const labels = { store: 'main "db"\\x', queue: "out\nbound" };
    expect(sampleOf(f, "pmsehr_queue_depth", labels)).to.equal(3);
    expect(sampleOf(f, "pmsehr_queue_depth", { store: "old", queue: "closed" })).to.equal(undefined);
    expect(f.get("pmsehr_queue_delivered_total")?.type).to.equal("counter");
    expect(f.get("pmsehr_queue_oldest_age_seconds")?.type).to.equal("gauge");
  });

  it("the test parser itself rejects what the format forbids", () => {
    for (const bad of [
      "m 1",
      'm{a="x"} one\n',
      'm{a="x\\t"} 1\n',
      'm{__a="x"} 1\n',
      "# TYPE m gauge\nm 1\n# TYPE m gauge\n",
      "m 1\n# TYPE m gauge\n",
      "a 1\nb 1\na 2\n",
      "m 1\nm 2\n",
      "# TYPE m summary\nm 1\n",
      "9m 1\n",
    ]) {
      expect(() => parsePrometheus(bad), JSON.stringify(bad)).to.throw();
    }
    expect(
      parsePrometheus('# TYPE m gauge\nm{a="q\\"\\\\\\n"} -Inf 1700000000000\n').get("m")?.samples[0],
    ).to.deep.equal({
      name: "m",
      labels: { a: 'q"\\\n' },
      value: -Infinity,
    });
  });
});

describe("health: HTTP answers and paths", () => {
  it("validates paths and refuses Node-RED's own", () => {
    expect(validateHealthPath("/pms-ehr/health")).to.equal("/pms-ehr/health");
    expect(validateHealthPath(" /health/ ")).to.equal("/health");
    for (const bad of [
      "",
      "health",
      "/",
      "/a//b",
      "/a/../b",
      "/a b",
      "/a:b",
      "/a*",
      "/flows",
      "/Auth/x",
      "/red",
      `/${"x".repeat(100)}`,
    ]) {
      expect(
        codeOf(() => validateHealthPath(bad)),
        bad,
      ).to.equal("HEALTH_CONFIG");
    }
  });

  it("answers JSON (with series on request), Prometheus text, the dashboard, and 400 for another format", () => {
    const { m } = monitorWithData();
    const ctx = { page: "data" as const, path: "/pms-ehr/health", adminRoot: "" };
    const j = answerHealthRequest(m, {}, ctx);
    expect(j.status).to.equal(200);
    expect(j.headers["Content-Type"]).to.match(/^application\/json/);
    const snap = JSON.parse(j.body) as HealthSnapshot;
    expect(snap.integrations.fhir.total).to.equal(21);
    expect(snap.integrations.fhir.series).to.equal(undefined);
    const js = JSON.parse(
      answerHealthRequest(m, { format: "json", series: "1" }, ctx).body,
    ) as HealthSnapshot;
    expect(js.integrations.fhir.series).to.have.length(60);

    const p = answerHealthRequest(m, { format: "prometheus" }, ctx);
    expect(p.headers["Content-Type"]).to.equal("text/plain; version=0.0.4; charset=utf-8");
    parsePrometheus(p.body);

    const h = answerHealthRequest(m, { format: "html" }, ctx);
    expect(h.headers["Content-Type"]).to.match(/^text\/html/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(h.headers["Content-Security-Policy"])?.[1];
    expect(nonce).to.be.a("string");
    expect(h.body).to.include(
      `<script nonce="${nonce}" data-src="?format=json&amp;series=1&amp;history=1" data-auth-key="auth-tokens"`,
    );
    expect(h.body).to.not.match(/<script[^>]+\ssrc=/);

    const d = answerHealthRequest(
      m,
      {},
      { page: "dashboard", path: "/pms-ehr/health", adminRoot: "/admin/" },
    );
    expect(d.body).to.include(
      'data-src="../health?format=json&amp;series=1&amp;history=1" data-auth-key="auth-tokens-admin"',
    );
    const ds = answerHealthRequest(
      m,
      {},
      { page: "dashboard", path: "/h", adminRoot: "", trailingSlash: true },
    );
    expect(ds.body).to.include('data-src="../../h?format=json&amp;series=1&amp;history=1"');
    const hs = answerHealthRequest(
      m,
      { format: "html" },
      { page: "data", path: "/h", adminRoot: "", trailingSlash: true },
    );
    expect(hs.body).to.include('data-src="../h?format=json&amp;series=1&amp;history=1"');
    expect(answerHealthRequest(m, { format: "html" }, ctx).headers["Content-Security-Policy"]).to.not.equal(
      h.headers["Content-Security-Policy"],
    );

    expect(answerHealthRequest(m, { format: "html" }, ctx).body).to.include('data-refresh="5"');
    expect(answerHealthRequest(m, { format: "html", refresh: "2" }, ctx).body).to.include('data-refresh="2"');
    expect(answerHealthRequest(m, { format: "html", refresh: "0" }, ctx).body).to.include('data-refresh="5"');
    expect(answerHealthRequest(m, { format: "html", refresh: "1e9" }, ctx).body).to.include(
      'data-refresh="5"',
    );

    const bad = answerHealthRequest(m, { format: "xml" }, ctx);
    expect(bad.status).to.equal(400);
    expect(JSON.parse(bad.body)).to.deep.equal({
      error: "format must be json, prometheus or html",
      code: "HEALTH_BAD_INPUT",
    });
  });
});
