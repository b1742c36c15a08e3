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
    timeField: string;
    idField: string;
    resourceType: string;
    pageSize: string;
    logKey: string;
    logSize: string;
    logCount: string;
    outputs: number;
  }

  const ACTIONS = ["get", "commit", "release", "reset", "select", "log"];
  const PATH = /^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/;
  const TYPE = /^[A-Z][A-Za-z]{0,63}$/;
  const KEY = /^[A-Za-z_$][\w$]{0,99}$/;
  const ENV = /^\$\{\w+\}$/;
  const LOG_FIELDS = ["seq", "at", "type", "outcome", "code", "watermark", "advanced", "more"];
  const DURATION = /^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/i;
  const ISO = /^\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2}))?$/;

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  function optional(re: RegExp): (v: string) => boolean {
    return (v: string) => trimmed(v) === "" || re.test(trimmed(v));
  }

  function wholeIn(min: number, max: number): (v: string) => boolean {
    return (v: string) => {
      const t = trimmed(v);
      return t === "" || ENV.test(t) || (/^\d+$/.test(t) && Number(t) >= min && Number(t) <= max);
    };
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
        validate: (v: string) => trimmed(v) === "" || DURATION.test(trimmed(v)) || ISO.test(trimmed(v)),
      },
      lease: { value: "900", validate: seconds(1) },
      actionFromMsg: { value: false },
      timeField: { value: "", validate: optional(PATH) },
      idField: { value: "", validate: optional(PATH) },
      resourceType: { value: "", validate: optional(TYPE) },
      pageSize: { value: "", validate: wholeIn(1, Number.MAX_SAFE_INTEGER) },
      logKey: { value: "runs", validate: optional(KEY) },
      logSize: { value: "20", validate: wholeIn(1, 1000) },
      logCount: {
        value: "records",
        validate: (v: string) => optional(KEY)(v) && !LOG_FIELDS.includes(trimmed(v)),
      },
      outputs: { value: 1 },
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
    outputLabels: function (index: number) {
      if (index === 1) return this._("sync-checkpoint.output.more");
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
        $(".sync-checkpoint-select").toggle(action.val() === "select");
        $(".sync-checkpoint-log").toggle(action.val() === "log");
        $("#node-input-outputs").val(action.val() === "log" ? 2 : 1);
        $(".sync-checkpoint-hint").hide();
        $(`#sync-checkpoint-hint-${String(action.val())}`).show();
      }
      action.on("change", showRows);
      showRows();
    },
  });
})();
