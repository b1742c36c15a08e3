import { expect } from "chai";
import { join, resolve } from "node:path";
import { updateDocsPicture, type PageProblems } from "../support/browser";
import type { EditorPage } from "./editor-page";
import { openEditor, type EditorSession } from "./session";

const ROOT = resolve(__dirname, "..", "..", "..");
const SHOTS = join(ROOT, "test-output", "screenshots");

/** The editor's jQuery, as far as these tests read a typedInput through it. */
interface EditorWindow {
  jQuery(selector: string): {
    hasClass(c: string): boolean;
    typedInput(action: "type"): string;
    val(): unknown;
  };
  RED: { nodes: { filterNodes(f: object): Array<{ id: string; type: string; resourceType?: string }> } };
}

/** What a flow from before the typed properties holds: values only, no `<property>Type`. */
const OLD_FLOW = [
  {
    id: "old-fhir",
    type: "fhir-request",
    name: "",
    server: "",
    operation: "search-all",
    resourceType: "Patient",
    searchParams: "_count=50",
    operationName: "",
    maxPages: "100",
    output: "bundle",
    integration: "fhir",
    x: 200,
    y: 100,
    wires: [[]],
  },
  {
    id: "old-bad",
    type: "fhir-request",
    name: "",
    server: "",
    operation: "read",
    resourceType: "patient record",
    x: 200,
    y: 180,
    wires: [[]],
  },
  {
    id: "old-hmac",
    type: "hmac-request",
    name: "",
    api: "",
    method: "GET",
    path: "/patients/{{msg.patientId}}",
    x: 200,
    y: 260,
    wires: [[]],
  },
];

describe("editor: typed properties (headless Chromium, real Node-RED)", function () {
  this.timeout(60000);
  let session: EditorSession | undefined;
  let editor: EditorPage;
  let problems: PageProblems;

  before(async function () {
    this.timeout(180000);
    session = await openEditor(this);
    ({ editor, problems } = session);
  });

  beforeEach(async () => {
    await editor.closeAll();
    await editor.clearWorkspace();
  });

  after(async () => {
    await session?.close();
  });

  /** The typedInput's type selector of field `prop` in the open tray. */
  function typeButton(prop: string) {
    return editor.page.locator(
      `#node-input-${prop} + .red-ui-typedInput-container button.red-ui-typedInput-type-select`,
    );
  }

  /** Chooses the source of `prop` from its typedInput's menu, as a user does. */
  async function chooseType(prop: string, type: string): Promise<void> {
    await typeButton(prop).click();
    await editor.page
      .locator(`.red-ui-typedInput-options a[value="${type}"]`)
      .filter({ visible: true })
      .click();
    await editor.page.waitForFunction(
      ({ p, t }) => (document.getElementById(`node-input-${p}Type`) as HTMLInputElement | null)?.value === t,
      { p: prop, t: type },
    );
  }

  /** The type the open tray's typedInput of `prop` shows, and its text box's value. */
  async function shown(prop: string): Promise<{ type: string; value: string; typedInput: boolean }> {
    return editor.page.evaluate((p) => {
      const field = (window as unknown as EditorWindow).jQuery(`#node-input-${p}`);
      const typedInput = field.hasClass("red-ui-typedInput");
      return {
        typedInput,
        type: typedInput ? String(field.typedInput("type")) : "",
        value: String(field.val()),
      };
    }, prop);
  }

  /** The node as Menu > Export shows it (the node selected first). */
  async function exported(id: string): Promise<Record<string, unknown>> {
    await editor.nodeOnCanvas(id).locator("rect.red-ui-flow-node").click();
    await editor.page.click("#red-ui-header-button-sidemenu");
    await editor.page.click("#menu-item-export");
    // The JSON sits in the dialog's second (hidden) tab, filled when the dialog opens.
    const json = await editor.page.waitForFunction(
      () =>
        (document.getElementById("red-ui-clipboard-dialog-export-text") as HTMLTextAreaElement | null)?.value,
    );
    const nodes = JSON.parse(String(await json.jsonValue())) as Array<Record<string, unknown>>;
    await editor.page.click("#red-ui-clipboard-dialog-cancel");
    await editor.until("#red-ui-clipboard-dialog", "gone");
    const node = nodes.find((n) => n.id === id);
    if (!node) throw new Error(`the export holds no node ${id}`);
    return node;
  }

  it("fhir-request: a new node's resource type, search params and operation name are typedInputs of type str", async () => {
    const mark = problems.errors.length;
    const id = await editor.dragFromPalette("fhir-request", 300, 200);
    expect(await editor.nodeProperty(id, "resourceTypeType")).to.equal("str");
    await editor.openNode(id);
    for (const prop of ["resourceType", "searchParams", "operationName"]) {
      expect(await shown(prop), prop).to.deep.include({ typedInput: true, type: "str" });
    }
    await editor.closeNode("cancel");
    expect(problems.errors.slice(mark)).to.deep.equal([]);
  });

  it("fhir-request: msg and JSONata sources are checked for syntax only, saved, shown again on reopen and exported with their type", async () => {
    const mark = problems.errors.length;
    const id = await editor.dragFromPalette("fhir-request", 300, 200);
    await editor.openNode(id);
    await editor.page.selectOption("#node-input-operation", "search-all");

    await chooseType("resourceType", "msg");
    await editor.typeInto("node-input-resourceType", "target.type");
    expect(
      await editor.markedError("node-input-resourceType", false),
      "a msg path is no resource type name",
    ).to.equal(true);
    await editor.typeInto("node-input-resourceType", "target..type");
    expect(
      await editor.markedError("node-input-resourceType", true),
      "a msg path that does not parse",
    ).to.equal(true);
    await editor.typeInto("node-input-resourceType", "target.type");

    await chooseType("searchParams", "jsonata");
    await editor.typeInto("node-input-searchParams", '{"identifier": "urn:pms|" & ');
    expect(
      await editor.markedError("node-input-searchParams", true),
      "an expression that does not parse",
    ).to.equal(true);
    const expression = '{"identifier": "urn:pms|" & payload.id, "_count": 50}';
    await editor.typeInto("node-input-searchParams", expression);
    expect(await editor.markedError("node-input-searchParams", false)).to.equal(true);
    const shot = join(SHOTS, "fhir-request-typed.png");
    await editor.topTray().screenshot({ path: shot });
    updateDocsPicture(shot, join(ROOT, "docs", "images", "fhir-request-typed.png"), __filename);
    await editor.closeNode("ok");

    const errors = (await editor.nodeState(id)).invalid;
    expect(errors, "no fhir-server chosen yet").to.deep.equal(["server"]);
    expect(await editor.nodeProperty(id, "resourceType")).to.equal("target.type");
    expect(await editor.nodeProperty(id, "resourceTypeType")).to.equal("msg");
    expect(await editor.nodeProperty(id, "searchParams")).to.equal(expression);
    expect(await editor.nodeProperty(id, "searchParamsType")).to.equal("jsonata");

    await editor.openNode(id);
    expect(await shown("resourceType")).to.deep.equal({
      typedInput: true,
      type: "msg",
      value: "target.type",
    });
    expect(await shown("searchParams")).to.deep.equal({
      typedInput: true,
      type: "jsonata",
      value: expression,
    });
    expect(await shown("operationName")).to.deep.include({ type: "str" });
    await editor.closeNode("cancel");

    expect(await exported(id)).to.deep.include({
      resourceType: "target.type",
      resourceTypeType: "msg",
      searchParams: expression,
      searchParamsType: "jsonata",
      operationNameType: "str",
    });
    expect(problems.errors.slice(mark)).to.deep.equal([]);
  });

  it("fhir-request: back to str, a written value is checked as before", async () => {
    const id = await editor.dragFromPalette("fhir-request", 300, 200);
    await editor.openNode(id);
    await editor.page.selectOption("#node-input-operation", "search-all");
    await chooseType("resourceType", "env");
    await editor.typeInto("node-input-resourceType", "FHIR_RESOURCE_TYPE");
    expect(await editor.markedError("node-input-resourceType", false)).to.equal(true);
    await chooseType("resourceType", "str");
    await editor.typeInto("node-input-resourceType", "patient record");
    expect(await editor.markedError("node-input-resourceType", true)).to.equal(true);
    await editor.closeNode("ok");
    expect((await editor.nodeState(id)).invalid).to.include("resourceType");
    expect(await editor.nodeProperty(id, "resourceTypeType")).to.equal("str");
  });

  it("hmac-request: a path from env need not start with /; a written one must", async () => {
    const mark = problems.errors.length;
    const id = await editor.dragFromPalette("hmac-request", 300, 200);
    await editor.openNode(id);
    expect(await shown("path")).to.deep.equal({
      typedInput: true,
      type: "str",
      value: "/patients/{{msg.patientId}}",
    });
    await chooseType("path", "env");
    await editor.typeInto("node-input-path", "PMS_PATIENT_PATH");
    expect(await editor.markedError("node-input-path", false)).to.equal(true);
    const shot = join(SHOTS, "hmac-request-typed.png");
    await editor.topTray().screenshot({ path: shot });
    updateDocsPicture(shot, join(ROOT, "docs", "images", "hmac-request-typed.png"), __filename);
    await editor.closeNode("ok");
    expect((await editor.nodeState(id)).invalid).to.not.include("path");
    expect(await exported(id)).to.deep.include({ path: "PMS_PATIENT_PATH", pathType: "env" });

    await editor.openNode(id);
    expect(await shown("path")).to.deep.equal({ typedInput: true, type: "env", value: "PMS_PATIENT_PATH" });
    await chooseType("path", "str");
    await editor.typeInto("node-input-path", "patients/{{msg.patientId}}");
    expect(await editor.markedError("node-input-path", true)).to.equal(true);
    await editor.closeNode("ok");
    expect((await editor.nodeState(id)).invalid).to.include("path");
    expect(problems.errors.slice(mark)).to.deep.equal([]);
  });

  it("a flow from before (no type properties) opens as str with its values, and is checked as before", async () => {
    const mark = problems.errors.length;
    await editor.importText(JSON.stringify(OLD_FLOW));
    const ids = await editor.page.evaluate(() =>
      Object.fromEntries(
        (window as unknown as EditorWindow).RED.nodes
          .filterNodes({})
          .map((n) => [n.type === "hmac-request" ? "hmac" : String(n.resourceType), n.id]),
      ),
    );
    const old = ids["Patient"];
    const bad = ids["patient record"];
    const hmac = ids["hmac"];

    expect((await editor.nodeState(bad)).invalid).to.include("resourceType");
    for (const id of [old, hmac]) {
      const errors = (await editor.nodeState(id)).invalid;
      expect(
        errors.filter((e) => /resourceType|searchParams|operationName|path/.test(e)),
        id,
      ).to.deep.equal([]);
    }

    await editor.openNode(old);
    expect(await shown("resourceType")).to.deep.equal({ typedInput: true, type: "str", value: "Patient" });
    expect(await shown("searchParams")).to.deep.equal({ typedInput: true, type: "str", value: "_count=50" });
    await editor.closeNode("ok");
    expect(await exported(old)).to.deep.include({
      resourceType: "Patient",
      resourceTypeType: "str",
      searchParams: "_count=50",
      searchParamsType: "str",
    });

    await editor.openNode(hmac);
    expect(await shown("path")).to.deep.equal({
      typedInput: true,
      type: "str",
      value: "/patients/{{msg.patientId}}",
    });
    await editor.closeNode("cancel");
    expect(problems.errors.slice(mark)).to.deep.equal([]);
  });
});
