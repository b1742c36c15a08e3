import { CONTEXT_KEY_RULE, isContextKey } from "../../lib/context-key";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface CapabilityCheckEditorProps {
    name: string;
    server: string;
    api: string;
    fhirIntegration: string;
    pmsIntegration: string;
    contextKey: string;
    contextStore: string;
  }

  function contextKey(v: string): true | string {
    const t = String(v ?? "").trim();
    return unless(t === "" || isContextKey(t), `must be ${CONTEXT_KEY_RULE}`);
  }

  RED.nodes.registerType<CapabilityCheckEditorProps>("capability-check", {
    category: "PMS-EHR",
    color: "#E6E0F8",
    defaults: withReasons<CapabilityCheckEditorProps>("capability-check", {
      name: { value: "" },
      server: { value: "", type: "fhir-server", required: false },
      api: { value: "", type: "legacy-api", required: false },
      fhirIntegration: { value: "fhir" },
      pmsIntegration: { value: "legacy" },
      contextKey: { value: "", validate: contextKey },
      contextStore: { value: "" },
    }),
    inputs: 1,
    outputs: 1,
    icon: "health-monitor.svg",
    paletteLabel: "capability check",
    label: function () {
      return this.name || "capability check";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("capability-check.label.input");
    },
    outputLabels: function () {
      return this._("capability-check.label.report");
    },
  });
})();
