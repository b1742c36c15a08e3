import { isMsgPlaceholder, placeholders } from "../../lib/legacy/template";
import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";
import { typedInputs, typedSource, typedValue } from "../shared/typed.editor";

(function () {
  interface HmacRequestEditorProps {
    name: string;
    api: string;
    method: string;
    path: string;
    pathType: string;
    integration: string;
    paging: string;
    pageParam: string;
    pageSizeParam: string;
    pageSize: string;
    itemsProperty: string;
    pagingOutput: string;
  }

  function pathOk(v: string): true | string {
    const t = String(v ?? "").trim();
    if (t !== "" && !t.startsWith("/")) return "must start with /";
    return unless(
      placeholders(t).every(isMsgPlaceholder),
      "placeholders must name msg properties, such as {{msg.patientId}}",
    );
  }
  function intAtLeast(min: number) {
    return numberField({ min });
  }

  RED.nodes.registerType<HmacRequestEditorProps>("hmac-request", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<HmacRequestEditorProps>("hmac-request", {
      name: { value: "" },
      api: { value: "", type: "legacy-api", required: true },
      method: { value: "GET", validate: (v: string) => /^(GET|POST|PUT|PATCH|DELETE)$/.test(v || "GET") },
      path: { value: "/patients/{{msg.patientId}}", validate: typedValue("pathType", pathOk) },
      pathType: { value: "str", validate: typedSource },
      integration: { value: "legacy" },
      paging: {
        value: "none",
        validate: function (this: { method?: string }, v: string) {
          return (v || "none") === "none" || (v === "pages" && (this.method || "GET") === "GET");
        },
      },
      pageParam: { value: "page" },
      pageSizeParam: { value: "pageSize" },
      pageSize: { value: "100", validate: intAtLeast(1) },
      itemsProperty: { value: "items" },
      pagingOutput: { value: "all", validate: (v: string) => /^(all|each)$/.test(v || "all") },
    }),
    inputs: 1,
    outputs: 1,
    icon: "legacy.svg",
    paletteLabel: "hmac request",
    label: function () {
      const path = !this.pathType || this.pathType === "str" ? this.path || "/" : `(${this.pathType})`;
      return this.name || `${this.method || "GET"} ${path}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("hmac-request.label.input");
    },
    outputLabels: function () {
      return this._("hmac-request.label.response");
    },
    oneditprepare: function () {
      typedInputs(["path"]);
      const method = $("#node-input-method");
      const paging = $("#node-input-paging");
      function showRows(): void {
        const isGet = String(method.val() || "GET") === "GET";
        $("#hmac-request-row-paging").toggle(isGet);
        if (!isGet) paging.val("none");
        $(".hmac-request-paging-row").toggle(isGet && String(paging.val()) === "pages");
        RED.tray.resize();
      }
      method.on("change", showRows);
      paging.on("change", showRows);
      showRows();
    },
  });
})();
