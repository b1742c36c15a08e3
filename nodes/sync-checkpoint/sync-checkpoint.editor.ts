import { fillStateSelect } from "../shared/state-select.editor";
import { validateRunLogOptions } from "../../lib/checkpoint/runlog-options";
import { PAGING, validateSelectOptions, type SelectOptions } from "../../lib/checkpoint/select";
import { DEAD_LETTER_MAX } from "../../lib/checkpoint/tally";
import { CONTEXT_KEY_RULE, isContextKey } from "../../lib/context-key";
import { numberField } from "../../lib/number-prop";
import { validateInitial } from "../../lib/checkpoint/time";
import { checked, unless, withReasons } from "../shared/reasons.editor";

/** One select property, by the rule the runtime applies. */
function selectOk(options: SelectOptions): true | string {
  return checked(() => validateSelectOptions(options));
}

/** One log property (key or count name), by the rule the runtime applies; the others at their defaults. */
function logOk(options: { key?: string; countName?: string }): true | string {
  return checked(() => validateRunLogOptions({ key: "runs", size: 20, countName: "records", ...options }));
}

/** Where a new checkpoint starts, by the rule the runtime applies (empty, a duration or an ISO time). */
function initialOk(v: string): true | string {
  return checked(() => validateInitial(v));
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
    minInterval: string;
    actionFromMsg: boolean;
    timeField: string;
    idField: string;
    resourceType: string;
    pageSize: string;
    paging: string;
    recordsField: string;
    deadLetterKey: string;
    deadLetterMax: string;
    logKey: string;
    logSize: string;
    logCount: string;
    outputs: number;
  }

  const ACTIONS = ["get", "commit", "release", "reset", "select", "tally", "log"];
  const PAGINGS: readonly string[] = PAGING;
  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  /** The node reads these with numberProp: the same rules here. */
  const wholeIn = (min: number, max?: number) => numberField({ min, max }, { env: true });
  const seconds = (min: number) => numberField({ min, integer: false }, { env: true });

  RED.nodes.registerType<SyncCheckpointEditorProps>("sync-checkpoint", {
    category: "PMS-EHR",
    color: "#C0DEED",
    defaults: withReasons<SyncCheckpointEditorProps>("sync-checkpoint", {
      name: { value: "" },
      checkpoint: {
        value: "",
        validate: (v: string) => unless(trimmed(v).length <= 200, "at most 200 characters"),
      },
      action: { value: "get", validate: (v: string) => ACTIONS.includes(v) },
      store: { value: "" },
      overlap: { value: "0", validate: seconds(0) },
      initial: {
        value: "",
        validate: initialOk,
      },
      lease: { value: "900", validate: seconds(1) },
      minInterval: { value: "", validate: seconds(0) },
      actionFromMsg: { value: false },
      timeField: { value: "", validate: (v: string) => selectOk({ timeField: trimmed(v) }) },
      idField: { value: "", validate: (v: string) => selectOk({ idField: trimmed(v) }) },
      resourceType: { value: "", validate: (v: string) => selectOk({ resourceType: trimmed(v) }) },
      pageSize: { value: "", validate: wholeIn(1) },
      paging: { value: "page", validate: (v: string) => !v || PAGINGS.includes(v) },
      recordsField: { value: "", validate: (v: string) => selectOk({ recordsField: trimmed(v) }) },
      deadLetterKey: {
        value: "deadLetters",
        validate: (v: string) =>
          unless(trimmed(v) === "" || isContextKey(trimmed(v)), `must be ${CONTEXT_KEY_RULE}`),
      },
      deadLetterMax: { value: "1000", validate: wholeIn(1, DEAD_LETTER_MAX) },
      logKey: { value: "runs", validate: (v: string) => trimmed(v) === "" || logOk({ key: trimmed(v) }) },
      logSize: { value: "20", validate: wholeIn(1, 1000) },
      logCount: {
        value: "records",
        validate: (v: string) => trimmed(v) === "" || logOk({ countName: trimmed(v) }),
      },
      outputs: { value: 1 },
    }),
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
    outputLabels: function (index: number) {
      if (index === 1) return this._("sync-checkpoint.output.more");
      return this._(`sync-checkpoint.output.${this.action || "get"}`);
    },
    oneditprepare: function () {
      fillStateSelect($("#node-input-store"), this.store || "", {
        durable: this._("sync-checkpoint.label.defaultStore"),
        memory: this._("sync-checkpoint.label.memoryStore"),
        messageStore: this._("sync-checkpoint.label.messageStore"),
      });
      const action = $("#node-input-action");
      function showRows(): void {
        const isGet = action.val() === "get";
        $(".sync-checkpoint-get").toggle(isGet);
        $(".sync-checkpoint-select").toggle(action.val() === "select");
        $(".sync-checkpoint-log").toggle(action.val() === "log");
        $(".sync-checkpoint-tally").toggle(action.val() === "tally");
        $("#node-input-outputs").val(action.val() === "log" ? 2 : 1);
        $(".sync-checkpoint-hint").hide();
        $(`#sync-checkpoint-hint-${String(action.val())}`).show();
      }
      action.on("change", showRows);
      showRows();
    },
  });
})();
