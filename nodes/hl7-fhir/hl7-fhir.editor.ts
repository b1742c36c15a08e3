import { numberField } from "../../lib/number-prop";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface Hl7FhirEditorProps {
    name: string;
    direction: string;
    systems: string;
    systemPattern: string;
    timezone: string;
    sendingApplication: string;
    sendingFacility: string;
    receivingApplication: string;
    receivingFacility: string;
    version: string;
    maxSegments: string;
    maxSegmentLength: string;
    maxFieldsPerSegment: string;
    maxRepetitionsPerField: string;
    maxComponentsPerField: string;
    maxSubcomponentsPerField: string;
    maxDelimiters: string;
  }

  /** A limit: empty (the default) or a whole number, 0 meaning no limit. */
  const limit = numberField({ min: 0 });

  const VERSIONS = [
    "2.3",
    "2.3.1",
    "2.4",
    "2.5",
    "2.5.1",
    "2.6",
    "2.7",
    "2.7.1",
    "2.8",
    "2.8.1",
    "2.8.2",
    "2.9",
  ];

  function validSystems(v: string): true | string {
    const text = String(v ?? "").trim();
    if (text === "") return true;
    const rule = 'a JSON object of identifier type to system URI, e.g. {"MR": "urn:oid:..."}, none empty';
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return rule;
      return unless(
        Object.values(parsed as Record<string, unknown>).every((s) => typeof s === "string" && s !== ""),
        rule,
      );
    } catch {
      return `not JSON: ${rule}`;
    }
  }

  RED.nodes.registerType<Hl7FhirEditorProps>("hl7-fhir", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<Hl7FhirEditorProps>("hl7-fhir", {
      name: { value: "" },
      direction: { value: "to-fhir", validate: (v: string) => v === "to-fhir" || v === "to-hl7" },
      systems: { value: "", validate: validSystems },
      systemPattern: {
        value: "",
        validate: (v: string) =>
          unless(
            String(v ?? "").trim() === "" || /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(String(v).trim()),
            "must be a URI (scheme:rest, no spaces), e.g. urn:healthbridge:{authority}",
          ),
      },
      timezone: { value: "" },
      sendingApplication: { value: "" },
      sendingFacility: { value: "" },
      receivingApplication: { value: "" },
      receivingFacility: { value: "" },
      version: { value: "2.5.1", validate: (v: string) => v === "" || VERSIONS.includes(v) },
      maxSegments: { value: "", validate: limit },
      maxSegmentLength: { value: "", validate: limit },
      maxFieldsPerSegment: { value: "", validate: limit },
      maxRepetitionsPerField: { value: "", validate: limit },
      maxComponentsPerField: { value: "", validate: limit },
      maxSubcomponentsPerField: { value: "", validate: limit },
      maxDelimiters: { value: "", validate: limit },
    }),
    inputs: 1,
    outputs: 1,
    icon: "hl7-fhir.svg",
    paletteLabel: "hl7 fhir",
    label: function () {
      return this.name || (this.direction === "to-hl7" ? "fhir to hl7" : "hl7 to fhir");
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this.direction === "to-hl7"
        ? this._("hl7-fhir.label.inputFhir")
        : this._("hl7-fhir.label.inputHl7");
    },
    outputLabels: function () {
      return this.direction === "to-hl7"
        ? this._("hl7-fhir.label.outputHl7")
        : this._("hl7-fhir.label.outputFhir");
    },
    oneditprepare: function () {
      const direction = $("#node-input-direction");
      function showRows(): void {
        const toHl7 = direction.val() === "to-hl7";
        $(".hl7-fhir-row-to-hl7").toggle(toHl7);
        $(".hl7-fhir-row-to-fhir").toggle(!toHl7);
      }
      direction.on("change", showRows);
      if (!this.version) $("#node-input-version").val("2.5.1");
      showRows();
    },
  });
})();
