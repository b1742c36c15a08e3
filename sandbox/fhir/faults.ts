import type { FaultSpec } from "./server";

const STATUSES = new Set([429, 500, 502, 503, 504]);
const TARGETS = new Set(["fhir", "token", "any"]);

/** Throws a TypeError naming what is wrong with a fault description. */
export function checkFault(count: unknown, fault: unknown): asserts fault is FaultSpec {
  if (!Number.isInteger(count) || (count as number) < 1)
    throw new TypeError("count must be a positive integer");
  if (fault === null || typeof fault !== "object" || Array.isArray(fault))
    throw new TypeError("fault must be an object");
  const f = fault as Record<string, unknown>;
  if (f.status !== undefined && !STATUSES.has(f.status as number)) {
    throw new TypeError("fault.status must be 429, 500, 502, 503 or 504");
  }
  if (f.retryAfter !== undefined) {
    const ok =
      (typeof f.retryAfter === "number" && Number.isFinite(f.retryAfter) && f.retryAfter >= 0) ||
      (typeof f.retryAfter === "string" && f.retryAfter.trim() !== "" && !/[\r\n]/.test(f.retryAfter));
    if (!ok) throw new TypeError("fault.retryAfter must be seconds (>= 0) or an HTTP-date");
  }
  if (f.drop !== undefined && typeof f.drop !== "boolean")
    throw new TypeError("fault.drop must be a boolean");
  if (f.after !== undefined && typeof f.after !== "boolean")
    throw new TypeError("fault.after must be a boolean");
  if (
    f.delayMs !== undefined &&
    !(typeof f.delayMs === "number" && Number.isFinite(f.delayMs) && f.delayMs >= 0)
  ) {
    throw new TypeError("fault.delayMs must be a number >= 0");
  }
  if (f.target !== undefined && !TARGETS.has(f.target as string)) {
    throw new TypeError('fault.target must be "fhir", "token" or "any"');
  }
  if (f.status === undefined && !f.drop && f.delayMs === undefined) {
    throw new TypeError("a fault needs a status, drop or delayMs");
  }
}

/** FIFO of injected faults; each request takes (at most) one from the first entry aimed at its route. */
export class FaultQueue {
  private readonly queue: { fault: FaultSpec; remaining: number }[] = [];

  next(count: number, fault: FaultSpec): void {
    checkFault(count, fault);
    this.queue.push({ fault: { ...fault }, remaining: count });
  }

  clear(): void {
    this.queue.length = 0;
  }

  pending(): number {
    return this.queue.reduce((n, e) => n + e.remaining, 0);
  }

  take(route: "fhir" | "token"): FaultSpec | undefined {
    const index = this.queue.findIndex(
      (e) => (e.fault.target ?? "fhir") === route || e.fault.target === "any",
    );
    if (index < 0) return undefined;
    const entry = this.queue[index];
    entry.remaining--;
    if (entry.remaining === 0) this.queue.splice(index, 1);
    return entry.fault;
  }
}
