import { CONTEXT_KEY_RULE, isContextKey } from "../../lib/context-key";
import { HEALTH_NUMBERS as N } from "../../lib/health/config";
import { ALERTS_KEPT } from "../../lib/health/notify";
import { healthPathProblem, normalHealthPath as normalPath } from "../../lib/health/path";
import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface HealthMonitorEditorProps {
    name: string;
    integrations: string;
    window: string;
    interval: string;
    path: string;
    healthyRate: string;
    healthyLatency: string;
    warningRate: string;
    warningLatency: string;
    alertRate: string;
    alertLatency: string;
    alertConsecutive: string;
    latencyStat: string;
    minEvents: string;
    hold: string;
    queueMaxAge: string;
    queueMaxDead: string;
    snapshotKey: string;
    alertsKey: string;
    alertsKept: string;
    contextStore: string;
    alertFormat: string;
    emailTo: string;
  }

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  function contextKey(v: string): true | string {
    const t = trimmed(v);
    return unless(t === "" || isContextKey(t), `must be ${CONTEXT_KEY_RULE}`);
  }

  function pathOk(this: { id: string }, v: string): true | string {
    const p = normalPath(v);
    if (p === "") return true;
    const problem = healthPathProblem(p);
    if (problem !== undefined) return problem;
    const me = this.id;
    let taken = false;
    RED.nodes.eachNode((n) => {
      const other = n as unknown as { id: string; type: string; path?: string };
      if (other.type === "health-monitor" && other.id !== me && other.path) {
        const q = normalPath(other.path).toLowerCase();
        const mine = p.toLowerCase();
        if (q === mine || q === `${mine}/dashboard` || mine === `${q}/dashboard`) taken = true;
      }
      return true;
    });
    return unless(!taken, "another health-monitor serves this path");
  }

  RED.nodes.registerType<HealthMonitorEditorProps>("health-monitor", {
    category: "PMS-EHR",
    color: "#E6E0F8",
    defaults: withReasons<HealthMonitorEditorProps>("health-monitor", {
      name: { value: "" },
      integrations: { value: "" },
      window: { value: "300", validate: numberField(N.window) },
      interval: { value: "60", validate: numberField(N.interval) },
      path: { value: "/pms-ehr/health", validate: pathOk },
      healthyRate: { value: "0.98", validate: numberField(N.healthyRate) },
      healthyLatency: { value: "2000", validate: numberField(N.healthyLatency) },
      warningRate: { value: "0.95", validate: numberField(N.warningRate) },
      warningLatency: { value: "5000", validate: numberField(N.warningLatency) },
      alertRate: { value: "0.95", validate: numberField(N.alertRate) },
      alertLatency: { value: "5000", validate: numberField(N.alertLatency) },
      alertConsecutive: { value: "5", validate: numberField(N.alertConsecutive) },
      latencyStat: { value: "mean", validate: (v: string) => ["", "mean", "p50", "p95", "p99"].includes(v) },
      minEvents: { value: "1", validate: numberField(N.minEvents) },
      hold: { value: "30", validate: numberField(N.hold) },
      // Empty (the default) or 0: no queue alert on that ground.
      queueMaxAge: { value: "", validate: numberField(N.queueMaxAge) },
      queueMaxDead: { value: "", validate: numberField(N.queueMaxDead) },
      // Empty (the default): not kept in flow context.
      snapshotKey: { value: "", validate: contextKey },
      alertsKey: { value: "", validate: contextKey },
      alertsKept: { value: "50", validate: numberField(ALERTS_KEPT) },
      contextStore: { value: "" },
      alertFormat: { value: "data", validate: (v: string) => ["", "data", "email"].includes(v ?? "") },
      emailTo: { value: "" },
    }),
    inputs: 1,
    outputs: 2,
    icon: "health-monitor.svg",
    paletteLabel: "health monitor",
    label: function () {
      return this.name || "health monitor";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("health-monitor.label.input");
    },
    outputLabels: function (index: number) {
      return this._(index === 0 ? "health-monitor.label.snapshots" : "health-monitor.label.alerts");
    },
    oneditprepare: function () {
      const self = { id: this.id };
      $("#health-monitor-open").on("click", (e: JQuery.ClickEvent) => {
        e.preventDefault();
        const p = normalPath(String($("#node-input-path").val() ?? ""));
        if (p === "") return;
        window.open(`${p.slice(1)}/dashboard`, "_blank", "noopener");
      });
      const refresh = (): void => {
        const p = normalPath(String($("#node-input-path").val() ?? ""));
        $("#health-monitor-open").toggle(p !== "" && pathOk.call(self, p) === true);
      };
      $("#node-input-path").on("change keyup", refresh);
      refresh();
    },
  });
})();
