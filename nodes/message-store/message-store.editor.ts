import { isEnvReference as isEnv } from "../../lib/env";
import { numberField } from "../../lib/number-prop";
import { checkSchemaName } from "../../lib/store/pg-migrations";
import { checked, liveValue, unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface MessageStoreEditorProps {
    name: string;
    backend: string;
    file: string;
    keepDelivered: string;
    synchronous: string;
    pgHost: string;
    pgPort: string;
    pgDatabase: string;
    pgUser: string;
    pgSchema: string;
    tls: string;
  }
  interface MessageStoreEditorCreds {
    encryptionKey: string;
    pgPassword: string;
  }

  function backendOf(node: { id?: string; backend?: string }): string {
    return liveValue(node, "#node-config-input-backend", node.backend) || "sqlite";
  }
  /** A rule that applies only to the PostgreSQL backend's fields. */
  function forPostgres(rule: (v: string, opt?: object) => boolean | string) {
    return function (this: { id?: string; backend?: string }, v: string, opt?: object): boolean | string {
      return backendOf(this) !== "postgres" || rule(v, opt);
    };
  }

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  // ---------------------------------------------------------------------------------------------
  // The "PMS-EHR queues" sidebar: every running message store with its queues, the dead letters
  // of the queue the user selects, and the node state in the pack's state file, read from the
  // admin endpoints of message-store.ts.
  // No payload is ever fetched except the one message a user asks to view.
  // ---------------------------------------------------------------------------------------------

  interface StateScopeInfo {
    scope: string;
    keys: number;
    updatedAt: number;
  }
  interface StateFileInfo {
    file: string;
    scopes: StateScopeInfo[];
  }
  interface StateEntryInfo {
    key: string;
    value: unknown;
    updatedAt: number;
    expiresAt: number | null;
  }

  interface QueueInfo {
    queue: string;
    depth: number;
    inFlight: number;
    oldestAgeMs: number;
    deadLetters: number;
    deliveredTotal: number;
    deadTotal: number;
    open: boolean;
  }
  interface StoreInfo {
    id: string;
    name: string;
    backend: string;
    encrypted: boolean;
    queues: QueueInfo[];
  }
  interface DeadLetter {
    id: number;
    queue: string;
    key: string | null;
    code: string;
    message: string;
    attempts: number;
    enqueuedAt: number;
    firstTryAt: number | null;
    lastTryAt: number | null;
    deadAt: number;
  }
  interface StoredMessage {
    id: number;
    queue: string;
    key: string | null;
    state: string;
    attempts: number;
    enqueuedAt: number;
    msg: unknown;
  }
  interface Filter {
    code?: string;
    key?: string;
    from?: number;
    to?: number;
  }
  interface Selection {
    store: string;
    storeName: string;
    queue: string;
  }
  type Translate = (key: string, subs?: Record<string, string | number>) => string;
  type Notification = HTMLDivElement & { close(): void };

  const TAB_ID = "pms-ehr-queues";
  const SHOW_ACTION = "pms-ehr:show-queues-tab";
  const API = "pms-ehr/queues";
  const STATE_API = "pms-ehr/state";
  const REFRESH_MS = 5000;
  /** Dead letters listed at once; the count above the list says when there are more. */
  const LIST_LIMIT = 200;
  /** The most a bulk action's confirmation counts (the store's own cap on one listing). */
  const COUNT_LIMIT = 10000;
  const P = "pms-ehr-queues";

  function escapeHtml(text: string): string {
    return text.replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
    );
  }

  function pad(n: number): string {
    return n < 10 ? `0${n}` : String(n);
  }

  /** Local time, to the second: "2025-01-06 08:05:03"; a dash for none. */
  function formatTime(ms: number | null | undefined): string {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
    const d = new Date(ms);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
  }

  /** A duration as people read it: "42s", "3m 20s", "2h 5m", "3d 4h"; a dash for none. */
  function formatAge(ms: number): string {
    if (!Number.isFinite(ms) || ms <= 0) return "–";
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function count(n: number): string {
    return Number(n || 0).toLocaleString("en-US");
  }

  /** A datetime-local field as epoch ms: undefined when empty, NaN when not a time. */
  function timeOf(input: JQuery): number | undefined {
    const v = trimmed(String(input.val() ?? ""));
    return v === "" ? undefined : new Date(v).getTime();
  }

  function createQueuesSidebar(t: Translate): { remove(): void } {
    const canWrite = RED.user.hasPermission("pms-ehr-queues.write");
    let stores: StoreInfo[] = [];
    let selected: Selection | undefined;
    let letters: DeadLetter[] = [];
    let timer: ReturnType<typeof setInterval> | undefined;
    let filterTimer: ReturnType<typeof setTimeout> | undefined;
    let storesRequest: JQuery.jqXHR | undefined;
    let storesAgain = false;
    let lettersSeq = 0;
    let shownStores = "";
    let shownLetters = "";
    /** The last error notified, so that a failing poll says so once, not every 5 s. */
    let lastError = "";

    // --- layout --------------------------------------------------------------------------------
    const content = $("<div>").addClass(P);
    const header = $("<div>").addClass(`red-ui-sidebar-header ${P}-header`).appendTo(content);
    const updated = $("<span>").addClass(`${P}-updated`).appendTo(header);
    const refreshButton = $('<button type="button"><i class="fa fa-refresh"></i></button>')
      .addClass(`red-ui-sidebar-header-button ${P}-refresh`)
      .appendTo(header)
      .on("click", (evt) => {
        evt.preventDefault();
        lastError = "";
        refresh();
      });
    RED.popover.tooltip(refreshButton, escapeHtml(t("refresh")));

    const stack = RED.stack.create({ container: $("<div>").appendTo(content) });
    const queuesSection = stack.add({ title: escapeHtml(t("queues")), collapsible: true });
    queuesSection.expand();
    const storesBox = $("<div>").addClass(`${P}-stores`).appendTo(queuesSection.content);

    const stateSection = stack.add({ title: escapeHtml(t("state.title")), collapsible: true });
    stateSection.expand();
    const stateBox = $("<div>").addClass(`${P}-state`).appendTo(stateSection.content);

    const deadSection = stack.add({ title: escapeHtml(t("deadLetters")), collapsible: true });
    deadSection.expand();
    const deadBox = $("<div>").addClass(`${P}-dead`).appendTo(deadSection.content);
    const hint = $("<div>").addClass(`${P}-hint`).text(t("selectQueue")).appendTo(deadBox);
    const panel = $("<div>").addClass(`${P}-panel`).hide().appendTo(deadBox);
    const selectedLine = $("<div>").addClass(`${P}-selected`).appendTo(panel);
    const form = $("<div>").addClass(`${P}-filter`).appendTo(panel);

    function field(label: string, input: JQuery): JQuery {
      const row = $("<div>").addClass(`${P}-field`).appendTo(form);
      $("<span>").text(label).appendTo(row);
      return input.appendTo(row);
    }
    const codeInput = field(
      t("filter.code"),
      $('<input type="text" autocomplete="off">').addClass(`${P}-filter-code`),
    ).attr("placeholder", t("filter.any"));
    const keyInput = field(
      t("filter.key"),
      $('<input type="text" autocomplete="off">').addClass(`${P}-filter-key`),
    ).attr("placeholder", t("filter.any"));
    const fromInput = field(
      t("filter.from"),
      $('<input type="datetime-local" step="1">').addClass(`${P}-filter-from`),
    );
    const toInput = field(
      t("filter.to"),
      $('<input type="datetime-local" step="1">').addClass(`${P}-filter-to`),
    );
    const bulk = $("<div>").addClass(`${P}-bulk`).appendTo(form);
    $('<button type="button" class="red-ui-button red-ui-button-small"><i class="fa fa-times"></i> </button>')
      .addClass(`${P}-filter-clear`)
      .append($("<span>").text(t("filter.clear")))
      .appendTo(bulk)
      .on("click", (evt) => {
        evt.preventDefault();
        form.find("input").val("").removeClass("input-error");
        loadLetters();
      });
    const replayAll = $(
      '<button type="button" class="red-ui-button red-ui-button-small"><i class="fa fa-repeat"></i> </button>',
    )
      .addClass(`${P}-replay-all`)
      .append($("<span>").text(t("replayAll")))
      .appendTo(bulk)
      .on("click", (evt) => {
        evt.preventDefault();
        bulkAction("replay");
      });
    const discardAll = $(
      '<button type="button" class="red-ui-button red-ui-button-small"><i class="fa fa-trash"></i> </button>',
    )
      .addClass(`${P}-discard-all`)
      .append($("<span>").text(t("discardAll")))
      .appendTo(bulk)
      .on("click", (evt) => {
        evt.preventDefault();
        bulkAction("discard");
      });
    if (!canWrite) {
      replayAll.prop("disabled", true).attr("title", t("noPermission"));
      discardAll.prop("disabled", true).attr("title", t("noPermission"));
    }
    const summary = $("<div>").addClass(`${P}-summary`).appendTo(panel);
    const list = $("<div>").addClass(`${P}-letters`).appendTo(panel);

    form.on("input change", "input", () => {
      if (filterTimer) clearTimeout(filterTimer);
      filterTimer = setTimeout(() => {
        filterTimer = undefined;
        loadLetters();
      }, 400);
    });

    // --- requests ------------------------------------------------------------------------------
    function queueUrl(sel: Selection): string {
      return `${API}/${encodeURIComponent(sel.store)}/${encodeURIComponent(sel.queue)}`;
    }

    function errorOf(xhr: JQuery.jqXHR): string {
      const body = xhr.responseJSON as { error?: unknown; code?: unknown } | undefined;
      if (body && typeof body.error === "string") {
        return typeof body.code === "string" ? `${body.error} (${body.code})` : body.error;
      }
      if (xhr.status === 0) return t("error.offline");
      if (xhr.status === 401 || xhr.status === 403) return t("noPermission");
      return `HTTP ${xhr.status} ${xhr.statusText || ""}`.trim();
    }

    /** Says what failed in a notification; `quiet` (a poll) says the same failure only once. */
    function showError(xhr: JQuery.jqXHR, what: string, quiet = false): void {
      const text = t("error.failed", { what, error: errorOf(xhr) });
      updated.text(text).addClass(`${P}-updated-error`);
      if (quiet && text === lastError) return;
      lastError = text;
      RED.notify($("<p>").text(text), { type: "error", timeout: 8000 });
    }

    function succeeded(): void {
      lastError = "";
      updated
        .text(t("updated", { time: formatTime(Date.now()).slice(11) }))
        .removeClass(`${P}-updated-error`);
    }

    /** Reloads the stores, then the selected queue's dead letters; one request at a time. */
    function refresh(): void {
      loadState();
      if (storesRequest) {
        storesAgain = true;
        return;
      }
      storesRequest = $.ajax({ url: API, dataType: "json", cache: false })
        .done((data: { stores?: StoreInfo[] }) => {
          stores = Array.isArray(data?.stores) ? data.stores : [];
          succeeded();
          renderStores();
          if (selected) {
            const sel = selected;
            const store = stores.find((s) => s.id === sel.store);
            if (store && store.queues.some((q) => q.queue === sel.queue)) {
              sel.storeName = store.name;
              loadLetters();
            } else {
              select(undefined);
            }
          }
        })
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("error.list"), true))
        .always(() => {
          storesRequest = undefined;
          if (storesAgain) {
            storesAgain = false;
            refresh();
          }
        });
    }

    function currentFilter(): Filter | undefined {
      const filter: Filter = {};
      const code = trimmed(String(codeInput.val() ?? ""));
      const key = trimmed(String(keyInput.val() ?? ""));
      if (code) filter.code = code;
      if (key) filter.key = key;
      let ok = true;
      for (const [name, input] of [
        ["from", fromInput],
        ["to", toInput],
      ] as const) {
        const ms = timeOf(input);
        input.toggleClass("input-error", ms !== undefined && !Number.isFinite(ms));
        if (ms === undefined) continue;
        if (!Number.isFinite(ms)) ok = false;
        else filter[name] = ms;
      }
      return ok ? filter : undefined;
    }

    function loadLetters(): void {
      const sel = selected;
      if (!sel) return;
      const filter = currentFilter();
      if (!filter) return;
      const mine = ++lettersSeq;
      $.ajax({
        url: `${queueUrl(sel)}/dead`,
        data: { ...filter, limit: LIST_LIMIT },
        dataType: "json",
        cache: false,
      })
        .done((data: { letters?: DeadLetter[] }) => {
          if (mine !== lettersSeq || selected !== sel) return;
          letters = Array.isArray(data?.letters) ? data.letters : [];
          renderLetters(sel, filter);
        })
        .fail((xhr: JQuery.jqXHR) => {
          if (mine === lettersSeq) showError(xhr, t("error.dead"), true);
        });
    }

    function post(sel: Selection, action: "replay" | "discard", body: Filter | { ids: number[] }) {
      return $.ajax({
        url: `${queueUrl(sel)}/${action}`,
        type: "POST",
        contentType: "application/json",
        data: JSON.stringify(body),
        dataType: "json",
      });
    }

    // --- rendering -----------------------------------------------------------------------------
    function select(sel: Selection | undefined): void {
      selected = sel;
      letters = [];
      shownLetters = "";
      list.empty();
      summary.empty();
      storesBox.find(`.${P}-queue`).each(function () {
        const row = $(this);
        row.toggleClass(
          "selected",
          !!sel && row.data("store") === sel.store && row.data("queue") === sel.queue,
        );
      });
      if (!sel) {
        panel.hide();
        hint.show();
        return;
      }
      hint.hide();
      panel.show();
      selectedLine.empty();
      $('<i class="fa fa-inbox"></i>').appendTo(selectedLine);
      $("<span>").addClass(`${P}-selected-queue`).text(sel.queue).appendTo(selectedLine);
      $("<span>").addClass(`${P}-muted`).text(sel.storeName).appendTo(selectedLine);
      loadLetters();
    }

    // --- node state in the pack's state file (read-only) -----------------------------------------
    let stateRequest: JQuery.jqXHR | undefined;
    let shownState = "";
    function loadState(): void {
      if (stateRequest) return;
      stateRequest = $.ajax({ url: STATE_API, dataType: "json", cache: false })
        .done((data: { files?: StateFileInfo[] }) =>
          renderState(Array.isArray(data?.files) ? data.files : []),
        )
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("state.errorList"), true))
        .always(() => {
          stateRequest = undefined;
        });
    }

    function renderState(files: StateFileInfo[]): void {
      const signature = JSON.stringify(files);
      if (signature === shownState) return;
      shownState = signature;
      stateBox.empty();
      if (files.every((f) => f.scopes.length === 0)) {
        $("<div>").addClass(`${P}-hint`).text(t("state.none")).appendTo(stateBox);
        return;
      }
      for (const file of files) {
        const title = $("<div>").addClass(`${P}-store-name`).attr("title", file.file).appendTo(stateBox);
        $('<i class="fa fa-hdd-o"></i>').appendTo(title);
        $("<span>")
          .text(file.file.split(/[\\/]/).pop() ?? file.file)
          .appendTo(title);
        for (const scope of file.scopes) {
          const row = $("<div>")
            .addClass(`${P}-state-scope`)
            .attr("tabindex", "0")
            .attr("role", "button")
            .appendTo(stateBox);
          $("<span>").addClass(`${P}-state-name`).text(scope.scope).appendTo(row);
          $("<span>")
            .addClass(`${P}-muted`)
            .text(t("state.keys", { n: count(scope.keys), time: formatTime(scope.updatedAt) }))
            .appendTo(row);
          const open = () => viewState(scope.scope);
          row.on("click", open).on("keydown", (evt) => {
            if (evt.key === "Enter" || evt.key === " ") {
              evt.preventDefault();
              open();
            }
          });
        }
      }
    }

    function viewState(scope: string): void {
      $.ajax({ url: `${STATE_API}/entries`, data: { scope, limit: 1000 }, dataType: "json", cache: false })
        .done((data: { entries?: StateEntryInfo[] }) => showState(scope, data.entries ?? []))
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("state.errorView", { scope })));
    }

    function showState(scope: string, entries: StateEntryInfo[]): void {
      RED.tray.show({
        title: escapeHtml(t("state.viewTitle", { scope })),
        width: 640,
        buttons: [
          { id: `${P}-state-close`, text: t("close"), class: "primary", click: () => RED.tray.close() },
        ],
        open: (tray: JQuery) => {
          const body = $("<div>").addClass(`${P}-view`).appendTo(tray.find(".red-ui-tray-body"));
          $("<p>").text(t("state.viewHint")).appendTo(body);
          for (const entry of entries) {
            $("<h4>").addClass(`${P}-state-key`).text(entry.key).appendTo(body);
            $("<div>")
              .addClass(`${P}-muted`)
              .text(
                entry.expiresAt === null
                  ? t("state.changed", { time: formatTime(entry.updatedAt) })
                  : t("state.changedExpires", {
                      time: formatTime(entry.updatedAt),
                      expires: formatTime(entry.expiresAt),
                    }),
              )
              .appendTo(body);
            $("<pre>")
              .addClass(`${P}-view-json`)
              .text(JSON.stringify(entry.value, null, 2) ?? "undefined")
              .appendTo(body);
          }
        },
      });
    }

    function renderStores(): void {
      const signature = JSON.stringify(stores);
      if (signature === shownStores) return;
      shownStores = signature;
      storesBox.empty();
      if (stores.length === 0) {
        $("<div>").addClass(`${P}-hint`).text(t("noStores")).appendTo(storesBox);
        return;
      }
      for (const store of stores) {
        const box = $("<div>").addClass(`${P}-store`).appendTo(storesBox);
        const title = $("<div>").addClass(`${P}-store-name`).appendTo(box);
        $('<i class="fa fa-database"></i>').appendTo(title);
        $("<span>").text(store.name).appendTo(title);
        $("<span>").addClass(`${P}-muted`).text(store.backend).appendTo(title);
        if (store.encrypted) {
          const lock = $('<i class="fa fa-lock"></i>').addClass(`${P}-encrypted`).appendTo(title);
          RED.popover.tooltip(lock, escapeHtml(t("encrypted")));
        }
        if (store.queues.length === 0) {
          $("<div>").addClass(`${P}-hint`).text(t("noQueues")).appendTo(box);
          continue;
        }
        for (const q of store.queues) {
          // One block per queue: its name, then its figures under their labels (a sidebar is narrow).
          const row = $("<div>")
            .addClass(`${P}-queue`)
            .data("store", store.id)
            .data("queue", q.queue)
            .attr("tabindex", "0")
            .attr("role", "button")
            .appendTo(box);
          if (selected && selected.store === store.id && selected.queue === q.queue) row.addClass("selected");
          const name = $("<div>").addClass(`${P}-queue-title`).appendTo(row);
          $('<i class="fa fa-inbox"></i>').appendTo(name);
          $("<span>").addClass(`${P}-queue-name`).text(q.queue).appendTo(name);
          if (!q.open) {
            $("<span>")
              .addClass(`${P}-closed`)
              .text(t("notRunning"))
              .attr("title", t("notRunningTip"))
              .appendTo(name);
          }
          const table = $("<table>").addClass(`${P}-stats`).appendTo(row);
          const labels = $("<tr>").appendTo(table);
          const values = $("<tr>").appendTo(table);
          const stat = (col: string, value: string, title = t(`colTip.${col}`)) => {
            $("<th>")
              .text(t(`col.${col}`))
              .attr("title", title)
              .appendTo(labels);
            return $("<td>").addClass(`${P}-col-${col}`).text(value).attr("title", title).appendTo(values);
          };
          stat("depth", count(q.depth));
          stat("inFlight", count(q.inFlight));
          stat("oldest", formatAge(q.oldestAgeMs));
          stat("delivered", count(q.deliveredTotal));
          stat(
            "dead",
            count(q.deadLetters),
            t("deadTip", { now: count(q.deadLetters), total: count(q.deadTotal) }),
          ).toggleClass(`${P}-has-dead`, q.deadLetters > 0);
          const choose = () => select({ store: store.id, storeName: store.name, queue: q.queue });
          row.on("click", choose).on("keydown", (evt) => {
            if (evt.key === "Enter" || evt.key === " ") {
              evt.preventDefault();
              choose();
            }
          });
        }
      }
    }

    function renderLetters(sel: Selection, filter: Filter): void {
      const filtered = Object.keys(filter).length > 0;
      const queue = stores.find((s) => s.id === sel.store)?.queues.find((q) => q.queue === sel.queue);
      const total = queue?.deadLetters ?? letters.length;
      summary.text(
        letters.length === 0
          ? t(filtered ? "noneMatch" : "none")
          : letters.length >= LIST_LIMIT
            ? t("shownOf", { shown: count(letters.length), total: count(total) })
            : filtered
              ? t("matching", { n: count(letters.length), total: count(total) })
              : t("count", { n: count(letters.length) }),
      );
      const signature = JSON.stringify(letters);
      if (signature === shownLetters) return;
      shownLetters = signature;
      list.empty();
      for (const letter of letters) {
        const item = $("<div>").addClass(`${P}-letter`).attr("data-id", String(letter.id)).appendTo(list);
        const head = $("<div>").addClass(`${P}-letter-head`).appendTo(item);
        $("<span>").addClass(`${P}-letter-code`).text(letter.code).appendTo(head);
        $("<span>").addClass(`${P}-muted`).text(`#${letter.id}`).appendTo(head);
        const tools = $("<span>").addClass(`${P}-letter-tools`).appendTo(head);
        tool(tools, "view", "fa-eye", () => view(sel, letter));
        tool(tools, "replay", "fa-repeat", () => replayOne(sel, letter));
        tool(tools, "discard", "fa-trash", () => discardOne(sel, letter));
        if (letter.message) {
          $("<div>").addClass(`${P}-letter-message`).text(letter.message).appendTo(item);
        }
        const facts = $("<table>").addClass(`red-ui-info-table ${P}-facts`).appendTo(item);
        const fact = (name: string, value: string, cls: string) => {
          const row = $("<tr>").appendTo(facts);
          $("<td>")
            .text(t(`field.${name}`))
            .appendTo(row);
          $("<td>").addClass(`${P}-fact-${cls}`).text(value).appendTo(row);
        };
        fact("key", letter.key ?? "–", "key");
        fact("attempts", String(letter.attempts), "attempts");
        fact("firstTry", formatTime(letter.firstTryAt), "first-try");
        fact("lastTry", formatTime(letter.lastTryAt), "last-try");
        fact("deadAt", formatTime(letter.deadAt), "dead-at");
      }
    }

    function tool(into: JQuery, name: string, icon: string, click: () => void): void {
      const button = $('<button type="button" class="red-ui-button red-ui-button-small"></button>')
        .addClass(`${P}-${name}`)
        .append($("<i>").addClass(`fa ${icon}`))
        .append($("<span>").text(` ${t(name)}`))
        .appendTo(into)
        .on("click", (evt) => {
          evt.preventDefault();
          evt.stopPropagation();
          click();
        });
      if (!canWrite) button.prop("disabled", true).attr("title", t("noPermission"));
    }

    // --- actions -------------------------------------------------------------------------------
    function confirmThen(message: string, ok: string, onOk: () => void): void {
      const note = RED.notify($("<p>").text(message), {
        modal: true,
        fixed: true,
        type: "warning",
        buttons: [
          { id: `${P}-confirm-cancel`, text: t("cancel"), click: () => note.close() },
          {
            id: `${P}-confirm-ok`,
            text: ok,
            class: "primary",
            click: () => {
              note.close();
              onOk();
            },
          },
        ],
      }) as Notification;
    }

    function done(text: string): void {
      RED.notify($("<p>").text(text), { type: "success", timeout: 3000 });
      refresh();
    }

    function view(sel: Selection, letter: DeadLetter): void {
      $.ajax({ url: `${queueUrl(sel)}/messages/${letter.id}`, dataType: "json", cache: false })
        .done((message: StoredMessage) => showMessage(message))
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("error.view", { id: letter.id })));
    }

    function showMessage(message: StoredMessage): void {
      RED.tray.show({
        // The tray shows its title as HTML.
        title: escapeHtml(t("messageTitle", { id: message.id, queue: message.queue })),
        width: 640,
        buttons: [
          {
            id: `${P}-view-close`,
            text: t("close"),
            class: "primary",
            click: () => RED.tray.close(),
          },
        ],
        open: (tray: JQuery) => {
          const body = $("<div>").addClass(`${P}-view`).appendTo(tray.find(".red-ui-tray-body"));
          $("<p>").addClass(`${P}-view-warning`).text(t("phi")).appendTo(body);
          const facts = $("<table>").addClass("red-ui-info-table").appendTo(body);
          for (const [name, value] of [
            ["key", message.key ?? "–"],
            ["state", message.state],
            ["attempts", String(message.attempts)],
            ["enqueuedAt", formatTime(message.enqueuedAt)],
          ]) {
            const row = $("<tr>").appendTo(facts);
            $("<td>")
              .text(t(`field.${name}`))
              .appendTo(row);
            $("<td>").text(value).appendTo(row);
          }
          $("<pre>")
            .addClass(`${P}-view-json`)
            .text(JSON.stringify(message.msg, null, 2) ?? "undefined")
            .appendTo(body);
        },
      });
    }

    function replayOne(sel: Selection, letter: DeadLetter): void {
      post(sel, "replay", { ids: [letter.id] })
        .done((r: { replayed?: number }) => done(t("replayed", { n: r.replayed ?? 0 })))
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("error.replay")));
    }

    function discardOne(sel: Selection, letter: DeadLetter): void {
      confirmThen(t("confirm.discardOne", { id: letter.id, queue: sel.queue }), t("discard"), () =>
        post(sel, "discard", { ids: [letter.id] })
          .done((r: { discarded?: number }) => done(t("discarded", { n: r.discarded ?? 0 })))
          .fail((xhr: JQuery.jqXHR) => showError(xhr, t("error.discard"))),
      );
    }

    function filterText(filter: Filter): string {
      const parts: string[] = [];
      if (filter.code) parts.push(t("confirm.code", { code: filter.code }));
      if (filter.key) parts.push(t("confirm.key", { key: filter.key }));
      if (filter.from !== undefined) parts.push(t("confirm.from", { time: formatTime(filter.from) }));
      if (filter.to !== undefined) parts.push(t("confirm.to", { time: formatTime(filter.to) }));
      return parts.length ? parts.join(", ") : t("confirm.everything");
    }

    /** Replay or discard every dead letter that matches the filter, after the user confirms how many. */
    function bulkAction(action: "replay" | "discard"): void {
      const sel = selected;
      if (!sel) return;
      const filter = currentFilter();
      if (!filter) {
        RED.notify($("<p>").text(t("badTime")), { type: "error", timeout: 5000 });
        return;
      }
      $.ajax({
        url: `${queueUrl(sel)}/dead`,
        data: { ...filter, limit: COUNT_LIMIT },
        dataType: "json",
        cache: false,
      })
        .done((data: { letters?: DeadLetter[] }) => {
          const n = Array.isArray(data?.letters) ? data.letters.length : 0;
          if (n === 0) {
            RED.notify($("<p>").text(t("noneMatch")), { type: "compact", timeout: 3000 });
            return;
          }
          const howMany = n >= COUNT_LIMIT ? `${count(n)}+` : count(n);
          confirmThen(
            t(`confirm.${action}All`, { n: howMany, queue: sel.queue, filter: filterText(filter) }),
            t(action === "replay" ? "replayAll" : "discardAll"),
            () =>
              post(sel, action, filter)
                .done((r: { replayed?: number; discarded?: number }) =>
                  done(
                    action === "replay"
                      ? t("replayed", { n: r.replayed ?? 0 })
                      : t("discarded", { n: r.discarded ?? 0 }),
                  ),
                )
                .fail((xhr: JQuery.jqXHR) => showError(xhr, t(`error.${action}`))),
          );
        })
        .fail((xhr: JQuery.jqXHR) => showError(xhr, t("error.dead")));
    }

    // --- auto refresh while the tab is shown ---------------------------------------------------
    function visible(): boolean {
      return content.is(":visible") && document.visibilityState !== "hidden";
    }
    function start(): void {
      refresh();
      if (!timer) timer = setInterval(tick, REFRESH_MS);
    }
    function stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
    }
    function tick(): void {
      if (visible()) refresh();
      else stop();
    }
    // The sidebar opened again, or the browser tab came back, with this tab showing.
    function wake(): void {
      if (!timer && visible()) start();
    }
    RED.events.on("sidebar:resize", wake);
    document.addEventListener("visibilitychange", wake);

    RED.actions.add(SHOW_ACTION, () => RED.sidebar.show(TAB_ID));
    RED.sidebar.addTab({
      id: TAB_ID,
      label: t("label"),
      name: t("name"),
      iconClass: "fa fa-inbox",
      content: content[0],
      action: SHOW_ACTION,
      // Called each time the tab is shown (before it is drawn: start() fetches at once anyway).
      onchange: start,
    } as Parameters<typeof RED.sidebar.addTab>[0]);

    return {
      remove() {
        stop();
        if (filterTimer) clearTimeout(filterTimer);
        RED.events.off("sidebar:resize", wake);
        document.removeEventListener("visibilitychange", wake);
        RED.actions.remove(SHOW_ACTION);
        RED.sidebar.removeTab(TAB_ID);
      },
    };
  }

  let sidebar: { remove(): void } | undefined;

  RED.nodes.registerType<MessageStoreEditorProps, MessageStoreEditorCreds>("message-store", {
    category: "config",
    defaults: withReasons<MessageStoreEditorProps>("message-store", {
      name: { value: "" },
      backend: { value: "sqlite", validate: (v: string) => /^(sqlite|postgres)$/.test(v || "sqlite") },
      file: {
        value: "pms-ehr-messages.db",
        validate: (v: string) => unless(trimmed(v).length <= 500, "at most 500 characters"),
      },
      keepDelivered: {
        value: "0",
        validate: numberField({ min: 0, integer: false }),
      },
      synchronous: { value: "normal", validate: (v: string) => /^(normal|full)$/.test(v || "normal") },
      pgHost: {
        value: "",
        validate: forPostgres((v) =>
          unless(!/[\s/@]/.test(trimmed(v)), "a host name or address, without spaces, / or @"),
        ),
      },
      pgPort: { value: "", validate: forPostgres(numberField({ min: 1, max: 65535 }, { env: true })) },
      pgDatabase: { value: "" },
      pgUser: { value: "" },
      pgSchema: {
        value: "",
        validate: forPostgres(
          (v) => trimmed(v) === "" || isEnv(trimmed(v)) || checked(() => checkSchemaName(trimmed(v))),
        ),
      },
      tls: { value: "", type: "tls-config", required: false },
    }),
    credentials: {
      encryptionKey: { type: "password" },
      pgPassword: { type: "password" },
    },
    oneditprepare: function () {
      const select = $("#node-config-input-backend");
      function showBackendRows(): void {
        const backend = String(select.val() || "sqlite");
        $(".message-store-sqlite").toggle(backend === "sqlite");
        $(".message-store-postgres").toggle(backend === "postgres");
        RED.tray.resize();
      }
      select.on("change", showBackendRows);
      if (!this.backend) select.val("sqlite");
      showBackendRows();
    },
    label: function () {
      if (this.name) return this.name;
      if (this.backend === "postgres") {
        return `${trimmed(this.pgDatabase) || "postgres"}#${trimmed(this.pgSchema) || "pms_ehr"}`;
      }
      return trimmed(this.file) || "message store";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    // The queues sidebar comes and goes with the node type (installed, enabled, disabled).
    onpaletteadd: function () {
      if (sidebar) return;
      // `this._` is RED._ in this node set's namespace, where the message-store catalog is.
      const translate = this._;
      sidebar = createQueuesSidebar((key, subs) => translate(`message-store.sidebar.${key}`, subs));
    },
    onpaletteremove: function () {
      sidebar?.remove();
      sidebar = undefined;
    },
  });
})();
