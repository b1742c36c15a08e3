import { expect } from "chai";
import { mulberry32 } from "../../../sandbox/pms/data";
import { Scheduler, type Entry } from "../../../lib/store/scheduler";

function entry(id: number, key: string | null, nextAt = 0, enqueuedAt = id): Entry {
  return { id, key, enqueuedAt, attempt: 0, nextAt, leaseUntil: 0 };
}

const ids = (list: Entry[]): number[] => list.map((e) => e.id);

/**
 * The scheduler's rules written the slow and obvious way: every call scans every entry. A message
 * waits for the messages its key holds before it (in the order they were added); a waiting head
 * whose time has come becomes runnable, earlier time first and the older id first at one time, and
 * stays ahead of those that become runnable after it.
 */
class Model {
  entries: Entry[] = [];
  runnable: Entry[] = [];
  inFlight: Entry[] = [];

  private head(e: Entry): boolean {
    return e.key === null || this.entries.find((x) => x.key === e.key) === e;
  }

  private promote(now: number): void {
    const fresh = this.entries
      .filter((e) => e.leaseUntil === 0 && e.nextAt <= now && this.head(e) && !this.runnable.includes(e))
      .sort((a, b) => a.nextAt - b.nextAt || a.id - b.id);
    this.runnable.push(...fresh);
  }

  add(e: Entry): void {
    this.entries.push(e);
    if (e.leaseUntil > 0) this.inFlight.push(e);
  }

  take(max: number, now: number, visibilityMs: number): Entry[] {
    this.promote(now);
    const out = this.runnable.splice(0, max);
    for (const e of out) {
      e.attempt += 1;
      e.leaseUntil = now + visibilityMs;
      this.inFlight.push(e);
    }
    return out;
  }

  remove(id: number): Entry | undefined {
    const e = this.entries.find((x) => x.id === id);
    if (!e) return undefined;
    this.entries = this.entries.filter((x) => x !== e);
    this.runnable = this.runnable.filter((x) => x !== e);
    this.inFlight = this.inFlight.filter((x) => x !== e);
    return e;
  }

  retryAt(id: number, at: number): void {
    const e = this.entries.find((x) => x.id === id);
    if (!e) return;
    this.inFlight = this.inFlight.filter((x) => x !== e);
    e.leaseUntil = 0;
    e.nextAt = at;
  }

  expire(now: number): Entry[] {
    const out = this.inFlight.filter((e) => e.leaseUntil <= now);
    for (const e of out) this.retryAt(e.id, now);
    return out;
  }

  releaseAll(now: number): Entry[] {
    const out = [...this.inFlight];
    for (const e of out) this.retryAt(e.id, now);
    return out;
  }

  nextDueInMs(now: number): number | undefined {
    this.promote(now);
    if (this.runnable.length > 0) return 0;
    const times = [
      ...this.entries.filter((e) => e.leaseUntil === 0 && this.head(e)).map((e) => e.nextAt - now),
      ...this.inFlight.map((e) => Math.max(0, e.leaseUntil - now)),
    ];
    return times.length === 0 ? undefined : Math.min(...times);
  }

  oldestEnqueuedAt(): number | undefined {
    return this.entries.length === 0 ? undefined : Math.min(...this.entries.map((e) => e.enqueuedAt));
  }
}

describe("lib/store scheduler", () => {
  it("hands out the messages of one key one at a time, in the order they were added", () => {
    const s = new Scheduler();
    for (const id of [1, 2, 3]) s.add(entry(id, "k"));
    expect(ids(s.take(10, 0, 1000))).to.deep.equal([1]);
    expect(ids(s.take(10, 0, 1000)), "the key is busy").to.deep.equal([]);
    s.remove(1);
    expect(ids(s.take(10, 0, 1000))).to.deep.equal([2]);
    s.remove(2);
    expect(ids(s.take(10, 0, 1000))).to.deep.equal([3]);
    s.remove(3);
    expect(s.size).to.equal(0);
    expect(s.nextDueInMs(0)).to.equal(undefined);
  });

  it("keeps a key's later messages behind one waiting for its retry, and hands it out again at its time", () => {
    const s = new Scheduler();
    s.add(entry(1, "k"));
    s.add(entry(2, "k"));
    s.add(entry(3, null));
    expect(ids(s.take(10, 0, 1000))).to.deep.equal([1, 3]);
    s.retryAt(1, 500);
    expect(s.inFlightCount).to.equal(1);
    expect(ids(s.take(10, 499, 1000)), "1 not yet due, 2 behind it").to.deep.equal([]);
    expect(s.nextDueInMs(100)).to.equal(400);
    const [again] = s.take(10, 500, 1000);
    expect([again.id, again.attempt, again.leaseUntil]).to.deep.equal([1, 2, 1500]);
  });

  it("hands out the heads of different keys and messages without a key together, up to the number asked", () => {
    const s = new Scheduler();
    s.add(entry(1, "a"));
    s.add(entry(2, "a"));
    s.add(entry(3, "b"));
    s.add(entry(4, null));
    s.add(entry(5, null));
    expect(ids(s.take(3, 0, 1000))).to.deep.equal([1, 3, 4]);
    expect(ids(s.take(3, 0, 1000))).to.deep.equal([5]);
    expect(s.inFlightCount).to.equal(4);
  });

  it("hands out what is due earliest first, the older message first at one time, and nothing before its time", () => {
    const s = new Scheduler();
    s.add(entry(1, null, 300));
    s.add(entry(2, null, 100));
    s.add(entry(3, null, 200));
    s.add(entry(4, null, 100));
    expect(s.nextDueInMs(0)).to.equal(100);
    expect(ids(s.take(10, 99, 1000))).to.deep.equal([]);
    expect(ids(s.take(10, 300, 1000))).to.deep.equal([2, 4, 3, 1]);
  });

  it("makes an in-flight message whose visibility ran out waiting again at once, and counts the next delivery", () => {
    const s = new Scheduler();
    s.add(entry(1, "k"));
    s.add(entry(2, "k"));
    s.take(10, 0, 1000);
    expect(s.nextDueInMs(0), "until the visibility runs out").to.equal(1000);
    expect(ids(s.expire(999))).to.deep.equal([]);
    expect(ids(s.expire(1000))).to.deep.equal([1]);
    expect(s.get(1)).to.include({ leaseUntil: 0, nextAt: 1000 });
    expect(ids(s.take(10, 1000, 1000))).to.deep.equal([1]);
    expect(s.get(1)?.attempt).to.equal(2);
  });

  it("takes in-flight messages back on release, each waiting at once", () => {
    const s = new Scheduler();
    s.add(entry(1, null));
    s.add(entry(2, null));
    s.take(10, 0, 60_000);
    expect(ids(s.releaseAll(5))).to.deep.equal([1, 2]);
    expect(s.inFlightCount).to.equal(0);
    expect(ids(s.take(10, 5, 60_000))).to.deep.equal([1, 2]);
  });

  it("keeps a message loaded in flight in flight until its visibility runs out, holding its key", () => {
    const s = new Scheduler();
    s.add({ ...entry(1, "k"), attempt: 1, leaseUntil: 2000 });
    s.add(entry(2, "k"));
    expect(s.inFlightCount).to.equal(1);
    expect(ids(s.take(10, 1000, 1000))).to.deep.equal([]);
    expect(s.nextDueInMs(1000)).to.equal(1000);
    expect(ids(s.expire(2000))).to.deep.equal([1]);
    expect(ids(s.take(10, 2000, 1000))).to.deep.equal([1]);
  });

  it("gives the next of a key its turn when a waiting head is removed, and ignores unknown ids", () => {
    const s = new Scheduler();
    s.add(entry(1, "k", 1000));
    s.add(entry(2, "k", 0));
    expect(s.nextDueInMs(0)).to.equal(1000);
    expect(s.remove(1)?.id).to.equal(1);
    expect(s.remove(1)).to.equal(undefined);
    s.retryAt(1, 0);
    expect(s.nextDueInMs(0)).to.equal(0);
    expect(ids(s.take(10, 0, 10))).to.deep.equal([2]);
    expect(s.get(1)).to.equal(undefined);
  });

  it("removing a message behind its key's head leaves the head's turn alone", () => {
    const s = new Scheduler();
    for (const id of [1, 2, 3]) s.add(entry(id, "k"));
    s.take(10, 0, 100);
    s.remove(2);
    s.remove(1);
    expect(ids(s.take(10, 0, 100))).to.deep.equal([3]);
  });

  it("hands out a waiting message moved to a later time at the later time only", () => {
    const s = new Scheduler();
    s.add(entry(1, null, 100));
    s.retryAt(1, 500);
    expect(ids(s.take(10, 200, 1000))).to.deep.equal([]);
    expect(s.nextDueInMs(200)).to.equal(300);
    expect(ids(s.take(10, 500, 1000))).to.deep.equal([1]);
  });

  it("tells the oldest enqueue time of what it holds", () => {
    const s = new Scheduler();
    expect(s.oldestEnqueuedAt()).to.equal(undefined);
    s.add(entry(1, null, 0, 50));
    s.add(entry(2, null, 0, 20));
    s.add(entry(3, null, 0, 70));
    expect(s.oldestEnqueuedAt()).to.equal(20);
    s.remove(2);
    expect(s.oldestEnqueuedAt()).to.equal(50);
  });

  it("agrees with the rules' slow model over 150 seeded runs of adds, takes, retries, expiries and removals", () => {
    for (let seed = 1; seed <= 150; seed++) {
      const random = mulberry32(seed);
      const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
      const s = new Scheduler();
      const m = new Model();
      let now = 0;
      let next = 1;
      const at = (step: string): string => `seed ${seed}, ${step} at ${now}`;
      for (let step = 0; step < 200; step++) {
        const roll = random();
        if (roll < 0.35) {
          const key = random() < 0.3 ? null : pick(["a", "b", "c", "d"]);
          const nextAt = now + Math.floor(random() * 40) - 10;
          const enqueuedAt = Math.floor(random() * 1000);
          const fresh = entry(next++, key, nextAt, enqueuedAt);
          s.add({ ...fresh });
          m.add({ ...fresh });
        } else if (roll < 0.6) {
          const max = 1 + Math.floor(random() * 4);
          const vis = 5 + Math.floor(random() * 30);
          const got = s.take(max, now, vis).map((e) => [e.id, e.attempt, e.leaseUntil]);
          const want = m.take(max, now, vis).map((e) => [e.id, e.attempt, e.leaseUntil]);
          expect(got, at("take")).to.deep.equal(want);
        } else if (roll < 0.7 && m.entries.length > 0) {
          const id = random() < 0.7 && m.inFlight.length > 0 ? pick(m.inFlight).id : pick(m.entries).id;
          const when = now + Math.floor(random() * 30);
          s.retryAt(id, when);
          m.retryAt(id, when);
        } else if (roll < 0.82 && m.entries.length > 0) {
          const id = random() < 0.8 && m.inFlight.length > 0 ? pick(m.inFlight).id : pick(m.entries).id;
          expect(s.remove(id)?.id, at("remove")).to.equal(m.remove(id)?.id);
        } else if (roll < 0.88) {
          expect(ids(s.expire(now)), at("expire")).to.deep.equal(ids(m.expire(now)));
        } else if (roll < 0.9) {
          expect(ids(s.releaseAll(now)), at("releaseAll")).to.deep.equal(ids(m.releaseAll(now)));
        } else {
          now += Math.floor(random() * 15);
        }
        expect(s.nextDueInMs(now), at("nextDueInMs")).to.equal(m.nextDueInMs(now));
        expect([s.size, s.inFlightCount, s.oldestEnqueuedAt()], at("counts")).to.deep.equal([
          m.entries.length,
          m.inFlight.length,
          m.oldestEnqueuedAt(),
        ]);
      }
    }
  });
});
