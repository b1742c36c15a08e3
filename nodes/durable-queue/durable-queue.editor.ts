import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface DurableQueueEditorProps {
    name: string;
    store: string;
    queue: string;
    key: string;
    keyType: string;
    dedupe: string;
    concurrency: string;
    maxAttempts: string;
    maxAge: string;
    backoffBase: string;
    backoffCap: string;
    visibility: string;
  }

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }
  function numberAtLeast(min: number, integer: boolean) {
    return numberField({ min, integer });
  }

  RED.nodes.registerType<DurableQueueEditorProps>("durable-queue", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<DurableQueueEditorProps>("durable-queue", {
      name: { value: "" },
      store: { value: "", type: "message-store", required: true },
      queue: {
        value: "",
        required: true,
        validate: (v: string) =>
          unless(trimmed(v).length > 0 && trimmed(v).length <= 200, "1 to 200 characters"),
      },
      // Empty is allowed (no order, no dedupe): without `required: false` the editor runs the
      // typedInput's own check on Done, and an empty msg property fails it ("zero-length").
      key: { value: "", required: false },
      keyType: { value: "msg", validate: (v: string) => /^(msg|jsonata)$/.test(v || "msg") },
      dedupe: { value: "", required: false },
      concurrency: { value: "4", validate: numberAtLeast(1, true) },
      maxAttempts: { value: "10", validate: numberAtLeast(1, true) },
      maxAge: { value: "24", validate: numberAtLeast(0.001, false) },
      backoffBase: { value: "1", validate: numberAtLeast(0.001, false) },
      backoffCap: { value: "300", validate: numberAtLeast(0.001, false) },
      visibility: { value: "300", validate: numberAtLeast(1, false) },
    }),
    inputs: 1,
    outputs: 2,
    icon: "queue.svg",
    paletteLabel: "durable queue",
    label: function () {
      return this.name || (this.queue ? `queue ${this.queue}` : "durable queue");
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("durable-queue.input");
    },
    outputLabels: function (i: number) {
      return this._(i === 0 ? "durable-queue.output.accepted" : "durable-queue.output.deliver");
    },
    oneditprepare: function () {
      $("#node-input-key").typedInput({
        default: "msg",
        types: ["msg", "jsonata"],
        typeField: "#node-input-keyType",
      });
      $("#node-input-dedupe").typedInput({ default: "msg", types: ["msg"] });
    },
  });
})();
