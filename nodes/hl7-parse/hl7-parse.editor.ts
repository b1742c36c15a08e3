import { numberField } from "../../lib/number-prop";
import { withReasons } from "../shared/reasons.editor";

(function () {
  interface Hl7ParseEditorProps {
    name: string;
    validate: boolean;
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

  RED.nodes.registerType<Hl7ParseEditorProps>("hl7-parse", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: withReasons<Hl7ParseEditorProps>("hl7-parse", {
      name: { value: "" },
      validate: { value: false },
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
    icon: "hl7.svg",
    paletteLabel: "hl7 parse",
    label: function () {
      return this.name || "hl7 parse";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._("hl7-parse.label.input");
    },
    outputLabels: function () {
      return this._("hl7-parse.label.output");
    },
  });
})();
