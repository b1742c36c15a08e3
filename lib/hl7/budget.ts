/**
 * The byte budget every `mllp-in` listener of the process draws on for the frames it holds
 * and has not handed to the flow yet: frames still arriving, frames waiting their turn, and
 * in `ack: flow` mode the message with the flow until it is answered. One budget for the
 * process, so that many listeners (or many connections to one) cannot together hold more
 * than it; a connection whose bytes would go over it is refused.
 */

export const DEFAULT_FRAME_BUDGET_BYTES = 64 * 1024 * 1024;

export class FrameBudget {
  private usedBytes = 0;
  private limitBytes: number;

  /** `limit` in bytes; 0 or less: no limit. */
  constructor(limit = DEFAULT_FRAME_BUDGET_BYTES) {
    this.limitBytes = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  }

  get used(): number {
    return this.usedBytes;
  }

  /** Bytes at most (Infinity: no limit). */
  get limit(): number {
    return this.limitBytes;
  }

  /** 0 or less: no limit. Bytes already taken stay taken (a lower limit only refuses new ones). */
  setLimit(limit: number): void {
    this.limitBytes = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  }

  /** Takes `bytes` when they fit; false (and nothing taken) when they would go over the limit. */
  take(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }
}

const BUDGET_KEY = Symbol.for("@healthbridge/node-red-pms-ehr/mllp-frame-budget");

/** The process-wide budget (one even when two copies of this module are loaded). */
export function sharedFrameBudget(): FrameBudget {
  const g = globalThis as typeof globalThis & { [BUDGET_KEY]?: FrameBudget };
  g[BUDGET_KEY] ??= new FrameBudget();
  return g[BUDGET_KEY];
}
