import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HealthMonitor, parseHealthConfig, toPrometheus, type ProcessSample } from "../../../lib/health";
import { parsePrometheus } from "./prom-parse";

const DASHBOARD = join(__dirname, "..", "..", "..", "..", "grafana", "pms-ehr-health.json");

interface Target {
  refId: string;
  expr: string;
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  templating: { list: Array<{ name: string; query: { query: string } }> };
  panels: Panel[];
}

/**
 * Every sample name a monitor exports that has heard an integration, a queue, a refusal, a
 * checkpoint and the process, with the labels of its samples.
 */
function exported(): Map<string, Set<string>> {
  const process: ProcessSample = {
    rssBytes: 1,
    heapUsedBytes: 1,
    heapTotalBytes: 1,
    cpuUserSeconds: 1,
    cpuSystemSeconds: 1,
    startTimeSeconds: 1,
    eventLoopLag: { mean: 0.01, p50: 0.01, p99: 0.02, max: 0.03, periodSeconds: 10 },
  };
  const m = new HealthMonitor(parseHealthConfig({ window: 60 }), { process: () => process });
  m.record({ integration: "fhir", success: false, durationMs: 12, error: "FHIR_HTTP_503" });
  m.recordQueue({
    store: "main",
    queue: "outbound",
    depth: 1,
    inFlight: 0,
    oldestAgeMs: 10,
    deadLetters: 1,
    deliveredTotal: 1,
    deadTotal: 1,
    time: Date.now(),
  });
  m.recordRefusal({ integration: "hl7", source: "mllp-in", reason: "budget" });
  m.recordCheckpoint({ checkpoint: "patients", highWater: "2026-01-01T00:00:00Z", committed: true });
  m.evaluate();
  const names = new Map<string, Set<string>>();
  for (const f of parsePrometheus(toPrometheus(m.snapshot())).values()) {
    for (const s of f.samples) {
      const labels = names.get(s.name) ?? new Set<string>();
      for (const l of Object.keys(s.labels)) labels.add(l);
      names.set(s.name, labels);
    }
  }
  return names;
}

/** `metric{label=..., ...}` and bare metric names of a PromQL expression, with the labels matched. */
function selectors(expr: string): Array<{ metric: string; labels: string[] }> {
  const out: Array<{ metric: string; labels: string[] }> = [];
  for (const m of expr.matchAll(/\b((?:pmsehr|process|nodejs)_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const labels = [...(m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]);
    out.push({ metric: m[1], labels });
  }
  return out;
}

describe("health: the Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
  const names = exported();
  // Labels Prometheus adds to every scraped series.
  const scrapeLabels = new Set(["instance", "job"]);

  it("is an importable dashboard: a Prometheus data source input, unique panel ids, a 24-column grid", () => {
    expect(dashboard.uid).to.equal("pms-ehr-health");
    expect(dashboard.schemaVersion).to.be.at.least(36);
    expect(dashboard.__inputs).to.deep.include({
      name: "DS_PROMETHEUS",
      label: "Prometheus",
      description: "The Prometheus that scrapes each health-monitor's path with ?format=prometheus",
      type: "datasource",
      pluginId: "prometheus",
      pluginName: "Prometheus",
    });
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).to.be.at.most(24);
      if (p.type === "row") continue;
      expect(p.datasource?.uid, p.title).to.equal("${DS_PROMETHEUS}");
      expect(p.targets, p.title).to.have.length.greaterThan(0);
      for (const t of p.targets!)
        expect(t.datasource.uid, `${p.title} ${t.refId}`).to.equal("${DS_PROMETHEUS}");
    }
  });

  it("names only metrics the pack exports, with labels they carry", () => {
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
      ...dashboard.templating.list.map((v) => [`variable ${v.name}`, v.query.query] as const),
    ];
    const used = new Set<string>();
    const wrong: string[] = [];
    for (const [where, expr] of exprs) {
      const found = selectors(expr);
      expect(found, `${where}: ${expr}`).to.have.length.greaterThan(0);
      for (const { metric, labels } of found) {
        used.add(metric);
        const carried = names.get(metric);
        if (!carried) wrong.push(`${where}: ${metric} is not exported`);
        else {
          for (const l of labels) {
            if (!carried.has(l) && !scrapeLabels.has(l)) wrong.push(`${where}: ${metric} has no label ${l}`);
          }
        }
      }
    }
    expect(wrong).to.deep.equal([]);
    // It shows the operator's view: integrations, queues, dead letters, refusals and the process.
    for (const metric of [
      "pmsehr_integration_state",
      "pmsehr_integration_call_duration_seconds_bucket",
      "pmsehr_queue_depth",
      "pmsehr_queue_oldest_age_seconds",
      "pmsehr_queue_dead_letters",
      "pmsehr_refusals_total",
      "pmsehr_checkpoint_lag_seconds",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_p99_seconds",
    ]) {
      expect([...used], metric).to.include(metric);
    }
  });

  it("its checks bite: an unknown metric or a label a metric lacks is found", () => {
    expect(selectors('rate(process_cpu_seconds_total{integration=~"$i"}[5m])')).to.deep.equal([
      { metric: "process_cpu_seconds_total", labels: ["integration"] },
    ]);
    expect(names.get("process_cpu_seconds_total")?.has("integration")).to.equal(false);
    expect(names.has("pmsehr_queue_depth_total")).to.equal(false);
  });
});
