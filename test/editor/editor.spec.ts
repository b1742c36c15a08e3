import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { updateDocsPicture, type PageProblems } from "../support/browser";
import type { FlowNode, Runtime } from "../support/red-runtime";
import type { EditorPage } from "./editor-page";
import { escapeRe, normalise, type NodeState, type TypeInfo } from "./editor-page";
import { openEditor, pictureOfFailure, VIEWPORT, type EditorSession } from "./session";

const ROOT = resolve(__dirname, "..", "..", "..");
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  "node-red": { nodes: Record<string, string> };
};
const MODULE = PKG.name;
/** Every node type the pack registers, as package.json says at test time. */
const TYPES = Object.keys(PKG["node-red"].nodes);
const CATEGORY = "PMS-EHR";
const SHOTS = join(ROOT, "test-output", "screenshots");
/** Below this zoom a pipeline's picture has labels too small to read: lay the flow out tighter. */
const MIN_PICTURE_ZOOM = 0.5;

/** The parse limits hl7-parse and hl7-fhir take (lib/hl7 Hl7Limits). */
const HL7_LIMIT_FIELDS = [
  "maxSegments",
  "maxSegmentLength",
  "maxFieldsPerSegment",
  "maxRepetitionsPerField",
  "maxComponentsPerField",
  "maxSubcomponentsPerField",
  "maxDelimiters",
];

/**
 * A validated text field: typing `bad` must flag it (input-error, node invalid with the red
 * marker after Done), typing `good` must clear it. `field` is the node property; `show` sets
 * selects first (property -> option value) so that the field's row is visible.
 */
interface FieldCase {
  field: string;
  bad: string;
  good: string;
  show?: Record<string, string>;
}
/** A validated property with no text field of its own: driven by steps in the open dialog. */
interface StepCase {
  property: string;
  what: string;
  bad(editor: EditorPage): Promise<void>;
  good(editor: EditorPage): Promise<void>;
}
type Case = FieldCase | StepCase;
interface NodeCases {
  cases: Case[];
  /** Why a node has no case: it must then have no validated property at all. */
  none?: string;
}

/**
 * Every registered node type must have an entry (a new node cannot ship untested). Field
 * cases of config types are also the values used to create a valid config node for the
 * nodes that need one.
 */
const NODE_CASES: Record<string, NodeCases> = {
  "fhir-server": {
    cases: [
      { field: "baseUrl", bad: "ftp://fhir.example.org/r4", good: "http://127.0.0.1:8080/fhir" },
      { field: "fhirVersion", bad: "R4", good: "4.0.1" },
      { field: "timeout", bad: "-5", good: "30000" },
      { field: "maxConcurrent", bad: "0", good: "8" },
    ],
  },
  "fhir-request": {
    cases: [
      { field: "resourceType", bad: "patient record", good: "Patient", show: { operation: "search-all" } },
      { field: "maxPages", bad: "0", good: "50", show: { operation: "search-all" } },
      { field: "operationName", bad: "$every thing", good: "$everything", show: { operation: "operation" } },
      { field: "bundleSize", bad: "0", good: "100", show: { operation: "upsert", bundle: "batch" } },
    ],
  },
  "legacy-api": {
    cases: [
      { field: "baseUrl", bad: "not a url", good: "http://127.0.0.1:9000/api" },
      { field: "apiKeyHeader", bad: "X API Key", good: "X-API-Key" },
      { field: "retries", bad: "-1", good: "3" },
    ],
  },
  "hmac-request": {
    cases: [
      {
        field: "path",
        bad: "patients/{{msg.patientId}}",
        good: "/patients/{{msg.patientId}}",
        show: { method: "GET", paging: "pages" },
      },
      { field: "pageSize", bad: "0", good: "100", show: { method: "GET", paging: "pages" } },
    ],
  },
  "pms-fhir-map": {
    cases: [
      {
        property: "rules",
        what: "custom rules left empty, then filled with the built-in patient set",
        async bad(editor) {
          await editor.page.selectOption("#node-input-mapping", "custom");
          await editor.until("#pms-fhir-map-rules-row", "visible");
          expect(await editor.page.locator("#node-input-rules-container > li").count()).to.equal(0);
        },
        async good(editor) {
          await editor.page.selectOption("#pms-fhir-map-copy-from", "patient");
          await editor.page.click("#pms-fhir-map-copy");
          await editor.until("#node-input-rules-container > li", "visible");
        },
      },
    ],
  },
  "hl7-fhir": {
    cases: [
      { field: "systems", bad: '{"MR": ""}', good: '{"MR": "urn:oid:2.16.840.1.113883.19.5"}' },
      { field: "systemPattern", bad: "local codes", good: "urn:healthbridge:{authority}" },
      ...HL7_LIMIT_FIELDS.map((field) => ({ field, bad: "-1", good: "0", show: { direction: "to-fhir" } })),
    ],
  },
  "webhook-in": {
    cases: [
      { field: "url", bad: "/hooks/:source", good: "/pms/webhooks" },
      { field: "maxBytes", bad: "1MB", good: "1048576" },
      { field: "timeout", bad: "0", good: "30" },
      { field: "maxConcurrent", bad: "0", good: "32" },
    ],
  },
  "webhook-verify": {
    cases: [
      { field: "tolerance", bad: "-1", good: "300" },
      { field: "maxBytes", bad: "1MB", good: "1048576" },
      { field: "maxIds", bad: "-1", good: "0" },
    ],
  },
  "sync-checkpoint": {
    cases: [
      { field: "initial", bad: "yesterday", good: "7d", show: { action: "get" } },
      { field: "overlap", bad: "-1", good: "5", show: { action: "get" } },
      { field: "lease", bad: "0", good: "900", show: { action: "get" } },
      { field: "minInterval", bad: "-1", good: "840", show: { action: "get" } },
    ],
  },
  "hl7-parse": {
    cases: HL7_LIMIT_FIELDS.map((field) => ({ field, bad: "1e3", good: "5000" })),
  },
  "mllp-in": {
    cases: [
      { field: "port", bad: "70000", good: "2575", show: { ack: "flow" } },
      { field: "maxBytes", bad: "0", good: "1048576", show: { ack: "flow" } },
      { field: "replyTimeout", bad: "0", good: "30", show: { ack: "flow" } },
      { field: "frameTimeout", bad: "1.5", good: "30", show: { ack: "flow" } },
    ],
  },
  "mllp-out": {
    cases: [
      { field: "host", bad: "", good: "127.0.0.1", show: { mode: "send" } },
      { field: "port", bad: "0", good: "2575", show: { mode: "send" } },
      { field: "timeout", bad: "0", good: "10000", show: { mode: "send" } },
      { field: "appAckTimeout", bad: "1.5", good: "30000", show: { mode: "send" } },
    ],
  },
  "health-monitor": {
    cases: [
      { field: "window", bad: "0", good: "300" },
      { field: "healthyRate", bad: "1.5", good: "0.98" },
      { field: "path", bad: "pms-ehr/health", good: "/pms-ehr/health" },
      { field: "queueMaxAge", bad: "-1", good: "600" },
      { field: "queueMaxDead", bad: "1.5", good: "10" },
      { field: "snapshotKey", bad: "1health", good: "health" },
      { field: "alertsKey", bad: "alerts log", good: "alerts" },
      { field: "alertsKept", bad: "0", good: "50" },
    ],
  },
  "capability-check": {
    cases: [{ field: "contextKey", bad: "last assessment", good: "assessment" }],
  },
  "message-store": {
    // backend and synchronous are selects holding only valid options; the PostgreSQL fields show for postgres.
    cases: [
      { field: "file", bad: "x".repeat(501), good: "pms-ehr-messages.db" },
      { field: "keepDelivered", bad: "1 day", good: "24" },
      { field: "pgHost", bad: "db host", good: "127.0.0.1", show: { backend: "postgres" } },
      { field: "pgPort", bad: "70000", good: "5432", show: { backend: "postgres" } },
      { field: "pgSchema", bad: "Pms-Ehr", good: "pms_ehr", show: { backend: "postgres" } },
    ],
  },
  "durable-queue": {
    cases: [
      { field: "queue", bad: "", good: "pms-webhooks" },
      { field: "concurrency", bad: "0", good: "4" },
      { field: "maxAttempts", bad: "1.5", good: "10" },
      { field: "maxAge", bad: "0", good: "24" },
      { field: "backoffBase", bad: "-1", good: "1" },
      { field: "backoffCap", bad: "5m", good: "300" },
      { field: "visibility", bad: "0.5", good: "300" },
    ],
  },
  "queue-done": {
    cases: [
      {
        property: "result",
        what: "a result the select does not offer (as an imported flow may hold), then one it does",
        async bad(editor) {
          // A select offers only valid results: the bad one comes in the way an edited flow
          // file would bring it, as a value the dialog then keeps.
          await editor.page.evaluate(() => {
            const select = document.getElementById("node-input-result") as HTMLSelectElement;
            select.add(new Option("maybe", "maybe"));
            select.value = "maybe";
          });
        },
        async good(editor) {
          await editor.page.selectOption("#node-input-result", "failure");
        },
      },
    ],
  },
};

function isField(c: Case): c is FieldCase {
  return "field" in c;
}

/** Field cases grouped by the selects they need, so that each group is one open of the dialog. */
function fieldGroups(entry: NodeCases): FieldCase[][] {
  const groups = new Map<string, FieldCase[]>();
  for (const c of entry.cases.filter(isField)) {
    const key = JSON.stringify(c.show ?? {});
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()];
}

/** The example files under Import > Examples > MODULE: paths without ".json", folders first. */
function exampleFiles(dir = join(ROOT, "examples")): string[][] {
  if (!existsSync(dir)) return [];
  const out: string[][] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      for (const sub of exampleFiles(full)) out.push([name, ...sub]);
    } else if (name.endsWith(".json")) {
      out.push([name.slice(0, -".json".length)]);
    }
  }
  return out;
}

/** The shipped pipelines: the names of examples/pipelines/*.json. */
function pipelineNames(): string[] {
  const dir = join(ROOT, "examples", "pipelines");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith(".json"))
    .map((n) => n.slice(0, -".json".length))
    .sort();
}

/** The main pipeline for the README picture: a shipped flow if there is one, else an example. */
function pipelineFile(): string {
  const candidates = [
    "examples/pipelines/pms-webhook-to-ehr.json",
    "examples/pipelines/batch-sync.json",
    "examples/Search and upsert FHIR patients.json",
  ];
  const found = candidates.map((c) => join(ROOT, c)).find((c) => existsSync(c));
  if (!found) throw new Error(`none of ${candidates.join(", ")} exists`);
  return found;
}

describe("editor (headless Chromium, real Node-RED)", function () {
  this.timeout(60000);
  let session: EditorSession | undefined;
  let rt: Runtime | undefined;
  let editor: EditorPage;
  let problems: PageProblems;
  /** Type info of every registered type, read from the editor. */
  const info = new Map<string, TypeInfo>();

  before(async function () {
    this.timeout(180000);
    session = await openEditor(this);
    ({ rt, editor, problems } = session);
    for (const type of TYPES) {
      const t = await editor.typeInfo(type);
      if (t) info.set(type, t);
    }
  });

  afterEach(async function () {
    const name = await pictureOfFailure(this, editor, SHOTS);
    if (name === undefined) return;
    const notes = await editor.notifications().catch(() => []);
    console.log(`      failed: screenshot test-output/screenshots/failed/${name}.png; notifications:`, notes);
  });

  after(async () => {
    await session?.close();
  });

  /** Fails with every console error, page error, failed request and HTTP error since `mark`. */
  function expectNoPageErrors(mark: number): void {
    expect(problems.errors.slice(mark), "errors in the page").to.deep.equal([]);
  }

  function typeOf(type: string): TypeInfo {
    const t = info.get(type);
    if (!t) throw new Error(`${type} is in package.json but the editor has no such type`);
    return t;
  }

  function isConfig(type: string): boolean {
    return typeOf(type).category === "config";
  }

  function inputId(type: string, prop: string): string {
    return `${isConfig(type) ? "node-config-input" : "node-input"}-${prop}`;
  }

  /** The pack's config properties of a node type: [property, config type]. */
  function configProps(type: string): Array<[string, string]> {
    return typeOf(type)
      .defaults.filter((d) => d.type !== undefined && TYPES.includes(d.type))
      .map((d) => [d.name, d.type as string]);
  }

  async function setSelects(type: string, show: Record<string, string> | undefined): Promise<void> {
    for (const [prop, value] of Object.entries(show ?? {})) {
      await editor.page.selectOption(`#${inputId(type, prop)}`, value);
    }
  }

  /** Checks that the open tray renders an input for every property and credential of `type`. */
  async function expectFormFields(type: string): Promise<void> {
    const t = typeOf(type);
    const prefix = isConfig(type) ? "node-config-input" : "node-input";
    const names = [...t.defaults.map((d) => d.name), ...t.credentials];
    const missing: string[] = [];
    for (const name of names) {
      const found = await editor
        .topTray()
        .locator(`#${prefix}-${name}, #${prefix}-${name}-container`)
        .count();
      if (found === 0) missing.push(name);
    }
    expect(missing, `${type}: properties with no field in the form`).to.deep.equal([]);
  }

  async function expectHelp(type: string): Promise<void> {
    const t = typeOf(type);
    const title = isConfig(type) ? type : t.paletteLabel;
    const help = await editor.showHelp(title);
    expect(help.title).to.equal(title);
    expect(help.summary.length, `${type}: help summary`).to.be.above(20);
    if (t.inputs > 0) expect(help.headings, `${type}: help`).to.include("Inputs");
    if (t.outputs > 0) expect(help.headings, `${type}: help`).to.include("Outputs");
    expect(help.headings, `${type}: help`).to.include("Details");
    expect(help.overflow, `${type}: help wider than the sidebar`).to.deep.equal([]);
  }

  /** The open dialog of `type` as it first shows: its picture, every field labelled, nothing cut off. */
  async function expectDialogLayout(type: string): Promise<void> {
    await editor.topTray().screenshot({ path: join(SHOTS, "dialogs", `${type}.png`) });
    expect(await editor.formLayoutProblems(), `${type}: dialog layout`).to.deep.equal([]);
  }

  /** In an open config tray: types every case's good value (the config is then valid). */
  async function fillGoodConfig(configType: string): Promise<void> {
    for (const c of NODE_CASES[configType]?.cases ?? []) {
      if (!isField(c)) continue;
      await setSelects(configType, c.show);
      await editor.typeInto(inputId(configType, c.field), c.good);
    }
  }

  /** From a node's open tray: gives each of its config properties a valid config node. */
  async function giveValidConfigs(type: string): Promise<void> {
    for (const [prop, configType] of configProps(type)) {
      await editor.openConfigFrom(prop);
      await fillGoodConfig(configType);
      await editor.closeConfig("ok");
    }
  }

  function expectCasesMatchDefinition(type: string): NodeCases {
    const entry = NODE_CASES[type];
    expect(entry, `${type} is registered in package.json but has no entry in NODE_CASES`).to.not.equal(
      undefined,
    );
    const t = typeOf(type);
    const validated = t.defaults.filter((d) => d.validated && d.type === undefined).map((d) => d.name);
    if (entry.cases.length === 0) {
      expect(entry.none, `${type}: no case and no reason`).to.be.a("string");
      expect(validated, `${type} has validated properties but no case`).to.deep.equal([]);
    }
    for (const c of entry.cases) {
      const prop = isField(c) ? c.field : c.property;
      expect(validated, `${type}: case for ${prop}, which has no validator`).to.include(prop);
    }
    return entry;
  }

  describe("loading", () => {
    it("loads the editor with no console error, page error or failed request", async () => {
      expect(await editor.page.locator("#red-ui-palette-container .red-ui-palette-node").count()).to.be.above(
        0,
      );
      expectNoPageErrors(0);
    });

    it("has every node of package.json registered in the runtime and the editor, none with an error", async () => {
      const nodes = await rt!.getJson<Array<{ module: string; types: string[]; err?: string }>>("/nodes");
      const ours = nodes.filter((n) => n.module === MODULE);
      expect(ours.filter((n) => n.err).map((n) => `${n.types.join()}: ${n.err}`)).to.deep.equal([]);
      expect(ours.flatMap((n) => n.types).sort()).to.deep.equal([...TYPES].sort());
      expect(
        TYPES.filter((t) => !info.has(t)),
        "types the editor does not know",
      ).to.deep.equal([]);
    });
  });

  describe("palette", () => {
    it(`shows every non-config node in category ${CATEGORY} with its label`, async () => {
      const mark = problems.errors.length;
      const palette = TYPES.filter((t) => !isConfig(t));
      expect(palette.length).to.be.above(0);
      for (const type of palette) {
        const t = typeOf(type);
        expect(t.category, `${type}: category`).to.equal(CATEGORY);
        const node = editor.paletteNode(type);
        await node.scrollIntoViewIfNeeded();
        expect(await node.isVisible(), `${type} in the palette`).to.equal(true);
        const label = normalise(await node.locator(".red-ui-palette-label").textContent());
        expect(t.paletteLabel, `${type}: paletteLabel`).to.match(/^[a-z0-9][a-z0-9 ]*$/);
        expect(label, `${type}: palette label`).to.equal(t.paletteLabel);
      }
      expectNoPageErrors(mark);
    });

    it(`heads the category ${CATEGORY} in full, with all of the pack's nodes under the one header`, async () => {
      const headers = await Promise.all(
        TYPES.filter((t) => !isConfig(t)).map((type) =>
          editor
            .paletteNode(type)
            .evaluate(
              (el) =>
                el.closest(".red-ui-palette-category")?.querySelector(".red-ui-palette-header span")
                  ?.textContent ?? "",
            ),
        ),
      );
      expect(new Set(headers.map(normalise))).to.deep.equal(new Set([CATEGORY]));
    });

    it("shows each palette node with its own icon, served by the runtime", async () => {
      const mark = problems.errors.length;
      for (const type of TYPES.filter((t) => !isConfig(t))) {
        const t = typeOf(type);
        const url = await editor
          .paletteNode(type)
          .locator(".red-ui-palette-icon")
          .evaluate((el) => {
            const m = /url\("?([^")]+)"?\)/.exec((el as HTMLElement).style.backgroundImage);
            return m ? new URL(m[1], document.baseURI).href : "";
          });
        expect(url, `${type}: icon URL`).to.equal(`${rt!.url}/icons/${MODULE}/${t.icon}`);
        const res = await fetch(url);
        expect(res.status, `${type}: ${url}`).to.equal(200);
        expect(res.headers.get("content-type"), `${type}: ${url}`).to.match(/^image\/(svg\+xml|png)/);
        const served = Buffer.from(await res.arrayBuffer());
        expect(
          served.equals(readFileSync(join(ROOT, "icons", t.icon))),
          `${type}: ${url} is the pack's icon`,
        ).to.equal(true);
      }
      expectNoPageErrors(mark);
    });

    it("keeps config nodes out of the palette but registered", async () => {
      const configs = TYPES.filter((t) => isConfig(t));
      expect(configs.length).to.be.above(0);
      for (const type of configs) {
        expect(await editor.paletteNode(type).count(), `${type} in the palette`).to.equal(0);
        expect(
          TYPES.some((t) => configProps(t).some(([, c]) => c === type)),
          `${type} is used by no node, so its dialog cannot be opened`,
        ).to.equal(true);
      }
    });
  });

  describe("edit dialogs", () => {
    beforeEach(async () => {
      await editor.closeAll();
      await editor.clearWorkspace();
    });

    for (const type of TYPES) {
      it(`${type}: form, help, validators flag bad input and clear on good input`, async function () {
        const mark = problems.errors.length;
        const entry = expectCasesMatchDefinition(type);
        if (isConfig(type)) {
          await checkConfigType(type, entry);
        } else {
          await checkNodeType(type, entry);
        }
        expectNoPageErrors(mark);
      });
    }

    /**
     * Types the bad (or good) value of each case of a group into the open tray and checks the
     * marks. For bad values, answers the reason the editor shows on hover over the first plain field.
     */
    async function typeGroup(type: string, group: FieldCase[], which: "bad" | "good"): Promise<string> {
      await setSelects(type, group[0].show);
      for (const c of group) await editor.typeInto(inputId(type, c.field), c[which]);
      for (const c of group) {
        const marked = await editor.markedError(inputId(type, c.field), which === "bad");
        expect(
          marked,
          `${type}.${c.field} = "${c[which]}": error mark ${which === "bad" ? "" : "not "}shown`,
        ).to.equal(true);
      }
      if (which === "good") return "";
      // Node-RED hangs the reason on the field's own input, which a typedInput hides: hover a plain
      // one (a group of typedInputs only has its reasons listed).
      for (const c of group) {
        if (await editor.page.locator(`#${inputId(type, c.field)}`).isVisible()) {
          return editor.errorReason(inputId(type, c.field));
        }
      }
      return "";
    }

    /**
     * Each bad field of the group is listed with its reason, "<label>: <why>", the label being a
     * name from the node's catalog (not the property's), and the reason shown on hover is the
     * one listed.
     */
    async function expectReasons(type: string, state: NodeState, group: FieldCase[], hovered: string) {
      const labels = await editor.propertyLabels(type);
      for (const c of group) {
        const reason = state.validationErrors[state.invalid.indexOf(c.field)];
        expect(labels[c.field], `${type}.${c.field}: a label from the catalog`)
          .to.be.a("string")
          .and.not.equal(c.field);
        expect(reason, `${type}.${c.field}: a reason, not the bare name`).to.not.equal(c.field);
        expect(reason, `${type}.${c.field}`).to.match(new RegExp(`^${escapeRe(labels[c.field] ?? "")}: \\S`));
        expect(reason, `${type}.${c.field}: a reason of its own`).not.to.include(
          "not a value this field accepts",
        );
      }
      if (hovered !== "") {
        expect(state.validationErrors, `${type}: the hover's reason is the listed one`).to.include(hovered);
      }
    }

    async function checkNodeType(type: string, entry: NodeCases): Promise<void> {
      const id = await editor.dragFromPalette(type, 300, 200);
      await editor.openNode(id);
      await expectFormFields(type);
      await expectDialogLayout(type);
      await expectHelp(type);
      await giveValidConfigs(type);
      let open = true;

      for (const group of fieldGroups(entry)) {
        if (!open) await editor.openNode(id);
        const hovered = await typeGroup(type, group, "bad");
        await editor.closeNode("ok");
        const bad = await editor.nodeState(id);
        expect(bad.invalid, `${type}: bad input`).to.include.members(group.map((c) => c.field));
        await expectReasons(type, bad, group, hovered);
        expect(bad.valid).to.equal(false);
        expect(bad.marker, `${type}: invalid marker on the canvas`).to.equal(true);

        await editor.openNode(id);
        await typeGroup(type, group, "good");
        await editor.closeNode("ok");
        open = false;
        const good = await editor.nodeState(id);
        for (const c of group) expect(good.invalid, `${type}: good input`).to.not.include(c.field);
      }
      for (const c of entry.cases.filter((x): x is StepCase => !isField(x))) {
        if (!open) await editor.openNode(id);
        await c.bad(editor);
        await editor.closeNode("ok");
        const bad = await editor.nodeState(id);
        expect(bad.invalid, `${type}: ${c.what}`).to.include(c.property);
        expect(bad.marker, `${type}: invalid marker on the canvas`).to.equal(true);
        await editor.openNode(id);
        await c.good(editor);
        await editor.closeNode("ok");
        open = false;
        expect((await editor.nodeState(id)).invalid, `${type}: ${c.what}`).to.not.include(c.property);
      }
      if (open) await editor.closeNode("ok");
      const end = await editor.nodeState(id);
      expect(end.validationErrors, `${type} after good input`).to.deep.equal([]);
      expect(end.marker, `${type}: no invalid marker`).to.equal(false);
    }

    /** A config type: its dialog opened from the first palette node that uses it. */
    async function checkConfigType(type: string, entry: NodeCases): Promise<void> {
      const user = TYPES.find((t) => !isConfig(t) && configProps(t).some(([, c]) => c === type));
      if (!user) throw new Error(`no palette node uses ${type}`);
      const [prop] = configProps(user).find(([, c]) => c === type) as [string, string];
      const id = await editor.dragFromPalette(user, 300, 200);
      await editor.openNode(id);
      await editor.openConfigFrom(prop);
      await expectFormFields(type);
      await expectDialogLayout(type);
      await expectHelp(type);
      let configId: string | undefined;

      for (const group of fieldGroups(entry)) {
        if (configId) await editor.openConfigFrom(prop, configId);
        const hovered = await typeGroup(type, group, "bad");
        await editor.closeConfig("ok");
        configId ??= await editor.chosenConfig(prop);
        const bad = await editor.nodeState(configId);
        expect(bad.invalid, `${type}: bad input`).to.include.members(group.map((c) => c.field));
        await expectReasons(type, bad, group, hovered);
        expect(
          await editor.markedError(`node-input-${prop}`, true),
          `${user}.${prop} marked with a bad ${type}`,
        ).to.equal(true);

        await editor.openConfigFrom(prop, configId);
        await typeGroup(type, group, "good");
        await editor.closeConfig("ok");
        const good = await editor.nodeState(configId);
        for (const c of group) expect(good.invalid, `${type}: good input`).to.not.include(c.field);
      }
      expect(configId, `${type}: no field case`).to.be.a("string");
      expect(await editor.nodeState(configId as string)).to.deep.include({
        valid: true,
        validationErrors: [],
        invalid: [],
      });
      expect(await editor.markedError(`node-input-${prop}`, false), `${user}.${prop} mark cleared`).to.equal(
        true,
      );
      await editor.closeNode("ok");
      expect((await editor.nodeState(id)).invalid).to.not.include(prop);
    }
  });

  describe("pms-fhir-map: rules table and try it", () => {
    const P = "pms-fhir-map";
    interface Rule {
      pms?: string;
      fhir?: string;
      transform?: string;
    }
    interface Builtins {
      mappings: Record<string, Rule[]>;
      samples: Record<string, { pms: Record<string, unknown> }>;
    }
    let builtins: Builtins;

    before(async () => {
      builtins = await rt!.getJson<Builtins>(`/${P}/builtins`);
    });

    beforeEach(async () => {
      await editor.closeAll();
      await editor.clearWorkspace();
    });

    const rows = () => editor.page.locator("#node-input-rules-container > li");
    const row = (i: number) => rows().nth(i);
    const cell = (i: number, name: string) => row(i).locator(`.${P}-${name}`);

    /** Drops a mapper, opens it and fills its table from the built-in set `set`. */
    async function openWithBuiltin(set: string): Promise<string> {
      const id = await editor.dragFromPalette(P, 300, 200);
      await editor.openNode(id);
      // The table is built once the runtime has sent the built-in sets.
      await editor.page.waitForFunction(
        (sel) => document.querySelector(sel) !== null,
        `#${P}-rules-row .red-ui-editableList-addButton`,
      );
      await editor.page.selectOption(`#${P}-copy-from`, set);
      await editor.page.click(`#${P}-copy`);
      await editor.page.waitForFunction(
        (n) => document.querySelectorAll("#node-input-rules-container > li").length === n,
        builtins.mappings[set].length,
      );
      return id;
    }

    it("copy built-in fills the table; a rule is added with a transform, one removed, two swapped; Done keeps them in order", async () => {
      const mark = problems.errors.length;
      const id = await openWithBuiltin("patient");
      const patient = builtins.mappings.patient;
      expect(await editor.page.locator("#node-input-mapping").inputValue()).to.equal("custom");
      expect(await rows().count()).to.equal(patient.length);
      for (const [i, rule] of patient.entries()) {
        expect(await cell(i, "pms").inputValue(), `row ${i}`).to.equal(rule.pms ?? "");
        expect(await cell(i, "fhir").inputValue(), `row ${i}`).to.equal(rule.fhir ?? "");
        expect(await cell(i, "transform").inputValue(), `row ${i}`).to.equal(
          (rule.transform ?? "").split(":")[0],
        );
      }

      await editor.page.click(`#${P}-rules-row .red-ui-editableList-addButton`);
      const added = patient.length;
      await editor.page.waitForFunction(
        (n) => document.querySelectorAll("#node-input-rules-container > li").length === n,
        added + 1,
      );
      await cell(added, "pms").fill("middleName");
      await cell(added, "fhir").fill("name[0].given[1]");
      // The option field follows the transform: shown for date (optional format), hidden for string.
      await cell(added, "transform").selectOption("date");
      expect(await cell(added, "param").isVisible(), "param for date").to.equal(true);
      await cell(added, "transform").selectOption("string");
      expect(await cell(added, "param").isVisible(), "param for string").to.equal(false);
      await cell(added, "transform").selectOption("codeMap");
      expect(await row(added).locator(`.${P}-codemap-line`).isVisible(), "codeMap fields").to.equal(true);
      await cell(added, "transform").selectOption("string");

      const gender = patient.findIndex((r) => r.pms === "gender");
      await row(gender).locator(".red-ui-editableList-item-remove").click();
      await editor.page.waitForFunction(
        (n) => document.querySelectorAll("#node-input-rules-container > li").length === n,
        patient.length,
      );

      // Drags the second rule by its handle above the first.
      await row(0).scrollIntoViewIfNeeded();
      const from = await row(1).locator(".red-ui-editableList-item-handle").boundingBox();
      const to = await row(0).boundingBox();
      if (!from || !to) throw new Error("rules table rows are not laid out");
      const x = from.x + from.width / 2;
      await editor.page.mouse.move(x, from.y + from.height / 2);
      await editor.page.mouse.down();
      await editor.page.mouse.move(x, to.y + to.height / 2, { steps: 10 });
      await editor.page.mouse.move(x, to.y + 2, { steps: 5 });
      await editor.page.mouse.up();
      await editor.page.waitForFunction(
        ({ sel, pms }) => (document.querySelector(sel) as HTMLInputElement | null)?.value === pms,
        { sel: `#node-input-rules-container > li:first-child .${P}-pms`, pms: patient[1].pms },
      );

      await editor.closeNode("ok");
      const rules = await editor.nodeProperty<Rule[]>(id, "rules");
      const expected = [patient[1], patient[0], ...patient.slice(2).filter((r) => r.pms !== "gender")];
      expected.push({ pms: "middleName", fhir: "name[0].given[1]", transform: "string" });
      expect(rules).to.deep.equal(expected);
      expect(await editor.nodeState(id)).to.deep.include({ valid: true, marker: false });
      expectNoPageErrors(mark);
    });

    it("try it: the sample maps to a Patient, a bad record goes to output 2 with its errors, bad JSON and a bad rule are reported", async () => {
      const mark = problems.errors.length;
      await openWithBuiltin("patient");
      const input = editor.page.locator(`#${P}-try-input`);
      const out1 = editor.page.locator(`#${P}-try-output1`);
      const out2 = editor.page.locator(`#${P}-try-output2`);
      const message = editor.page.locator(`#${P}-try-message`);

      /** Clicks Map and waits for the runtime's answer on the admin endpoint. */
      async function run(): Promise<void> {
        const answered = editor.page.waitForResponse(
          (r) => r.url().endsWith(`/${P}/try`) && r.request().method() === "POST",
        );
        await editor.page.click(`#${P}-run`);
        expect((await answered).status()).to.equal(200);
        // The panel is cleared on click and filled from the answer.
        await editor.page.waitForFunction(
          (p) =>
            (document.getElementById(`${p}-try-output1`)?.textContent ?? "") !== "" ||
            (document.getElementById(`${p}-try-message`)?.textContent ?? "") !== "",
          P,
        );
      }

      await editor.page.click(`#${P}-sample`);
      const sample = builtins.samples.patient.pms;
      expect(JSON.parse(await input.inputValue())).to.deep.equal(sample);
      await run();
      expect(await out1.textContent()).to.contain('"resourceType": "Patient"');
      expect(await out1.textContent()).to.contain(JSON.stringify(sample.lastName));
      expect(normalise(await out2.textContent())).to.equal("nothing");

      const bad = { ...sample, email: "not an email" } as Record<string, unknown>;
      delete bad.lastName;
      await input.fill(JSON.stringify(bad));
      await run();

      const errors = (await out2.textContent()) ?? "";
      expect(errors).to.match(/✖.*lastName.*MAP_REQUIRED/);
      expect(errors).to.match(/✖.*email.*MAP_VALIDATE/);
      expect(normalise(await out1.textContent())).to.equal("nothing");

      await input.fill('{"id": ');
      await editor.page.click(`#${P}-run`);
      expect(await message.textContent()).to.match(/^not valid JSON/);

      // A rule that does not compile: its row and the list under the table say why.
      const compiled = editor.page.waitForResponse((r) => r.url().endsWith(`/${P}/try`));
      await cell(2, "fhir").fill("name[0].given[");
      expect((await compiled).status()).to.equal(200);
      await editor.until(`#${P}-compile-errors`, "visible");
      expect(await editor.page.locator(`#${P}-compile-list li`).count()).to.be.above(0);
      expect(await row(2).locator(`.${P}-row-error`).isVisible(), "error under the rule").to.equal(true);
      await input.fill(JSON.stringify(sample));
      await run();
      expect(await message.textContent()).to.contain("The rules do not compile");
      await editor.closeNode("cancel");
      expectNoPageErrors(mark);
    });
  });

  describe("fhir-server: SMART backend settings checked as they are typed", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const RSA_KEY = rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const EC_KEY = ec.privateKey.export({ type: "sec1", format: "pem" }).toString();
    const PUBLIC_KEY = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
    const KEY = "node-config-privateKey-text";
    const CLIENT = "node-config-input-clientId";

    beforeEach(async () => {
      await editor.closeAll();
      await editor.clearWorkspace();
    });

    async function pasteKey(text: string): Promise<void> {
      await editor.page.locator(`#${KEY}`).fill(text);
    }

    it("marks the client id and the key the moment smart-backend is chosen, says why on hover, and clears each as it is fixed", async () => {
      const mark = problems.errors.length;
      const id = await editor.dragFromPalette("fhir-request", 300, 200);
      await editor.openNode(id);
      await editor.openConfigFrom("server");
      await editor.typeInto("node-config-input-baseUrl", "http://127.0.0.1:8080/fhir");
      expect(await editor.markedError(CLIENT, false), "no mark before SMART is chosen").to.equal(true);
      expect(await editor.markedError(KEY, false)).to.equal(true);

      await editor.page.selectOption("#node-config-input-authType", "smart-backend");
      expect(await editor.markedError(CLIENT, true), "client id marked without typing").to.equal(true);
      expect(await editor.errorReason(CLIENT)).to.match(/^Client ID: required for smart-backend auth$/i);
      expect(await editor.markedError(KEY, true), "key marked without typing").to.equal(true);
      expect(await editor.errorReason(KEY)).to.match(/: a private key is required$/);

      await editor.typeInto(CLIENT, "pms-ehr-backend");
      expect(await editor.markedError(CLIENT, false), "client id cleared").to.equal(true);

      await pasteKey(PUBLIC_KEY);
      expect(await editor.markedError(KEY, true)).to.equal(true);
      expect(await editor.errorReason(KEY)).to.match(/public key: the private key is needed/);
      await pasteKey(RSA_KEY.slice(0, 300));
      expect(await editor.errorReason(KEY)).to.match(/cut short/);
      await pasteKey(EC_KEY);
      expect(await editor.errorReason(KEY)).to.match(/the key is EC, but RS384 needs an RSA key/);
      const shot = join(SHOTS, "fhir-server-smart.png");
      await editor.topTray().screenshot({ path: shot });
      updateDocsPicture(shot, join(ROOT, "docs", "images", "fhir-server-smart.png"), __filename);
      await editor.page.selectOption("#node-config-input-jwtAlg", "ES384");
      expect(await editor.markedError(KEY, false), "EC key with ES384").to.equal(true);
      await editor.page.selectOption("#node-config-input-jwtAlg", "RS384");
      await pasteKey(RSA_KEY);
      expect(await editor.markedError(KEY, false), "RSA key with RS384").to.equal(true);

      await pasteKey("");
      await editor.typeInto(CLIENT, "");
      expect(await editor.markedError(KEY, true), "the key taken away").to.equal(true);
      expect(await editor.markedError(CLIENT, true), "the client id taken away").to.equal(true);
      await editor.page.selectOption("#node-config-input-authType", "none");
      expect(await editor.markedError(KEY, false), "no key needed without SMART").to.equal(true);
      expect(await editor.markedError(CLIENT, false), "no client id needed without SMART").to.equal(true);
      await editor.closeConfig("cancel");
      await editor.closeNode("cancel");
      expectNoPageErrors(mark);
    });
  });

  describe("examples", () => {
    const files = exampleFiles();

    beforeEach(async () => {
      await editor.closeAll();
    });

    it("offers every file of examples/ under Import > Examples", async () => {
      expect(files.length).to.be.above(0);
      await editor.openImportDialog();
      const listed = await editor.exampleEntries(MODULE);
      await editor.page.click("#red-ui-clipboard-dialog-cancel");
      await editor.until("#red-ui-clipboard-dialog", "gone");
      expect(listed).to.include.members(files.map((f) => f[0]));
    });

    /**
     * Menu > Import > Examples > MODULE > `file`, imported to a new flow: no error or warning
     * notification, every node of a known type and valid, the file's nodes on the workspace.
     * Resolves with the flow the nodes are on.
     */
    async function importExampleChecked(file: string[]): Promise<string> {
      await editor.clearWorkspace();
      const notes = await editor.notificationCount();
      const name = file.join("/");
      const json = JSON.parse(readFileSync(join(ROOT, "examples", `${name}.json`), "utf8")) as Array<{
        id: string;
        type: string;
      }>;
      await editor.importExample(MODULE, file);

      const problemsShown = (await editor.notifications(notes)).filter((n) =>
        /red-ui-notification-(error|warning)/.test(n.cls),
      );
      expect(problemsShown, "error notifications").to.deep.equal([]);
      // An example with its own tab lands there, others on the new flow: all are on the workspace.
      const onTab = await editor.nodesOn();
      expect(
        onTab.filter((n) => !n.known).map((n) => n.id),
        "unknown nodes",
      ).to.deep.equal([]);
      const categories = await editor.categories([...new Set(json.map((n) => n.type))]);
      const configTypes = new Set(Object.keys(categories).filter((t) => categories[t] === "config"));
      const expected = json
        .filter((n) => n.type !== "tab" && !configTypes.has(n.type))
        .map((n) => n.type)
        .sort();
      for (const c of json.filter((n) => configTypes.has(n.type))) {
        expect(await editor.nodeProperty(c.id, "type"), `config node ${c.id}`).to.equal(c.type);
      }
      expect(onTab.map((n) => n.type).sort()).to.deep.equal(expected);
      expect(
        onTab.filter((n) => !n.valid).map((n) => `${n.type} ${n.id}`),
        "invalid nodes",
      ).to.deep.equal([]);
      return onTab[0].z;
    }

    // Needs @flowfuse/node-red-dashboard, which this runtime does not load: imported, deployed and
    // looked at in Chromium by test/e2e/dashboard2-example.spec.ts instead.
    const needsDashboard2 = (f: string[]) => f[0] === "Show integration health on FlowFuse Dashboard 2";
    for (const file of files.filter((f) => f[0] !== "pipelines" && !needsDashboard2(f))) {
      const name = file.join("/");
      it(`imports ${name} from the menu: every node known and valid, no import error`, async () => {
        const mark = problems.errors.length;
        await editor.showTab(await importExampleChecked(file));
        await editor.screenshot(join(SHOTS, `example-${file.join("-")}.png`));
        expectNoPageErrors(mark);
      });
    }

    describe("pipelines: each imported from the menu, with its picture", () => {
      const names = pipelineNames();

      it("keeps each pipeline in one place, examples/pipelines/, with no copy in flows/", () => {
        expect(names.length, "examples/pipelines/*.json").to.be.above(0);
        expect(existsSync(join(ROOT, "flows")), "flows/").to.equal(false);
      });

      for (const name of names) {
        it(`imports pipelines/${name} from the menu: every node known and valid, none over another, no import error; its picture`, async () => {
          const mark = problems.errors.length;
          const z = await importExampleChecked(["pipelines", name]);
          await editor.deleteEmptyTabs();
          await editor.showTab(z);
          expect(await editor.overlappingNodes(z), `${name}: nodes drawn over each other`).to.deep.equal([]);
          const shot = join(SHOTS, "pipelines", `${name}.png`);
          const picture = await editor.flowPicture(shot);
          expect(picture.scale, `${name}: zoom at which the flow fits the picture`).to.be.at.least(
            MIN_PICTURE_ZOOM,
          );
          updateDocsPicture(
            shot,
            join(ROOT, "docs", "images", "pipelines", `${name}.png`),
            join(ROOT, "examples", "pipelines", `${name}.json`),
            ` (${picture.width}x${picture.height}, zoom ${Math.round(picture.scale * 100)}%)`,
          );
          expectNoPageErrors(mark);
        });
      }
    });

    it("imports the main pipeline and takes its picture", async () => {
      const mark = problems.errors.length;
      await editor.clearWorkspace();
      const file = pipelineFile();
      const notes = await editor.notificationCount();
      await editor.importText(readFileSync(file, "utf8"));
      expect(
        (await editor.notifications(notes)).filter((n) => /red-ui-notification-(error|warning)/.test(n.cls)),
      ).to.deep.equal([]);
      const onTab = await editor.nodesOn();
      expect(onTab.length).to.be.above(0);
      expect(onTab.filter((n) => !n.known)).to.deep.equal([]);
      // The picture: the pipeline's tab alone, nothing selected, the info sidebar, no notification.
      await editor.page.setViewportSize({ width: 1920, height: 1080 });
      await editor.deleteEmptyTabs();
      await editor.showTab(onTab[0].z);
      await editor.page.click("#red-ui-tab-info-link-button");
      await editor.page.keyboard.press("Escape");
      await editor.dismissNotifications();
      await editor.fitToCanvas();
      const shot = join(SHOTS, "pipeline.png");
      await editor.screenshot(shot);
      updateDocsPicture(shot, join(ROOT, "docs", "images", "pipeline.png"), file);
      await editor.page.setViewportSize(VIEWPORT);
      expectNoPageErrors(mark);
    });
  });

  describe("PMS-EHR queues sidebar", () => {
    const STORE = "qs-store";
    const QUEUE = "editor-test";
    /** A key an HTML page would run: the sidebar must show it as text. */
    const HOSTILE_KEY = 'P-<img src=x onerror="window.__pwned=1">';
    const KEYS = ["P-1", "P-2", "P-3", HOSTILE_KEY];
    /** Four records, one per key, from one inject. */
    const RECORDS = `return [${JSON.stringify(KEYS)}.map((k, i) => ({ payload: { patientId: k, firstName: "Ann" + i } }))];`;
    /** The destination: refuses every record as a mapping error until "fix" has been injected. */
    const DESTINATION = [
      'if (flow.get("fixed")) return msg;',
      'const e = new Error("no lastName for <b>" + msg.payload.patientId + "</b>");',
      'e.code = "MAP_REQUIRED";',
      "throw e;",
    ].join("\n");
    interface QueueStats {
      queue: string;
      depth: number;
      deadLetters: number;
      deliveredTotal: number;
    }
    interface Letter {
      id: number;
      key: string | null;
      code: string;
      attempts: number;
    }
    let dir: string;

    function flow(file: string): FlowNode[] {
      const z = "qs-tab";
      return [
        { id: z, type: "tab", label: "queues sidebar" },
        { id: STORE, type: "message-store", name: "editor test store", backend: "sqlite", file },
        { id: "qs-inject", type: "inject", z, name: "records", props: [], wires: [["qs-records"]] },
        { id: "qs-records", type: "function", z, func: RECORDS, outputs: 1, wires: [["qs-queue"]] },
        {
          id: "qs-queue",
          type: "durable-queue",
          z,
          store: STORE,
          queue: QUEUE,
          key: "payload.patientId",
          keyType: "msg",
          // Every setting given, as the editor saves them: the runtime reads an empty max age,
          // backoff or visibility as milliseconds instead of hours or seconds.
          dedupe: "",
          concurrency: "4",
          maxAttempts: "3",
          maxAge: "24",
          backoffBase: "1",
          backoffCap: "300",
          visibility: "300",
          wires: [[], ["qs-destination"]],
        },
        { id: "qs-destination", type: "function", z, func: DESTINATION, outputs: 1, wires: [["qs-ok"]] },
        { id: "qs-ok", type: "queue-done", z, result: "success", wires: [[]] },
        {
          id: "qs-catch",
          type: "catch",
          z,
          scope: ["qs-destination"],
          uncaught: false,
          wires: [["qs-failed"]],
        },
        { id: "qs-failed", type: "queue-done", z, result: "failure", wires: [[]] },
        { id: "qs-fix-inject", type: "inject", z, name: "fix", props: [], wires: [["qs-fix"]] },
        {
          id: "qs-fix",
          type: "function",
          z,
          func: 'flow.set("fixed", true);\nreturn null;',
          outputs: 1,
          wires: [[]],
        },
      ];
    }

    before(() => {
      dir = mkdtempSync(join(tmpdir(), "pms-ehr-queues-"));
    });

    after(async () => {
      await rt?.deploy([]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    });

    async function stats(): Promise<QueueStats | undefined> {
      const body = await rt!.getJson<{ stores: Array<{ id: string; queues: QueueStats[] }> }>(
        "/pms-ehr/queues",
      );
      return body.stores.find((s) => s.id === STORE)?.queues.find((q) => q.queue === QUEUE);
    }

    async function deadLetters(): Promise<Letter[]> {
      return (await rt!.getJson<{ letters: Letter[] }>(`/pms-ehr/queues/${STORE}/${QUEUE}/dead`)).letters;
    }

    /** Polls the runtime until `ok` holds of what `read` answers. */
    async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
      const deadline = Date.now() + 10000;
      for (;;) {
        const value = await read();
        if (ok(value)) return value;
        if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    /** Presses an inject node's button, through the admin API the editor uses. */
    async function inject(id: string): Promise<void> {
      const res = await fetch(`${rt!.url}/inject/${id}`, { method: "POST" });
      expect(res.status, `inject ${id}`).to.equal(200);
    }

    /** Waits until the sidebar's `col` cell of the test queue reads `text`. */
    async function cellShows(col: string, text: string): Promise<void> {
      await editor.page.waitForFunction(
        ({ queue, c, want }) => {
          const row = Array.from(document.querySelectorAll(".pms-ehr-queues-queue")).find(
            (r) => r.querySelector(".pms-ehr-queues-queue-name")?.textContent === queue,
          );
          return row?.querySelector(`.pms-ehr-queues-col-${c}`)?.textContent === want;
        },
        { queue: QUEUE, c: col, want: text },
      );
    }

    async function lettersShown(n: number): Promise<void> {
      await editor.page.waitForFunction(
        (want) => document.querySelectorAll(".pms-ehr-queues-letter").length === want,
        n,
      );
    }

    /** A datetime-local value in the browser's (the machine's) time zone. */
    function localInput(ms: number): string {
      const d = new Date(ms);
      const p = (n: number) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    }

    it("lists the queue and its dead letters, views one message, replays one and discards the rest by a filter", async function () {
      this.timeout(40000);
      const mark = problems.errors.length;
      const page = editor.page;
      const requests: string[] = [];
      const record = (r: { url(): string }) => {
        if (r.url().includes("/pms-ehr/queues")) requests.push(r.url());
      };
      page.on("request", record);
      try {
        await editor.closeAll();
        await editor.clearWorkspace();
        await rt!.deploy(flow(join(dir, "queues.db")));
        await inject("qs-inject");
        await until("four dead letters", stats, (q) => q?.deadLetters === 4);
        // From now on the destination accepts what it is given again.
        await inject("qs-fix-inject");

        await editor.showSidebarTab("pms-ehr-queues", ".pms-ehr-queues-stores");
        const sidebar = page.locator(".pms-ehr-queues");
        await cellShows("dead", "4");
        await cellShows("depth", "0");
        await cellShows("delivered", "0");
        expect(normalise(await sidebar.locator(".pms-ehr-queues-store-name").textContent())).to.contain(
          "editor test store",
        );

        // Selecting the queue lists its dead letters: codes, keys, attempts and times, no payload.
        await sidebar.locator(".pms-ehr-queues-queue").filter({ hasText: QUEUE }).click();
        await lettersShown(4);
        const letters = sidebar.locator(".pms-ehr-queues-letter");
        const api = await deadLetters();
        expect(
          await letters.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-id")))),
        ).to.deep.equal(api.map((l) => l.id));
        expect(await sidebar.locator(".pms-ehr-queues-fact-key").allTextContents()).to.have.members(KEYS);
        expect(new Set(await sidebar.locator(".pms-ehr-queues-letter-code").allTextContents())).to.deep.equal(
          new Set(["MAP_REQUIRED"]),
        );
        expect(
          new Set(await sidebar.locator(".pms-ehr-queues-fact-attempts").allTextContents()),
        ).to.deep.equal(new Set(["1"]));
        for (const cls of ["first-try", "last-try", "dead-at"]) {
          for (const text of await sidebar.locator(`.pms-ehr-queues-fact-${cls}`).allTextContents()) {
            expect(text, cls).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
          }
        }
        // Keys and error texts are shown as text: nothing of them became an element.
        expect(await sidebar.locator("img, b").count(), "elements from keys or error texts").to.equal(0);
        expect(await sidebar.locator(".pms-ehr-queues-letter-message").first().textContent()).to.contain(
          "no lastName for <b>",
        );
        expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(
          undefined,
        );
        expect(await sidebar.textContent(), "a payload in the sidebar").to.not.contain("Ann");
        expect(
          requests.filter((u) => u.includes("/messages/")),
          "messages read before a view",
        ).to.deep.equal([]);

        const letterOf = (key: string) =>
          letters.filter({
            has: page.locator(".pms-ehr-queues-fact-key", { hasText: new RegExp(`^${escapeRe(key)}$`) }),
          });

        // View: the one message, fetched on the click, in a tray.
        const viewed = page.waitForResponse((r) => /\/messages\/\d+(\?|$)/.test(r.url()));
        await letterOf("P-1").locator(".pms-ehr-queues-view").click();
        expect((await viewed).status()).to.equal(200);
        await editor.until(".pms-ehr-queues-view-json", "visible");
        const shown = JSON.parse((await page.locator(".pms-ehr-queues-view-json").textContent()) ?? "") as {
          payload?: unknown;
        };
        expect(shown.payload).to.deep.equal({ patientId: "P-1", firstName: "Ann0" });
        await page.click("#pms-ehr-queues-view-close");
        await editor.until(".pms-ehr-queues-view-json", "gone");

        // Replay one: it leaves the dead letters at once, and is delivered this time.
        const replayedId = Number(await letterOf("P-1").getAttribute("data-id"));
        const replayed = page.waitForResponse((r) => r.url().endsWith("/replay"));
        await letterOf("P-1").locator(".pms-ehr-queues-replay").click();
        const replayAnswer = await replayed;
        expect(replayAnswer.status()).to.equal(200);
        expect(await replayAnswer.json()).to.deep.equal({ replayed: 1 });
        expect(replayAnswer.request().postDataJSON()).to.deep.equal({ ids: [replayedId] });
        expect((await deadLetters()).map((l) => l.id)).to.not.include(replayedId);
        await until("the replayed message delivered", stats, (q) => q?.deliveredTotal === 1);
        await cellShows("delivered", "1");
        await cellShows("dead", "3");
        await lettersShown(3);

        // Discard the rest by a filter (code, died in the last day), after a confirmation.
        await sidebar.locator(".pms-ehr-queues-filter-code").fill("MAP_REQUIRED");
        await sidebar.locator(".pms-ehr-queues-filter-from").fill(localInput(Date.now() - 86400000));
        await editor.until(".pms-ehr-queues-summary", "visible", "3 of 3 dead letters match");
        // The picture: the editor with the sidebar as a user sees it, without the passing notifications.
        await page.evaluate(() => {
          (document.activeElement as HTMLElement | null)?.blur();
          document.getElementById("red-ui-notifications")?.style.setProperty("visibility", "hidden");
        });
        await editor.screenshot(join(SHOTS, "queues-sidebar.png"));
        await page.evaluate(() =>
          document.getElementById("red-ui-notifications")?.style.removeProperty("visibility"),
        );
        await sidebar.locator(".pms-ehr-queues-discard-all").click();
        await editor.until("#pms-ehr-queues-confirm-ok", "visible");
        const question = normalise(
          await page
            .locator(".red-ui-notification")
            .filter({ has: page.locator("#pms-ehr-queues-confirm-ok") })
            .textContent(),
        );
        expect(question).to.contain("Delete 3 dead letter(s)").and.contain("code MAP_REQUIRED");
        const discarded = page.waitForResponse((r) => r.url().endsWith("/discard"));
        await page.click("#pms-ehr-queues-confirm-ok");
        const discardAnswer = await discarded;
        expect(discardAnswer.status()).to.equal(200);
        expect(await discardAnswer.json()).to.deep.equal({ discarded: 3 });
        const body = discardAnswer.request().postDataJSON() as Record<string, unknown>;
        expect(body).to.have.keys("code", "from");
        expect(body.code).to.equal("MAP_REQUIRED");
        expect(await deadLetters()).to.deep.equal([]);
        await cellShows("dead", "0");
        await lettersShown(0);
        await editor.until(".pms-ehr-queues-summary", "visible", "No dead letters match the filter.");
        expect(await stats()).to.deep.include({ depth: 0, deadLetters: 0, deliveredTotal: 1 });

        // Back to the info tab: the queues tab stops polling while hidden.
        await editor.showSidebarTab("info", "#red-ui-sidebar-content .red-ui-sidebar-info");
        expectNoPageErrors(mark);
      } finally {
        page.off("request", record);
      }
    });

    it("shows the node state of the pack's state file, read-only: a checkpoint committed by a flow", async function () {
      this.timeout(30000);
      const mark = problems.errors.length;
      const page = editor.page;
      const z = "st-tab";
      await editor.closeAll();
      await editor.clearWorkspace();
      await rt!.deploy([
        { id: z, type: "tab", label: "state sidebar" },
        { id: "st-inject", type: "inject", z, name: "run", props: [], wires: [["st-get"]] },
        {
          id: "st-get",
          type: "sync-checkpoint",
          z,
          checkpoint: "editor-state",
          action: "get",
          store: "",
          initial: "2025-01-01T00:00:00Z",
          wires: [["st-mark"]],
        },
        {
          id: "st-mark",
          type: "change",
          z,
          rules: [{ t: "set", p: "checkpoint.highWater", pt: "msg", to: "2025-01-06T09:00:00Z", tot: "str" }],
          wires: [["st-commit"]],
        },
        {
          id: "st-commit",
          type: "sync-checkpoint",
          z,
          checkpoint: "editor-state",
          action: "commit",
          store: "",
          wires: [[]],
        },
      ]);
      await inject("st-inject");
      await until(
        "the commit in the state file",
        () =>
          rt!.getJson<{ entries: Array<{ key: string; value: { highWater?: string } }> }>(
            "/pms-ehr/state/entries?scope=global",
          ),
        (r) => r.entries.some((e) => e.value.highWater === "2025-01-06T09:00:00.000Z"),
      );
      await editor.showSidebarTab("pms-ehr-queues", ".pms-ehr-queues-state");
      const row = page.locator(".pms-ehr-queues-state-scope").filter({ hasText: "global" });
      await row.waitFor({ state: "visible" });
      expect(normalise(await row.textContent())).to.match(/^global\s*1 key\(s\), changed \d{4}-\d\d-\d\d/);
      await row.click();
      await editor.until(".pms-ehr-queues-state-key", "visible", "syncCheckpoint_editor_2dstate");
      const shown = JSON.parse(
        (await page.locator(".pms-ehr-queues-view-json").first().textContent()) ?? "",
      ) as {
        highWater?: string;
      };
      expect(shown.highWater).to.equal("2025-01-06T09:00:00.000Z");
      await page.click("#pms-ehr-queues-state-close");
      await editor.showSidebarTab("info", "#red-ui-sidebar-content .red-ui-sidebar-info");
      expectNoPageErrors(mark);
    });
  });
});
