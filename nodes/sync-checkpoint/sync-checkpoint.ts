import type { NodeAPI, Node, NodeDef, NodeMessageInFlow } from "node-red";
import {
  Checkpoints,
  DeadLetterList,
  DEAD_LETTER_MAX,
  pageOutcome,
  RunLog,
  RUN_LOG_MAX,
  selectAfter,
  selectRunPage,
  tallyRun,
  validateGetOptions,
  validateSelectOptions,
  type GetOptions,
  type Paging,
  type SelectOptions,
} from "../../lib/checkpoint";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportCheckpoint } from "../../lib/health/bus";
import { isObject } from "../../lib/object";
import { onInput } from "../shared/input";
import { numberProp, propText } from "../shared/props";
import { status } from "../shared/status";
import { okKind, openNodeState, releaseState, type NodeState } from "../shared/state";

interface SyncCheckpointDef extends NodeDef {
  checkpoint?: string;
  action?: string;
  store?: string;
  overlap?: string | number;
  initial?: string;
  lease?: string | number;
  minInterval?: string | number;
  /** msg.action may choose the action (off: a stray msg.action from upstream is ignored). */
  actionFromMsg?: boolean;
  /** select: dot paths of a record's time and id, the resource type taken, and how many records a full page holds. */
  timeField?: string;
  idField?: string;
  resourceType?: string;
  pageSize?: string | number;
  /** select: "page" (each page its own run) or "run" (a run reads many pages, msg.run.next), and where the records are in a page. */
  paging?: string;
  recordsField?: string;
  /** tally: the flow context key of the dead-letter list and how many entries it keeps. */
  deadLetterKey?: string;
  deadLetterMax?: string | number;
  /** log: the flow context key, how many runs it keeps, and the entry's name for the record count. */
  logKey?: string;
  logSize?: string | number;
  logCount?: string;
}

type Namespace = Record<string, unknown>;
type CheckpointMsg = NodeMessageInFlow & {
  checkpoint?: unknown;
  action?: unknown;
  resourceType?: unknown;
  run?: unknown;
  error?: unknown;
};

const ACTIONS = ["get", "commit", "release", "reset", "select", "tally", "log"] as const;
type Action = (typeof ACTIONS)[number];
const ACTION_LIST = "get, commit, release, reset, select, tally or log";
const DEFAULT_LEASE_SECONDS = 900;
const CONFIG = CODES.CHECKPOINT_CONFIG;

/** msg.resourceType for select, checked as the node's own resource type is. */
function typeOf(raw: unknown): string {
  if (raw === undefined || raw === null || raw === "") return "";
  if (typeof raw !== "string" || !/^[A-Z][A-Za-z]{0,63}$/.test(raw)) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      "msg.resourceType must be a FHIR type name such as Patient",
    );
  }
  return raw;
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
    let runLog: RunLog | null = null;
    let deadLetters: DeadLetterList | null = null;
    let state: NodeState | undefined;
    let options: GetOptions = { leaseSeconds: DEFAULT_LEASE_SECONDS };
    let selectOptions: SelectOptions = {};
    const defaultAction = (def.action ?? "").trim() || "get";
    const configured = (def.checkpoint ?? "").trim();
    try {
      if (!(ACTIONS as readonly string[]).includes(defaultAction)) {
        throw new PackError(CODES.CHECKPOINT_CONFIG, `action must be ${ACTION_LIST}, not ${defaultAction}`);
      }
      options = {
        initial: (def.initial ?? "").trim(),
        overlapSeconds: numberProp(def.overlap, 0, {
          name: "overlap",
          code: CONFIG,
          min: 0,
          integer: false,
          unit: "seconds",
        }),
        leaseSeconds: numberProp(def.lease, DEFAULT_LEASE_SECONDS, {
          name: "lease",
          code: CONFIG,
          min: 1,
          integer: false,
          unit: "seconds",
        }),
        minIntervalSeconds: numberProp(def.minInterval, 0, {
          name: "min interval",
          code: CONFIG,
          min: 0,
          integer: false,
          unit: "seconds",
        }),
      };
      try {
        validateGetOptions(options);
      } catch (err) {
        throw new PackError(CODES.CHECKPOINT_CONFIG, (err as Error).message);
      }
      selectOptions = {
        timeField: (def.timeField ?? "").trim(),
        idField: (def.idField ?? "").trim(),
        resourceType: (def.resourceType ?? "").trim(),
        pageSize:
          propText(def.pageSize) === ""
            ? undefined
            : numberProp(def.pageSize, 0, { name: "page size", code: CONFIG, min: 1 }),
        paging: (propText(def.paging) || "page") as Paging,
        recordsField: propText(def.recordsField),
      };
      validateSelectOptions(selectOptions);
      const logOptions = {
        key: propText(def.logKey) || "runs",
        size: numberProp(def.logSize, 20, { name: "runs kept", code: CONFIG, min: 1, max: RUN_LOG_MAX }),
        countName: propText(def.logCount) || "records",
      };
      const deadLetterOptions = {
        key: propText(def.deadLetterKey) || "deadLetters",
        max: numberProp(def.deadLetterMax, 1000, {
          name: "dead letters kept",
          code: CONFIG,
          min: 1,
          max: DEAD_LETTER_MAX,
        }),
      };
      state = openNodeState(RED, node, def.store, {
        code: CONFIG,
        what: "checkpoints, run log and dead letters",
        messageStore: true,
      });
      checkpoints = new Checkpoints(state.scope("global"), { scope: `global:${state.place}` });
      const flowScope = `flow:${node.z ?? ""}:${state.place}`;
      runLog = new RunLog(state.scope("flow"), { ...logOptions, scope: flowScope });
      deadLetters = new DeadLetterList(state.scope("flow"), { ...deadLetterOptions, scope: flowScope });
      if (!state.durable) status.degraded(node, "state in memory");
    } catch (err) {
      configError =
        err instanceof PackError
          ? err
          : new PackError(CODES.CHECKPOINT_CONFIG, String((err as Error)?.message ?? err));
      status.failed(node, "config error");
      node.error(configError.message);
    }

    const ok = (text: string): void => status[okKind(state)](node, text);
    const actionFromMsg = def.actionFromMsg === true;
    const logCount = (def.logCount ?? "").trim() || "records";
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
        if (configError || !checkpoints || !runLog || !deadLetters)
          throw configError ?? new PackError(CODES.CHECKPOINT_CONFIG, "not configured");
        if (typeof rawAction !== "string" || !(ACTIONS as readonly string[]).includes(rawAction)) {
          throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `msg.action must be ${ACTION_LIST}`);
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
            reportCheckpoint({ checkpoint: grant.name, highWater: grant.since, committed: false });
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
            if (r.highWater)
              reportCheckpoint({ checkpoint: r.name, highWater: r.highWater, committed: true });
            if (r.advanced && r.highWater) ok(`at ${short(r.highWater)}`);
            else ok("committed, same");
            break;
          }
          case "release": {
            const r = await checkpoints.release(name, incoming?.runId);
            msg.checkpoint = { ...incoming, ...r };
            ok("released");
            break;
          }
          case "reset": {
            const r = await checkpoints.reset(name);
            msg.checkpoint = { name: r.name, reset: true };
            ok("reset");
            break;
          }
          case "select": {
            const opts = {
              ...selectOptions,
              resourceType: selectOptions.resourceType || typeOf(msg.resourceType),
            };
            const picked =
              selectOptions.paging === "run"
                ? selectRunPage(incoming, msg.run, msg.payload, opts)
                : selectAfter(incoming, msg.payload, opts);
            msg.payload = picked.records;
            if (picked.highWater !== undefined) {
              msg.checkpoint = { ...incoming, highWater: picked.highWater, cursor: picked.cursor };
            }
            msg.run = picked.run;
            const found =
              selectOptions.paging === "run"
                ? `${picked.records.length} new of ${picked.run.total}`
                : `${picked.run.total} new`;
            status.working(node, `${found}${picked.run.more ? ", more" : ""}`);
            break;
          }
          case "tally": {
            const outcome = pageOutcome(msg as { mapping?: unknown; fhir?: unknown });
            const run = tallyRun(msg.run, outcome);
            const entity =
              typeof run.entity === "string" && run.entity !== ""
                ? run.entity
                : typeof name === "string"
                  ? name
                  : "";
            const runId = typeof incoming?.runId === "string" ? incoming.runId : null;
            const listed = await deadLetters.update(entity, runId, outcome);
            msg.run = run;
            const done = (run.written as number) + (run.deadLettered as number);
            const of = typeof run.total === "number" ? `/${run.total.toLocaleString("en-US")}` : "";
            const text = `${done.toLocaleString("en-US")}${of} done`;
            if (listed > 0) status.degraded(node, `${text}, ${listed} dead`);
            else if (run.more === true) status.working(node, text);
            else ok(text);
            break;
          }
          case "log": {
            const entry = await runLog.append({ run: msg.run, checkpoint: incoming, error: msg.error });
            const run = isObject(msg.run) ? msg.run : {};
            msg.run = {
              ...run,
              seq: entry.seq,
              outcome: entry.outcome,
              ...(entry.code ? { code: entry.code } : {}),
            };
            const label =
              typeof entry.entity === "string"
                ? entry.entity
                : typeof entry.type === "string"
                  ? entry.type
                  : logCount;
            const which = `${label === logCount ? (typeof name === "string" ? name : "sync") : label} run`;
            if (entry.outcome === "failed") {
              status.failed(node, String(entry.code ?? "failed"));
              const at = entry.node ? ` at "${entry.node}"` : "";
              node.warn(
                `${which} ${incoming?.runId ?? "(not started)"} failed with ${entry.code ?? "an error without a code"}${at}; the checkpoint did not move`,
              );
            } else if (entry.outcome === "skipped") {
              status.degraded(node, "skipped: busy");
              node.log(`${which} skipped: another run holds the checkpoint`);
            } else ok(`${label}: ${entry[logCount]}`);
            if (entry.more === true) {
              const next = { topic: "next page", checkpoint: { name: incoming?.name } };
              send([msg, next]);
              return;
            }
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
        if (isObject(e.details) && typeof e.details.nextRunAt === "string") {
          error.nextRunAt = e.details.nextRunAt;
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

    node.on("close", (removed: boolean, done: () => void) => {
      status.clear(node);
      const held = state;
      state = undefined;
      releaseState(node, held, removed, done);
    });
  }

  RED.nodes.registerType("sync-checkpoint", SyncCheckpoint);
};
