interface Entry {
  key: string;
  expiresAtMs: number;
}

/**
 * The seen-ids store behind replay protection: bounded by count (oldest first out) and by
 * time (each entry expires when a replay of its request could no longer pass the timestamp
 * check anyway). Age order is kept in an array queue beside the lookup Map: evicting from the
 * front of a Map by iteration slows down as deleted slots pile up at its front.
 */
export class SeenIds {
  private readonly entries = new Map<string, Entry>();
  /** Oldest first; an entry the Map no longer points to is stale and skipped. */
  private queue: Entry[] = [];
  private head = 0;

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError("maxEntries must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string, nowMs: number): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (entry.expiresAtMs <= nowMs) {
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
    const entry = { key, expiresAtMs: previous ? Math.max(previous.expiresAtMs, expiresAtMs) : expiresAtMs };
    this.entries.set(key, entry);
    this.queue.push(entry);
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
      if (current === undefined || current.expiresAtMs < item[1]) this.add(item[0], item[1], nowMs);
    }
  }

  /** Unexpired entries, oldest first, as JSON-safe pairs. */
  snapshot(nowMs: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const entry = this.queue[i];
      if (this.entries.get(entry.key) === entry && entry.expiresAtMs > nowMs)
        out.push([entry.key, entry.expiresAtMs]);
    }
    return out;
  }

  clear(): void {
    this.entries.clear();
    this.queue = [];
    this.head = 0;
  }

  private evict(nowMs: number): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head];
      const live = this.entries.get(entry.key) === entry;
      if (live && this.entries.size <= this.maxEntries && entry.expiresAtMs > nowMs) break;
      if (live) this.entries.delete(entry.key);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
