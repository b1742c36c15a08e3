import type { Node, NodeAPI, NodeContextData } from "node-red";
import { join, resolve } from "node:path";
import { MemoryCheckpointStore, type CheckpointStore } from "../../lib/checkpoint/store";
import { isPersistentStore, resolveContextStore } from "../../lib/checkpoint/stores";
import type { PackErrorCode } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { isObject } from "../../lib/object";
import { openSqliteStore, type SqliteMessageStore } from "../../lib/store/sqlite";
import { MESSAGE_STORE_STATE as MESSAGE_STORE, type MessageStore } from "../../lib/store/types";
import type { OpenStore } from "./queues";

/**
 * Where a node keeps what must outlive a restart (checkpoints, run logs, dead letters, seen ids),
 * chosen by its store property:
 * - empty (the default): Node-RED's default context store when settings.js makes it persist,
 *   otherwise the pack's state file in the user directory. Never memory without a word.
 * - "memory": this process's memory, as asked; a restart forgets it.
 * - the name of a context store in settings.js: that store.
 * Memory, chosen or forced, is logged once at deploy and the node's status stays yellow.
 */

/** The pack's state file, in the Node-RED user directory. */
export const STATE_FILE = "pms-ehr-state.db";
/** The store property's value for state kept in memory. */
const MEMORY = "memory";

export type StateScope = "node" | "flow" | "global";

export interface NodeState {
  durable: boolean;
  /** A message store: what one instance writes, every instance running the same flows reads. */
  shared?: boolean;
  /** The same text for the same physical place, so that nodes on one place share their locks. */
  place: string;
  scope(scope: StateScope): CheckpointStore;
  /**
   * Values that expire, looked up one by one, under `name` in a scope; only where the store can
   * (the state file). Elsewhere keep a list under one key of `scope()`.
   */
  expiring?(scope: StateScope, name: string): ExpiringStore;
  /**
   * Gives the state file back, after every write asked for has been committed. A node removed from
   * the flows takes its own memory state with it, as Node-RED's memory context does.
   */
  release(removed?: boolean): Promise<void>;
}

export interface ExpiringStore {
  /** Undefined when absent or expired. */
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, expiresAt: number): Promise<void>;
  /** Sets every key unless one is present, in one step; true when it set them. */
  addIfAbsent?(keys: readonly string[], value: unknown, expiresAt: number): Promise<boolean>;
}

interface Registry {
  files: Map<string, { store: SqliteMessageStore; holders: number }>;
  memory: Map<string, MemoryCheckpointStore>;
}

const KEY = Symbol.for("@healthbridge/node-red-pms-ehr/state");
type GlobalWithRegistry = typeof globalThis & { [KEY]?: Registry };

function registry(): Registry {
  const g = globalThis as GlobalWithRegistry;
  g[KEY] ??= { files: new Map(), memory: new Map() };
  return g[KEY];
}

function acquireFile(file: string, code: PackErrorCode): SqliteMessageStore {
  const files = registry().files;
  const held = files.get(file);
  if (held) {
    held.holders += 1;
    return held.store;
  }
  let store: SqliteMessageStore;
  try {
    // The default retention interval: expired seen ids are deleted from the file every minute.
    store = openSqliteStore({ file });
  } catch (err) {
    throw new PackError(
      code,
      `the pack's state file ${file} cannot be opened (${(err as Error).message}); choose a context store or "memory" in the node`,
      undefined,
      { cause: err },
    );
  }
  files.set(file, { store, holders: 1 });
  return store;
}

/** The state files open now, for the admin endpoints. */
export function openStateFiles(): Array<{ file: string; store: SqliteMessageStore }> {
  return [...registry().files].map(([file, held]) => ({ file, store: held.store }));
}

async function releaseFile(file: string): Promise<void> {
  const files = registry().files;
  const held = files.get(file);
  if (!held) return;
  held.holders -= 1;
  if (held.holders > 0) return;
  files.delete(file);
  await held.store.close();
}

/** The status kind a node shows for "ok": yellow, not green, while its state is in memory. */
export function okKind(state: NodeState | undefined): "ok" | "degraded" {
  return state?.durable === false ? "degraded" : "ok";
}

/** Gives a closing node's state back, then `done`; a failure is only a warning: a close must finish. */
export function releaseState(
  node: Node,
  state: NodeState | undefined,
  removed: boolean,
  done: () => void,
): void {
  if (!state) return done();
  state.release(removed).then(
    () => done(),
    (err: unknown) => {
      node.warn(`closing its state: ${(err as Error).message}`);
      done();
    },
  );
}

/** A Node-RED context (one scope, one named store) through its async API. */
export function contextStore(ctx: NodeContextData, store: string | undefined): CheckpointStore {
  return {
    get: (key) =>
      new Promise((resolve, reject) => {
        ctx.get(key, store, (err: Error | undefined | null, value: unknown) =>
          err ? reject(err) : resolve(value),
        );
      }),
    set: (key, value) =>
      new Promise((resolve, reject) => {
        ctx.set(key, value, store, (err: Error | undefined | null) => (err ? reject(err) : resolve()));
      }),
  };
}

function scopeId(node: Node, scope: StateScope): string {
  if (scope === "node") return `node:${node.id}`;
  if (scope === "flow") return `flow:${node.z ?? ""}`;
  return "global";
}

/**
 * The state place of a node. `what` names what it keeps, for the one log line memory gets.
 * An unknown store name, or a state file that cannot be opened, is a PackError with `code`.
 */
export function openNodeState(
  RED: NodeAPI,
  node: Node,
  name: string | undefined,
  options: { code: PackErrorCode; what: string; messageStore?: boolean },
): NodeState {
  const settings = RED.settings as unknown as { contextStorage?: unknown; userDir?: string };
  const wanted = (name ?? "").trim();
  const warnMemory = (why: string): void =>
    node.warn(`keeps its ${options.what} in memory (${why}): a restart forgets them`);
  const memoryState = (why: string): NodeState => {
    warnMemory(why);
    const memory = registry().memory;
    return {
      durable: false,
      place: MEMORY,
      scope: (scope) => {
        const id = scopeId(node, scope);
        let kept = memory.get(id);
        if (!kept) memory.set(id, (kept = new MemoryCheckpointStore()));
        return kept;
      },
      release: async (removed) => {
        if (removed) memory.delete(scopeId(node, "node"));
      },
    };
  };
  const inContext = (store: string | undefined, physical: string): NodeState => ({
    durable: true,
    place: `context:${physical}`,
    scope: (scope) => {
      const context = node.context();
      return contextStore(scope === "node" ? context : context[scope], store);
    },
    release: async () => undefined,
  });

  if (wanted.startsWith(MESSAGE_STORE))
    return messageStoreState(RED, node, wanted.slice(MESSAGE_STORE.length), options);
  if (wanted === MEMORY && !isNamedStore(settings.contextStorage, MEMORY)) {
    return memoryState('store "memory" chosen');
  }
  const { store, physical } = resolveContextStore(settings.contextStorage, wanted, options.code);
  const persistent = isPersistentStore(settings.contextStorage, physical);
  if (wanted !== "") {
    if (persistent) return inContext(store, physical);
    warnMemory(`context store "${wanted}"`);
    return { ...inContext(store, physical), durable: false };
  }
  if (persistent) return inContext(store, physical);
  if (!settings.userDir) return memoryState("the runtime has no user directory for the state file");
  const file = resolve(join(settings.userDir, STATE_FILE));
  let released = false;
  return onStore(node, acquireFile(file, options.code), `file:${file}`, async () => {
    if (released) return;
    released = true;
    await releaseFile(file);
  });
}

/** State kept in a message store's state table, each write committed before its promise settles. */
function onStore(
  node: Node,
  db: MessageStore,
  place: string,
  release: () => Promise<void>,
  shared = false,
): NodeState {
  return {
    durable: true,
    shared,
    place,
    scope: (scope) => {
      const id = scopeId(node, scope);
      return {
        get: (key) => db.getState(id, key),
        set: (key, value) => db.setState(id, key, value),
        getVersioned: (key) => db.getStateVersioned(id, key),
        setIf: (key, version, value) => db.setStateIf(id, key, version, value),
      };
    },
    expiring: (scope, name) => {
      const id = `${scopeId(node, scope)}/${name}`;
      return {
        get: (key) => db.getState(id, key),
        set: (key, value, expiresAt) => db.setState(id, key, value, expiresAt),
        addIfAbsent: (keys, value, expiresAt) => db.addStateIfAbsent(id, [...keys], value, expiresAt),
      };
    },
    release,
  };
}

/**
 * A `message-store` config node as the place (the store property `message-store:<id>`): on a
 * PostgreSQL store, what one instance writes every instance running the same flows reads, through
 * compare-and-set. Only for nodes that write their state key by key (`options.messageStore`).
 */
function messageStoreState(
  RED: NodeAPI,
  node: Node,
  id: string,
  options: { code: PackErrorCode; what: string; messageStore?: boolean },
): NodeState {
  if (!options.messageStore) {
    throw new PackError(
      options.code,
      `a ${node.type} cannot keep its ${options.what} in a message store; choose a context store or the default`,
    );
  }
  const holder = RED.nodes.getNode(id) as (Node & { open?: OpenStore; configError?: string }) | null;
  if (!holder || holder.type !== "message-store") {
    throw new PackError(
      options.code,
      `the message store chosen for its ${options.what} (${id}) is not in the flows: choose it again`,
    );
  }
  if (!holder.open) {
    throw new PackError(
      options.code,
      `the message store chosen for its ${options.what} is not usable: ${holder.configError ?? "not open"}`,
    );
  }
  return onStore(node, holder.open.store, holder.open.place, async () => undefined, true);
}

function isNamedStore(contextStorage: unknown, name: string): boolean {
  return isObject(contextStorage) && Object.prototype.hasOwnProperty.call(contextStorage, name);
}
