import { isEnvReference } from "../../lib/env";
import { FHIR_OPERATIONS, RESOURCE_TYPE_NAME, type FhirOperation } from "../../lib/fhir/types";
import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";
import { typedInputs, typedSource, typedValue } from "../shared/typed.editor";

(function () {
  interface FhirRequestEditorProps {
    name: string;
    server: string;
    operation: string;
    resourceType: string;
    resourceTypeType: string;
    searchParams: string;
    searchParamsType: string;
    operationName: string;
    operationNameType: string;
    maxPages: string;
    output: string;
    bundle: string;
    bundleSize: string;
    createOnly: string;
    integration: string;
  }

  const OPERATIONS: readonly string[] = FHIR_OPERATIONS;
  /** Which optional rows each operation uses. */
  const ROWS: Record<FhirOperation, string[]> = {
    read: ["resourceType"],
    vread: ["resourceType"],
    search: ["resourceType", "searchParams"],
    "search-all": ["resourceType", "searchParams", "maxPages", "output"],
    create: ["resourceType"],
    update: ["resourceType", "searchParams"],
    upsert: ["resourceType", "bundle"],
    patch: ["resourceType", "searchParams"],
    delete: ["resourceType", "searchParams"],
    transaction: [],
    batch: [],
    history: ["resourceType", "searchParams"],
    capabilities: [],
    operation: ["resourceType", "searchParams", "operationName"],
  };

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  RED.nodes.registerType<FhirRequestEditorProps>("fhir-request", {
    category: "PMS-EHR",
    color: "#F3B567",
    defaults: withReasons<FhirRequestEditorProps>("fhir-request", {
      name: { value: "" },
      server: { value: "", type: "fhir-server", required: true },
      operation: { value: "read", validate: (v: string) => OPERATIONS.includes(v) || isEnvReference(v) },
      resourceType: {
        value: "",
        validate: typedValue("resourceTypeType", (v) =>
          unless(
            trimmed(v) === "" || /^[A-Z][A-Za-z]*$/.test(trimmed(v)) || isEnvReference(v),
            "must be a FHIR resource type such as Patient",
          ),
        ),
      },
      resourceTypeType: { value: "str", validate: typedSource },
      searchParams: { value: "", validate: typedValue("searchParamsType", () => true) },
      searchParamsType: { value: "str", validate: typedSource },
      operationName: {
        value: "",
        validate: typedValue("operationNameType", (v) =>
          unless(
            trimmed(v) === "" || /^\$?[A-Za-z][A-Za-z0-9-]*$/.test(trimmed(v)),
            "must be an operation name such as $everything",
          ),
        ),
      },
      operationNameType: { value: "str", validate: typedSource },
      maxPages: {
        value: "100",
        validate: numberField({ min: 1 }),
      },
      output: { value: "bundle", validate: (v: string) => v === "" || v === "bundle" || v === "resources" },
      bundle: { value: "", validate: (v: string) => ["", "batch", "transaction"].includes(trimmed(v)) },
      bundleSize: {
        value: "100",
        validate: numberField({ min: 1, max: 1000 }, { env: true }),
      },
      createOnly: {
        value: "",
        validate: (v: string) =>
          unless(
            trimmed(v)
              .split(/[\s,]+/)
              .every((t) => t === "" || RESOURCE_TYPE_NAME.test(t)),
            "must be resource types separated by commas or spaces, such as Task",
          ),
      },
      integration: { value: "fhir" },
    }),
    inputs: 1,
    outputs: 1,
    icon: "fhir.svg",
    paletteLabel: "fhir request",
    label: function () {
      if (this.name) return this.name;
      const written = (type: string) => !type || type === "str";
      const what =
        this.operation === "operation"
          ? written(this.operationNameType) && this.operationName
          : written(this.resourceTypeType) && this.resourceType;
      return what ? `fhir ${this.operation} ${what}` : `fhir ${this.operation || "request"}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("fhir-request.label.input");
    },
    outputLabels: function () {
      return this.operation === "search-all" && this.output === "resources"
        ? this._("fhir-request.label.outputResources")
        : this._("fhir-request.label.response");
    },
    oneditprepare: function () {
      typedInputs(["resourceType", "searchParams", "operationName"]);
      const op = $("#node-input-operation");
      function showRows(): void {
        const rows = ROWS[String(op.val()) as FhirOperation] ?? [];
        $(".fhir-request-row").hide();
        for (const r of rows) $(`#fhir-request-row-${r}`).show();
        if (rows.includes("bundle") && trimmed(String($("#node-input-bundle").val())) !== "") {
          $("#fhir-request-row-bundleSize").show();
          $("#fhir-request-row-createOnly").show();
        }
        $(".fhir-request-hint").hide();
        $(`#fhir-request-hint-${String(op.val())}`).show();
      }
      op.on("change", showRows);
      $("#node-input-bundle").on("change", showRows);
      if (!this.output) $("#node-input-output").val("bundle");
      if (!this.integration) $("#node-input-integration").val("fhir");
      showRows();
    },
  });
})();
