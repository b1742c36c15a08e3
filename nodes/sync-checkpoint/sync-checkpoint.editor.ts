import { validateInitial } from "../../lib/checkpoint/time";

/** Where a new checkpoint starts, by the rule the runtime applies (empty, a duration or an ISO time). */
function initialOk(v: string): boolean {
  try {
    validateInitial(v);
    return true;
  } catch {
    return false;
  }
}

(function () {
  interface SyncCheckpointEditorProps {
    name: string;
    checkpoint: string;
    action: string;
    store: string;
    overlap: string;
    initial: string;
    lease: string;
    actionFromMsg: boolean;
  }

  const ACTIONS = ["get", "commit", "release", "reset"];

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  function seconds(min: number): (v: string) => boolean {
    return (v: string) => trimmed(v) === "" || (!isNaN(Number(trimmed(v))) && Number(trimmed(v)) >= min);
  }

  RED.nodes.registerType<SyncCheckpointEditorProps>("sync-checkpoint", {
    category: "PMS-EHR",
    color: "#C0DEED",
    defaults: {
      name: { value: "" },
      checkpoint: { value: "", validate: (v: string) => trimmed(v).length <= 200 },
      action: { value: "get", validate: (v: string) => ACTIONS.includes(v) },
      store: { value: "" },
      overlap: { value: "0", validate: seconds(0) },
      initial: {
        value: "",
        validate: initialOk,
      },
      lease: { value: "900", validate: seconds(1) },
      actionFromMsg: { value: false },
    },
    inputs: 1,
    outputs: 1,
    icon: "sync-checkpoint.svg",
    paletteLabel: "sync checkpoint",
    label: function () {
      if (this.name) return this.name;
      return this.checkpoint
        ? `${this.action || "get"} ${this.checkpoint}`
        : `checkpoint ${this.action || "get"}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._(`sync-checkpoint.input.${this.action || "get"}`);
    },
    outputLabels: function () {
      return this._(`sync-checkpoint.output.${this.action || "get"}`);
    },
    oneditprepare: function () {
      const context = (RED.settings as unknown as { context?: { default?: string; stores?: string[] } })
        .context;
      const select = $("#node-input-store");
      const current = this.store || "";
      const stores = (context?.stores ?? []).slice();
      if (current && !stores.includes(current)) stores.push(current);
      for (const s of stores) {
        $("<option></option>").val(s).text(s).appendTo(select);
      }
      select.val(current);
      const action = $("#node-input-action");
      function showRows(): void {
        const isGet = action.val() === "get";
        $(".sync-checkpoint-get").toggle(isGet);
        $(".sync-checkpoint-hint").hide();
        $(`#sync-checkpoint-hint-${String(action.val())}`).show();
      }
      action.on("change", showRows);
      showRows();
    },
  });
})();
