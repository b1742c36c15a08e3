import { expect } from "chai";
import { HealthMonitor, isRefusalEvent, parseHealthConfig, toPrometheus } from "../../../lib/health";
import { parsePrometheus, sampleOf } from "./prom-parse";

const T0 = Date.parse("2025-03-01T12:00:00Z");

describe("health: refusals", () => {
  it("counts refusals by integration, source and reason, sorted, with the time of the last", () => {
    const clock = { now: T0 };
    const m = new HealthMonitor(parseHealthConfig({}), { now: () => clock.now });
    const r = (integration: string, reason: string, time?: number) =>
      m.recordRefusal({ integration, source: "mllp-in", reason, time });
    expect(r("siu", "budget")).to.equal(true);
    clock.now += 1000;
    expect(r("adt", "frame_timeout")).to.equal(true);
    expect(r("adt", "frame_timeout", T0 + 500)).to.equal(true); // an earlier time does not move lastAt back
    expect(r("adt", "connection_limit", T0 + 10 ** 9)).to.equal(true); // from the future: now
    expect(m.snapshot().refusals).to.deep.equal([
      {
        integration: "adt",
        source: "mllp-in",
        reason: "connection_limit",
        count: 1,
        lastAt: new Date(T0 + 1000).toISOString(),
      },
      {
        integration: "adt",
        source: "mllp-in",
        reason: "frame_timeout",
        count: 2,
        lastAt: new Date(T0 + 1000).toISOString(),
      },
      {
        integration: "siu",
        source: "mllp-in",
        reason: "budget",
        count: 1,
        lastAt: new Date(T0).toISOString(),
      },
    ]);
    // refusals are counted, not judged: no integration appears for them
    expect(m.snapshot().integrations).to.deep.equal({});
  });

  it("drops malformed events, integrations not watched, and kinds beyond 16 per integration allowed", () => {
    const bad: unknown[] = [
      null,
      "budget",
      { integration: "", source: "mllp-in", reason: "budget" },
      { integration: "a\nb", source: "mllp-in", reason: "budget" },
      { integration: "x".repeat(101), source: "mllp-in", reason: "budget" },
      { integration: "a", source: "", reason: "budget" },
      { integration: "a", source: "mllp-in", reason: "Budget!" },
      { integration: "a", source: "mllp-in", reason: "r".repeat(41) },
      { integration: "a", source: "mllp-in", reason: "budget", time: "now" },
    ];
    for (const e of bad) expect(isRefusalEvent(e), JSON.stringify(e)).to.equal(false);
    const watched = new HealthMonitor(parseHealthConfig({ integrations: "adt" }));
    expect(watched.recordRefusal({ integration: "siu", source: "mllp-in", reason: "budget" })).to.equal(
      false,
    );
    expect(watched.recordRefusal({ integration: "adt", source: "mllp-in", reason: "budget" })).to.equal(true);
    const small = new HealthMonitor(parseHealthConfig({ maxIntegrations: 1 }));
    for (let i = 0; i < 16; i++) {
      expect(small.recordRefusal({ integration: "a", source: "s", reason: `r${i}` })).to.equal(true);
    }
    expect(small.recordRefusal({ integration: "a", source: "s", reason: "r16" })).to.equal(false);
    expect(small.recordRefusal({ integration: "a", source: "s", reason: "r0" })).to.equal(true);
    expect(small.refusalsIgnored).to.equal(1);
    expect(small.snapshot().refusals).to.have.length(16);
  });

  it("exposes pmsehr_refusals_total as a counter with integration, source and reason labels", () => {
    const m = new HealthMonitor(parseHealthConfig({}));
    const f0 = parsePrometheus(toPrometheus(m.snapshot()));
    expect(f0.get("pmsehr_refusals_total")).to.include({ type: "counter" });
    expect(f0.get("pmsehr_refusals_total")?.samples).to.deep.equal([]);
    for (let i = 0; i < 3; i++)
      m.recordRefusal({ integration: 'adt "main"', source: "mllp-in", reason: "budget" });
    m.recordRefusal({ integration: 'adt "main"', source: "mllp-in", reason: "dedupe_conflict" });
    const f = parsePrometheus(toPrometheus(m.snapshot()));
    const labels = { integration: 'adt "main"', source: "mllp-in" };
    expect(sampleOf(f, "pmsehr_refusals_total", { ...labels, reason: "budget" })).to.equal(3);
    expect(sampleOf(f, "pmsehr_refusals_total", { ...labels, reason: "dedupe_conflict" })).to.equal(1);
  });
});
