import { expect } from "chai";
import {
  MAX_ALERTS_KEPT,
  alertLogEntry,
  alertMail,
  appendAlert,
  parseAlertsKept,
  parseContextKey,
  type AlertPayload,
} from "../../../lib/health/notify";

const queueAlert: AlertPayload = {
  kind: "queue",
  store: "webhooks.db",
  queue: "pms-webhooks",
  alert: "raise",
  reasons: ["dead letters 12 >= 10"],
  time: "2026-01-02T03:04:05.000Z",
  metrics: {
    store: "webhooks.db",
    queue: "pms-webhooks",
    depth: 3,
    inFlight: 1,
    deadLetters: 12,
    deliveredTotal: 40,
    deadTotal: 12,
    oldestAgeMs: 61400,
    reportedAt: "2026-01-02T03:04:00.000Z",
    stale: false,
    alert: true,
    reasons: ["dead letters 12 >= 10"],
  },
};

describe("lib/health/notify", () => {
  it("writes a queue alert as an e-mail with the queue's figures, and logs it under queue:<store>/<queue>", () => {
    const mail = alertMail(queueAlert, "<node-red>/pms-ehr/health/dashboard");
    expect(mail.topic).to.equal("[PMS-EHR] ALERT: queue webhooks.db/pms-webhooks");
    expect(mail.text.split("\n")).to.deep.equal([
      "queue webhooks.db/pms-webhooks: alert raised at 2026-01-02T03:04:05.000Z",
      "Why: dead letters 12 >= 10",
      "",
      "Last report of the queue:",
      "  waiting          3",
      "  in flight        1",
      "  oldest message   61 s",
      "  dead letters     12",
      "",
      "Dashboard: <node-red>/pms-ehr/health/dashboard",
    ]);
    expect(alertLogEntry(queueAlert, mail)).to.deep.equal({
      at: queueAlert.time,
      integration: "queue:webhooks.db/pms-webhooks",
      alert: "raise",
      topic: mail.topic,
      text: mail.text,
    });
  });

  it("says n/a for figures an integration alert lacks, and leaves the dashboard out when none is served", () => {
    const mail = alertMail({
      kind: "integration",
      integration: "fhir",
      alert: "clear",
      state: "healthy",
      previousState: "critical",
      reasons: [],
      time: "2026-01-02T03:04:05.000Z",
    });
    expect(mail.topic).to.equal("[PMS-EHR] recovered: fhir is healthy");
    expect(mail.text).to.contain("It had been raised for: n/a");
    expect(mail.text).to.contain("success rate     n/a");
    expect(mail.text).to.not.contain("Dashboard");
  });

  it("appends to a log, keeping the newest, and starts a new log over a value that is not a list", () => {
    const entry = (n: number) => ({
      at: String(n),
      integration: "x",
      alert: "raise" as const,
      topic: "t",
      text: "",
    });
    expect(appendAlert(undefined, entry(1), 2)).to.deep.equal([entry(1)]);
    expect(appendAlert({ not: "a list" }, entry(1), 2)).to.deep.equal([entry(1)]);
    const log = [entry(1), entry(2)];
    expect(appendAlert(log, entry(3), 2)).to.deep.equal([entry(2), entry(3)]);
    expect(log, "the stored list is not changed in place").to.have.length(2);
  });

  it("parses the alert count and context keys, refusing others with HEALTH_CONFIG", () => {
    expect(parseAlertsKept("")).to.equal(50);
    expect(parseAlertsKept(" 7 ")).to.equal(7);
    expect(parseAlertsKept(String(MAX_ALERTS_KEPT))).to.equal(MAX_ALERTS_KEPT);
    for (const bad of ["0", "1.5", "1001", "ten", "-1"]) {
      expect(() => parseAlertsKept(bad), bad)
        .to.throw()
        .with.property("code", "HEALTH_CONFIG");
    }
    expect(parseContextKey("", "k")).to.equal(undefined);
    expect(parseContextKey(" health ", "k")).to.equal("health");
    for (const bad of ["1a", "a b", "a.b", "x".repeat(101), "#:(file)::a"]) {
      expect(() => parseContextKey(bad, "k"), bad)
        .to.throw()
        .with.property("code", "HEALTH_CONFIG");
    }
  });
});
