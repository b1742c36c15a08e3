import { withReasons } from "../shared/reasons.editor";

import {
  BUILTIN_MAPPING_NAMES,
  MAP_DIRECTIONS,
  MAPPING_DIRECTIONS,
  REFUSED_MODES,
} from "../../lib/mapping/types";

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
    $(`#${P}-validators`).remove();
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

  /** Fills a rules-table row; the row's inputs are read back by ruleFromRow. */
  function renderRow(row: JQuery, rule: Rule): void {
    row.css({ overflow: "hidden", whiteSpace: "nowrap" });
    const line1 = $("<div/>", { style: "display: flex; gap: 4px; margin-bottom: 4px" }).appendTo(row);
    $("<input/>", { type: "text", class: `${P}-pms`, placeholder: t("rule.pms"), style: "flex: 2" })
      .val(rule.pms ?? "")
      .appendTo(line1);
    $("<span/>", { style: "align-self: center" }).html("&harr;").appendTo(line1);
    $("<input/>", { type: "text", class: `${P}-fhir`, placeholder: t("rule.fhir"), style: "flex: 4" })
      .val(rule.fhir ?? "")
      .appendTo(line1);
    const transform = $("<select/>", { class: `${P}-transform`, style: "flex: 2" }).appendTo(line1);
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
    const paramInput = $("<input/>", {
      type: "text",
      class: `${P}-param`,
      placeholder: t("rule.param"),
      style: "flex: 1",
    })
      .val(param)
      .appendTo(line1);

    const line2 = $("<div/>", { style: "display: flex; gap: 4px; margin-bottom: 4px" }).appendTo(row);
    const direction = $("<select/>", { class: `${P}-direction`, style: "flex: 1" }).appendTo(line2);
    for (const d of MAPPING_DIRECTIONS)
      $("<option/>", { value: d })
        .text(t(`rule.${d}`))
        .appendTo(direction);
    direction.val(rule.direction ?? "both");
    const required = $("<select/>", { class: `${P}-required`, style: "flex: 1" }).appendTo(line2);
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
    required.val(rule.required === true ? "true" : typeof rule.required === "string" ? rule.required : "");
    $("<input/>", { type: "text", class: `${P}-validate`, placeholder: t("rule.validate"), style: "flex: 1" })
      .val(rule.validate ?? "")
      .attr("list", `${P}-validators`)
      .appendTo(line2);
    $("<input/>", { type: "text", class: `${P}-default`, placeholder: t("rule.default"), style: "flex: 1" })
      .val(defaultToText(rule.default))
      .appendTo(line2);
    $("<input/>", { type: "text", class: `${P}-label`, placeholder: t("rule.label"), style: "flex: 1" })
      .val(rule.label ?? "")
      .appendTo(line2);

    const codeLine = $("<div/>", { class: `${P}-codemap-line`, style: "display: flex; gap: 4px" }).appendTo(
      row,
    );
    $("<input/>", { type: "text", class: `${P}-codemap`, placeholder: t("rule.codeMap"), style: "flex: 1" })
      .val(rule.codeMap ? JSON.stringify(rule.codeMap) : "")
      .appendTo(codeLine);
    $("<input/>", {
      type: "text",
      class: `${P}-reverse-codemap`,
      placeholder: t("rule.reverseCodeMap"),
      style: "flex: 1",
    })
      .val(rule.reverseCodeMap ? JSON.stringify(rule.reverseCodeMap) : "")
      .appendTo(codeLine);
    const withLine = $("<div/>", { class: `${P}-with-line`, style: "display: flex; gap: 4px" }).appendTo(row);
    $("<input/>", { type: "text", class: `${P}-with-pms`, placeholder: t("rule.withPms"), style: "flex: 1" })
      .val(rule.with?.pms ?? "")
      .appendTo(withLine);
    $("<input/>", {
      type: "text",
      class: `${P}-with-fhir`,
      placeholder: t("rule.withFhir"),
      style: "flex: 1",
    })
      .val(rule.with?.fhir ?? "")
      .appendTo(withLine);
    $("<div/>", {
      class: `${P}-row-error`,
      style: "color: var(--red-ui-text-color-error, #d00); white-space: normal",
    })
      .hide()
      .appendTo(row);

    function showOptional(): void {
      const info = transformInfo(String(transform.val() ?? ""));
      paramInput.toggle(info !== undefined && info.param !== "none");
      codeLine.toggle(info?.uses.includes("codeMap") === true);
      withLine.toggle(info?.uses.includes("with") === true);
    }
    transform.on("change", showOptional);
    showOptional();
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

      $("<datalist/>", { id: `${P}-validators` })
        .append(["email", "phone", "date", "regex:"].map((v) => $("<option/>", { value: v })))
        .appendTo("body");

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
        $(`#${P}-rules-row`).toggle(custom);
        $(`#${P}-builtin-tip`).toggle(!custom);
        if (!custom) $(`#${P}-copy-from`).val(mapping);
        systemInput.attr("placeholder", builtins?.identifierSystems[mapping] ?? "");
        scheduleCheck();
      }

      function startList(rules: Rule[]): void {
        list.editableList<Rule>({
          addButton: true,
          removable: true,
          sortable: true,
          height: "auto",
          addItem: (row: JQuery, _index: number, data: Rule) => {
            renderRow(row, data);
            row.on("change input", "input, select", scheduleCheck);
          },
          removeItem: scheduleCheck,
          sortItems: scheduleCheck,
        });
        list.editableList(
          "addItems",
          rules.map((r) => ({ ...r })),
        );
        list.data(`${P}-ready`, true);
      }

      $(`#${P}-copy`).on("click", () => {
        const from = String($(`#${P}-copy-from`).val());
        const rules = builtins?.mappings[from];
        if (!rules) return;
        list.editableList("empty");
        list.editableList("addItems", JSON.parse(JSON.stringify(rules)) as Rule[]);
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
      $("#node-input-rules-container").editableList("width", size.width);
    },
  });
})();
