import type { Request, Response } from "express";
import type { NodeAPI, NodeDef } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { openPgStore } from "../../lib/store/postgres";
import { openSqliteStore } from "../../lib/store/sqlite";
import type { MessageStore } from "../../lib/store/types";
import {
  addStore,
  removeStore,
  storeByPlace,
  storeById,
  stores,
  queueOf,
  type OpenStore,
} from "../shared/queues";
import { numberProp } from "../shared/props";
import { openStateFiles } from "../shared/state";
import { tlsOptionsOf } from "../shared/tls";
import {
  BACKENDS,
  DEFAULT_FILE,
  filterOf,
  hours,
  pgSettings,
  storeFile,
  type MessageStoreCredentials,
  type MessageStoreNode,
  type MessageStoreProps,
} from "./config";

interface MessageStoreDef extends NodeDef, MessageStoreProps {}

export = function (RED: NodeAPI) {
  function MessageStore(this: MessageStoreNode, def: MessageStoreDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: MessageStoreNode, def: MessageStoreDef): void {
    try {
      const backend = def.backend || "sqlite";
      if (!(BACKENDS as readonly string[]).includes(backend)) {
        throw new PackError(CODES.QUEUE_CONFIG, `backend "${backend}" is not one of ${BACKENDS.join(", ")}`);
      }
      const keepDeliveredMs = hours(def.keepDelivered);
      const encryptionKey = node.credentials?.encryptionKey || undefined;
      let place: string;
      let store: MessageStore;
      if (backend === "postgres") {
        const settings = pgSettings(def, node.credentials, tlsOptionsOf(RED, def.tls));
        place = settings.place;
        refuseShared(place, `the database schema ${settings.options.schema}`);
        const label = `message-store ${def.name || node.id}: PostgreSQL ${place}`;
        const pg = openPgStore({
          ...settings.options,
          keepDeliveredMs,
          encryptionKey,
          onReopened: () => node.log(`${label} ready`),
        });
        // Connecting and migrating take a moment; until then and while the database is away, each
        // use fails with QUEUE_STORE, so nothing is acknowledged that was not written. A store that
        // could not open at deploy tries again on its next use, at most once a second.
        pg.ready.then(
          () => node.log(`${label} ready`),
          (err: unknown) => node.error(`message-store ${def.name || node.id}: ${(err as Error).message}`),
        );
        store = pg;
      } else {
        const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
        const file = storeFile(userDir, def.file);
        place = `file:${file}`;
        refuseShared(place, `the file ${def.file || DEFAULT_FILE}`);
        store = openSqliteStore({
          file,
          synchronous: def.synchronous === "full" ? "full" : "normal",
          keepDeliveredMs,
          encryptionKey,
        });
      }
      node.open = { id: node.id, name: def.name || node.id, place, store };
      addStore(node.open);
    } catch (err) {
      node.configError = (err as Error).message;
      node.error(`message-store ${def.name || node.id}: ${node.configError}`);
    }

    function refuseShared(place: string, what: string): void {
      const holder = storeByPlace(place);
      if (holder) {
        throw new PackError(
          CODES.QUEUE_CONFIG,
          `${what} is already used by message store "${holder.name}"; give each store its own`,
        );
      }
    }

    node.on("close", (done: () => void) => {
      const open = node.open;
      node.open = undefined;
      if (!open) return done();
      removeStore(open.id);
      open.store.close().then(
        () => done(),
        (err: unknown) => {
          node.warn(`message-store: closing: ${(err as Error).message}`);
          done();
        },
      );
    });
  }

  RED.nodes.registerType<MessageStoreNode, MessageStoreDef, unknown, MessageStoreCredentials>(
    "message-store",
    MessageStore,
    { credentials: { encryptionKey: { type: "password" }, pgPassword: { type: "password" } } },
  );

  // Admin endpoints for the "PMS-EHR queues" sidebar and for scripts: counts and dead letters
  // under ...read; one message's content, replay and discard under ...write.
  const READ = RED.auth.needsPermission("pms-ehr-queues.read");
  const WRITE = RED.auth.needsPermission("pms-ehr-queues.write");

  function fail(res: Response, err: unknown): void {
    const code = (err as { code?: string }).code;
    const status = code === CODES.QUEUE_BAD_INPUT ? 400 : code === CODES.QUEUE_NOT_FOUND ? 404 : 500;
    res.status(status).json({ error: (err as Error).message, code: code ?? CODES.QUEUE_ERROR });
  }

  function storeOf(req: Request): OpenStore {
    const open = storeById(String(req.params.store));
    if (!open) throw new PackError(CODES.QUEUE_NOT_FOUND, "no such message store is running");
    return open;
  }

  /** An admin route whose answer is awaited; a rejection becomes the error answer. */
  function answer(handler: (req: Request) => Promise<unknown>) {
    return (req: Request, res: Response) => {
      handler(req).then(
        (body) => res.json(body),
        (err: unknown) => fail(res, err),
      );
    };
  }

  RED.httpAdmin.get(
    "/pms-ehr/queues",
    READ,
    answer(async () => {
      const list = [];
      for (const s of stores()) {
        const queues = await s.store.listQueues();
        list.push({
          id: s.id,
          name: s.name,
          backend: s.store.backend,
          encrypted: s.store.encrypted,
          queues: queues.map((q) => ({ ...q, open: queueOf(s.id, q.queue) !== undefined })),
        });
      }
      return { stores: list };
    }),
  );

  RED.httpAdmin.get(
    "/pms-ehr/queues/:store/:queue/dead",
    READ,
    answer(async (req) => {
      const open = storeOf(req);
      const letters = await open.store.deadLetters(
        String(req.params.queue),
        filterOf(req.query as Record<string, unknown>),
      );
      return { letters };
    }),
  );

  RED.httpAdmin.get(
    "/pms-ehr/queues/:store/:queue/messages/:id",
    WRITE,
    answer(async (req) => {
      const message = await storeOf(req).store.read(String(req.params.queue), Number(req.params.id));
      if (!message) throw new PackError(CODES.QUEUE_NOT_FOUND, "no such message");
      return message;
    }),
  );

  // Node state kept in the pack's state file (sync checkpoints, run logs, dead-letter lists, seen
  // ids, MLLP windows), read-only: what Node-RED's Context sidebar shows for context stores.
  RED.httpAdmin.get(
    "/pms-ehr/state",
    READ,
    answer(async () => {
      const files = [];
      for (const { file, store } of openStateFiles()) files.push({ file, scopes: await store.stateScopes() });
      return { files };
    }),
  );

  RED.httpAdmin.get(
    "/pms-ehr/state/entries",
    READ,
    answer(async (req) => {
      const scope = typeof req.query.scope === "string" ? req.query.scope : "";
      if (scope === "") throw new PackError(CODES.QUEUE_BAD_INPUT, "scope is required");
      const limit = numberProp(req.query.limit, 200, {
        name: "limit",
        code: CODES.QUEUE_BAD_INPUT,
        min: 1,
        max: 1000,
      });
      const entries = [];
      for (const { store } of openStateFiles()) entries.push(...(await store.stateEntries(scope, limit)));
      return { scope, entries: entries.slice(0, limit) };
    }),
  );

  for (const action of ["replay", "discard"] as const) {
    RED.httpAdmin.post(
      `/pms-ehr/queues/:store/:queue/${action}`,
      WRITE,
      answer(async (req) => {
        const open = storeOf(req);
        const queue = String(req.params.queue);
        const filter = filterOf((req.body ?? {}) as Record<string, unknown>);
        const n = await open.store[action](queue, filter);
        queueOf(open.id, queue)?.wake();
        RED.log.info(`message-store ${open.name}: ${action} of ${n} dead letter(s) in queue "${queue}"`);
        return { [action === "replay" ? "replayed" : "discarded"]: n };
      }),
    );
  }
};
