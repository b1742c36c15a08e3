import { expect } from "chai";
import { FhirError } from "../../../lib/fhir";
import { Limiter } from "../../../lib/fhir/limiter";
import { KeyedSerializer } from "../../../lib/fhir/serialize";

function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("lib/fhir limiter", () => {
  it("admits at most max holders and hands slots on in FIFO order", async () => {
    const limiter = new Limiter(2);
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const all = [0, 1, 2, 3, 4].map((i) =>
      limiter.acquire().then((release) => {
        order.push(i);
        releases.push(release);
      }),
    );
    await tick();
    expect(order).to.deep.equal([0, 1]);
    expect(limiter.inFlight).to.equal(2);
    expect(limiter.queued).to.equal(3);
    releases.shift()!();
    await tick();
    expect(order).to.deep.equal([0, 1, 2]);
    releases.shift()!();
    releases.shift()!();
    await tick();
    expect(order).to.deep.equal([0, 1, 2, 3, 4]);
    releases.splice(0).forEach((r) => r());
    await Promise.all(all);
    expect(limiter.inFlight).to.equal(0);
  });

  it("ignores a second release of the same slot", async () => {
    const limiter = new Limiter(1);
    const release = await limiter.acquire();
    release();
    release();
    expect(limiter.inFlight).to.equal(0);
    const again = await limiter.acquire();
    expect(limiter.inFlight).to.equal(1);
    again();
  });

  it("rejects waiters on close and keeps holders", async () => {
    const limiter = new Limiter(1);
    const held = await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.close(new FhirError("FHIR_CLOSED", "closed"));
    const err = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as FhirError).code).to.equal("FHIR_CLOSED");
    expect(limiter.inFlight).to.equal(1);
    held();
    const late = await limiter.acquire().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((late as FhirError).code).to.equal("FHIR_CLOSED");
  });

  it("drops an aborted waiter from the queue", async () => {
    const limiter = new Limiter(1);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    const next = limiter.acquire();
    controller.abort();
    const err = await aborted.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as FhirError).code).to.equal("FHIR_ABORTED");
    expect(limiter.queued).to.equal(1);
    held();
    (await next)();
    expect(limiter.inFlight).to.equal(0);
  });
});

describe("lib/fhir per-key serialisation", () => {
  it("runs tasks of one key one at a time, in arrival order", async () => {
    const s = new KeyedSerializer();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((g, i) =>
      s.run("Patient?identifier=a", async () => {
        log.push(`start ${i}`);
        await g.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    await tick();
    expect(log).to.deep.equal(["start 0"]);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await tick();
    expect(log).to.deep.equal(["start 0"]);
    gates[0]!.resolve();
    expect(await Promise.all(runs)).to.deep.equal([0, 1, 2]);
    expect(log).to.deep.equal(["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
    await tick();
    expect(s.pendingKeys).to.equal(0);
  });

  it("runs different keys (and unkeyed tasks) in parallel", async () => {
    const s = new KeyedSerializer();
    const gate = deferred();
    let started = 0;
    const task = async () => {
      started++;
      await gate.promise;
    };
    const runs = [s.run("a", task), s.run("b", task), s.run(undefined, task), s.run(undefined, task)];
    await tick();
    expect(started).to.equal(4);
    gate.resolve();
    await Promise.all(runs);
  });

  it("goes on with the next task of a key after one fails", async () => {
    const s = new KeyedSerializer();
    const first = s.run("k", () => Promise.reject(new Error("boom")));
    const second = s.run("k", () => Promise.resolve("ok"));
    const err = await first.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.equal("boom");
    expect(await second).to.equal("ok");
  });
});
