(function () {
  interface Hl7ParseEditorProps {
    name: string;
    validate: boolean;
  }

  RED.nodes.registerType<Hl7ParseEditorProps>("hl7-parse", {
    category: "PMS-EHR",
    color: "#E2D96E",
    defaults: {
      name: { value: "" },
      validate: { value: false },
    },
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
