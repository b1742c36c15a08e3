import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Locator, Page } from "playwright-core";

/** What the tests read of a node definition in the editor (RED.nodes.getType). */
export interface TypeInfo {
  type: string;
  category: string;
  inputs: number;
  outputs: number;
  icon: string;
  paletteLabel: string;
  defaults: Array<{ name: string; type?: string; validated: boolean }>;
  credentials: string[];
}

export interface NodeState {
  valid: boolean;
  /** Node-RED's list: a property's reason ("<label>: <why>"), or its bare name. */
  validationErrors: string[];
  /** The properties those name, by their label (a reason that names none stays as it is). */
  invalid: string[];
  /** The red triangle on the canvas (config nodes have none: null). */
  marker: boolean | null;
}

export interface HelpPanel {
  title: string;
  summary: string;
  headings: string[];
  text: string;
  /** Elements of the help that reach past the sidebar's right edge (the reader would scroll sideways). */
  overflow: string[];
}

interface EditorDef {
  category?: string;
  inputs?: number;
  outputs?: number;
  icon?: string | ((this: unknown) => string);
  paletteLabel?: string | ((this: unknown) => string);
  defaults?: Record<string, { type?: string; validate?: unknown; required?: boolean; label?: string }>;
  credentials?: Record<string, unknown>;
}
interface EditorNode {
  id: string;
  type: string;
  z?: string;
  x: number;
  y: number;
  valid?: boolean;
  validationErrors?: string[];
  users?: unknown[];
  _def?: EditorDef;
  [key: string]: unknown;
}
/** The parts of the editor's global RED the page functions below use. */
declare const RED: {
  nodes: {
    getType(type: string): EditorDef | undefined;
    node(id: string): EditorNode | null;
    filterNodes(filter: { z?: string; type?: string }): EditorNode[];
    eachConfig(cb: (n: EditorNode) => void): void;
    remove(id: string): unknown;
    getWorkspaceOrder(): string[];
    workspace(id: string): { id: string; label: string } | undefined;
    dirty(d: boolean): void;
  };
  workspaces: {
    active(): string;
    delete(ws: { id: string }): void;
    add(): { id: string };
    show(id: string): void;
  };
  view: { state(): number; redraw(full?: boolean): void; scale(): number };
  actions: { invoke(name: string, arg?: unknown): void };
  sidebar: { config: { refresh(): void } };
  history: { clear(): void };
  state: { DEFAULT: number; IMPORT_DRAGGING: number };
};

export function normalise(text: string | null | undefined): string {
  return String(text ?? "")
    .replace(/\s+/g, " ")
    .trim();
}

/** A Node-RED editor in a page, driven the way a user drives it, read through its DOM and RED. */
export class EditorPage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    // Notifications come and go on a timer, and one with an id (the import's) is updated in
    // place: a MutationObserver records each one shown or updated.
    await this.page.addInitScript(() => {
      const w = window as unknown as { __notifications: Array<{ cls: string; text: string }> };
      w.__notifications = [];
      new MutationObserver((records) => {
        const touched = new Set<HTMLElement>();
        for (const r of records) {
          const target = r.target instanceof HTMLElement ? r.target : r.target.parentElement;
          const note = target?.closest<HTMLElement>(".red-ui-notification");
          if (note) touched.add(note);
          r.addedNodes.forEach((n) => {
            if (n instanceof HTMLElement && n.classList.contains("red-ui-notification")) touched.add(n);
          });
        }
        touched.forEach((n) => w.__notifications.push({ cls: n.className, text: n.innerText }));
      }).observe(document, { childList: true, subtree: true, characterData: true });
    });
    await this.page.goto(url);
    // The header toolbar shows, and the progress bar hides, once the node definitions and
    // the flows have loaded.
    await this.page.locator(".red-ui-header-toolbar").waitFor({ state: "visible", timeout: 60000 });
    await this.page.locator("#red-ui-loading-progress").waitFor({ state: "hidden", timeout: 60000 });
    // Slides and fades only cost time: jQuery animations and CSS transitions end at once.
    await this.page.evaluate(() => {
      (window as unknown as { jQuery: { fx: { off: boolean } } }).jQuery.fx.off = true;
    });
    await this.page.addStyleTag({
      content:
        "*, *::before, *::after { transition-duration: 0s !important; animation-duration: 0s !important; }",
    });
  }

  /** Notifications shown since `from` (an index from notificationCount()). */
  async notifications(from = 0): Promise<Array<{ cls: string; text: string }>> {
    return (
      await this.page.evaluate(
        () =>
          (window as unknown as { __notifications: Array<{ cls: string; text: string }> }).__notifications,
      )
    ).slice(from);
  }

  async notificationCount(): Promise<number> {
    return (await this.notifications()).length;
  }

  async typeInfo(type: string): Promise<TypeInfo | null> {
    return this.page.evaluate((t) => {
      const def = RED.nodes.getType(t);
      if (!def) return null;
      const label = typeof def.paletteLabel === "function" ? def.paletteLabel.call(def) : def.paletteLabel;
      const icon = typeof def.icon === "function" ? def.icon.call({ _def: def }) : def.icon;
      return {
        type: t,
        category: String(def.category ?? ""),
        inputs: Number(def.inputs ?? 0),
        outputs: Number(def.outputs ?? 0),
        icon: String(icon ?? ""),
        paletteLabel: String(label ?? ""),
        defaults: Object.entries(def.defaults ?? {}).map(([name, d]) => ({
          name,
          type: d.type,
          validated: typeof d.validate === "function" || d.required === true,
        })),
        credentials: Object.keys(def.credentials ?? {}),
      };
    }, type);
  }

  /** The editor's category of each type ("" for a type it does not know). */
  async categories(types: string[]): Promise<Record<string, string>> {
    return this.page.evaluate(
      (list) => Object.fromEntries(list.map((t) => [t, String(RED.nodes.getType(t)?.category ?? "")])),
      types,
    );
  }

  paletteNode(type: string): Locator {
    return this.page.locator(`#red-ui-palette-container .red-ui-palette-node[data-palette-type="${type}"]`);
  }

  /** Drags a node from the palette onto the canvas (chart coordinates); resolves with the new node's id. */
  async dragFromPalette(type: string, x: number, y: number): Promise<string> {
    const ws = await this.activeWorkspace();
    const before = await this.page.evaluate(
      ({ z, t }) => RED.nodes.filterNodes({ z, type: t }).map((n) => n.id),
      { z: ws, t: type },
    );
    const source = this.paletteNode(type);
    await source.scrollIntoViewIfNeeded();
    await source.dragTo(this.page.locator("#red-ui-workspace-chart"), { targetPosition: { x, y } });
    const handle = await this.page.waitForFunction(
      ({ z, t, known }) => RED.nodes.filterNodes({ z, type: t }).find((n) => !known.includes(n.id))?.id,
      { z: ws, t: type, known: before },
    );
    return String(await handle.jsonValue());
  }

  nodeOnCanvas(id: string): Locator {
    return this.page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
  }

  /** Opens a node's edit tray with a double click on the canvas. */
  async openNode(id: string): Promise<void> {
    const node = this.nodeOnCanvas(id).locator("rect.red-ui-flow-node");
    await node.scrollIntoViewIfNeeded();
    // The view takes two presses as a double click only when they are at least 1 ms apart.
    await node.dblclick({ delay: 5 });
    await this.until("#node-dialog-ok", "visible");
    await this.trayReady();
  }

  /**
   * Waits for the top tray to finish opening: its last step focuses the first field, and
   * keys typed before that could land in the wrong field.
   */
  async trayReady(): Promise<void> {
    await this.page.waitForFunction(() => {
      const trays = document.querySelectorAll(".red-ui-tray");
      const body = trays[trays.length - 1]?.querySelector(".red-ui-tray-body");
      return !!body && body.contains(document.activeElement);
    });
  }

  /** Closes the node edit tray with Done (ok) or Cancel. */
  async closeNode(how: "ok" | "cancel"): Promise<void> {
    await this.page.click(how === "ok" ? "#node-dialog-ok" : "#node-dialog-cancel");
    await this.until("#node-dialog-ok", "gone");
  }

  /**
   * From an open node tray: adds a config node for property `prop`, or, given its id, edits that
   * one. The select and its pencil follow a closed config dialog a moment later, so the pencil is
   * clicked only once the select shows `id`: clicking the plus instead would add a second node.
   */
  async openConfigFrom(prop: string, id?: string): Promise<void> {
    if (id === undefined) {
      await this.page.click(`#node-input-btn-${prop}-add`);
    } else {
      await this.page.waitForFunction(
        ({ p, want }) => {
          const select = document.getElementById(`node-input-${p}`) as HTMLSelectElement | null;
          const pencil = document.getElementById(`node-input-btn-${p}-edit`);
          return select?.value === want && !!pencil && !pencil.classList.contains("disabled");
        },
        { p: prop, want: id },
      );
      await this.page.click(`#node-input-btn-${prop}-edit`);
    }
    await this.until("#node-config-dialog-ok", "visible");
    await this.trayReady();
  }

  /** The config node chosen for `prop` in the open node tray, once the select shows one. */
  async chosenConfig(prop: string): Promise<string> {
    const handle = await this.page.waitForFunction((p) => {
      const value = (document.getElementById(`node-input-${p}`) as HTMLSelectElement | null)?.value;
      return value && value !== "_ADD_" ? value : undefined;
    }, prop);
    return String(await handle.jsonValue());
  }

  async closeConfig(how: "ok" | "cancel"): Promise<void> {
    await this.page.click(how === "ok" ? "#node-config-dialog-ok" : "#node-config-dialog-cancel");
    await this.until("#node-config-dialog-ok", "gone");
  }

  /** The top tray (the one a user sees). */
  topTray(): Locator {
    return this.page.locator(".red-ui-tray").last();
  }

  /**
   * What is wrong with the layout of the top tray's form, as it shows now: a field whose row has
   * no text naming it, text wider than its box (a label or button cut off), and anything reaching
   * past the form's right edge (cut off by the tray, or needing a sideways scroll).
   */
  async formLayoutProblems(): Promise<string[]> {
    return this.topTray().evaluate((tray) => {
      const form = tray.querySelector(".red-ui-tray-body form") ?? tray.querySelector(".red-ui-tray-body");
      if (!form) return ["no form in the tray"];
      const edge = form.getBoundingClientRect().right;
      const shown = (e: Element) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
      };
      const name = (e: Element) => {
        const id = e.id ? `#${e.id}` : "";
        const text = (e.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 40);
        return `<${e.tagName.toLowerCase()}${id}>${text ? ` "${text}"` : ""}`;
      };
      const problems: string[] = [];
      for (const e of Array.from(form.querySelectorAll("*")).filter(shown)) {
        if (e.getBoundingClientRect().right > edge + 1)
          problems.push(`${name(e)} reaches past the form's edge`);
        const boxed = /^(LABEL|BUTTON|H3|H4)$/.test(e.tagName) || e.classList.contains("form-tips");
        if (boxed && getComputedStyle(e).display !== "inline" && e.scrollWidth > e.clientWidth + 1) {
          problems.push(`${name(e)}: its text is wider than its box`);
        }
      }
      for (const row of Array.from(form.querySelectorAll(".form-row")).filter(shown)) {
        const fields = Array.from(row.querySelectorAll("input, select, textarea")).filter(
          (f) => shown(f) && (f as HTMLInputElement).type !== "hidden",
        );
        const words = Array.from(row.childNodes)
          .filter((n) => !(n instanceof HTMLSelectElement))
          .map((n) => n.textContent ?? "")
          .join("")
          .trim();
        const named = fields.every((f) => f.getAttribute("aria-label") || f.getAttribute("placeholder"));
        if (fields.length > 0 && words === "" && !named) problems.push(`${name(row)}: a field with no label`);
      }
      return [...new Set(problems)];
    });
  }

  /** Clicks the book button of the top tray and reads the help sidebar once it shows `title`. */
  async showHelp(title: string): Promise<HelpPanel> {
    await this.topTray().locator(".red-ui-tray-footer button:has(i.fa-book)").click();
    const panel = this.page.locator(".red-ui-sidebar-help-stack .red-ui-help").first();
    await this.until(".red-ui-sidebar-help-stack .red-ui-help-title", "visible", title);
    return panel.evaluate((el) => {
      const body = el.querySelector(".red-ui-help .red-ui-text-bidi-aware") ?? el;
      const first = body.querySelector("p");
      const right = el.getBoundingClientRect().right;
      // A wide table may scroll sideways in a box of its own that fits the sidebar.
      const scrolls = (e: Element) => /auto|scroll/.test(getComputedStyle(e).overflowX);
      const inScroller = (e: Element) => {
        for (let p = e.parentElement; p && p !== body; p = p.parentElement) if (scrolls(p)) return true;
        return false;
      };
      const overflow = Array.from(body.querySelectorAll("*"))
        .filter((e) => e.getBoundingClientRect().right > right + 1 && !inScroller(e))
        .map((e) => `<${e.tagName.toLowerCase()}> "${(e.textContent ?? "").trim().slice(0, 40)}"`);
      return {
        title: el.querySelector(".red-ui-help-title")?.textContent?.trim() ?? "",
        summary: first?.textContent?.replace(/\s+/g, " ").trim() ?? "",
        headings: Array.from(body.querySelectorAll("h3")).map((h) => (h.textContent ?? "").trim()),
        text: (body.textContent ?? "").replace(/\s+/g, " ").trim(),
        overflow,
      };
    });
  }

  /**
   * Replaces a text field's value by typing, as a user does (keyup and change events fire). A
   * field made a typedInput is hidden: the user types into the typedInput's own box.
   */
  async typeInto(field: string, value: string): Promise<void> {
    const input = this.page.locator(
      `#${field}:not(.red-ui-typedInput), #${field}.red-ui-typedInput + .red-ui-typedInput-container input.red-ui-typedInput-input`,
    );
    await input.waitFor({ state: "visible" });
    await input.fill("");
    if (value !== "") await input.pressSequentially(value);
    else await input.press("Backspace");
    await input.press("Tab");
  }

  /** The label the editor's definition of `type` gives each property (the one its reasons name). */
  async propertyLabels(type: string): Promise<Record<string, string | undefined>> {
    return this.page.evaluate(
      (t) =>
        Object.fromEntries(
          Object.entries(RED.nodes.getType(t)?.defaults ?? {}).map(([p, d]) => [p, d.label]),
        ),
      type,
    );
  }

  /** The reason the editor shows on hover for a field it marks as invalid. */
  async errorReason(field: string): Promise<string> {
    await this.page.mouse.move(0, 0);
    await this.page.locator(".red-ui-popover:visible").first().waitFor({ state: "hidden", timeout: 5000 });
    await this.page.locator(`#${field}`).hover();
    const popover = this.page.locator(".red-ui-popover:visible").last();
    await popover.waitFor({ state: "visible", timeout: 5000 });
    return ((await popover.textContent()) ?? "").trim();
  }

  /**
   * Whether the field comes to have (or not have) the editor's error mark within 5 s. Typing
   * marks at once; closing a config dialog re-checks the select that uses it a little later.
   */
  async markedError(field: string, marked: boolean): Promise<boolean> {
    try {
      await this.page.waitForFunction(
        ({ id, want }) => document.getElementById(id)?.classList.contains("input-error") === want,
        { id: field, want: marked },
        { timeout: 5000 },
      );
      return true;
    } catch {
      return false;
    }
  }

  async nodeState(id: string): Promise<NodeState> {
    return this.page.evaluate((nid) => {
      const n = RED.nodes.node(nid);
      if (!n) throw new Error(`no node ${nid}`);
      const marker = document.getElementById(nid)?.querySelector(".red-ui-flow-node-error");
      const errors = n.validationErrors ?? [];
      const defs = Object.entries(n._def?.defaults ?? {});
      const invalid = errors.map((e) => {
        const named = defs.find(
          ([p, d]) => e === p || (d.label !== undefined && e.startsWith(`${d.label}: `)),
        );
        return named ? named[0] : e;
      });
      return {
        valid: n.valid !== false,
        validationErrors: errors,
        invalid,
        marker: marker ? !marker.classList.contains("hide") : null,
      };
    }, id);
  }

  async nodeProperty<T = unknown>(id: string, prop: string): Promise<T> {
    return this.page.evaluate(({ nid, p }) => RED.nodes.node(nid)?.[p], { nid: id, p: prop }) as Promise<T>;
  }

  async activeWorkspace(): Promise<string> {
    return this.page.evaluate(() => RED.workspaces.active());
  }

  /** The flow nodes of a tab, or of every tab: type, and whether the editor knows the type. */
  async nodesOn(
    z?: string,
  ): Promise<Array<{ id: string; type: string; z: string; known: boolean; valid: boolean }>> {
    return this.page.evaluate(
      (ws) =>
        RED.nodes.filterNodes(ws ? { z: ws } : {}).map((n) => ({
          z: String(n.z),
          id: n.id,
          type: n.type,
          known: n.type !== "unknown" && RED.nodes.getType(n.type) !== undefined,
          valid: n.valid !== false,
        })),
      z,
    );
  }

  /** Pairs of nodes of a tab whose boxes, as the editor drew them, overlap: "type name ~ type name". */
  async overlappingNodes(z: string): Promise<string[]> {
    return this.page.evaluate((ws) => {
      const boxes = RED.nodes.filterNodes({ z: ws }).map((n) => {
        const w = Number(n.w ?? 0);
        const h = Number(n.h ?? 0);
        const x = Number(n.x);
        const y = Number(n.y);
        return {
          label: `${n.type} ${JSON.stringify(n.name ?? "")}`,
          l: x - w / 2,
          r: x + w / 2,
          t: y - h / 2,
          b: y + h / 2,
        };
      });
      const out: string[] = [];
      boxes.forEach((a, i) => {
        for (const b of boxes.slice(i + 1)) {
          if (a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b) out.push(`${a.label} ~ ${b.label}`);
        }
      });
      return out;
    }, z);
  }

  /** Opens Menu > Import. */
  async openImportDialog(): Promise<void> {
    await this.page.click("#red-ui-header-button-sidemenu");
    await this.page.click("#menu-item-import");
    await this.until("#red-ui-clipboard-dialog-ok", "visible");
  }

  /**
   * Selects a tab of the import dialog. Its tabs take a click within 400 ms of the previous one
   * (in an earlier dialog too) as a double click, which selects nothing but resets the timer:
   * then a second click selects.
   */
  private async clickDialogTab(name: "examples" | "clipboard"): Promise<void> {
    const tab = `#red-ui-tab-red-ui-clipboard-dialog-import-tab-${name}`;
    const active = () => this.page.evaluate((sel) => !!document.querySelector(`${sel}.active`), tab);
    await this.page.click(`${tab} a`);
    if (!(await active())) await this.page.click(`${tab} a`);
    if (!(await active())) throw new Error(`the import dialog's ${name} tab does not open`);
  }

  /** The label of the Import > Examples tree item at `path` (labels from the module down). */
  private treeLabel(path: string[]): Locator {
    let scope: Locator = this.page.locator(EXAMPLES);
    let label: Locator | undefined;
    for (const part of path) {
      label = scope
        .locator(".red-ui-treeList-label")
        .filter({ has: this.page.locator(".red-ui-treeList-label-text", { hasText: exact(part) }) })
        .filter({ visible: true })
        .first();
      scope = label.locator("xpath=ancestor::li[1]");
    }
    if (!label) throw new Error("empty tree path");
    return label;
  }

  /** Expands the tree item at `path` (a click if it is closed); resolves with its children's labels. */
  private async expand(path: string[]): Promise<string[]> {
    const children = (p: string[]): string[] | null => {
      const visible = (e: Element) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0;
      };
      let scope: Element | null = document.querySelector("#red-ui-clipboard-dialog-import-tab-examples");
      let item: Element | null = null;
      for (const part of p) {
        const label = Array.from(scope?.querySelectorAll(".red-ui-treeList-label-text") ?? []).find(
          (e) => e.textContent === part && visible(e),
        );
        item = label?.closest("li") ?? null;
        scope = item?.querySelector("ol") ?? null;
        if (!scope) return null;
      }
      const kids = Array.from(scope?.children ?? [])
        .map((c) => c.querySelector(".red-ui-treeList-label-text"))
        .filter((e): e is Element => !!e && visible(e))
        .map((e) => e.textContent ?? "");
      return kids.length > 0 && item ? kids : null;
    };
    const shown = await this.page.evaluate(children, path);
    if (shown) return shown;
    await this.treeLabel(path).click();
    // The tree shows a folder's children after at least 400 ms (a spinner's minimum).
    const handle = await this.page.waitForFunction(children, path);
    return (await handle.jsonValue()) as string[];
  }

  /** The entries under Import > Examples > `module` (the import dialog open). */
  async exampleEntries(module: string): Promise<string[]> {
    await this.clickDialogTab("examples");
    await this.until(`${EXAMPLES} .red-ui-treeList-label-text`, "visible", module);
    return this.expand([module]);
  }

  /**
   * Menu > Import > Examples > module > path (folders then file), imported to a new flow.
   * Resolves once the dialog has closed.
   */
  async importExample(module: string, path: string[]): Promise<void> {
    await this.openImportDialog();
    await this.exampleEntries(module);
    for (let i = 1; i < path.length; i++) await this.expand([module, ...path.slice(0, i)]);
    await this.treeLabel([module, ...path]).click();
    await this.importTo("new");
  }

  /** Menu > Import > Clipboard: pastes `json` and imports it to a new flow. */
  async importText(json: string): Promise<void> {
    await this.openImportDialog();
    await this.clickDialogTab("clipboard");
    const text = this.page.locator("#red-ui-clipboard-dialog-import-text");
    await text.fill(json);
    // The dialog checks the text on keyup.
    await text.press("End");
    await this.importTo("new");
  }

  private async importTo(where: "new" | "current"): Promise<void> {
    const toggle = this.page.locator(`#red-ui-clipboard-dialog-import-opt-${where}`);
    await toggle.click();
    await this.page.waitForFunction(
      (sel) => document.querySelector(sel)?.classList.contains("selected") === true,
      `#red-ui-clipboard-dialog-import-opt-${where}`,
    );
    const ok = this.page.locator("#red-ui-clipboard-dialog-ok");
    await this.page.waitForFunction(
      () => !(document.querySelector("#red-ui-clipboard-dialog-ok") as HTMLButtonElement | null)?.disabled,
    );
    const notes = await this.notificationCount();
    await ok.click();
    await this.until("#red-ui-clipboard-dialog", "gone");
    // The dialog closes first; the editor then fetches an example, imports it and says so (or
    // says why not) in a notification.
    await this.page.waitForFunction(
      (n) => (window as unknown as { __notifications: unknown[] }).__notifications.length > n,
      notes,
    );
    // With the mouse over the canvas the imported nodes follow it until a click places them.
    if (await this.page.evaluate(() => RED.view.state() === RED.state.IMPORT_DRAGGING)) {
      await this.page.locator("#red-ui-workspace-chart").click({ position: { x: 40, y: 40 } });
    }
    await this.page.waitForFunction(() => RED.view.state() === RED.state.DEFAULT);
  }

  /**
   * Waits until an element matching `selector` (with exactly `text`, if given) is visible, or
   * until none is ("gone"). Polls every animation frame, where locator waits back off to
   * half a second.
   */
  async until(selector: string, state: "visible" | "gone", text?: string): Promise<void> {
    await this.page.waitForFunction(
      ({ sel, st, txt }) => {
        const shown = Array.from(document.querySelectorAll(sel)).some((e) => {
          if (txt !== undefined && (e.textContent ?? "").trim() !== txt) return false;
          const r = e.getBoundingClientRect();
          return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
        });
        return st === "visible" ? shown : !shown;
      },
      { sel: selector, st: state, txt: text },
    );
  }

  /** Cancels whatever a failed test left open (edit trays, the import dialog, the menu). */
  async closeAll(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const config = this.page.locator("#node-config-dialog-cancel");
      const node = this.page.locator("#node-dialog-cancel");
      if (await config.isVisible()) await this.closeConfig("cancel");
      else if (await node.isVisible()) await this.closeNode("cancel");
      else break;
    }
    const importCancel = this.page.locator("#red-ui-clipboard-dialog-cancel");
    if (await importCancel.isVisible()) {
      await importCancel.click();
      await this.until("#red-ui-clipboard-dialog", "gone");
    }
    await this.page.keyboard.press("Escape");
  }

  /**
   * Deletes every tab and every config node, so the next import cannot clash with an earlier one;
   * leaves one empty tab, as a new editor has.
   */
  async clearWorkspace(): Promise<void> {
    await this.page.evaluate(() => {
      const tabs = RED.nodes.getWorkspaceOrder().slice();
      const fresh = RED.workspaces.add();
      for (const id of tabs) {
        const ws = RED.nodes.workspace(id);
        if (ws) RED.workspaces.delete(ws);
      }
      const configs: string[] = [];
      RED.nodes.eachConfig((c) => {
        configs.push(c.id);
      });
      for (const id of configs) RED.nodes.remove(id);
      RED.sidebar.config.refresh();
      RED.history.clear();
      RED.nodes.dirty(false);
      RED.view.redraw(true);
      return fresh.id;
    });
    await this.page.waitForFunction(() => RED.nodes.getWorkspaceOrder().length === 1);
  }

  /** Deletes the tabs that hold no node (a tidy tab bar for a picture). */
  async deleteEmptyTabs(): Promise<void> {
    await this.page.evaluate(() => {
      for (const id of RED.nodes.getWorkspaceOrder().slice()) {
        const ws = RED.nodes.workspace(id);
        if (ws && RED.nodes.filterNodes({ z: id }).length === 0) RED.workspaces.delete(ws);
      }
    });
  }

  /**
   * Shows a sidebar tab the way a user does: a click on its button in the sidebar's tab bar, or,
   * for a tab without one (not pinned), on its entry in the tab bar's drop-down list. Resolves
   * once `content` (a selector inside the tab) is visible.
   */
  async showSidebarTab(id: string, content: string): Promise<void> {
    const button = this.page.locator(`#red-ui-tab-${id}-link-button`);
    if (await button.isVisible()) {
      await button.click();
    } else {
      await this.page.click("#red-ui-sidebar .red-ui-tab-link-button-menu");
      await this.page.click(`#red-ui-tabs-menu-option-${id}`);
    }
    await this.until(content, "visible");
  }

  /** Shows flow `z` on the canvas (for a picture). */
  async showTab(z: string): Promise<void> {
    await this.page.evaluate((id) => RED.workspaces.show(id), z);
    await this.page.waitForFunction((id) => RED.workspaces.active() === id, z);
  }

  /** Clicks the shown notifications away (each closes on a click). */
  async dismissNotifications(): Promise<void> {
    const notes = this.page.locator("#red-ui-notifications .red-ui-notification").filter({ visible: true });
    while ((await notes.count()) > 0) await notes.first().click();
  }

  /** Zooms out until every node of the active tab fits the visible canvas, scrolled to its top left. */
  async fitToCanvas(): Promise<void> {
    await this.page.evaluate(() => {
      const chart = document.getElementById("red-ui-workspace-chart");
      const nodes = RED.nodes.filterNodes({ z: RED.workspaces.active() });
      if (!chart || nodes.length === 0) return;
      const right = Math.max(...nodes.map((n) => n.x + Number(n.w ?? 100) / 2)) + 40;
      const bottom = Math.max(...nodes.map((n) => n.y + Number(n.h ?? 30) / 2)) + 40;
      const need = Math.min(1, chart.clientWidth / right, chart.clientHeight / bottom);
      for (let i = 0; i < 10 && RED.view.scale() > need + 1e-9; i++) RED.actions.invoke("core:zoom-out");
      chart.scrollLeft = 0;
      chart.scrollTop = 0;
    });
    // The view redraws on the next animation frame.
    await this.page.evaluate(
      () => new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))),
    );
  }

  /**
   * The picture of the active tab's flow for the docs: the canvas alone (palette, sidebar and
   * grid hidden, nothing selected, no change badges), zoomed out in the editor's own steps until
   * the whole flow fits the canvas, cut to the flow with a margin. Puts the editor back as it
   * was (palette, sidebar, grid, zoom 100%). Resolves with the zoom used.
   */
  async flowPicture(path: string): Promise<{ scale: number; width: number; height: number }> {
    await this.page.keyboard.press("Escape");
    await this.dismissNotifications();
    const chrome = (show: boolean) =>
      this.page.evaluate((on) => {
        const main = document.getElementById("red-ui-main-container");
        main?.classList.toggle("red-ui-palette-closed", !on);
        main?.classList.toggle("red-ui-sidebar-closed", !on);
        RED.actions.invoke("core:toggle-show-grid", on);
        // The editor sizes the canvas on a window resize (its own toggles send one 200 ms later).
        window.dispatchEvent(new Event("resize"));
      }, show);
    await chrome(false);
    try {
      await this.page.evaluate(() => {
        for (const n of RED.nodes.filterNodes({ z: RED.workspaces.active() })) {
          n.changed = false;
          n.moved = false;
          n.dirty = true;
        }
        RED.actions.invoke("core:zoom-reset");
      });
      await this.nextFrames();
      const margin = 16;
      const scale = await this.page.evaluate((m) => {
        const chart = document.getElementById("red-ui-workspace-chart");
        if (!chart) throw new Error("no canvas");
        chart.scrollLeft = 0;
        chart.scrollTop = 0;
        const c = chart.getBoundingClientRect();
        let right = 0;
        let bottom = 0;
        for (const e of Array.from(
          chart.querySelectorAll(".red-ui-flow-node-group, .red-ui-flow-link-line"),
        )) {
          const r = e.getBoundingClientRect();
          right = Math.max(right, r.right - c.left);
          bottom = Math.max(bottom, r.bottom - c.top);
        }
        const need = Math.min(1, (chart.clientWidth - m) / right, (chart.clientHeight - m) / bottom);
        for (let i = 0; i < 10 && RED.view.scale() > need + 1e-9; i++) RED.actions.invoke("core:zoom-out");
        chart.scrollLeft = 0;
        chart.scrollTop = 0;
        return RED.view.scale();
      }, margin);
      await this.nextFrames();
      const clip = await this.page.evaluate((m) => {
        const chart = document.getElementById("red-ui-workspace-chart");
        if (!chart) throw new Error("no canvas");
        const c = chart.getBoundingClientRect();
        const box = { left: Infinity, top: Infinity, right: -Infinity, bottom: -Infinity };
        for (const e of Array.from(
          chart.querySelectorAll(".red-ui-flow-node-group, .red-ui-flow-link-line"),
        )) {
          const r = e.getBoundingClientRect();
          box.left = Math.min(box.left, r.left);
          box.top = Math.min(box.top, r.top);
          box.right = Math.max(box.right, r.right);
          box.bottom = Math.max(box.bottom, r.bottom);
        }
        const x = Math.max(c.left, Math.floor(box.left - m));
        const y = Math.max(c.top, Math.floor(box.top - m));
        const right = Math.min(c.left + chart.clientWidth, Math.ceil(box.right + m));
        const bottom = Math.min(c.top + chart.clientHeight, Math.ceil(box.bottom + m));
        return { x, y, width: right - x, height: bottom - y };
      }, margin);
      mkdirSync(dirname(path), { recursive: true });
      await this.page.screenshot({ path, clip });
      return { scale, width: clip.width, height: clip.height };
    } finally {
      await this.page.evaluate(() => RED.actions.invoke("core:zoom-reset"));
      await chrome(true);
      await this.nextFrames();
    }
  }

  /** Two animation frames: the editor redraws the canvas on the next one. */
  private async nextFrames(): Promise<void> {
    await this.page.evaluate(
      () => new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))),
    );
  }

  async screenshot(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    await this.page.screenshot({ path });
  }
}

const EXAMPLES = "#red-ui-clipboard-dialog-import-tab-examples";

function exact(text: string): RegExp {
  return new RegExp(`^${escapeRe(text)}$`);
}

export function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
