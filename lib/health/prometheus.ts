import type { HealthState } from "./config";
import { LATENCY_BUCKETS_SECONDS } from "./histogram";
import type { ProcessSample } from "./process";
import type { HealthSnapshot, IntegrationSnapshot, QueueSnapshot } from "./monitor";

/** The content type of the Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX = "pmsehr_";
const STATES: HealthState[] = ["healthy", "warning", "critical", "unknown"];

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

interface Family {
  name: string;
  type: "gauge" | "counter" | "summary" | "histogram";
  help: string;
  samples: (i: IntegrationSnapshot) => Array<[suffix: string, labels: Labels, value: number]>;
}

const sec = (ms: number): number => ms / 1000;

const FAMILIES: Family[] = [
  {
    name: "integration_state",
    type: "gauge",
    help: "1 for the integration's current health state, 0 for the others.",
    samples: (i) => STATES.map((s) => ["", { state: s }, i.state === s ? 1 : 0]),
  },
  {
    name: "integration_alert",
    type: "gauge",
    help: "1 while an alert is raised for the integration.",
    samples: (i) => [["", {}, i.alert ? 1 : 0]],
  },
  {
    name: "integration_window_events",
    type: "gauge",
    help: "Calls in the rolling window, by outcome.",
    samples: (i) => [
      ["", { outcome: "success" }, i.successes],
      ["", { outcome: "failure" }, i.failures],
    ],
  },
  {
    name: "integration_success_ratio",
    type: "gauge",
    help: "Successful calls / all calls in the rolling window (absent when the window is empty).",
    samples: (i) => (i.successRate === null ? [] : [["", {}, i.successRate]]),
  },
  {
    name: "integration_latency_mean_seconds",
    type: "gauge",
    help: "Mean call duration in the rolling window.",
    samples: (i) => (i.latencyMs === null ? [] : [["", {}, sec(i.latencyMs.mean)]]),
  },
  {
    name: "integration_latency_seconds",
    type: "summary",
    help: "Call duration: quantiles over the rolling window; sum and count since the monitor started.",
    samples: (i) => [
      ["", { quantile: "0.5" }, i.latencyMs ? sec(i.latencyMs.p50) : NaN],
      ["", { quantile: "0.95" }, i.latencyMs ? sec(i.latencyMs.p95) : NaN],
      ["", { quantile: "0.99" }, i.latencyMs ? sec(i.latencyMs.p99) : NaN],
      ["_sum", {}, sec(i.lifetime.latencySumMs)],
      ["_count", {}, i.lifetime.total],
    ],
  },
  {
    name: "integration_call_duration_seconds",
    type: "histogram",
    help: "Call duration since the monitor started, in cumulative buckets (for histogram_quantile across instances).",
    samples: (i) => [
      ...LATENCY_BUCKETS_SECONDS.map((le, b): [string, Labels, number] => [
        "_bucket",
        { le: String(le) },
        i.lifetime.latencyBuckets[b],
      ]),
      ["_bucket", { le: "+Inf" }, i.lifetime.total],
      ["_sum", {}, sec(i.lifetime.latencySumMs)],
      ["_count", {}, i.lifetime.total],
    ],
  },
  {
    name: "integration_throughput_per_second",
    type: "gauge",
    help: "Calls per second over the rolling window.",
    samples: (i) => [["", {}, i.throughput]],
  },
  {
    name: "integration_consecutive_failures",
    type: "gauge",
    help: "Failed calls since the last successful one.",
    samples: (i) => [["", {}, i.consecutiveFailures]],
  },
  {
    name: "integration_calls_total",
    type: "counter",
    help: "Calls since the monitor started, by outcome.",
    samples: (i) => [
      ["", { outcome: "success" }, i.lifetime.total - i.lifetime.failures],
      ["", { outcome: "failure" }, i.lifetime.failures],
    ],
  },
  {
    name: "integration_last_error_timestamp_seconds",
    type: "gauge",
    help: "When the integration last failed (Unix time; absent when it never has).",
    samples: (i) => (i.lastError === null ? [] : [["", {}, Date.parse(i.lastError.time) / 1000]]),
  },
];

interface QueueFamily {
  name: string;
  type: "gauge" | "counter";
  help: string;
  /** The value, or null for no sample. */
  value: (q: QueueSnapshot) => number | null;
}

/** A stale queue's gauges are left out (Prometheus then marks their series stale); its counters stay. */
const fresh =
  (get: (q: QueueSnapshot) => number) =>
  (q: QueueSnapshot): number | null =>
    q.stale ? null : get(q);

const QUEUE_FAMILIES: QueueFamily[] = [
  {
    name: "queue_depth",
    type: "gauge",
    help: "Messages committed and not yet delivered or dead: waiting plus in flight (absent while the queue is stale).",
    value: fresh((q) => q.depth),
  },
  {
    name: "queue_in_flight",
    type: "gauge",
    help: "Deliveries handed to the flow and not yet finished (absent while the queue is stale).",
    value: fresh((q) => q.inFlight),
  },
  {
    name: "queue_oldest_age_seconds",
    type: "gauge",
    help: "Age of the oldest message not yet delivered or dead, 0 when the queue is empty (absent while the queue is stale).",
    value: fresh((q) => sec(q.oldestAgeMs)),
  },
  {
    name: "queue_dead_letters",
    type: "gauge",
    help: "Dead letters kept now (absent while the queue is stale).",
    value: fresh((q) => q.deadLetters),
  },
  {
    name: "queue_delivered_total",
    type: "counter",
    help: "Messages delivered since the store was created, as last reported.",
    value: (q) => q.deliveredTotal,
  },
  {
    name: "queue_dead_total",
    type: "counter",
    help: "Messages turned into dead letters since the store was created, as last reported.",
    value: (q) => q.deadTotal,
  },
  {
    name: "queue_alert",
    type: "gauge",
    help: "1 while an alert is raised for the queue.",
    value: (q) => (q.alert ? 1 : 0),
  },
  {
    name: "queue_last_report_timestamp_seconds",
    type: "gauge",
    help: "When the queue last reported (Unix time); a window without a report makes it stale.",
    value: (q) => Date.parse(q.reportedAt) / 1000,
  },
];

/**
 * The process families, under the names Prometheus client libraries use (process_*, nodejs_*), so
 * the dashboards made for them read these too.
 */
function processFamilies(
  p: ProcessSample,
): Array<[name: string, type: "gauge" | "counter", help: string, value: number | null]> {
  const lag = p.eventLoopLag;
  const period = lag ? `${lag.periodSeconds} s` : "period";
  return [
    ["process_resident_memory_bytes", "gauge", "Resident memory size of the Node-RED process.", p.rssBytes],
    ["process_cpu_user_seconds_total", "counter", "User CPU time of the process.", p.cpuUserSeconds],
    ["process_cpu_system_seconds_total", "counter", "System CPU time of the process.", p.cpuSystemSeconds],
    [
      "process_cpu_seconds_total",
      "counter",
      "User and system CPU time of the process.",
      p.cpuUserSeconds + p.cpuSystemSeconds,
    ],
    ["process_start_time_seconds", "gauge", "When the process started (Unix time).", p.startTimeSeconds],
    ["nodejs_heap_size_used_bytes", "gauge", "V8 heap in use.", p.heapUsedBytes],
    ["nodejs_heap_size_total_bytes", "gauge", "V8 heap allocated.", p.heapTotalBytes],
    [
      "nodejs_eventloop_lag_seconds",
      "gauge",
      `Mean event-loop delay over the last ${period} (absent until one has passed).`,
      lag ? lag.mean : null,
    ],
    [
      "nodejs_eventloop_lag_p50_seconds",
      "gauge",
      `Median event-loop delay over the last ${period}.`,
      lag ? lag.p50 : null,
    ],
    [
      "nodejs_eventloop_lag_p99_seconds",
      "gauge",
      `99th percentile event-loop delay over the last ${period}.`,
      lag ? lag.p99 : null,
    ],
    [
      "nodejs_eventloop_lag_max_seconds",
      "gauge",
      `Longest event-loop delay over the last ${period}.`,
      lag ? lag.max : null,
    ],
  ];
}

/** The snapshot in the Prometheus text format 0.0.4: one family per metric, HELP and TYPE first. */
export function toPrometheus(snapshot: HealthSnapshot): string {
  const lines: string[] = [];
  const list = Object.values(snapshot.integrations);
  lines.push(`# HELP ${PREFIX}health_window_seconds Length of the rolling window the figures cover.`);
  lines.push(`# TYPE ${PREFIX}health_window_seconds gauge`);
  lines.push(`${PREFIX}health_window_seconds ${snapshot.windowSeconds}`);
  for (const f of FAMILIES) {
    const name = PREFIX + f.name;
    lines.push(`# HELP ${name} ${escapeHelp(f.help)}`);
    lines.push(`# TYPE ${name} ${f.type}`);
    for (const i of list) {
      for (const [suffix, labels, value] of f.samples(i)) {
        lines.push(
          `${name}${suffix}${labelText({ integration: i.integration, ...labels })} ${formatValue(value)}`,
        );
      }
    }
  }
  const refusals = `${PREFIX}refusals_total`;
  lines.push(
    `# HELP ${refusals} Connections and frames a listener refused, and messages it flagged, by reason, since the monitor started.`,
  );
  lines.push(`# TYPE ${refusals} counter`);
  for (const r of snapshot.refusals) {
    lines.push(
      `${refusals}${labelText({ integration: r.integration, source: r.source, reason: r.reason })} ${r.count}`,
    );
  }
  for (const f of QUEUE_FAMILIES) {
    const name = PREFIX + f.name;
    lines.push(`# HELP ${name} ${escapeHelp(f.help)}`);
    lines.push(`# TYPE ${name} ${f.type}`);
    for (const q of snapshot.queues) {
      const value = f.value(q);
      if (value !== null)
        lines.push(`${name}${labelText({ store: q.store, queue: q.queue })} ${formatValue(value)}`);
    }
  }
  const lag = `${PREFIX}checkpoint_lag_seconds`;
  lines.push(
    `# HELP ${lag} How far the checkpoint's watermark is behind now, as sync-checkpoint last reported it.`,
  );
  lines.push(`# TYPE ${lag} gauge`);
  for (const c of snapshot.checkpoints)
    lines.push(`${lag}${labelText({ checkpoint: c.checkpoint })} ${formatValue(c.lagSeconds)}`);
  const commit = `${PREFIX}checkpoint_last_commit_timestamp_seconds`;
  lines.push(
    `# HELP ${commit} When a run last committed the checkpoint (Unix time; absent when none has since the monitor started).`,
  );
  lines.push(`# TYPE ${commit} gauge`);
  for (const c of snapshot.checkpoints) {
    if (c.lastCommitAt !== null)
      lines.push(
        `${commit}${labelText({ checkpoint: c.checkpoint })} ${formatValue(Date.parse(c.lastCommitAt) / 1000)}`,
      );
  }
  if (snapshot.process) {
    for (const [name, type, help, value] of processFamilies(snapshot.process)) {
      lines.push(`# HELP ${name} ${escapeHelp(help)}`);
      lines.push(`# TYPE ${name} ${type}`);
      if (value !== null) lines.push(`${name} ${formatValue(value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
