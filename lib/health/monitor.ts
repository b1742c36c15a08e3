import { CODES } from "../error-codes";
import { PackError } from "../errors";
import type { CheckpointReport, HealthEvent, QueueMetrics, RefusalEvent } from "./bus";
import {
  STATE_RANK,
  checkIntegrationName,
  type HealthConfig,
  type HealthState,
  type Thresholds,
} from "./config";
import { LATENCY_BUCKETS_SECONDS, latencyBucketOf } from "./histogram";
import { HistoryRing, type HistoryPoint } from "./history";
import type { ProcessSample } from "./process";
import { RollingWindow, type BucketPoint } from "./window";

export interface LatencySummary {
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  /** True when p50/p95/p99 are exact, false when read from the histogram (within 1.1 %). */
  exact: boolean;
}

export interface IntegrationSnapshot {
  integration: string;
  state: HealthState;
  /** When the reported state began (ISO), null while unknown since the start. */
  stateSince: string | null;
  /** Whether an alert is raised. */
  alert: boolean;
  /** Why the state is what it is (or why the alert stands). */
  reasons: string[];
  /** In the window: */
  total: number;
  successes: number;
  failures: number;
  /** null when the window holds no event. */
  successRate: number | null;
  latencyMs: LatencySummary | null;
  /** Events per second over the window (or since the first event, when that is later). */
  throughput: number;
  /** Failures since the last success, however long ago. */
  consecutiveFailures: number;
  lastError: { error: string; time: string } | null;
  lastEventAt: string | null;
  /** Since the monitor started: */
  lifetime: {
    total: number;
    failures: number;
    latencySumMs: number;
    /** Calls at or under each bound of LATENCY_BUCKETS_SECONDS, cumulative (the last bound, then `total`, is +Inf). */
    latencyBuckets: number[];
  };
  /** One point per bucket of the window, oldest first (only when asked for). */
  series?: BucketPoint[];
  /** The last 24 h in 96 points of 15 min, oldest first (only when asked for). */
  history?: HistoryPoint[];
}

/** One durable queue, identified by (store, queue), as its `durable-queue` node last reported it. */
export interface QueueSnapshot extends Omit<QueueMetrics, "time"> {
  /**
   * Age of the oldest message in `depth`, ms. While the queue holds messages and is not stale:
   * the reported age plus the time since the report (a queue reports every change, so until its
   * next report the same message is the oldest). Stale: as last reported. 0 when empty.
   */
  oldestAgeMs: number;
  /** When the queue last reported (ISO). */
  reportedAt: string;
  /** No report for the length of the window or longer (its node closed): figures as last reported, not judged. */
  stale: boolean;
  /** Whether a queue alert is raised. */
  alert: boolean;
  /** The alert conditions that hold (or, while a raised alert waits out the hold, those it was raised for). */
  reasons: string[];
}

/** How often a listener refused with one reason, since the monitor started. */
export interface RefusalCount {
  integration: string;
  source: string;
  reason: string;
  count: number;
  /** When the last one was heard (ISO). */
  lastAt: string;
}

/** A checkpoint as `sync-checkpoint` last reported it. */
export interface CheckpointSnapshot {
  checkpoint: string;
  /** The watermark (ISO). */
  highWater: string;
  /** How far the watermark is behind now, seconds (0 when it is ahead of this clock). */
  lagSeconds: number;
  /** When a run last committed it (ISO), null when none has since the monitor started. */
  lastCommitAt: string | null;
  /** When it was last reported (ISO): a run started or committed. */
  reportedAt: string;
}

export interface HealthSnapshot {
  time: string;
  windowSeconds: number;
  /** The worst state over the integrations (unknown when none has data). */
  state: HealthState;
  counts: Record<HealthState, number>;
  integrations: Record<string, IntegrationSnapshot>;
  /** Every queue heard, sorted by store, then queue. */
  queues: QueueSnapshot[];
  /** Refusals heard (mllp-in limits), sorted by integration, source, reason. */
  refusals: RefusalCount[];
  /** Checkpoints heard (sync-checkpoint), sorted by name. */
  checkpoints: CheckpointSnapshot[];
  /** The Node-RED process (memory, CPU, event-loop delay), when the monitor was given a sampler. */
  process?: ProcessSample;
}

export interface AlertTransition {
  integration: string;
  alert: "raise" | "clear";
  /** The reported state after this evaluation, and before it. */
  state: HealthState;
  previousState: HealthState;
  /** For a raise: the conditions that hold. For a clear: what held when it was raised. */
  reasons: string[];
  time: string;
}

export interface QueueAlertTransition {
  store: string;
  queue: string;
  alert: "raise" | "clear";
  /**
   * For a raise: the conditions that hold, with the measured values (`oldest message 912 s >
   * 600 s`, `dead letters 12 >= 10`). For a clear: what held when it was raised.
   */
  reasons: string[];
  time: string;
}

export interface Evaluation {
  alerts: AlertTransition[];
  queueAlerts: QueueAlertTransition[];
  /** Whether any reported state, or any queue's alert, changed. */
  changed: boolean;
}

interface Tracker {
  name: string;
  window: RollingWindow;
  history: HistoryRing;
  consecutive: number;
  lastError: string | null;
  lastErrorAt: number;
  firstEventAt: number;
  lastEventAt: number;
  lifeTotal: number;
  lifeFailures: number;
  lifeSumMs: number;
  /** Calls per latency bucket (not cumulative), the last for over the highest bound. */
  lifeBuckets: Float64Array;
  state: HealthState;
  stateSince: number;
  betterSince: number;
  alert: boolean;
  alertReasons: string[];
  clearSince: number;
  reasons: string[];
}

type QueueFigures = Pick<
  QueueMetrics,
  "depth" | "inFlight" | "oldestAgeMs" | "deadLetters" | "deliveredTotal" | "deadTotal"
>;

const QUEUE_FIGURES = [
  "depth",
  "inFlight",
  "oldestAgeMs",
  "deadLetters",
  "deliveredTotal",
  "deadTotal",
] as const;

interface QueueTracker {
  store: string;
  queue: string;
  /** The last report, and when it was made (epoch ms). */
  last: QueueFigures;
  at: number;
  alert: boolean;
  alertReasons: string[];
  clearSince: number;
  reasons: string[];
}

const MAX_BUCKETS = 120;

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function msText(v: number): string {
  return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))} ms`;
}

function secText(ms: number): string {
  const v = ms / 1000;
  return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))} s`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function queueKey(store: string, queue: string): string {
  return JSON.stringify([store, queue]);
}

function byStoreAndQueue(a: { store: string; queue: string }, b: { store: string; queue: string }): number {
  if (a.store !== b.store) return a.store < b.store ? -1 : 1;
  return a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0;
}

/**
 * Whether a bus event is a queue report as lib/health/bus.ts describes it: store and queue
 * names of 1 to 200 characters, every figure a finite number >= 0, `time` absent or a number.
 */
export function isQueueMetrics(value: unknown): value is QueueMetrics {
  if (!value || typeof value !== "object") return false;
  const m = value as Record<string, unknown>;
  const name = (v: unknown): boolean => typeof v === "string" && v !== "" && v.length <= 200;
  if (!name(m.store) || !name(m.queue)) return false;
  for (const k of QUEUE_FIGURES) {
    const v = m[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return false;
  }
  return m.time === undefined || (typeof m.time === "number" && Number.isFinite(m.time));
}

const REASON = /^[a-z][a-z0-9_]{0,39}$/;

/** Whether a bus event is a refusal as lib/health/bus.ts describes it. */
export function isRefusalEvent(value: unknown): value is RefusalEvent {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  if (!isPrintableName(e.integration, 100) || !isPrintableName(e.source, 100)) return false;
  if (typeof e.reason !== "string" || !REASON.test(e.reason)) return false;
  return e.time === undefined || (typeof e.time === "number" && Number.isFinite(e.time));
}

/** A name a bus event carries: a string of at most `max` characters, not blank, without control characters. */
function isPrintableName(v: unknown, max: number): v is string {
  // eslint-disable-next-line no-control-regex
  return typeof v === "string" && v.trim() !== "" && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
}

export function isCheckpointReport(value: unknown): value is CheckpointReport {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  return (
    isPrintableName(e.checkpoint, 200) &&
    typeof e.highWater === "string" &&
    Number.isFinite(Date.parse(e.highWater)) &&
    typeof e.committed === "boolean" &&
    (e.time === undefined || (typeof e.time === "number" && Number.isFinite(e.time)))
  );
}

/** A short error text without message bodies: a code, or the first 100 printable characters. */
export function errorText(error: unknown): string | null {
  if (error === undefined || error === null || error === "") return null;
  let text: string;
  if (typeof error === "string") text = error;
  else if (typeof error === "object") {
    const e = error as { code?: unknown; message?: unknown };
    text =
      typeof e.code === "string" && e.code !== ""
        ? e.code
        : typeof e.message === "string"
          ? e.message
          : "error";
  } else text = String(error);
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return text.length > 100 ? `${text.slice(0, 99)}…` : text || null;
}

/** Checks a `msg.health` value: {integration, success, durationMs, error?, time?}. */
export function parseHealthInput(value: unknown): HealthEvent {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new PackError(
      CODES.HEALTH_BAD_INPUT,
      "msg.health must be an object {integration, success, durationMs, error?}",
    );
  }
  const v = value as Record<string, unknown>;
  const integration = checkIntegrationName(v.integration, CODES.HEALTH_BAD_INPUT);
  if (typeof v.success !== "boolean")
    throw new PackError(CODES.HEALTH_BAD_INPUT, "msg.health.success must be true or false");
  const d = v.durationMs;
  if (typeof d !== "number" || !Number.isFinite(d) || d < 0) {
    throw new PackError(
      CODES.HEALTH_BAD_INPUT,
      "msg.health.durationMs must be a number of milliseconds >= 0",
    );
  }
  const event: HealthEvent = { integration, success: v.success, durationMs: d };
  const error = errorText(v.error);
  if (error !== null) event.error = error;
  if (v.time !== undefined) {
    const t = typeof v.time === "string" ? Date.parse(v.time) : v.time;
    if (typeof t !== "number" || !Number.isFinite(t)) {
      throw new PackError(CODES.HEALTH_BAD_INPUT, "msg.health.time must be epoch ms or an ISO time");
    }
    event.time = t;
  }
  return event;
}

/**
 * Rolling health per integration. `record` is O(1) per event; `evaluate` (run it every second
 * or so) judges each integration against the thresholds and reports alert transitions with
 * hysteresis: a worse state and a raised alert take effect at the evaluation that sees them, a
 * better state and a clear only after the better condition has held for `holdSeconds` at every
 * evaluation in between.
 */
export class HealthMonitor {
  readonly config: HealthConfig;
  private readonly t: Thresholds;
  private readonly now: () => number;
  private readonly sampleProcess?: () => ProcessSample;
  private readonly trackers = new Map<string, Tracker>();
  private readonly windowMs: number;
  private readonly buckets: number;
  private readonly fixed: boolean;
  /** Events dropped because their integration was not watched or the limit was reached. */
  ignored = 0;
  /** Integrations refused because maxIntegrations were already tracked. */
  overflowed = 0;
  private readonly queues = new Map<string, QueueTracker>();
  /** Queues refused because maxQueues were tracked and none of them was stale. */
  queuesOverflowed = 0;
  private readonly refusals = new Map<string, { count: RefusalCount; at: number }>();
  /** Refusal events dropped: malformed, an integration not watched, or too many kinds counted. */
  refusalsIgnored = 0;
  private readonly checkpoints = new Map<string, { highWater: number; lastCommitAt: number; at: number }>();
  /** Checkpoint reports dropped: malformed, older than the one kept, or a new name past maxQueues. */
  checkpointsIgnored = 0;

  constructor(config: HealthConfig, options: { now?: () => number; process?: () => ProcessSample } = {}) {
    this.config = config;
    this.t = config.thresholds;
    this.now = options.now ?? Date.now;
    this.sampleProcess = options.process;
    this.windowMs = config.windowSeconds * 1000;
    this.buckets = Math.min(config.windowSeconds, MAX_BUCKETS);
    this.fixed = config.integrations.length > 0;
    const start = this.now();
    for (const name of config.integrations) this.trackers.set(name, this.newTracker(name, start));
  }

  private newTracker(name: string, now: number): Tracker {
    return {
      name,
      window: new RollingWindow(this.windowMs, this.buckets),
      history: new HistoryRing(),
      consecutive: 0,
      lastError: null,
      lastErrorAt: 0,
      firstEventAt: -1,
      lastEventAt: -1,
      lifeTotal: 0,
      lifeFailures: 0,
      lifeSumMs: 0,
      lifeBuckets: new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1),
      state: "unknown",
      stateSince: now,
      betterSince: -1,
      alert: false,
      alertReasons: [],
      clearSince: -1,
      reasons: [],
    };
  }

  /** Records one outcome. False when it was not counted (integration not watched, or too many integrations). */
  record(event: HealthEvent): boolean {
    let tr = this.trackers.get(event.integration);
    const now = this.now();
    if (tr === undefined) {
      if (this.fixed) {
        this.ignored++;
        return false;
      }
      if (this.trackers.size >= this.config.maxIntegrations) {
        this.ignored++;
        this.overflowed++;
        return false;
      }
      tr = this.newTracker(event.integration, now);
      this.trackers.set(event.integration, tr);
    }
    const time = event.time;
    const at = eventTime(time, now);
    const ms = event.durationMs >= 0 ? event.durationMs : 0;
    tr.window.record(at, event.success, ms);
    tr.history.record(at, event.success, ms);
    tr.lifeTotal++;
    tr.lifeSumMs += ms;
    tr.lifeBuckets[latencyBucketOf(ms)]++;
    if (tr.firstEventAt < 0) tr.firstEventAt = at;
    if (at > tr.lastEventAt) tr.lastEventAt = at;
    if (event.success) {
      tr.consecutive = 0;
    } else {
      tr.consecutive++;
      tr.lifeFailures++;
      tr.lastError = event.error === undefined ? "failed" : (errorText(event.error) ?? "failed");
      tr.lastErrorAt = at;
    }
    return true;
  }

  /**
   * Counts a refusal by (integration, source, reason). False when it was not counted:
   * malformed, its integration not watched, or 16 x maxIntegrations kinds already counted.
   */
  recordRefusal(event: RefusalEvent): boolean {
    if (!isRefusalEvent(event) || (this.fixed && !this.trackers.has(event.integration))) {
      this.refusalsIgnored++;
      return false;
    }
    const now = this.now();
    const at = eventTime(event.time, now);
    const key = JSON.stringify([event.integration, event.source, event.reason]);
    const r = this.refusals.get(key);
    if (r !== undefined) {
      r.count.count++;
      if (at > r.at) r.at = at;
      return true;
    }
    if (this.refusals.size >= this.config.maxIntegrations * 16) {
      this.refusalsIgnored++;
      return false;
    }
    this.refusals.set(key, {
      count: {
        integration: event.integration,
        source: event.source,
        reason: event.reason,
        count: 1,
        lastAt: "",
      },
      at,
    });
    return true;
  }

  /**
   * Keeps a checkpoint's latest watermark. False when it was not kept: malformed, older than the
   * report kept, or a new checkpoint while maxQueues are kept (the same bound as queues).
   */
  recordCheckpoint(report: CheckpointReport): boolean {
    if (!isCheckpointReport(report)) {
      this.checkpointsIgnored++;
      return false;
    }
    const now = this.now();
    const at = eventTime(report.time, now);
    const kept = this.checkpoints.get(report.checkpoint);
    if (kept === undefined && this.checkpoints.size >= this.config.maxQueues) {
      this.checkpointsIgnored++;
      return false;
    }
    if (kept !== undefined && at < kept.at) {
      this.checkpointsIgnored++;
      return false;
    }
    this.checkpoints.set(report.checkpoint, {
      highWater: Date.parse(report.highWater),
      lastCommitAt: report.committed ? at : (kept?.lastCommitAt ?? -1),
      at,
    });
    return true;
  }

  /**
   * Keeps a queue's latest report (a later report replaces it). False when it was not kept:
   * malformed, older than the report kept, or a new queue while maxQueues are tracked and none
   * of them is stale (a stale one makes room).
   */
  recordQueue(metrics: QueueMetrics): boolean {
    if (!isQueueMetrics(metrics)) return false;
    const now = this.now();
    const time = metrics.time;
    const at = eventTime(time, now);
    const last: QueueFigures = {
      depth: metrics.depth,
      inFlight: metrics.inFlight,
      oldestAgeMs: metrics.oldestAgeMs,
      deadLetters: metrics.deadLetters,
      deliveredTotal: metrics.deliveredTotal,
      deadTotal: metrics.deadTotal,
    };
    const key = queueKey(metrics.store, metrics.queue);
    const q = this.queues.get(key);
    if (q !== undefined) {
      if (at < q.at) return false;
      q.last = last;
      q.at = at;
      return true;
    }
    if (this.queues.size >= this.config.maxQueues && !this.evictStaleQueue(now)) {
      this.queuesOverflowed++;
      return false;
    }
    this.queues.set(key, {
      store: metrics.store,
      queue: metrics.queue,
      last,
      at,
      alert: false,
      alertReasons: [],
      clearSince: -1,
      reasons: [],
    });
    return true;
  }

  /** Forgets the stale queue without a raised alert that reported longest ago; false when there is none. */
  private evictStaleQueue(now: number): boolean {
    let oldest: [string, QueueTracker] | null = null;
    for (const entry of this.queues) {
      const q = entry[1];
      if (!q.alert && this.isStale(q, now) && (oldest === null || q.at < oldest[1].at)) oldest = entry;
    }
    if (oldest === null) return false;
    this.queues.delete(oldest[0]);
    return true;
  }

  private isStale(q: QueueTracker, now: number): boolean {
    return now - q.at >= this.windowMs;
  }

  private ageOf(q: QueueTracker, now: number, stale: boolean): number {
    return q.last.depth > 0 && !stale ? q.last.oldestAgeMs + (now - q.at) : q.last.oldestAgeMs;
  }

  /** The queue alert conditions that hold now (none for a stale queue: it is not judged). */
  private judgeQueue(q: QueueTracker, now: number): string[] {
    const t = this.t;
    const reasons: string[] = [];
    if (this.isStale(q, now)) return reasons;
    const age = this.ageOf(q, now, false);
    if (t.queueMaxAgeMs > 0 && age > t.queueMaxAgeMs) {
      reasons.push(`oldest message ${secText(age)} > ${secText(t.queueMaxAgeMs)}`);
    }
    if (t.queueMaxDead > 0 && q.last.deadLetters >= t.queueMaxDead) {
      reasons.push(`dead letters ${q.last.deadLetters} >= ${t.queueMaxDead}`);
    }
    return reasons;
  }

  /** Judges every integration and queue now; returns the alerts raised and cleared. */
  evaluate(): Evaluation {
    const now = this.now();
    const holdMs = this.t.holdSeconds * 1000;
    const alerts: AlertTransition[] = [];
    const queueAlerts: QueueAlertTransition[] = [];
    let changed = false;
    for (const tr of this.trackers.values()) {
      const { state: computed, reasons, alertReasons } = this.judge(tr, now);
      tr.reasons = reasons;
      const previous = tr.state;
      if (STATE_RANK[computed] >= STATE_RANK[tr.state]) {
        if (computed !== tr.state) {
          tr.state = computed;
          tr.stateSince = now;
        }
        tr.betterSince = -1;
      } else {
        if (tr.betterSince < 0) tr.betterSince = now;
        if (now - tr.betterSince >= holdMs) {
          tr.state = computed;
          tr.stateSince = now;
          tr.betterSince = -1;
        }
      }
      if (tr.state !== previous) changed = true;

      if (alertReasons.length > 0) {
        tr.clearSince = -1;
        if (!tr.alert) {
          tr.alert = true;
          tr.alertReasons = alertReasons;
          alerts.push(this.transition(tr, "raise", previous, alertReasons, now));
        }
      } else if (tr.alert) {
        if (tr.clearSince < 0) tr.clearSince = now;
        if (now - tr.clearSince >= holdMs) {
          tr.alert = false;
          tr.clearSince = -1;
          alerts.push(this.transition(tr, "clear", previous, tr.alertReasons, now));
          tr.alertReasons = [];
        }
      }
    }
    for (const q of this.queues.values()) {
      const reasons = this.judgeQueue(q, now);
      q.reasons = reasons;
      const time = new Date(now).toISOString();
      if (reasons.length > 0) {
        q.clearSince = -1;
        if (!q.alert) {
          q.alert = true;
          q.alertReasons = reasons;
          changed = true;
          queueAlerts.push({ store: q.store, queue: q.queue, alert: "raise", reasons, time });
        }
      } else if (q.alert) {
        if (q.clearSince < 0) q.clearSince = now;
        if (now - q.clearSince >= holdMs) {
          q.alert = false;
          q.clearSince = -1;
          changed = true;
          queueAlerts.push({ store: q.store, queue: q.queue, alert: "clear", reasons: q.alertReasons, time });
          q.alertReasons = [];
        }
      }
    }
    queueAlerts.sort(byStoreAndQueue);
    return { alerts, queueAlerts, changed };
  }

  private transition(
    tr: Tracker,
    alert: "raise" | "clear",
    previousState: HealthState,
    reasons: string[],
    now: number,
  ): AlertTransition {
    return {
      integration: tr.name,
      alert,
      state: tr.state,
      previousState,
      reasons,
      time: new Date(now).toISOString(),
    };
  }

  private latencyOf(tr: Tracker, now: number): { total: number; failures: number; latency: number } {
    const s = tr.window.stats(now, this.t.latencyStat !== "mean");
    let latency = s.total > 0 ? s.sumMs / s.total : 0;
    if (s.quantiles && s.total > 0) {
      latency = s.quantiles[this.t.latencyStat === "p50" ? 0 : this.t.latencyStat === "p95" ? 1 : 2];
    }
    return { total: s.total, failures: s.failures, latency };
  }

  private judge(tr: Tracker, now: number): { state: HealthState; reasons: string[]; alertReasons: string[] } {
    const t = this.t;
    const { total, failures, latency } = this.latencyOf(tr, now);
    const alertReasons: string[] = [];
    const stat = t.latencyStat === "mean" ? "mean latency" : `${t.latencyStat} latency`;
    const consecutive = t.alertConsecutive > 0 && tr.consecutive >= t.alertConsecutive;
    const inARow = `${tr.consecutive} failures in a row`;
    if (total === 0) {
      if (consecutive) return { state: "critical", reasons: [inARow], alertReasons: [inARow] };
      return { state: "unknown", reasons: ["no events in the window"], alertReasons };
    }
    const rate = (total - failures) / total;
    const judged = total >= t.minEvents;
    if (judged && rate < t.alertRate) alertReasons.push(`success rate ${pct(rate)} < ${pct(t.alertRate)}`);
    if (judged && latency > t.alertLatencyMs) {
      alertReasons.push(`${stat} ${msText(latency)} > ${msText(t.alertLatencyMs)}`);
    }
    if (consecutive) alertReasons.push(inARow);

    const reasons: string[] = [];
    let state: HealthState = "healthy";
    if (judged && rate < t.warningRate) reasons.push(`success rate ${pct(rate)} < ${pct(t.warningRate)}`);
    if (judged && latency > t.warningLatencyMs)
      reasons.push(`${stat} ${msText(latency)} > ${msText(t.warningLatencyMs)}`);
    if (reasons.length > 0 || alertReasons.length > 0) {
      state = "critical";
      for (const r of alertReasons) if (!reasons.includes(r)) reasons.push(r);
    } else {
      if (judged && rate < t.healthyRate) reasons.push(`success rate ${pct(rate)} < ${pct(t.healthyRate)}`);
      if (judged && latency > t.healthyLatencyMs) {
        reasons.push(`${stat} ${msText(latency)} > ${msText(t.healthyLatencyMs)}`);
      }
      if (reasons.length > 0) state = "warning";
    }
    return { state, reasons, alertReasons };
  }

  /** Names of the integrations tracked, sorted. */
  names(): string[] {
    return [...this.trackers.keys()].sort();
  }

  /** The worst reported state (as of the last evaluate). */
  worst(): { state: HealthState; integration: string | null; counts: Record<HealthState, number> } {
    const counts: Record<HealthState, number> = { unknown: 0, healthy: 0, warning: 0, critical: 0 };
    let state: HealthState = "unknown";
    let integration: string | null = null;
    for (const name of this.names()) {
      const s = (this.trackers.get(name) as Tracker).state;
      counts[s]++;
      if (STATE_RANK[s] > STATE_RANK[state]) {
        state = s;
        integration = name;
      }
    }
    return { state, integration, counts };
  }

  /** The queues whose alert is raised (as of the last evaluate), sorted by store, then queue. */
  alertedQueues(): Array<{ store: string; queue: string }> {
    const out: Array<{ store: string; queue: string }> = [];
    for (const q of this.queues.values()) if (q.alert) out.push({ store: q.store, queue: q.queue });
    return out.sort(byStoreAndQueue);
  }

  /** The figures of every integration and queue, with the states and alerts of the last evaluate. */
  snapshot(options: { series?: boolean; history?: boolean } = {}): HealthSnapshot {
    const now = this.now();
    const worst = this.worst();
    const integrations: Record<string, IntegrationSnapshot> = {};
    for (const name of this.names()) {
      integrations[name] = this.integrationSnapshot(this.trackers.get(name) as Tracker, now, options);
    }
    const out: HealthSnapshot = {
      time: new Date(now).toISOString(),
      windowSeconds: this.config.windowSeconds,
      state: worst.state,
      counts: worst.counts,
      integrations,
      queues: [...this.queues.values()].map((q) => this.queueSnapshot(q, now)).sort(byStoreAndQueue),
      refusals: [...this.refusals.values()]
        .map((r) => ({ ...r.count, lastAt: new Date(r.at).toISOString() }))
        .sort(
          (a, b) => cmp(a.integration, b.integration) || cmp(a.source, b.source) || cmp(a.reason, b.reason),
        ),
      checkpoints: [...this.checkpoints.entries()]
        .sort((a, b) => cmp(a[0], b[0]))
        .map(([checkpoint, c]) => ({
          checkpoint,
          highWater: new Date(c.highWater).toISOString(),
          lagSeconds: Math.max(0, (now - c.highWater) / 1000),
          lastCommitAt: c.lastCommitAt < 0 ? null : new Date(c.lastCommitAt).toISOString(),
          reportedAt: new Date(c.at).toISOString(),
        })),
    };
    if (this.sampleProcess) out.process = this.sampleProcess();
    return out;
  }

  private queueSnapshot(q: QueueTracker, now: number): QueueSnapshot {
    const stale = this.isStale(q, now);
    return {
      store: q.store,
      queue: q.queue,
      depth: q.last.depth,
      inFlight: q.last.inFlight,
      oldestAgeMs: this.ageOf(q, now, stale),
      deadLetters: q.last.deadLetters,
      deliveredTotal: q.last.deliveredTotal,
      deadTotal: q.last.deadTotal,
      reportedAt: new Date(q.at).toISOString(),
      stale,
      alert: q.alert,
      reasons: q.alert && q.reasons.length === 0 ? q.alertReasons : q.reasons,
    };
  }

  private integrationSnapshot(
    tr: Tracker,
    now: number,
    options: { series?: boolean; history?: boolean },
  ): IntegrationSnapshot {
    const s = tr.window.stats(now, true);
    const q = s.quantiles as number[];
    const covered =
      tr.firstEventAt < 0 ? this.windowMs : Math.min(this.windowMs, Math.max(1000, now - tr.firstEventAt));
    const out: IntegrationSnapshot = {
      integration: tr.name,
      state: tr.state,
      stateSince: tr.state === "unknown" && tr.lastEventAt < 0 ? null : new Date(tr.stateSince).toISOString(),
      alert: tr.alert,
      reasons: tr.alert && tr.reasons.length === 0 ? tr.alertReasons : tr.reasons,
      total: s.total,
      successes: s.total - s.failures,
      failures: s.failures,
      successRate: s.total > 0 ? (s.total - s.failures) / s.total : null,
      latencyMs:
        s.total > 0
          ? {
              mean: s.sumMs / s.total,
              p50: q[0],
              p95: q[1],
              p99: q[2],
              min: s.minMs,
              max: s.maxMs,
              exact: s.exact === true,
            }
          : null,
      throughput: s.total / (covered / 1000),
      consecutiveFailures: tr.consecutive,
      lastError:
        tr.lastError === null ? null : { error: tr.lastError, time: new Date(tr.lastErrorAt).toISOString() },
      lastEventAt: tr.lastEventAt < 0 ? null : new Date(tr.lastEventAt).toISOString(),
      lifetime: {
        total: tr.lifeTotal,
        failures: tr.lifeFailures,
        latencySumMs: tr.lifeSumMs,
        latencyBuckets: cumulative(tr.lifeBuckets),
      },
    };
    if (options.series === true) out.series = tr.window.series(now);
    if (options.history === true) out.history = tr.history.series(now);
    return out;
  }
}

/** The running totals of the first n-1 counts (the last count is only in the total). */
function cumulative(counts: Float64Array): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < counts.length - 1; i++) out.push((sum += counts[i]));
  return out;
}

/** When an event happened: its own time, unless absent, negative or after now (then now). */
function eventTime(time: number | undefined, now: number): number {
  return time !== undefined && time >= 0 && time <= now ? time : now;
}
