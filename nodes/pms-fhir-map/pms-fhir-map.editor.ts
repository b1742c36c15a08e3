import { FHIR_ELEMENT_RESOURCE_TYPES, fhirPathSuggestions } from "../../lib/mapping/fhir-elements";
import {
  BUILTIN_MAPPING_NAMES,
  MAP_DIRECTIONS,
  MAPPING_DIRECTIONS,
  REFUSED_MODES,
} from "../../lib/mapping/types";
import { withReasons } from "../shared/reasons.editor";

(function () {
  /** A rule as the table edits it (lib/mapping/types.ts MappingRule). */
  interface Rule {
    pms?: string;
    fhir?: string;
    transform?: string;
    codeMap?: Record<string, string>;
    reverseCodeMap?: Record<string, string>;
    with?: { pms: string; fhir: string };
    required?: boolean | "to-fhir" | "to-pms";
    validate?: string;
    direction?: "both" | "to-fhir" | "to-pms";
    default?: unknown;
    label?: string;
  }

  interface MapProps {
    name: string;
    mapping: string;
    direction: string;
    rules: Rule[];
    identifierSystem: string;
    refused: string;
    outputs: number;
  }

  interface Issue {
    field: string;
    rule: number;
    label: string;
    message: string;
    code: string;
    index?: number;
  }

  interface Builtins {
    mappings: Record<string, Rule[]>;
    samples: Record<string, { pms: unknown; fhir: unknown }>;
    identifierSystems: Record<string, string>;
    transforms: Array<{
      name: string;
      param: "none" | "optional" | "required";
      uses: string[];
      description: string;
    }>;
    validators: string[];
  }

  interface TryAnswer {
    compileErrors: Issue[];
    inputErrors?: Issue[];
    outputs?: [TryOutput | null, TryOutput | null];
  }

  interface TryOutput {
    payload: unknown;
    mapping: { direction: string; warnings?: Issue[]; errors?: Issue[] };
  }

  const MAPPINGS: readonly string[] = [...BUILTIN_MAPPING_NAMES, "custom"];
  const DIRECTIONS: readonly string[] = MAP_DIRECTIONS;
  const REFUSED: readonly string[] = REFUSED_MODES;
  const P = "pms-fhir-map";

  let builtins: Builtins | undefined;
  let builtinsRequest: JQuery.jqXHR<Builtins> | undefined;

  /** The built-in sets and transform catalog, fetched once from the runtime (one definition). */
  function loadBuiltins(): JQuery.jqXHR<Builtins> {
    if (!builtinsRequest) {
      builtinsRequest = $.getJSON(`${P}/builtins`);
      builtinsRequest.done((b: Builtins) => {
        builtins = b;
      });
      builtinsRequest.fail(() => {
        builtinsRequest = undefined;
      });
    }
    return builtinsRequest;
  }

  /** The node's own i18n function (namespaced to this package), set when a dialog opens. */
  let translate: ((key: string, subs?: Record<string, string>) => string) | undefined;
  /** The pending compile check of the open dialog, cancelled when it closes. */
  let checkTimer: ReturnType<typeof setTimeout> | undefined;

  function t(key: string, subs?: Record<string, string>): string {
    return translate ? translate(`${P}.${key}`, subs) : RED._(`${P}.${key}`, subs);
  }

  function closeDialog(): void {
    if (checkTimer) clearTimeout(checkTimer);
    checkTimer = undefined;
  }

  /** A default as the row shows it: text as typed, anything else (or text that looks like JSON) as JSON. */
  function defaultToText(v: unknown): string {
    if (v === undefined) return "";
    if (typeof v === "string") {
      try {
        JSON.parse(v);
        return JSON.stringify(v);
      } catch {
        return v;
      }
    }
    return JSON.stringify(v);
  }

  function textToDefault(text: string): unknown {
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }

  /** A JSON object from a text box, undefined when blank; marks the box when it is not one. */
  function objectFrom(input: JQuery): Record<string, string> | undefined | null {
    const text = String(input.val() ?? "").trim();
    input.removeClass("input-error");
    if (text === "") return undefined;
    try {
      const v = JSON.parse(text) as unknown;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Record<string, string>;
    } catch {
      // marked below
    }
    input.addClass("input-error");
    return null;
  }

  function splitTransform(spec: string | undefined): { name: string; param: string } {
    const s = spec ?? "";
    const colon = s.indexOf(":");
    return colon < 0 ? { name: s, param: "" } : { name: s.slice(0, colon), param: s.slice(colon + 1) };
  }

  function transformInfo(name: string) {
    return builtins?.transforms.find((x) => x.name === name);
  }

  /** The resource type the custom rules' `resourceType` rule names: the FHIR path suggestions follow it. */
  let suggestionType: string | undefined;

  /** Node-RED's completion widget (editor-client, Node-RED 2.1 and later); its types do not declare it. */
  interface Completion {
    value: string;
    label: JQuery;
  }
  type AutoCompleteHost = JQuery & {
    autoComplete(options: { search: (value: string) => Completion[] }): JQuery;
  };

  interface InsertableList {
    editableList(action: "insertItemAt", data: Rule, index: number): void;
  }

  /** A text box that wraps and grows to show its whole value; Enter does not add a line. */
  function textBox(cls: string, placeholder: string, value: string, style = ""): JQuery<HTMLTextAreaElement> {
    const box = $<HTMLTextAreaElement>("<textarea/>", {
      class: `${P}-${cls} ${P}-grow`,
      placeholder,
      rows: 1,
      spellcheck: false,
      style: `resize: none; overflow: hidden; overflow-wrap: anywhere; box-sizing: border-box; min-height: 34px; margin: 0; ${style}`,
    }).val(value);
    box.on("keydown", (evt) => {
      if (evt.key === "Enter") evt.preventDefault();
    });
    box.on("input change", () => fit(box[0]));
    return box;
  }

  /** Sizes a growing text box to its content (skipped while hidden: nothing to measure). */
  function fit(box: HTMLTextAreaElement): void {
    if (box.offsetParent === null) return;
    box.style.height = "auto";
    box.style.height = `${box.scrollHeight + box.offsetHeight - box.clientHeight}px`;
  }

  function fitAll(scope: JQuery): void {
    scope.find(`textarea.${P}-grow`).each(function () {
      fit(this as HTMLTextAreaElement);
    });
  }

  /** Offers the element paths of the rules' resource type as the FHIR path is typed. */
  function suggestPaths(input: JQuery): void {
    (input as AutoCompleteHost).autoComplete({
      search: (value: string) =>
        suggestionType === undefined
          ? []
          : fhirPathSuggestions(suggestionType, value)
              .slice(0, 200)
              .map((e) => ({
                value: e.path,
                label: $("<div/>", { style: "display: flex; gap: 12px; justify-content: space-between" })
                  .append($("<span/>").text(e.path))
                  .append($("<span/>", { style: "opacity: 0.7" }).text(e.list ? `${e.type}[]` : e.type)),
              })),
    });
  }

  /** Offers the validators (`email`, `phone`, `date`, `regex:`) as a validation is typed. */
  function suggestValidators(input: JQuery): void {
    const names = ["email", "phone", "date", "regex:"];
    (input as AutoCompleteHost).autoComplete({
      search: (value: string) =>
        names
          .filter((n) => n.startsWith(value.trim()) && n !== value.trim())
          .map((n) => ({ value: n, label: $("<span/>").text(n) })),
    });
  }

  function transformSelect(rule: Rule, style: string): { select: JQuery; param: string } {
    const transform = $("<select/>", { class: `${P}-transform`, style }).appendTo($("<div/>"));
    $("<option/>", { value: "" }).text(t("rule.none")).appendTo(transform);
    for (const info of builtins?.transforms ?? []) {
      $("<option/>", { value: info.name, title: info.description }).text(info.name).appendTo(transform);
    }
    const { name, param } = splitTransform(rule.transform);
    const known = transform.find("option").filter(function () {
      return $(this).val() === name;
    });
    if (name !== "" && known.length === 0) {
      $("<option/>", { value: name }).text(name).appendTo(transform);
    }
    transform.val(name);
    return { select: transform.detach(), param };
  }

  function directionSelect(rule: Rule, style: string): JQuery {
    const direction = $("<select/>", { class: `${P}-direction`, style });
    for (const d of MAPPING_DIRECTIONS)
      $("<option/>", { value: d })
        .text(t(`rule.${d}`))
        .appendTo(direction);
    return direction.val(rule.direction ?? "both");
  }

  function requiredSelect(rule: Rule, style: string): JQuery {
    const required = $("<select/>", { class: `${P}-required`, style });
    for (const [v, key] of [
      ["", "optional"],
      ["true", "required"],
      ["to-fhir", "requiredToFhir"],
      ["to-pms", "requiredToPms"],
    ]) {
      $("<option/>", { value: v })
        .text(t(`rule.${key}`))
        .appendTo(required);
    }
    return required.val(
      rule.required === true ? "true" : typeof rule.required === "string" ? rule.required : "",
    );
  }

  /** Shows a rule's parameter, codeMap and with fields only for a transform that reads them. */
  function followTransform(
    scope: JQuery,
    transform: JQuery,
    param: JQuery,
    codeMap: JQuery,
    withLine: JQuery,
  ) {
    function show(): void {
      const info = transformInfo(String(transform.val() ?? ""));
      // Hidden but holding its place, so that the row's columns stay under their headers.
      param.css("visibility", info !== undefined && info.param !== "none" ? "visible" : "hidden");
      codeMap.toggle(info?.uses.includes("codeMap") === true);
      withLine.toggle(info?.uses.includes("with") === true);
      fitAll(scope);
    }
    transform.on("change", show);
    show();
  }

  /**
   * The two lines of a rule as grid columns, shared by the rows and the headers above them (a
   * grid, not flex boxes: a field's padding would shift its column away from its header).
   */
  const COLUMNS1: Array<[string, string]> = [
    ["pms", "minmax(0, 2fr)"],
    ["arrow", "16px"],
    ["fhir", "minmax(0, 5fr)"],
    ["expand", "30px"],
  ];
  const COLUMNS2: Array<[string, string]> = [
    ["transform", "minmax(0, 1.6fr)"],
    ["param", "minmax(0, 1fr)"],
    ["direction", "minmax(0, 1fr)"],
    ["required", "minmax(0, 1fr)"],
  ];
  const COLUMNS3: Array<[string, string]> = [
    ["validate", "minmax(0, 1fr)"],
    ["default", "minmax(0, 1fr)"],
    ["label", "minmax(0, 2fr)"],
  ];
  const line = (columns: Array<[string, string]>) =>
    `display: grid; grid-template-columns: ${columns.map(([, track]) => track).join(" ")}; ` +
    "column-gap: 4px; margin-bottom: 4px; align-items: start";
  const LINE = "display: flex; gap: 4px; margin-bottom: 4px; align-items: flex-start";
  const CELL = "width: 100%; min-width: 0";

  /** The column headers over the rules, three lines like each rule's. */
  function rulesHeader(): JQuery {
    const header = $("<div/>", { class: `${P}-rules-header`, style: "display: block; padding: 4px 0 0 0" });
    for (const columns of [COLUMNS1, COLUMNS2, COLUMNS3]) {
      const cells = $("<div/>", { style: `${line(columns)}; font-weight: bold` }).appendTo(header);
      for (const [name] of columns) {
        const cell = $("<div/>", { class: `${P}-header-${name}`, style: CELL });
        if (name !== "arrow" && name !== "expand") cell.text(t(`column.${name}`));
        cell.appendTo(cells);
      }
    }
    return header;
  }

  /** Puts the column headers over the rows' fields (the rows' handle and remove button take the sides). */
  function alignHeader(list: JQuery): void {
    const header = list.closest(".red-ui-editableList").find(`.${P}-rules-header`);
    const content = list.find(".red-ui-editableList-item-content").filter(":visible").first();
    if (header.length === 0 || content.length === 0) return;
    const outer = header[0].getBoundingClientRect();
    const inner = content[0].getBoundingClientRect();
    const padLeft = parseFloat(content.css("padding-left")) || 0;
    const padRight = parseFloat(content.css("padding-right")) || 0;
    header.css({
      paddingLeft: `${inner.left - outer.left + padLeft}px`,
      paddingRight: `${outer.right - inner.right + padRight}px`,
    });
  }

  /** Sizes the rows' text boxes to their values and aligns the headers, once the list is shown. */
  function layout(list: JQuery): void {
    fitAll(list);
    alignHeader(list);
  }

  /** Fills a rules-table row; the row's inputs are read back by ruleFromRow. */
  function renderRow(row: JQuery, rule: Rule, expand: (row: JQuery) => void): void {
    const line1 = $("<div/>", { style: line(COLUMNS1) }).appendTo(row);
    textBox("pms", t("rule.pms"), rule.pms ?? "", CELL).appendTo(line1);
    $("<span/>", { style: "text-align: center; align-self: center" }).html("&harr;").appendTo(line1);
    const fhir = textBox("fhir", t("rule.fhir"), rule.fhir ?? "", CELL).appendTo(line1);
    suggestPaths(fhir);
    $("<button/>", {
      type: "button",
      class: `red-ui-button ${P}-expand`,
      title: t("label.editRule"),
      style: "width: 30px; height: 34px; padding: 0",
    })
      .append($("<i/>", { class: "fa fa-expand" }))
      .on("click", () => expand(row))
      .appendTo(line1);

    const line2 = $("<div/>", { style: line(COLUMNS2) }).appendTo(row);
    const { select: transform, param } = transformSelect(rule, CELL);
    transform.appendTo(line2);
    const paramInput = textBox("param", t("rule.param"), param, CELL).appendTo(line2);
    directionSelect(rule, CELL).appendTo(line2);
    requiredSelect(rule, CELL).appendTo(line2);
    const line3 = $("<div/>", { style: line(COLUMNS3) }).appendTo(row);
    suggestValidators(textBox("validate", t("rule.validate"), rule.validate ?? "", CELL).appendTo(line3));
    textBox("default", t("rule.default"), defaultToText(rule.default), CELL).appendTo(line3);
    textBox("label", t("rule.label"), rule.label ?? "", CELL).appendTo(line3);

    const codeLine = $("<div/>", { class: `${P}-codemap-line`, style: LINE }).appendTo(row);
    textBox(
      "codemap",
      t("rule.codeMap"),
      rule.codeMap ? JSON.stringify(rule.codeMap) : "",
      "flex: 1",
    ).appendTo(codeLine);
    textBox(
      "reverse-codemap",
      t("rule.reverseCodeMap"),
      rule.reverseCodeMap ? JSON.stringify(rule.reverseCodeMap) : "",
      "flex: 1",
    ).appendTo(codeLine);
    const withLine = $("<div/>", { class: `${P}-with-line`, style: LINE }).appendTo(row);
    textBox("with-pms", t("rule.withPms"), rule.with?.pms ?? "", "flex: 1").appendTo(withLine);
    textBox("with-fhir", t("rule.withFhir"), rule.with?.fhir ?? "", "flex: 1").appendTo(withLine);
    $("<div/>", {
      class: `${P}-row-error`,
      style: "color: var(--red-ui-text-color-error, #d00); white-space: normal",
    })
      .hide()
      .appendTo(row);
    followTransform(row, transform, paramInput, codeLine, withLine);
  }

  /**
   * One rule in a tray of its own, one labelled full-width field per property (JSON maps on
   * several lines). The fields carry the row's classes, so ruleFromRow reads the form too.
   * Done gives the rule to `save`; Cancel leaves it as it was.
   */
  function editRule(rule: Rule, index: number, save: (rule: Rule) => void): void {
    const field = (form: JQuery, name: string, input: JQuery): JQuery => {
      const wrap = $("<div/>", { class: `form-row ${P}-field-${name}` }).appendTo(form);
      $("<label/>", { style: "display: block; width: auto" })
        .text(t(`column.${name}`))
        .appendTo(wrap);
      return input.css({ width: "100%" }).appendTo(wrap).closest(".form-row");
    };
    const pretty = (map: Record<string, string> | undefined) => (map ? JSON.stringify(map, null, 2) : "");
    RED.tray.show({
      title: escapeHtml(t("label.ruleTitle", { n: String(index + 1) })),
      width: $(".red-ui-tray").last().width(),
      buttons: [
        {
          id: `${P}-rule-cancel`,
          text: RED._("common.label.cancel"),
          click: () => RED.tray.close(),
        },
        {
          id: `${P}-rule-ok`,
          text: RED._("common.label.done"),
          class: "primary",
          click: () => {
            const form = $(`#${P}-rule-editor`);
            const problems: string[] = [];
            const edited = ruleFromRow(form, problems);
            if (problems.length > 0) return;
            save(edited);
            RED.tray.close();
          },
        },
      ],
      open: (tray: JQuery) => {
        const form = $("<form/>", { id: `${P}-rule-editor`, class: "dialog-form form-horizontal" })
          .on("submit", (evt) => evt.preventDefault())
          .appendTo($("<div/>", { class: "red-ui-tray-content" }).appendTo(tray.find(".red-ui-tray-body")));
        field(form, "pms", textBox("pms", t("rule.pms"), rule.pms ?? ""));
        const fhir = textBox("fhir", t("rule.fhir"), rule.fhir ?? "");
        field(form, "fhir", fhir);
        suggestPaths(fhir);
        const { select: transform, param } = transformSelect(rule, "");
        field(form, "transform", transform);
        const paramInput = textBox("param", t("rule.param"), param);
        field(form, "param", paramInput);
        field(form, "direction", directionSelect(rule, ""));
        field(form, "required", requiredSelect(rule, ""));
        const validate = textBox("validate", t("rule.validate"), rule.validate ?? "");
        field(form, "validate", validate);
        suggestValidators(validate);
        field(form, "default", textBox("default", t("rule.default"), defaultToText(rule.default)));
        field(form, "label", textBox("label", t("rule.label"), rule.label ?? ""));
        const codeMaps = $("<div/>").appendTo(form);
        for (const [cls, name, map] of [
          ["codemap", "codeMap", rule.codeMap],
          ["reverse-codemap", "reverseCodeMap", rule.reverseCodeMap],
        ] as const) {
          field(
            codeMaps,
            name,
            $("<textarea/>", {
              class: `${P}-${cls}`,
              rows: 6,
              spellcheck: false,
              placeholder: t(`rule.${name}`),
              style: "font-family: monospace; resize: vertical",
            }).val(pretty(map)),
          );
        }
        const withFields = $("<div/>").appendTo(form);
        field(withFields, "withPms", textBox("with-pms", t("rule.withPms"), rule.with?.pms ?? ""));
        field(withFields, "withFhir", textBox("with-fhir", t("rule.withFhir"), rule.with?.fhir ?? ""));
        followTransform(form, transform, paramInput.closest(".form-row"), codeMaps, withFields);
      },
      show: () => {
        fitAll($(`#${P}-rule-editor`));
        $(`#${P}-rule-editor .${P}-fhir`).trigger("focus");
      },
    });
  }

  /** The rule a row holds; `problems` collects the row's unreadable JSON boxes. */
  function ruleFromRow(row: JQuery, problems: string[]): Rule {
    const val = (cls: string) => String(row.find(`.${P}-${cls}`).val() ?? "").trim();
    const rule: Rule = {};
    if (val("pms")) rule.pms = val("pms");
    if (val("fhir")) rule.fhir = val("fhir");
    const name = val("transform");
    const info = transformInfo(name);
    if (name) rule.transform = val("param") && info?.param !== "none" ? `${name}:${val("param")}` : name;
    if (val("direction") && val("direction") !== "both")
      rule.direction = val("direction") as Rule["direction"];
    const required = val("required");
    if (required === "true") rule.required = true;
    else if (required === "to-fhir" || required === "to-pms") rule.required = required;
    if (val("validate")) rule.validate = val("validate");
    const def = textToDefault(String(row.find(`.${P}-default`).val() ?? ""));
    if (def !== undefined) rule.default = def;
    if (val("label")) rule.label = val("label");
    if (info?.uses.includes("codeMap")) {
      const map = objectFrom(row.find(`.${P}-codemap`));
      const reverse = objectFrom(row.find(`.${P}-reverse-codemap`));
      if (map === null || reverse === null) problems.push(t("error.object"));
      if (map) rule.codeMap = map;
      if (reverse) rule.reverseCodeMap = reverse;
    }
    if (info?.uses.includes("with") && (val("with-pms") || val("with-fhir"))) {
      rule.with = { pms: val("with-pms"), fhir: val("with-fhir") };
    }
    return rule;
  }

  function escapeHtml(text: string): string {
    return $("<div/>").text(text).html();
  }

  function issueText(e: Issue): string {
    const where = e.index !== undefined ? `[${e.index}] ` : "";
    const rule = e.rule >= 0 ? `#${e.rule} ` : "";
    return `${where}${rule}${e.field ? `${e.field}: ` : ""}${e.message} (${e.code})`;
  }

  RED.nodes.registerType<MapProps>("pms-fhir-map", {
    category: "PMS-EHR",
    color: "#C7E9C0",
    defaults: withReasons<MapProps>("pms-fhir-map", {
      name: { value: "" },
      mapping: { value: "patient", validate: (v: string) => MAPPINGS.includes(v) },
      direction: { value: "to-fhir", validate: (v: string) => DIRECTIONS.includes(v) },
      rules: {
        value: [],
        // Typed as text by the editor's types; the property holds the rule list.
        validate: function (v: unknown) {
          return (
            this.mapping !== "custom" ||
            (Array.isArray(v) && v.length > 0) ||
            "custom mapping needs at least one rule"
          );
        },
      },
      identifierSystem: { value: "" },
      refused: { value: "output", validate: (v: string) => !v || REFUSED.includes(v) },
      outputs: { value: 2 },
    }),
    inputs: 1,
    outputs: 2,
    icon: "map.svg",
    paletteLabel: "pms fhir map",
    label: function () {
      if (this.name) return this.name;
      return `${this.mapping || "map"} ${this.direction === "to-pms" ? "→ pms" : "→ fhir"}`;
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    inputLabels: function () {
      return this._(`${P}.label.input`);
    },
    outputLabels: function (index: number) {
      if (this.refused === "msg") return this._(`${P}.label.mappedAndRefused`);
      return this._(index === 0 ? `${P}.label.mapped` : `${P}.label.invalid`);
    },
    oneditprepare: function () {
      const refusedSelect = $("#node-input-refused");
      if (!this.refused) refusedSelect.val("output");
      refusedSelect.on("change", () => {
        $("#node-input-outputs").val(refusedSelect.val() === "msg" ? 1 : 2);
      });
      refusedSelect.trigger("change");
      const savedRules: Rule[] = Array.isArray(this.rules) ? this.rules : [];
      const nodeI18n = this._;
      translate = (key, subs) => nodeI18n(key, subs);
      const list = $("#node-input-rules-container");
      const mappingSelect = $("#node-input-mapping");
      const directionSelect = $("#node-input-direction");
      const systemInput = $("#node-input-identifierSystem");

      function currentRules(): { rules: Rule[]; problems: string[] } {
        const problems: string[] = [];
        const rules: Rule[] = [];
        if (!list.data(`${P}-ready`)) return { rules: savedRules, problems };
        list.editableList("items").each(function () {
          rules.push(ruleFromRow($(this), problems));
        });
        return { rules, problems };
      }

      function showCompileErrors(errors: Issue[]): void {
        const box = $(`#${P}-compile-errors`);
        const ul = $(`#${P}-compile-list`).empty();
        if (!list.data(`${P}-ready`)) return;
        const rows = list.editableList("items");
        rows.each(function () {
          $(this).find(`.${P}-row-error`).hide().text("");
        });
        for (const e of errors) {
          $("<li/>").text(issueText(e)).appendTo(ul);
          if (e.rule >= 0 && e.rule < rows.length) {
            const cell = $(rows[e.rule]).find(`.${P}-row-error`);
            cell
              .text(`${cell.text()}${cell.text() ? "; " : ""}${e.field ? `${e.field}: ` : ""}${e.message}`)
              .show();
          }
        }
        box.toggle(errors.length > 0);
      }

      function config(record?: unknown): Record<string, unknown> {
        const mapping = String(mappingSelect.val());
        const body: Record<string, unknown> = {
          mapping,
          direction: String(directionSelect.val()),
          identifierSystem: String(systemInput.val() ?? ""),
        };
        if (mapping === "custom") body.rules = currentRules().rules;
        if (record !== undefined) body.record = record;
        return body;
      }

      function post(body: Record<string, unknown>): JQuery.jqXHR<TryAnswer> {
        return $.ajax({
          url: `${P}/try`,
          type: "POST",
          contentType: "application/json",
          data: JSON.stringify(body),
          dataType: "json",
        });
      }

      /** Compiles custom rules in the runtime as they are edited, and marks the rows that fail. */
      function scheduleCheck(): void {
        if (checkTimer) clearTimeout(checkTimer);
        checkTimer = setTimeout(() => {
          checkTimer = undefined;
          if (mappingSelect.val() !== "custom") {
            showCompileErrors([]);
            return;
          }
          post(config()).done((answer: TryAnswer) => showCompileErrors(answer.compileErrors ?? []));
        }, 400);
      }

      function showMode(): void {
        const mapping = String(mappingSelect.val());
        const custom = mapping === "custom";
        $(`#${P}-rules-row, #${P}-resource-type-row`).toggle(custom);
        if (custom) layout(list);
        $(`#${P}-builtin-tip`).toggle(!custom);
        if (!custom) $(`#${P}-copy-from`).val(mapping);
        systemInput.attr("placeholder", builtins?.identifierSystems[mapping] ?? "");
        scheduleCheck();
      }

      /** The rule `{"fhir": "resourceType", "default": "<Type>"}` of the table, which names the resource. */
      function resourceTypeRow(): JQuery | undefined {
        if (!list.data(`${P}-ready`)) return undefined;
        const found = list
          .children("li")
          .children(".red-ui-editableList-item-content")
          .filter(function () {
            return String($(this).find(`.${P}-fhir`).val() ?? "").trim() === "resourceType";
          })
          .first();
        return found.length > 0 ? found : undefined;
      }

      /** Shows the rules' resource type in its select, which the path suggestions then follow. */
      function showResourceType(): void {
        const row = resourceTypeRow();
        const value = row ? textToDefault(String(row.find(`.${P}-default`).val() ?? "")) : undefined;
        const type = typeof value === "string" ? value : "";
        suggestionType = type || undefined;
        const select = $(`#${P}-resource-type`);
        if (select.find("option").filter((_, o) => $(o).val() === type).length === 0) {
          $("<option/>", { value: type }).text(type).appendTo(select);
        }
        select.val(type);
      }

      /** Writes the chosen type into the resourceType rule: added first when missing, removed for none. */
      function chooseResourceType(type: string): void {
        const row = resourceTypeRow();
        if (row && type === "") row.closest("li").remove();
        else if (row) row.find(`.${P}-default`).val(type).trigger("change");
        else if (type !== "") {
          // insertItemAt is the widget's, though its types leave it out.
          (list as unknown as InsertableList).editableList(
            "insertItemAt",
            { fhir: "resourceType", default: type },
            0,
          );
        }
        showResourceType();
        scheduleCheck();
      }

      function expandRow(row: JQuery): void {
        const index = row.closest("li").index();
        editRule(ruleFromRow(row, []), index, (rule) => {
          row.empty();
          renderRow(row, rule, expandRow);
          layout(list);
          showResourceType();
          scheduleCheck();
        });
      }

      function startList(rules: Rule[]): void {
        list.editableList<Rule>({
          addButton: true,
          removable: true,
          sortable: true,
          height: "auto",
          header: rulesHeader(),
          addItem: (row: JQuery, _index: number, data: Rule) => {
            renderRow(row, data, expandRow);
            row.on("change input", "input, select, textarea", () => {
              showResourceType();
              scheduleCheck();
            });
            if (list.data(`${P}-ready`)) layout(list);
          },
          removeItem: () => {
            showResourceType();
            scheduleCheck();
          },
          sortItems: scheduleCheck,
        });
        list.editableList(
          "addItems",
          rules.map((r) => ({ ...r })),
        );
        list.data(`${P}-ready`, true);
        showResourceType();
      }

      const typeSelect = $(`#${P}-resource-type`);
      $("<option/>", { value: "" }).text(t("rule.none")).appendTo(typeSelect);
      for (const type of FHIR_ELEMENT_RESOURCE_TYPES)
        $("<option/>", { value: type }).text(type).appendTo(typeSelect);
      typeSelect.on("change", () => chooseResourceType(String(typeSelect.val() ?? "")));

      $(`#${P}-copy`).on("click", () => {
        const from = String($(`#${P}-copy-from`).val());
        const rules = builtins?.mappings[from];
        if (!rules) return;
        list.editableList("empty");
        list.editableList("addItems", JSON.parse(JSON.stringify(rules)) as Rule[]);
        showResourceType();
        if (!systemInput.val()) systemInput.val(builtins?.identifierSystems[from] ?? "");
        mappingSelect.val("custom").trigger("change");
      });

      $(`#${P}-sample`).on("click", () => {
        const mapping = String(mappingSelect.val());
        const set = mapping === "custom" ? String($(`#${P}-copy-from`).val()) : mapping;
        const sample = builtins?.samples[set];
        if (!sample) return;
        const record = directionSelect.val() === "to-pms" ? sample.fhir : sample.pms;
        $(`#${P}-try-input`).val(JSON.stringify(record, null, 2));
      });

      $(`#${P}-run`).on("click", () => {
        const message = $(`#${P}-try-message`).text("");
        const out1 = $(`#${P}-try-output1`).text("");
        const out2 = $(`#${P}-try-output2`).text("");
        $(`#${P}-try-result`).show();
        let record: unknown;
        try {
          record = JSON.parse(String($(`#${P}-try-input`).val() ?? ""));
        } catch (err) {
          message.text(`${t("error.json")}: ${(err as Error).message}`);
          return;
        }
        const problems = currentRules().problems;
        if (mappingSelect.val() === "custom" && problems.length > 0) {
          message.text(problems.join("; "));
          return;
        }
        post(config(record))
          .done((answer: TryAnswer) => {
            showCompileErrors(answer.compileErrors ?? []);
            if (answer.compileErrors?.length) {
              message.text(t("error.compile"));
              return;
            }
            if (answer.inputErrors?.length) {
              message.text(answer.inputErrors.map(issueText).join("; "));
              return;
            }
            const [valid, bad] = answer.outputs ?? [null, null];
            const render = (target: JQuery, output: TryOutput | null, withErrors: boolean) => {
              if (!output) {
                target.text(t("label.nothing"));
                return;
              }
              const lines = (withErrors ? (output.mapping.errors ?? []) : [])
                .map((e) => `✖ ${issueText(e)}`)
                .concat((output.mapping.warnings ?? []).map((w) => `⚠ ${issueText(w)}`));
              target.html(
                (lines.length ? `<b>${escapeHtml(lines.join("\n"))}</b>\n\n` : "") +
                  escapeHtml(JSON.stringify(output.payload, null, 2)),
              );
            };
            render(out1, valid, false);
            render(out2, bad, true);
          })
          .fail((xhr: JQuery.jqXHR) => {
            message.text(t("error.request", { status: `${xhr.status} ${xhr.statusText}` }));
          });
      });

      mappingSelect.on("change", showMode);
      directionSelect.on("change", scheduleCheck);
      systemInput.on("change input", scheduleCheck);

      loadBuiltins()
        .done(() => {
          startList(savedRules);
          showMode();
        })
        .fail((xhr: JQuery.jqXHR) => {
          startList(savedRules);
          showMode();
          $(`#${P}-try-result`).show();
          $(`#${P}-try-message`).text(t("error.request", { status: `${xhr.status} ${xhr.statusText}` }));
        });
    },
    oneditsave: function () {
      const list = $("#node-input-rules-container");
      closeDialog();
      // Closed before the runtime answered: the rules were never shown, so they stay as they were.
      if (!list.data(`${P}-ready`)) return;
      const rules: Rule[] = [];
      const problems: string[] = [];
      list.editableList("items").each(function () {
        rules.push(ruleFromRow($(this), problems));
      });
      this.rules = rules;
    },
    oneditcancel: function () {
      closeDialog();
    },
    oneditresize: function (size: { width: number; height: number }) {
      const list = $("#node-input-rules-container");
      list.editableList("width", size.width);
      layout(list);
    },
  });
})();
