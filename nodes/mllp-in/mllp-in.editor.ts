import { fillStateSelect } from "../shared/state-select.editor";
import { numberField } from "../../lib/number-prop";
import { withReasons } from "../shared/reasons.editor";

(function () {
  interface MllpInEditorProps {
    name: string;
    host: string;
    port: string;
    tls: string;
    ack: string;
    maxBytes: string;
    dedupe: string;
    dedupeStore: string;
    idleTimeout: string;
    maxConnections: string;
    frameTimeout: string;
    replyTimeout: string;
    ackFiltered: string;
    ackInvalid: string;
    ackFailed: string;
    integration: string;
  }

  function count(min: number) {
    return numberField({ min }, { env: true });
  }

  RED.nodes.registerType<MllpInEditorProps>("mllp-in", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<MllpInEditorProps>("mllp-in", {
      name: { value: "" },
      host: { value: "127.0.0.1" },
      port: {
        value: "2575",
        required: true,
        validate: numberField({ min: 0, max: 65535 }, { env: true, required: true }),
      },
      tls: { value: "", type: "tls-config", required: false },
      ack: { value: "auto", validate: (v: string) => v === "auto" || v === "flow" || v === "none" },
      maxBytes: { value: "10485760", validate: count(1) },
      dedupe: { value: "0", validate: count(0) },
      dedupeStore: { value: "" },
      idleTimeout: { value: "60", validate: count(0) },
      maxConnections: { value: "100", validate: count(0) },
      frameTimeout: { value: "30", validate: count(0) },
      replyTimeout: { value: "30", validate: count(1) },
      ackFiltered: { value: "AR", validate: (v: string) => ["", "AA", "AE", "AR"].includes(String(v ?? "")) },
      ackInvalid: { value: "AE", validate: (v: string) => ["", "AE", "AR"].includes(String(v ?? "")) },
      ackFailed: { value: "AE", validate: (v: string) => ["", "AE", "AR"].includes(String(v ?? "")) },
      integration: { value: "hl7" },
    }),
    inputs: 0,
    outputs: 1,
    icon: "mllp.svg",
    paletteLabel: "mllp in",
    label: function () {
      return this.name || `mllp :${this.port}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    outputLabels: function () {
      return this._("mllp-in.label.output");
    },
    oneditprepare: function () {
      fillStateSelect($("#node-input-dedupeStore"), this.dedupeStore || "", {
        durable: this._("mllp-in.store.durable"),
        memory: this._("mllp-in.store.memory"),
        messageStore: this._("mllp-in.store.messageStore"),
      });
      const ack = $("#node-input-ack");
      function showRows(): void {
        $(".mllp-in-row-flow").toggle(ack.val() === "flow");
        $(".mllp-in-row-codes").toggle(ack.val() !== "none");
      }
      ack.on("change", showRows);
      showRows();
    },
  });
})();
