import type { NodeAPI, Node, NodeDef, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { Checkpoints, resolveContextStore, validateGetOptions, type GetOptions } from "../../lib/checkpoint";
import { PackError } from "../../lib/errors";
import { onInput } from "../shared/input";
import { status } from "../shared/status";
import { contextStore } from "./context-store";

interface SyncCheckpointDef extends NodeDef {
  checkpoint?: string;
  action?: string;
  store?: string;
  overlap?: string | number;
  initial?: string;
  lease?: string | number;
  /** msg.action may choose the action (off: a stray msg.action from upstream is ignored). */
  actionFromMsg?: boolean;
}

type Namespace = Record<string, unknown>;
type CheckpointMsg = NodeMessageInFlow & { checkpoint?: unknown; action?: unknown };

const ACTIONS = ["get", "commit", "release", "reset"] as const;
type Action = (typeof ACTIONS)[number];
const DEFAULT_LEASE_SECONDS = 900;

function seconds(raw: string | number | undefined, fallback: number, what: string): number {
  if (raw === undefined || raw === null || String(raw).trim() === "") return fallback;
  const v = Number(String(raw).trim());
  if (!Number.isFinite(v))
    throw new PackError(CODES.CHECKPOINT_CONFIG, `${what} must be a number of seconds`);
  return v;
}

function isObject(v: unknown): v is Namespace {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** "2025-01-06T08:15:00.000Z" -> "01-06 08:15" (status text stays short). */
function short(iso: string): string {
  return iso.slice(5, 16).replace("T", " ");
}

export = function (RED: NodeAPI) {
  function SyncCheckpoint(this: Node, def: SyncCheckpointDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: SyncCheckpointDef): void {
    let configError: PackError | null = null;
    let checkpoints: Checkpoints | null = null;
    let options: GetOptions = { leaseSeconds: DEFAULT_LEASE_SECONDS };
    const defaultAction = (def.action ?? "").trim() || "get";
    const configured = (def.checkpoint ?? "").trim();
    try {
      if (!(ACTIONS as readonly string[]).includes(defaultAction)) {
        throw new PackError(
          CODES.CHECKPOINT_CONFIG,
          `action must be get, commit, release or reset, not ${defaultAction}`,
        );
      }
      options = {
        initial: (def.initial ?? "").trim(),
        overlapSeconds: seconds(def.overlap, 0, "overlap"),
        leaseSeconds: seconds(def.lease, DEFAULT_LEASE_SECONDS, "lease"),
      };
      try {
        validateGetOptions(options);
      } catch (err) {
        throw new PackError(CODES.CHECKPOINT_CONFIG, (err as Error).message);
      }
      const settings = RED.settings as unknown as { contextStorage?: unknown };
      const { store, physical } = resolveContextStore(settings.contextStorage, def.store);
      checkpoints = new Checkpoints(contextStore(node.context().global, store), {
        scope: `global:${physical}`,
      });
    } catch (err) {
      configError =
        err instanceof PackError
          ? err
          : new PackError(CODES.CHECKPOINT_CONFIG, String((err as Error)?.message ?? err));
      status.failed(node, "config error");
      node.error(configError.message);
    }

    const actionFromMsg = def.actionFromMsg === true;
    let ignoredWarned = false;

    onInput<CheckpointMsg>(node, CODES.CHECKPOINT_ERROR, async (msg, send) => {
      const incoming = isObject(msg.checkpoint) ? msg.checkpoint : undefined;
      const given =
        msg.action === undefined || msg.action === null || msg.action === "" ? undefined : msg.action;
      if (given !== undefined && !actionFromMsg && given !== defaultAction && !ignoredWarned) {
        ignoredWarned = true;
        node.warn(
          `sync-checkpoint: msg.action is ignored (this node does ${defaultAction}); tick "action from msg.action" to let a msg choose`,
        );
      }
      const rawAction = actionFromMsg && given !== undefined ? given : defaultAction;
      let action: Action | undefined;
      let name: unknown;
      try {
        if (configError || !checkpoints)
          throw configError ?? new PackError(CODES.CHECKPOINT_CONFIG, "not configured");
        if (typeof rawAction !== "string" || !(ACTIONS as readonly string[]).includes(rawAction)) {
          throw new PackError(CODES.CHECKPOINT_BAD_INPUT, "msg.action must be get, commit, release or reset");
        }
        action = rawAction as Action;
        const fromMsg = typeof incoming?.name === "string" ? incoming.name.trim() : "";
        if (
          configured &&
          (action === "commit" || action === "release") &&
          fromMsg &&
          fromMsg !== configured
        ) {
          throw new PackError(
            CODES.CHECKPOINT_BAD_INPUT,
            `msg.checkpoint is for checkpoint ${JSON.stringify(fromMsg)}, this node is for ${JSON.stringify(configured)}`,
          );
        }
        name = configured || fromMsg;
        switch (action) {
          case "get": {
            const grant = await checkpoints.get(name, options);
            msg.checkpoint = { ...grant };
            status.working(node, `from ${short(grant.since)}`);
            break;
          }
          case "commit": {
            const r = await checkpoints.commit(name, {
              runId: incoming?.runId,
              highWater: incoming?.highWater,
              cursor: incoming?.cursor,
            });
            msg.checkpoint = { ...incoming, ...r };
            if (r.advanced && r.highWater) status.ok(node, `at ${short(r.highWater)}`);
            else status.ok(node, "committed, same");
            break;
          }
          case "release": {
            const r = await checkpoints.release(name, incoming?.runId);
            msg.checkpoint = { ...incoming, ...r };
            status.ok(node, "released");
            break;
          }
          case "reset": {
            const r = await checkpoints.reset(name);
            msg.checkpoint = { name: r.name, reset: true };
            status.ok(node, "reset");
            break;
          }
        }
      } catch (err) {
        const e = err as { code?: string; message?: string; details?: unknown };
        const error: Namespace = {
          code: e.code ?? CODES.CHECKPOINT_ERROR,
          message: e.message ?? String(err),
        };
        if (isObject(e.details) && typeof e.details.leaseExpiresAt === "string") {
          error.leaseExpiresAt = e.details.leaseExpiresAt;
        }
        const base: Namespace =
          action === "get" || !incoming
            ? { name: typeof name === "string" ? name : undefined }
            : { ...incoming };
        msg.checkpoint = { ...base, error };
        if (e.code === CODES.CHECKPOINT_BUSY) status.degraded(node, "busy");
        else if (e.code === CODES.CHECKPOINT_STALE_RUN) status.failed(node, "stale run");
        else if (e.code === CODES.CHECKPOINT_BAD_INPUT) status.failed(node, "bad input");
        else if (e.code === CODES.CHECKPOINT_CONFIG) status.failed(node, "config error");
        else status.failed(node, "store error");
        throw err;
      }
      send(msg);
    });

    node.on("close", (done: () => void) => {
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("sync-checkpoint", SyncCheckpoint);
};
