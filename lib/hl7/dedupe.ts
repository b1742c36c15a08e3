import type { Hl7Header } from "./message";

/**
 * De-duplication of received messages by sending application, sending facility and control
 * ID (MSH-3, MSH-4, MSH-10 exactly as written), within a window.
 *
 * Only accepted outcomes (AA/CA, or "forwarded" without ACKs) are remembered: a message that
 * was answered AE/AR was not stored, so its resend must be processed again. A repeat that
 * arrives while the original is still with the flow waits for the original's answer and
 * gets the same code.
 */
export function dedupeKey(h: Hl7Header): string {
  return `${h.msh[3] ?? ""}\u0000${h.msh[4] ?? ""}\u0000${h.msh[10] ?? ""}`;
}

export type DedupeState =
  { state: "new" } | { state: "done"; code: string } | { state: "pending"; wait: Promise<string> };

interface Pending {
  waiters: Array<(code: string) => void>;
}

export interface DedupeSnapshot {
  /** [key, code, expires epoch ms] */
  entries: Array<[string, string, number]>;
}

export class DedupeCache {
  private readonly done = new Map<string, { code: string; expires: number }>();
  private readonly pending = new Map<string, Pending>();
  /** Set when entries changed since the last snapshot. */
  dirty = false;

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.done.size;
  }

  /** What to do with a message with this key. A "new" key is now pending: settle it. */
  check(key: string): DedupeState {
    const hit = this.done.get(key);
    if (hit) {
      if (hit.expires > this.now()) return { state: "done", code: hit.code };
      this.done.delete(key);
    }
    const p = this.pending.get(key);
    if (p) return { state: "pending", wait: new Promise<string>((resolve) => p.waiters.push(resolve)) };
    this.pending.set(key, { waiters: [] });
    return { state: "new" };
  }

  /** The original's outcome: remembered when accepted, forgotten otherwise. */
  settle(key: string, code: string): void {
    const p = this.pending.get(key);
    this.pending.delete(key);
    if (code === "AA" || code === "CA") {
      this.done.delete(key);
      this.done.set(key, { code, expires: this.now() + this.windowMs });
      this.dirty = true;
      this.prune();
    }
    for (const w of p?.waiters ?? []) w(code);
  }

  private prune(): void {
    const t = this.now();
    for (const [k, v] of this.done) {
      if (v.expires > t && this.done.size <= this.maxEntries) break;
      this.done.delete(k);
    }
  }

  snapshot(): DedupeSnapshot {
    this.prune();
    this.dirty = false;
    return { entries: [...this.done].map(([k, v]) => [k, v.code, v.expires]) };
  }

  restore(snap: unknown): void {
    const entries = (snap as DedupeSnapshot | undefined)?.entries;
    if (!Array.isArray(entries)) return;
    const t = this.now();
    for (const e of entries) {
      if (
        !Array.isArray(e) ||
        typeof e[0] !== "string" ||
        typeof e[1] !== "string" ||
        typeof e[2] !== "number"
      )
        continue;
      if (e[2] > t && !this.done.has(e[0])) this.done.set(e[0], { code: e[1], expires: e[2] });
    }
  }
}
