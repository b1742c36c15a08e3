import { fillStateSelect } from "../shared/state-select.editor";
import { WEBHOOK_SCHEMES } from "../../lib/webhook/scheme-names";
import { numberField } from "../../lib/number-prop";
import { withReasons } from "../shared/reasons.editor";

(function () {
  interface WebhookVerifyEditorProps {
    name: string;
    scheme: string;
    tolerance: string;
    maxBytes: string;
    maxIds: string;
    respond: boolean;
    integration: string;
    store: string;
  }
  interface WebhookVerifyEditorCreds {
    secrets: string;
  }

  const STORED = "__PWRD__";

  function intAtLeast(min: number) {
    return numberField({ min });
  }

  RED.nodes.registerType<WebhookVerifyEditorProps, WebhookVerifyEditorCreds>("webhook-verify", {
    category: "PMS-EHR",
    color: "#A6D5C0",
    defaults: withReasons<WebhookVerifyEditorProps>("webhook-verify", {
      name: { value: "" },
      scheme: {
        value: "pms-hmac",
        validate: (v: string) => (WEBHOOK_SCHEMES as readonly string[]).includes(v || "pms-hmac"),
      },
      tolerance: { value: "300", validate: intAtLeast(1) },
      maxBytes: { value: "1048576", validate: intAtLeast(1) },
      maxIds: { value: "10000", validate: intAtLeast(0) },
      respond: { value: true },
      integration: { value: "webhook" },
      store: { value: "" },
    }),
    credentials: {
      secrets: { type: "password" },
    },
    inputs: 1,
    outputs: 2,
    icon: "webhook.svg",
    paletteLabel: "webhook verify",
    label: function () {
      return this.name || `verify ${this.scheme || "pms-hmac"}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("webhook-verify.label.input");
    },
    outputLabels: function (index: number) {
      return this._(index === 0 ? "webhook-verify.label.verified" : "webhook-verify.label.rejected");
    },
    oneditprepare: function () {
      // A stored secret never comes back to the editor: the hidden credential input keeps the
      // "stored" marker until new secrets are typed.
      const hidden = $("#node-input-secrets");
      const text = $("#node-input-secrets-text");
      const original = String(hidden.val() ?? "");
      text.attr(
        "placeholder",
        original === STORED
          ? this._("webhook-verify.placeholder.secretsStored")
          : this._("webhook-verify.placeholder.secrets"),
      );
      text.on("input change", function () {
        const typed = String(text.val() ?? "");
        hidden.val(typed.trim() !== "" ? typed : original);
      });

      fillStateSelect($("#node-input-store"), this.store || "", {
        durable: this._("webhook-verify.store.durable"),
        memory: this._("webhook-verify.store.memory"),
        messageStore: this._("webhook-verify.store.messageStore"),
      });
    },
  });
})();
