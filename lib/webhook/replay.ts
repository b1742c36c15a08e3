/**
 * The seen-ids store behind replay protection: bounded by count (oldest first out) and by
 * time (each entry expires when a replay of its request could no longer pass the timestamp
 * check anyway).
 */
export class SeenIds {
  /** key -> expiry (epoch ms); Map order is insertion order, oldest first. */
  private readonly entries = new Map<string, number>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError("maxEntries must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string, nowMs: number): boolean {
    const expiry = this.entries.get(key);
    if (expiry === undefined) return false;
    if (expiry <= nowMs) {
      this.entries.delete(key);
      return false;
    }
    return true;
  }

  hasAny(keys: readonly string[], nowMs: number): boolean {
    let seen = false;
    for (const key of keys) if (this.has(key, nowMs)) seen = true;
    return seen;
  }

  add(key: string, expiresAtMs: number, nowMs: number): void {
    if (expiresAtMs <= nowMs) return;
    const previous = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, previous === undefined ? expiresAtMs : Math.max(previous, expiresAtMs));
    this.evict(nowMs);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Merges entries saved elsewhere (a context store), keeping the later expiry of each key. */
  load(saved: unknown, nowMs: number): void {
    if (!Array.isArray(saved)) return;
    for (const item of saved) {
      if (!Array.isArray(item) || typeof item[0] !== "string" || typeof item[1] !== "number") continue;
      const current = this.entries.get(item[0]);
      if (item[1] > nowMs && (current === undefined || current < item[1])) this.entries.set(item[0], item[1]);
    }
    this.evict(nowMs);
  }

  /** Unexpired entries, oldest first, as JSON-safe pairs. */
  snapshot(nowMs: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [key, expiry] of this.entries) if (expiry > nowMs) out.push([key, expiry]);
    return out;
  }

  clear(): void {
    this.entries.clear();
  }

  private evict(nowMs: number): void {
    for (const [key, expiry] of this.entries) {
      if (this.entries.size <= this.maxEntries && expiry > nowMs) break;
      this.entries.delete(key);
    }
  }
}
