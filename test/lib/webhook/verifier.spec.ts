import { expect } from "chai";
import { headersFromObject } from "../../../lib/legacy/pms-hmac";
import { signWebhook } from "../../../lib/webhook/schemes";
import {
  parsePayload,
  UNTIMED_KEEP_MS,
  WebhookVerifier,
  type Outcome,
  type SeenKeys,
  type SeenList,
} from "../../../lib/webhook/verifier";
import type { PackError } from "../../../lib/errors";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteMessageStore } from "../../../lib/store/sqlite";

const SECRET = "whsec_" + Buffer.from("verifier-test-key-0123456789abcd").toString("base64");
const NOW = Date.parse("2025-01-06T08:00:00.000Z");

function delivery(id: string, body = '{"eventType":"patient.updated","resourceId":"pat-00001"}', at = NOW) {
  const headers = signWebhook({
    scheme: "standard-webhooks",
    secret: SECRET,
    id,
    body,
    timestamp: new Date(at),
  });
  return {
    method: "POST",
    pathWithQuery: "/hooks",
    headers: headersFromObject(headers),
    body: Buffer.from(body),
  };
}

/** A store that keeps what it is given, as a context store would, and can be told to fail. */
class MemoryPersistence implements SeenList {
  saved: unknown;
  failLoad = false;
  failSave = false;
  saves = 0;
  async load(): Promise<unknown> {
    if (this.failLoad) throw new Error("store down");
    return structuredClone(this.saved);
  }
  async save(snapshot: Array<[string, number]>): Promise<void> {
    if (this.failSave) throw new Error("store down");
    this.saves++;
    this.saved = structuredClone(snapshot);
  }
}

const make = (extra: Partial<ConstructorParameters<typeof WebhookVerifier>[0]> = {}) =>
  new WebhookVerifier({
    scheme: "standard-webhooks",
    secrets: SECRET,
    toleranceSeconds: 300,
    maxBytes: 1024,
    maxIds: 100,
    ...extra,
  });

describe("lib/webhook/verifier WebhookVerifier", () => {
  it("verifies, parses the body and names the event", async () => {
    const out = await make().check(delivery("msg_1"), NOW);
    expect(out).to.deep.equal({
      kind: "verified",
      status: 202,
      id: "msg_1",
      timestampMs: NOW,
      eventType: "patient.updated",
      payload: { eventType: "patient.updated", resourceId: "pat-00001" },
    });
  });

  it("answers a repeat of a verified id as a duplicate (202), a forged repeat as a rejection", async () => {
    const v = make();
    expect((await v.check(delivery("msg_1"), NOW)).kind).to.equal("verified");
    // The sender's retry: same id, fresh timestamp and signature.
    const retry = await v.check(delivery("msg_1", undefined, NOW + 5000), NOW + 5000);
    expect(retry).to.deep.include({
      kind: "duplicate",
      status: 202,
      reason: "duplicate",
      code: "WEBHOOK_DUPLICATE",
    });
    const forged = delivery("msg_1");
    forged.body = Buffer.from('{"eventType":"patient.deleted"}');
    expect(await v.check(forged, NOW)).to.deep.include({
      kind: "rejected",
      reason: "signature",
      status: 401,
    });
  });

  it("with maxIds 0 forwards every verified repeat (a durable queue de-duplicates after its commit) and still rejects forgeries", async () => {
    const store = { saved: 0, load: async () => undefined, save: async () => void (store.saved += 1) };
    const v = make({ maxIds: 0, persistence: store });
    expect((await v.check(delivery("msg_0"), NOW)).kind).to.equal("verified");
    expect((await v.check(delivery("msg_0", undefined, NOW + 5000), NOW + 5000)).kind).to.equal("verified");
    expect(store.saved).to.equal(0);
    const forged = delivery("msg_0");
    forged.body = Buffer.from('{"eventType":"patient.deleted"}');
    expect((await v.check(forged, NOW)).kind).to.equal("rejected");
  });

  it("forwards one of two copies arriving together", async () => {
    const v = make();
    const outs = await Promise.all([v.check(delivery("msg_2"), NOW), v.check(delivery("msg_2"), NOW)]);
    expect(outs.map((o) => o.kind).sort()).to.deep.equal(["duplicate", "verified"]);
  });

  it("forgets an id once a replay of it would be stale anyway", async () => {
    const v = make();
    await v.check(delivery("msg_3"), NOW);
    expect(v.seenCount).to.equal(1);
    const later = NOW + 301_000;
    expect((await v.check(delivery("msg_3", undefined, later), later)).kind).to.equal("verified");
  });

  it("refuses a body over maxBytes with 413 before anything else", async () => {
    const big = delivery("msg_4", JSON.stringify({ pad: "x".repeat(2000) }));
    expect(await make().check(big, NOW)).to.deep.equal({
      kind: "rejected",
      status: 413,
      reason: "too-large",
      code: "WEBHOOK_TOO_LARGE",
    });
  });

  it("keeps seen ids in the persistence, so a new verifier (a restart) still knows them", async () => {
    const store = new MemoryPersistence();
    expect((await make({ persistence: store }).check(delivery("msg_5"), NOW)).kind).to.equal("verified");
    expect(store.saves).to.equal(1);
    const restarted = make({ persistence: store });
    expect((await restarted.check(delivery("msg_5"), NOW + 1000)).kind).to.equal("duplicate");
    expect(store.saves).to.equal(1);
  });

  it("fails with WEBHOOK_STORE when the store fails, and does not remember an id it could not save", async () => {
    const store = new MemoryPersistence();
    const v = make({ persistence: store });
    store.failSave = true;
    let caught: unknown;
    try {
      await v.check(delivery("msg_6"), NOW);
    } catch (err) {
      caught = err;
    }
    expect((caught as PackError).code).to.equal("WEBHOOK_STORE");
    store.failSave = false;
    expect((await v.check(delivery("msg_6"), NOW)).kind).to.equal("verified");
    store.failLoad = true;
    try {
      await v.check(delivery("msg_7"), NOW);
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("WEBHOOK_STORE");
    }
    store.failLoad = false;
    const after: Outcome = await v.check(delivery("msg_8"), NOW);
    expect(after.kind).to.equal("verified");
  });

  it("validates its options and secrets with WEBHOOK_CONFIG", () => {
    for (const extra of [
      { toleranceSeconds: 0 },
      { maxBytes: 0 },
      { maxIds: -1 },
      { secrets: "" },
      { secrets: "whsec_%%%" },
    ]) {
      try {
        make(extra);
        expect.fail(JSON.stringify(extra));
      } catch (err) {
        expect((err as PackError).code, JSON.stringify(extra)).to.equal("WEBHOOK_CONFIG");
      }
    }
  });

  it("parses JSON bodies and keeps anything else as UTF-8 text", () => {
    expect(parsePayload(Buffer.from('{"a":[1]}'))).to.deep.equal({ a: [1] });
    expect(parsePayload(Buffer.from("name=Zoë"))).to.equal("name=Zoë");
    expect(parsePayload(Buffer.alloc(0))).to.equal("");
  });
});

describe("lib/webhook/verifier WebhookVerifier: limits and store errors", () => {
  it("accepts a body of exactly maxBytes and refuses one byte more", async () => {
    const body = JSON.stringify({ eventType: "x", pad: "" });
    const exact = JSON.stringify({ eventType: "x", pad: "p".repeat(1024 - body.length) });
    expect(Buffer.byteLength(exact)).to.equal(1024);
    expect((await make().check(delivery("msg_exact", exact), NOW)).kind).to.equal("verified");
    const over = exact.replace('"pad":"', '"pad":"p');
    const out = await make().check(delivery("msg_over", over), NOW);
    expect(out).to.deep.include({ kind: "rejected", reason: "too-large" });
  });

  it("names the option it refuses", () => {
    expect(() => make({ toleranceSeconds: 0 })).to.throw("tolerance must be an integer >= 1");
    expect(() => make({ maxBytes: 1.5 })).to.throw("max bytes must be an integer >= 1");
    expect(() => make({ maxIds: -1 })).to.throw("max ids must be an integer >= 0");
  });

  it("says which store operation failed and keeps the store's error as the cause", async () => {
    const store = new MemoryPersistence();
    const v = make({ persistence: store });
    for (const [flag, words] of [
      ["failLoad", "reading seen webhook ids"],
      ["failSave", "saving seen webhook ids"],
    ] as const) {
      store.failLoad = flag === "failLoad";
      store.failSave = flag === "failSave";
      let caught: unknown;
      try {
        await v.check(delivery(`msg_${flag}`), NOW);
      } catch (err) {
        caught = err;
      }
      expect((caught as PackError).code).to.equal("WEBHOOK_STORE");
      expect((caught as Error).message).to.contain(words);
      expect(((caught as Error).cause as Error).message).to.equal("store down");
    }
  });
});

/** Ids one by one with their expiry, as the pack's state file keeps them, and can be told to fail. */
class KeyedPersistence implements SeenKeys {
  readonly entries = new Map<string, number>();
  clock = NOW;
  failHas = false;
  failAdd = false;
  hasCalls = 0;
  adds: Array<{ keys: string[]; untilMs: number }> = [];
  async has(keys: readonly string[]): Promise<boolean> {
    this.hasCalls++;
    if (this.failHas) throw new Error("store down");
    return keys.some((k) => (this.entries.get(k) ?? -Infinity) > this.clock);
  }
  async add(keys: readonly string[], untilMs: number): Promise<void> {
    if (this.failAdd) throw new Error("store down");
    this.adds.push({ keys: [...keys], untilMs });
    for (const k of keys) this.entries.set(k, untilMs);
  }
}

describe("lib/webhook/verifier WebhookVerifier: seen ids kept one by one", () => {
  it("adds a first delivery's ids until its replay window closes, and a restarted verifier sees the replay", async () => {
    const store = new KeyedPersistence();
    expect((await make({ persistence: store }).check(delivery("msg_k1"), NOW)).kind).to.equal("verified");
    // Signed at NOW with a 300 s tolerance: a replay passes the timestamp check until NOW + 300 s.
    expect(store.adds).to.have.length(1);
    expect(store.adds[0].untilMs).to.equal(NOW + 300_000);
    expect(store.adds[0].keys.some((k) => k.includes("msg_k1"))).to.equal(true);
    const restarted = make({ persistence: store });
    const again = await restarted.check(delivery("msg_k1"), NOW + 1000);
    expect(again).to.deep.include({ kind: "duplicate", status: 202, code: "WEBHOOK_DUPLICATE" });
    expect(store.adds, "a duplicate adds nothing").to.have.length(1);
  });

  it("answers a replay it remembers without asking the store, and asks the store for one it does not", async () => {
    const store = new KeyedPersistence();
    const v = make({ persistence: store });
    await v.check(delivery("msg_k2"), NOW);
    expect(store.hasCalls).to.equal(1);
    expect((await v.check(delivery("msg_k2"), NOW)).kind).to.equal("duplicate");
    expect(store.hasCalls, "remembered here").to.equal(1);
    const restarted = make({ persistence: store });
    expect((await restarted.check(delivery("msg_k2"), NOW)).kind).to.equal("duplicate");
    expect((await restarted.check(delivery("msg_k2"), NOW)).kind).to.equal("duplicate");
    expect(store.hasCalls, "the store's answer is remembered too").to.equal(2);
  });

  it("takes an id whose window the store says has closed as new", async () => {
    const store = new KeyedPersistence();
    await make({ persistence: store }).check(delivery("msg_k3"), NOW);
    store.clock = NOW + 300_000;
    const fresh = make({ persistence: store, toleranceSeconds: 600 });
    expect((await fresh.check(delivery("msg_k3"), NOW + 300_000)).kind).to.equal("verified");
  });

  it("decides two copies sent together one at a time: one verified, one duplicate", async () => {
    const store = new KeyedPersistence();
    const v = make({ persistence: store });
    const kinds = (await Promise.all([v.check(delivery("msg_k4"), NOW), v.check(delivery("msg_k4"), NOW)]))
      .map((o) => o.kind)
      .sort();
    expect(kinds).to.deep.equal(["duplicate", "verified"]);
    expect(store.adds).to.have.length(1);
  });

  it("fails with WEBHOOK_STORE naming the step, keeps the cause, and does not remember an id it could not add", async () => {
    const store = new KeyedPersistence();
    const v = make({ persistence: store });
    for (const [flag, words] of [
      ["failHas", "reading seen webhook ids failed"],
      ["failAdd", "saving seen webhook ids failed"],
    ] as const) {
      store.failHas = flag === "failHas";
      store.failAdd = flag === "failAdd";
      let caught: unknown;
      try {
        await v.check(delivery("msg_k5"), NOW);
      } catch (err) {
        caught = err;
      }
      expect((caught as PackError).code, flag).to.equal("WEBHOOK_STORE");
      expect((caught as Error).message).to.equal(words);
      expect(((caught as Error).cause as Error).message).to.equal("store down");
    }
    store.failHas = false;
    store.failAdd = false;
    expect((await v.check(delivery("msg_k5"), NOW)).kind, "the sender's retry").to.equal("verified");
    expect((await v.check(delivery("msg_k5"), NOW)).kind).to.equal("duplicate");
  });

  it("keeps the id of a delivery without a signed time (GitHub) for 7 days", async () => {
    const store = new KeyedPersistence();
    const body = '{"action":"opened"}';
    const github = {
      method: "POST",
      pathWithQuery: "/hooks",
      headers: headersFromObject({
        ...signWebhook({ scheme: "github", secret: "gh-secret", id: "guid-1", body }),
        "x-github-event": "issues",
      }),
      body: Buffer.from(body),
    };
    const v = make({ persistence: store, scheme: "github", secrets: "gh-secret" });
    expect((await v.check(github, NOW)).kind).to.equal("verified");
    expect(store.adds[0].untilMs).to.equal(NOW + UNTIMED_KEEP_MS);
    expect(UNTIMED_KEEP_MS).to.equal(7 * 24 * 3600_000);
  });

  it("keeps nothing with maxIds 0: a durable-queue's dedupe id does it", async () => {
    const store = new KeyedPersistence();
    const v = make({ persistence: store, maxIds: 0 });
    expect((await v.check(delivery("msg_k6"), NOW)).kind).to.equal("verified");
    expect((await v.check(delivery("msg_k6"), NOW)).kind).to.equal("verified");
    expect(store.hasCalls + store.adds.length).to.equal(0);
  });
});

describe("lib/webhook/verifier WebhookVerifier: seen ids on a store several instances share", () => {
  let dir: string;
  let db: SqliteMessageStore;
  let clock = NOW;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-seen-"));
    db = openSqliteStore({ file: join(dir, "state.db"), now: () => clock, purgeIntervalMs: 0 });
  });

  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hasThenAdd = (): SeenKeys => ({
    has: async (keys) => {
      for (const key of keys) if ((await db.getState("seen", key)) !== undefined) return true;
      return false;
    },
    add: async (keys, untilMs) => {
      await Promise.all(keys.map((key) => db.setState("seen", key, 1, untilMs)));
    },
  });
  const shared = (): SeenKeys => ({
    ...hasThenAdd(),
    addIfAbsent: (keys, untilMs) => db.addStateIfAbsent("seen", [...keys], 1, untilMs),
  });

  it("has then add: a delivery sent to two instances at once is verified by both (what addIfAbsent prevents)", async () => {
    const [a, b] = [make({ persistence: hasThenAdd() }), make({ persistence: hasThenAdd() })];
    const kinds = await Promise.all([a.check(delivery("msg_s1"), NOW), b.check(delivery("msg_s1"), NOW)]);
    expect(kinds.map((o) => o.kind)).to.deep.equal(["verified", "verified"]);
  });

  it("addIfAbsent: one instance verifies it, the other answers duplicate; a replay to either later is a duplicate", async () => {
    const [a, b] = [make({ persistence: shared() }), make({ persistence: shared() })];
    const kinds = await Promise.all([a.check(delivery("msg_s2"), NOW), b.check(delivery("msg_s2"), NOW)]);
    expect(kinds.map((o) => o.kind)).to.deep.equal(["verified", "duplicate"]);
    const c = make({ persistence: shared() });
    expect((await c.check(delivery("msg_s2"), NOW + 1000)).kind).to.equal("duplicate");
    clock = NOW + 300_000;
    const late = make({ persistence: shared(), toleranceSeconds: 600 });
    expect((await late.check(delivery("msg_s2"), NOW + 300_000)).kind, "its window closed").to.equal(
      "verified",
    );
  });

  it("addIfAbsent failing is WEBHOOK_STORE 'saving seen webhook ids failed', and the id is not remembered", async () => {
    let fail = true;
    const flaky: SeenKeys = {
      ...shared(),
      addIfAbsent: async (keys, untilMs) => {
        if (fail) throw new Error("store down");
        return db.addStateIfAbsent("seen", [...keys], 1, untilMs);
      },
    };
    const v = make({ persistence: flaky });
    let caught: unknown;
    await v.check(delivery("msg_s3"), NOW).catch((err: unknown) => (caught = err));
    expect((caught as PackError).code).to.equal("WEBHOOK_STORE");
    expect((caught as Error).message).to.equal("saving seen webhook ids failed");
    expect(((caught as Error).cause as Error).message).to.equal("store down");
    fail = false;
    expect((await v.check(delivery("msg_s3"), NOW)).kind, "the sender's retry").to.equal("verified");
  });
});
