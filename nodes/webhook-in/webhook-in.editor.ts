import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface WebhookInEditorProps {
    name: string;
    method: string;
    url: string;
    maxBytes: string;
    timeout: string;
    maxConcurrent: string;
  }

  function intAtLeast(min: number) {
    return numberField({ min });
  }

  RED.nodes.registerType<WebhookInEditorProps>("webhook-in", {
    category: "PMS-EHR",
    color: "#A6D5C0",
    defaults: withReasons<WebhookInEditorProps>("webhook-in", {
      name: { value: "" },
      method: { value: "post", validate: (v: string) => /^(post|put|patch)$/.test(v || "post") },
      url: {
        value: "",
        required: true,
        validate: (v: string) =>
          unless(
            /^[^\s?#:*+()]+$/.test(String(v ?? "").trim()),
            "a fixed path such as /pms/webhooks: no spaces, ?, #, : or route patterns",
          ),
      },
      maxBytes: { value: "1048576", validate: intAtLeast(1) },
      timeout: { value: "30", validate: intAtLeast(1) },
      maxConcurrent: { value: "32", validate: intAtLeast(1) },
    }),
    inputs: 0,
    outputs: 1,
    icon: "webhook.svg",
    paletteLabel: "webhook in",
    label: function () {
      return this.name || `[${this.method || "post"}] ${this.url || "webhook"}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    outputLabels: function () {
      return this._("webhook-in.label.output");
    },
  });
})();
