import type { QueueStats } from "../store/types";
import { EventEmitter } from "node:events";

/** One outcome of one call of an integration, as every node of the pack reports it. */
export interface HealthEvent {
  integration: string;
  success: boolean;
  durationMs: number;
  /** A stable error code or a short text free of PHI. */
  error?: string;
  /** The node type that reported it. */
  source?: string;
  /** Epoch ms; set by reportHealth when absent. */
  time?: number;
}

const BUS_KEY = Symbol.for("@healthbridge/node-red-pms-ehr/health-bus");

type GlobalWithBus = typeof globalThis & { [BUS_KEY]?: EventEmitter };

/**
 * Process-wide, so that every node of the pack in one runtime reaches every health-monitor,
 * even if two copies of this module are loaded.
 */
export function healthBus(): EventEmitter {
  const g = globalThis as GlobalWithBus;
  let bus = g[BUS_KEY];
  if (!bus) {
    bus = new EventEmitter();
    bus.setMaxListeners(0);
    g[BUS_KEY] = bus;
  }
  return bus;
}

/** Emits a report to the bus's listeners, stamped with the time now unless it has one; nothing without listeners. */
function emitTimed<T extends { time?: number }>(event: string, report: T): void {
  const bus = healthBus();
  if (bus.listenerCount(event) === 0) return;
  bus.emit(event, report.time === undefined ? { ...report, time: Date.now() } : report);
}

export const HEALTH_EVENT = "health";

export function reportHealth(event: HealthEvent): void {
  emitTimed(HEALTH_EVENT, event);
}

/** A durable queue's state, reported by `durable-queue` whenever it changes (at most about once a second). */
export interface QueueMetrics extends QueueStats {
  /** The message-store config node's name, or its id when it has none. */
  store: string;
  /** Epoch ms; set by reportQueue when absent. */
  time?: number;
}

export const QUEUE_EVENT = "queue";

export function reportQueue(metrics: QueueMetrics): void {
  emitTimed(QUEUE_EVENT, metrics);
}

/**
 * A listener refused a connection or a frame (or flagged a message), e.g. `mllp-in` refusing
 * a frame over its limits. Counted by health-monitor, not judged: the outcome of a message
 * that was refused is reported as a failed HealthEvent as well.
 */
export interface RefusalEvent {
  integration: string;
  /** The node type that refused. */
  source: string;
  /** A stable reason: lower-case letters, digits and `_`, e.g. `budget`. */
  reason: string;
  /** Epoch ms; set by reportRefusal when absent. */
  time?: number;
}

export const REFUSAL_EVENT = "refusal";

export function reportRefusal(event: RefusalEvent): void {
  emitTimed(REFUSAL_EVENT, event);
}

/**
 * A checkpoint's watermark, reported by `sync-checkpoint` when a run starts from it (`get`) and
 * when a run moves it (`commit`). Names only, never record data.
 */
export interface CheckpointReport {
  checkpoint: string;
  /** The watermark (ISO instant) after the action. */
  highWater: string;
  /** Whether a run committed (else a run started from the watermark). */
  committed: boolean;
  /** Epoch ms; set by reportCheckpoint when absent. */
  time?: number;
}

export const CHECKPOINT_EVENT = "checkpoint";

export function reportCheckpoint(report: CheckpointReport): void {
  emitTimed(CHECKPOINT_EVENT, report);
}
