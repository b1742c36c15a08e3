import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { builtinRules } from "../../lib/mapping";
import type { MappingRule } from "../../lib/mapping";
import { updateDocsPicture, type PageProblems } from "../support/browser";
import type { FlowNode } from "../support/red-runtime";
import type { EditorPage } from "./editor-page";
import { openEditor, pictureOfFailure, type EditorSession } from "./session";

const ROOT = resolve(__dirname, "..", "..", "..");
const SHOTS = join(ROOT, "test-output", "screenshots");
const P = "pms-fhir-map";
const CATALOG = JSON.parse(readFileSync(join(ROOT, "nodes", P, "locales", "en-US", `${P}.json`), "utf8")) as {
  [P]: { column: Record<string, string> };
};
const COLUMNS = [
  "pms",
  "fhir",
  "transform",
  "param",
  "direction",
  "required",
  "validate",
  "default",
  "label",
];

const TAB = "rules-tab";
/** Custom rules: the built-in appointment set, whose paths are the longest the pack writes. */
const APPOINTMENT = "map-appointment";
/** Custom rules that name no resource type. */
const UNTYPED = "map-untyped";
const UNTYPED_RULES: MappingRule[] = [{ pms: "dob", fhir: "birthDate", transform: "date" }];

function mapper(id: string, name: string, rules: MappingRule[], y: number): FlowNode {
  return {
    id,
    type: P,
    z: TAB,
    name,
    mapping: "custom",
    direction: "to-fhir",
    rules,
    identifierSystem: "urn:healthbridge:pms:appointment",
    refused: "output",
    outputs: 2,
    x: 200,
    y,
    wires: [[], []],
  };
}

describe("editor: pms-fhir-map rules table (headless Chromium, real Node-RED)", function () {
  this.timeout(60000);
  let session: EditorSession | undefined;
  let editor: EditorPage;
  let problems: PageProblems;
  const appointment = builtinRules("appointment");

  before(async function () {
    this.timeout(180000);
    session = await openEditor(this, {
      flows: [
        { id: TAB, type: "tab", label: "rules" },
        mapper(APPOINTMENT, "appointment rules", appointment, 100),
        mapper(UNTYPED, "untyped rules", UNTYPED_RULES, 200),
      ],
    });
    ({ editor, problems } = session);
  });

  beforeEach(async () => {
    await editor.closeAll();
  });

  afterEach(async function () {
    await pictureOfFailure(this, editor, SHOTS);
  });

  after(async () => {
    await session?.close();
  });

  const rows = () => editor.page.locator("#node-input-rules-container > li");
  const cell = (i: number, name: string) => rows().nth(i).locator(`.${P}-${name}`);

  /** Opens a mapper's dialog and waits for its table (built once the runtime sent the transforms). */
  async function openRules(id: string, count: number): Promise<void> {
    await editor.openNode(id);
    await editor.page.waitForFunction(
      (n) => document.querySelectorAll("#node-input-rules-container > li").length === n,
      count,
    );
  }

  /** Text boxes and inputs of the rows that a user sees, with what of their value does not fit. */
  async function clippedFields(): Promise<string[]> {
    return editor.page.evaluate(() =>
      Array.from(
        document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>(
          "#node-input-rules-container li input, #node-input-rules-container li textarea",
        ),
      )
        .filter((e) => e.offsetParent !== null && getComputedStyle(e).visibility !== "hidden")
        .filter((e) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight + 1)
        .map(
          (e) =>
            `${e.className}: ${e.value} (${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight})`,
        ),
    );
  }

  /** Left edge of an element of the open dialog. */
  async function leftOf(selector: string): Promise<number> {
    const box = await editor.page.locator(selector).first().boundingBox();
    if (!box) throw new Error(`${selector} is not laid out`);
    return box.x;
  }

  it("headers name every column over its field, rows take the dialog's width and show every value whole", async () => {
    const mark = problems.errors.length;
    await openRules(APPOINTMENT, appointment.length);
    for (const column of COLUMNS) {
      const header = editor.page.locator(`.${P}-rules-header .${P}-header-${column}`);
      const text = (await header.textContent())?.trim() ?? "";
      expect(text, column).to.not.equal("");
      expect(text, column).to.equal(CATALOG[P].column[column]);
    }
    for (const column of ["pms", "fhir", "transform", "direction", "validate", "label"]) {
      const header = await leftOf(`.${P}-rules-header .${P}-header-${column}`);
      const field = await leftOf(`#node-input-rules-container > li .${P}-${column}`);
      expect(Math.abs(header - field), `${column} header over its field`).to.be.below(2);
    }
    const widths = await editor.page.evaluate(() => ({
      form: document.getElementById("dialog-form")?.getBoundingClientRect().width ?? 0,
      list: document.querySelector(".red-ui-editableList")?.getBoundingClientRect().width ?? 0,
    }));
    expect(widths.list, "rules list across the form").to.be.at.least(widths.form - 2);
    expect(await clippedFields()).to.deep.equal([]);
    for (const [i, rule] of appointment.entries()) {
      expect(await cell(i, "fhir").inputValue(), `row ${i}`).to.equal(rule.fhir ?? "");
    }
    await takePicture();

    // A wider tray keeps the headers over the fields, and a long path shorter.
    const longest = appointment.findIndex((r) => (r.fhir ?? "").includes("participant.where"));
    const before = (await cell(longest, "fhir").boundingBox())?.height ?? 0;
    await editor.page.evaluate(() => {
      const tray = document.querySelector<HTMLElement>(".red-ui-tray");
      if (tray) tray.style.width = `${tray.getBoundingClientRect().width + 300}px`;
      window.dispatchEvent(new Event("resize"));
    });
    await editor.page.waitForFunction(
      ({ sel, h }) => (document.querySelector(sel)?.getBoundingClientRect().height ?? h) < h,
      { sel: `#node-input-rules-container > li:nth-child(${longest + 1}) .${P}-fhir`, h: before },
    );
    expect(
      Math.abs((await leftOf(`.${P}-rules-header .${P}-header-fhir`)) - (await leftOf(`.${P}-fhir`))),
    ).to.be.below(2);
    expect(await clippedFields()).to.deep.equal([]);
    await editor.closeNode("cancel");
    expectNoPageErrors(mark);
  });

  it("the expanded editor shows one rule whole: Done writes it into its row, Cancel leaves the row as it was", async () => {
    const mark = problems.errors.length;
    await openRules(APPOINTMENT, appointment.length);
    const end = appointment.findIndex((r) => r.transform === "addMinutes");
    const reason = appointment.findIndex((r) => r.pms === "reason");
    const form = editor.page.locator(`#${P}-rule-editor`);
    const field = (name: string) => form.locator(`.${P}-${name}`);

    await rows().nth(end).locator(`.${P}-expand`).click();
    await editor.until(`#${P}-rule-editor`, "visible");
    expect(await field("fhir").inputValue()).to.equal(appointment[end].fhir);
    expect(await field("label").inputValue()).to.equal(appointment[end].label);
    expect(await field("with-fhir").inputValue()).to.equal("start");
    expect(await field("with-pms").isVisible(), "with fields for addMinutes").to.equal(true);
    expect(await field("codemap").isVisible(), "no codeMap for addMinutes").to.equal(false);
    const labels = await form.locator(".form-row:visible > label").allTextContents();
    expect(labels.map((l) => l.trim())).to.include.members([
      CATALOG[P].column.pms,
      CATALOG[P].column.fhir,
      CATALOG[P].column.label,
    ]);
    // Every visible field of the form holds its value whole.
    const clipped = await form.evaluate((el) =>
      Array.from(el.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("input, textarea"))
        .filter((e) => e.offsetParent !== null)
        .filter((e) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight + 1)
        .map((e) => e.className),
    );
    expect(clipped).to.deep.equal([]);
    await field("label").fill("end of the visit");
    await field("required").selectOption("true");
    await editor.page.click(`#${P}-rule-ok`);
    await editor.until(`#${P}-rule-editor`, "gone");
    expect(await cell(end, "label").inputValue()).to.equal("end of the visit");
    expect(await cell(end, "required").inputValue()).to.equal("true");

    // Cancel: the row keeps its values.
    await rows().nth(reason).locator(`.${P}-expand`).click();
    await editor.until(`#${P}-rule-editor`, "visible");
    await field("pms").fill("visitReason");
    await editor.page.click(`#${P}-rule-cancel`);
    await editor.until(`#${P}-rule-editor`, "gone");
    expect(await cell(reason, "pms").inputValue()).to.equal("reason");

    // A codeMap is edited on several lines; a map that is not a JSON object keeps the editor open.
    await rows().nth(reason).locator(`.${P}-expand`).click();
    await editor.until(`#${P}-rule-editor`, "visible");
    await field("transform").selectOption("codeMap");
    expect(await field("codemap").isVisible(), "codeMap for codeMap").to.equal(true);
    await field("codemap").fill('["not", "an object"]');
    await editor.page.click(`#${P}-rule-ok`);
    expect(await field("codemap").getAttribute("class")).to.contain("input-error");
    expect(await form.isVisible(), "editor still open").to.equal(true);
    await field("codemap").fill('{\n  "Follow-up visit": "FU",\n  "New patient": "NP"\n}');
    await editor.page.click(`#${P}-rule-ok`);
    await editor.until(`#${P}-rule-editor`, "gone");
    expect(await cell(reason, "transform").inputValue()).to.equal("codeMap");
    expect(await cell(reason, "codemap").isVisible()).to.equal(true);

    await editor.closeNode("ok");
    const saved = await editor.nodeProperty<MappingRule[]>(APPOINTMENT, "rules");
    const expected = structuredClone(appointment);
    expected[end] = { ...expected[end], label: "end of the visit", required: true };
    expected[reason] = {
      pms: "reason",
      fhir: "reasonCode[0].text",
      transform: "codeMap",
      codeMap: { "Follow-up visit": "FU", "New patient": "NP" },
    };
    expect(saved).to.deep.equal(expected);
    expectNoPageErrors(mark);
  });

  it("the FHIR path box suggests the elements of the rules' resource type, which the resource type select writes", async () => {
    const mark = problems.errors.length;
    const menu = editor.page.locator(".red-ui-autoComplete-container").filter({ visible: true });
    const typeSelect = editor.page.locator(`#${P}-resource-type`);

    await openRules(UNTYPED, UNTYPED_RULES.length);
    expect(await typeSelect.inputValue(), "no resourceType rule").to.equal("");
    await cell(0, "fhir").fill("");
    await cell(0, "fhir").pressSequentially("birth");
    // No type, no suggestions: give the editor time to show a menu it should not.
    await editor.page.waitForTimeout(300);
    expect(await menu.count()).to.equal(0);
    await cell(0, "fhir").fill("birthDate");

    await typeSelect.selectOption("Patient");
    await editor.page.waitForFunction(
      (n) => document.querySelectorAll("#node-input-rules-container > li").length === n,
      UNTYPED_RULES.length + 1,
    );
    expect(await cell(0, "fhir").inputValue()).to.equal("resourceType");
    expect(await cell(0, "default").inputValue()).to.equal("Patient");

    await editor.page.click(`#${P}-rules-row .red-ui-editableList-addButton`);
    const added = UNTYPED_RULES.length + 1;
    await rows().nth(added).waitFor();
    await cell(added, "fhir").pressSequentially("birth");
    await menu.first().waitFor();
    expect(await menu.textContent()).to.contain("birthDate");
    await cell(added, "fhir").fill("");
    await cell(added, "fhir").pressSequentially("name.fa");
    await editor.page.waitForFunction(() =>
      Array.from(document.querySelectorAll(".red-ui-autoComplete-container")).some((e) =>
        (e.textContent ?? "").includes("name.family"),
      ),
    );
    // Enter takes the first suggestion.
    await cell(added, "fhir").press("Enter");
    expect(await cell(added, "fhir").inputValue()).to.equal("name.family");
    await cell(added, "pms").fill("lastName");

    // The select follows the resourceType rule as it is typed, and the suggestions follow it.
    await cell(0, "default").fill("Appointment");
    expect(await typeSelect.inputValue()).to.equal("Appointment");
    await cell(added, "fhir").fill("");
    await cell(added, "fhir").pressSequentially("participant.ac");
    await editor.page.waitForFunction(() =>
      Array.from(document.querySelectorAll(".red-ui-autoComplete-container")).some((e) =>
        (e.textContent ?? "").includes("participant.actor"),
      ),
    );
    await editor.page.keyboard.press("Escape");
    await cell(added, "fhir").fill("name.family");
    await typeSelect.selectOption("Patient");
    expect(await cell(0, "default").inputValue()).to.equal("Patient");

    await editor.closeNode("ok");
    expect(await editor.nodeProperty<MappingRule[]>(UNTYPED, "rules")).to.deep.equal([
      { fhir: "resourceType", default: "Patient" },
      { pms: "dob", fhir: "birthDate", transform: "date" },
      { pms: "lastName", fhir: "name.family" },
    ]);
    expect(await editor.nodeState(UNTYPED)).to.deep.include({ valid: true });
    expectNoPageErrors(mark);
  });

  /** The dialog with its rules table, for the docs (docs/images/pms-fhir-map-rules.png). */
  async function takePicture(): Promise<void> {
    await editor.page.evaluate((p) => {
      document.getElementById(`${p}-resource-type-row`)?.scrollIntoView({ block: "start" });
    }, P);
    const shot = join(SHOTS, "pms-fhir-map-rules.png");
    await editor.topTray().screenshot({ path: shot });
    updateDocsPicture(shot, join(ROOT, "docs", "images", "pms-fhir-map-rules.png"), __filename);
  }

  function expectNoPageErrors(mark: number): void {
    expect(problems.errors.slice(mark), "errors in the page").to.deep.equal([]);
  }
});
