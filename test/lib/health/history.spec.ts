import { expect } from "chai";
import { HealthMonitor, answerHealthRequest, parseHealthConfig } from "../../../lib/health";
import { HistoryRing } from "../../../lib/health/history";

const DAY = 24 * 3600 * 1000;
const P = 15 * 60 * 1000;
const T0 = Date.parse("2026-03-01T00:00:00Z");

describe("health: 24 h history in periods of 15 min", () => {
  it("sums each period: calls, failures, mean, and p95 as the histogram bucket that holds it", () => {
    const h = new HistoryRing();
    expect(h.periodMs).to.equal(P);
    for (let i = 0; i < 94; i++) h.record(T0 + 1000, true, 20);
    for (let i = 0; i < 6; i++) h.record(T0 + 2000, false, 700);
    for (let i = 0; i < 100; i++) h.record(T0 + P + 5, true, 20);
    h.record(T0 + 3 * P, true, 61000);
    const s = h.series(T0 + 3 * P + 10);
    expect(s).to.have.length(96);
    expect(s[95].start).to.equal(T0 + 3 * P);
    expect(s[92]).to.deep.equal({
      start: T0,
      total: 100,
      failures: 6,
      meanMs: 0.94 * 20 + 0.06 * 700,
      p95Ms: 700,
    });
    // All at 20 ms: the bucket's bound (25 ms) is above every call, so the slowest one stands.
    expect(s[93]).to.include({ total: 100, failures: 0, p95Ms: 20 });
    expect(s[94]).to.deep.equal({ start: T0 + 2 * P, total: 0, failures: 0, meanMs: null, p95Ms: null });
    // Above the last bound (60 s): the slowest call.
    expect(s[95]).to.include({ total: 1, p95Ms: 61000 });
    expect(s.map((p) => p.start)).to.deep.equal(s.map((_, i) => T0 + (i - 92) * P));
  });

  it("keeps 24 h: a period a day old drops out and its slot is reused; a call for a recycled period is refused", () => {
    const h = new HistoryRing();
    h.record(T0, true, 10);
    h.record(T0 + DAY - 1, true, 10);
    expect(h.series(T0 + DAY - 1).reduce((n, p) => n + p.total, 0)).to.equal(2);
    expect(
      h.series(T0 + DAY).reduce((n, p) => n + p.total, 0),
      "the first period has left",
    ).to.equal(1);
    expect(h.record(T0 + DAY, false, 10)).to.equal(true);
    const s = h.series(T0 + DAY);
    expect(s[95]).to.include({ start: T0 + DAY, total: 1, failures: 1 });
    expect(h.record(T0 + 5, true, 10), "the period of T0 was recycled").to.equal(false);
    expect(h.series(T0 + DAY).reduce((n, p) => n + p.total, 0)).to.equal(2);
  });

  it("is in the snapshot and the JSON only when asked for (history=1)", () => {
    const clock = { now: T0 + 10 * P };
    const m = new HealthMonitor(parseHealthConfig({ window: 60 }), { now: () => clock.now });
    m.record({ integration: "fhir", success: true, durationMs: 30, time: T0 + 2 * P });
    m.record({ integration: "fhir", success: false, durationMs: 30 });
    expect(m.snapshot().integrations.fhir.history).to.equal(undefined);
    const history = m.snapshot({ history: true }).integrations.fhir.history!;
    expect(history).to.have.length(96);
    expect(history.filter((p) => p.total > 0).map((p) => [p.start, p.total, p.failures])).to.deep.equal([
      [T0 + 2 * P, 1, 0],
      [T0 + 10 * P, 1, 1],
    ]);
    const ctx = { path: "/pms-ehr/health", adminRoot: "/", trailingSlash: false, page: "data" as const };
    const plain = JSON.parse(answerHealthRequest(m, {}, ctx).body);
    expect(plain.integrations.fhir.history).to.equal(undefined);
    const asked = JSON.parse(answerHealthRequest(m, { history: "1" }, ctx).body);
    expect(asked.integrations.fhir.history).to.have.length(96);
  });
});
