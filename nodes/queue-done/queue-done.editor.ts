import { withReasons } from "../shared/reasons.editor";

(function () {
  interface QueueDoneEditorProps {
    name: string;
    result: string;
  }

  RED.nodes.registerType<QueueDoneEditorProps>("queue-done", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<QueueDoneEditorProps>("queue-done", {
      name: { value: "" },
      result: { value: "success", validate: (v: string) => /^(success|failure|msg)$/.test(v || "success") },
    }),
    inputs: 1,
    outputs: 1,
    icon: "queue-done.svg",
    align: "right",
    paletteLabel: "queue done",
    label: function () {
      return (
        this.name ||
        `queue ${this.result === "failure" ? "failed" : this.result === "msg" ? "done" : "delivered"}`
      );
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("queue-done.input");
    },
    outputLabels: function () {
      return this._("queue-done.output");
    },
  });
})();
