/**
 * Whose turn it is, in memory, for one queue of an embedded store: every committed message that
 * is waiting or in flight. Messages with the same key go one at a time, in id order (a message
 * waiting for its retry holds its key); messages without a key, and the heads of different keys,
 * go in parallel. Every operation is O(1) or O(log n) in the number of messages held.
 */

export interface Entry {
  id: number;
  key: string | null;
  enqueuedAt: number;
  /** Deliveries started so far. */
  attempt: number;
  /** Not before this (epoch ms). */
  nextAt: number;
  /** In flight until (epoch ms); 0 when waiting. */
  leaseUntil: number;
}

interface Due {
  at: number;
  entry: Entry;
}

/** Earlier time first; at the same time, the older message. */
function before(x: Due, y: Due): boolean {
  return x.at < y.at || (x.at === y.at && x.entry.id < y.entry.id);
}

/**
 * A binary min-heap of heads by the time they were due when pushed; an entry whose time changed
 * since is pushed again, and the old item is skipped when it surfaces.
 */
class DueHeap {
  private readonly items: Due[] = [];

  peek(): Due | undefined {
    return this.items[0];
  }

  push(entry: Entry): void {
    const a = this.items;
    a.push({ at: entry.nextAt, entry });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i], a[parent])) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }

  pop(): Due | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

export class Scheduler {
  private readonly entries = new Map<number, Entry>();
  /** Per key, its entries in id order; the first is the key's head. */
  private readonly byKey = new Map<string, Entry[]>();
  /** Heads whose time has come, in the order they became runnable. */
  private readonly runnable = new Set<Entry>();
  /** Heads waiting for their time. Entries that left are skipped when they surface. */
  private readonly due = new DueHeap();
  private readonly inFlight = new Set<Entry>();

  get size(): number {
    return this.entries.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get(id: number): Entry | undefined {
    return this.entries.get(id);
  }

  /** A committed message; it goes behind the messages its key already holds. */
  add(entry: Entry): void {
    this.entries.set(entry.id, entry);
    if (entry.key !== null) {
      const list = this.byKey.get(entry.key);
      if (list) {
        list.push(entry);
        if (list[0] !== entry) return;
      } else {
        this.byKey.set(entry.key, [entry]);
      }
    }
    if (entry.leaseUntil > 0) this.inFlight.add(entry);
    else this.wake(entry);
  }

  private wake(head: Entry): void {
    this.due.push(head);
  }

  /** True while a heap item still stands for a waiting head. */
  private current(item: Due): boolean {
    const entry = item.entry;
    if (this.entries.get(entry.id) !== entry || entry.leaseUntil !== 0 || entry.nextAt !== item.at)
      return false;
    return entry.key === null || this.byKey.get(entry.key)?.[0] === entry;
  }

  /** Moves heads whose time has come to the runnable set. */
  private promote(now: number): void {
    for (let top = this.due.peek(); top && top.at <= now; top = this.due.peek()) {
      this.due.pop();
      if (this.current(top)) this.runnable.add(top.entry);
    }
  }

  /** Up to `max` messages whose turn has come, marked in flight until now + visibility. */
  take(max: number, now: number, visibilityMs: number): Entry[] {
    this.promote(now);
    const out: Entry[] = [];
    for (const entry of this.runnable) {
      if (out.length >= max) break;
      this.runnable.delete(entry);
      entry.attempt += 1;
      entry.leaseUntil = now + visibilityMs;
      this.inFlight.add(entry);
      out.push(entry);
    }
    return out;
  }

  /** Delivered or dead: the entry leaves and the next of its key gets its turn. */
  remove(id: number): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.inFlight.delete(entry);
    this.runnable.delete(entry);
    if (entry.key !== null) {
      const list = this.byKey.get(entry.key);
      if (list) {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) this.byKey.delete(entry.key);
        else if (at === 0 && list[0].leaseUntil === 0) this.wake(list[0]);
      }
    }
    return entry;
  }

  /** Back to waiting, still the head of its key, until `at`. */
  retryAt(id: number, at: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.inFlight.delete(entry);
    entry.leaseUntil = 0;
    entry.nextAt = at;
    this.wake(entry);
  }

  /** In-flight entries whose visibility ran out by `now`, made waiting again. */
  expire(now: number): Entry[] {
    const out: Entry[] = [];
    for (const entry of this.inFlight) {
      if (entry.leaseUntil <= now) out.push(entry);
    }
    for (const entry of out) this.retryAt(entry.id, now);
    return out;
  }

  /** Every in-flight entry made waiting again, now. */
  releaseAll(now: number): Entry[] {
    const out = [...this.inFlight];
    for (const entry of out) this.retryAt(entry.id, now);
    return out;
  }

  /** Ms until some entry may be taken: 0 if one can now, undefined if none waits. */
  nextDueInMs(now: number): number | undefined {
    this.promote(now);
    if (this.runnable.size > 0) return 0;
    let best: number | undefined;
    for (let top = this.due.peek(); top; top = this.due.peek()) {
      if (this.current(top)) {
        best = Math.max(0, top.at - now);
        break;
      }
      this.due.pop();
    }
    for (const entry of this.inFlight) {
      const ms = Math.max(0, entry.leaseUntil - now);
      if (best === undefined || ms < best) best = ms;
    }
    return best;
  }

  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.entries.values()) {
      if (oldest === undefined || entry.enqueuedAt < oldest) oldest = entry.enqueuedAt;
    }
    return oldest;
  }
}
