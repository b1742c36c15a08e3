import { numberField } from "../../lib/number-prop";
import { liveValue, withReasons } from "../shared/reasons.editor";

(function () {
  interface MllpOutEditorProps {
    name: string;
    mode: string;
    host: string;
    port: string;
    tls: string;
    timeout: string;
    retries: string;
    queueSize: string;
    appAckTimeout: string;
    ackCode: string;
    integration: string;
  }

  function count(min: number) {
    return numberField({ min }, { env: true });
  }
  const port = numberField({ min: 1, max: 65535 }, { env: true, required: true });

  RED.nodes.registerType<MllpOutEditorProps>("mllp-out", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<MllpOutEditorProps>("mllp-out", {
      name: { value: "" },
      mode: { value: "send", validate: (v: string) => v === "send" || v === "reply" },
      host: {
        value: "",
        validate: function (this: MllpOutEditorProps & { id?: string }, v: string) {
          const mode = liveValue(this, "#node-input-mode", this.mode);
          return mode === "reply" || String(v ?? "").trim() !== "" || "required when sending";
        },
      },
      port: {
        value: "2575",
        validate: function (this: MllpOutEditorProps & { id?: string }, v: string) {
          const mode = liveValue(this, "#node-input-mode", this.mode);
          return mode === "reply" || port(v, {});
        },
      },
      tls: { value: "", type: "tls-config", required: false },
      timeout: { value: "10000", validate: count(1) },
      retries: { value: "3", validate: count(0) },
      queueSize: { value: "1000", validate: count(0) },
      appAckTimeout: { value: "30000", validate: count(0) },
      ackCode: {
        value: "AA",
        validate: (v: string) =>
          [
            "AA",
            "AE",
            "AR",
            "CA",
            "CE",
            "CR",
            "accepted",
            "filtered",
            "invalid",
            "failed",
            "error",
            "msg",
          ].includes(String(v ?? "")),
      },
      integration: { value: "hl7" },
    }),
    inputs: 1,
    outputs: 1,
    icon: "mllp.svg",
    align: "right",
    paletteLabel: "mllp out",
    label: function () {
      if (this.name) return this.name;
      return this.mode === "reply"
        ? `mllp reply ${this.ackCode === "msg" ? "" : this.ackCode}`.trim()
        : `mllp ${this.host}:${this.port}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this.mode === "reply" ? this._("mllp-out.label.inputReply") : this._("mllp-out.label.inputSend");
    },
    outputLabels: function () {
      return this._("mllp-out.label.output");
    },
    oneditprepare: function () {
      const mode = $("#node-input-mode");
      function showRows(): void {
        const reply = mode.val() === "reply";
        $(".mllp-out-row-send").toggle(!reply);
        $(".mllp-out-row-reply").toggle(reply);
      }
      mode.on("change", showRows);
      showRows();
    },
  });
})();
