import { expect } from "chai";
import { optionsOf } from "../../nodes/durable-queue/config";
import { QUEUE_DEFAULTS } from "../../lib/store/policy";

describe("durable-queue properties", () => {
  it("gives every empty property its documented default, in ms", () => {
    expect(optionsOf({ queue: "q" })).to.deep.equal({
      queue: "q",
      concurrency: 4,
      visibilityMs: 300_000,
      policy: { maxAttempts: 10, maxAgeMs: 86_400_000, backoffBaseMs: 1_000, backoffCapMs: 300_000 },
    });
    expect(optionsOf({ queue: "q" }).policy.maxAgeMs).to.equal(QUEUE_DEFAULTS.maxAgeMs);
  });

  it("reads hours and seconds as the editor saves them", () => {
    const o = optionsOf({
      queue: " q ",
      maxAge: "0.5",
      backoffBase: "0.25",
      backoffCap: "2",
      visibility: "30",
      concurrency: 8,
    });
    expect(o).to.deep.include({ queue: "q", concurrency: 8, visibilityMs: 30_000 });
    expect(o.policy).to.deep.include({ maxAgeMs: 1_800_000, backoffBaseMs: 250, backoffCapMs: 2_000 });
  });

  it("refuses a missing queue name, bad numbers and a cap below the base with QUEUE_CONFIG", () => {
    for (const props of [
      {},
      { queue: "q", concurrency: "0" },
      { queue: "q", maxAttempts: "ten" },
      { queue: "q", backoffBase: "10", backoffCap: "5" },
      { queue: "q", visibility: "-1" },
    ]) {
      expect(() => optionsOf(props), JSON.stringify(props))
        .to.throw()
        .with.property("code", "QUEUE_CONFIG");
    }
  });
});
