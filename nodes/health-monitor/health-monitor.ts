import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import type { Request, RequestHandler, Response } from "express";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import {
  CHECKPOINT_EVENT,
  HEALTH_EVENT,
  QUEUE_EVENT,
  REFUSAL_EVENT,
  healthBus,
  type CheckpointReport,
  type HealthEvent,
  type QueueMetrics,
  type RefusalEvent,
} from "../../lib/health/bus";
import { HEALTH_NUMBERS, parseHealthConfig, type HealthState } from "../../lib/health/config";
import { answerHealthRequest, validateHealthPath } from "../../lib/health/http";
import { HealthMonitor, parseHealthInput, type HealthSnapshot } from "../../lib/health/monitor";
import { ProcessMetrics } from "../../lib/health/process";
import {
  alertLogEntry,
  alertMail,
  appendAlert,
  parseAlertsKept,
  parseContextKey,
  type AlertPayload,
} from "../../lib/health/notify";
import { onInput } from "../shared/input";
import { numberProp } from "../shared/props";
import { clip, status } from "../shared/status";

interface HealthMonitorDef extends NodeDef {
  integrations?: string;
  window?: string;
  interval?: string;
  path?: string;
  healthyRate?: string;
  healthyLatency?: string;
  warningRate?: string;
  warningLatency?: string;
  alertRate?: string;
  alertLatency?: string;
  alertConsecutive?: string;
  latencyStat?: string;
  minEvents?: string;
  hold?: string;
  queueMaxAge?: string;
  queueMaxDead?: string;
  snapshotKey?: string;
  alertsKey?: string;
  alertsKept?: string;
  contextStore?: string;
  alertFormat?: string;
  emailTo?: string;
}

/** Keeping the latest snapshot and the alert log in flow context; off when neither key is set. */
interface Keeping {
  snapshotKey?: string;
  alertsKey?: string;
  alertsKept: number;
  store?: string;
}

type HealthMsg = NodeMessageInFlow & { health?: unknown };

const DEFAULT_INTERVAL_SECONDS = 60;
const TICK_MS = 1000;

/** Paths in use per admin app, across every health-monitor of the runtime. */
const CLAIMED = new WeakMap<object, Map<string, string>>();

function intervalOf(raw: string | undefined): number {
  const prop = { ...HEALTH_NUMBERS.interval, name: "interval (0: off)", code: CODES.HEALTH_CONFIG };
  return numberProp(raw, DEFAULT_INTERVAL_SECONDS, { ...prop, unit: "seconds" });
}

interface RouterLayer {
  route?: { stack: Array<{ handle: unknown }> };
}

/** The admin app's route layers: Express 4 keeps its router at `_router`, Express 5 (Node-RED 5) at `router`. */
function routeLayers(app: unknown): RouterLayer[] {
  const a = app as { _router?: { stack?: RouterLayer[] } };
  if (a._router) return a._router.stack ?? [];
  try {
    return (app as { router?: { stack?: RouterLayer[] } }).router?.stack ?? [];
  } catch {
    return [];
  }
}

export = function (RED: NodeAPI) {
  function HealthMonitorNode(this: Node, def: HealthMonitorDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: HealthMonitorDef): void {
    let monitor: HealthMonitor | null = null;
    let processMetrics: ProcessMetrics | undefined;
    let configError: PackError | null = null;
    let interval = DEFAULT_INTERVAL_SECONDS;
    let path: string | null = null;
    let keeping: Keeping = { alertsKept: 0 };
    let email = false;
    const emailTo = (def.emailTo ?? "").trim() || undefined;
    const app = RED.httpAdmin as unknown as object;
    try {
      const sampler = (processMetrics = new ProcessMetrics());
      monitor = new HealthMonitor(
        parseHealthConfig({
          integrations: def.integrations,
          window: def.window,
          healthyRate: def.healthyRate,
          healthyLatency: def.healthyLatency,
          warningRate: def.warningRate,
          warningLatency: def.warningLatency,
          alertRate: def.alertRate,
          alertLatency: def.alertLatency,
          alertConsecutive: def.alertConsecutive,
          latencyStat: def.latencyStat,
          minEvents: def.minEvents,
          hold: def.hold,
          queueMaxAge: def.queueMaxAge,
          queueMaxDead: def.queueMaxDead,
        }),
        { process: () => sampler.sample() },
      );
      interval = intervalOf(def.interval);
      keeping = {
        snapshotKey: parseContextKey(def.snapshotKey, "snapshot key"),
        alertsKey: parseContextKey(def.alertsKey, "alerts key"),
        alertsKept: parseAlertsKept(def.alertsKept),
        store: (def.contextStore ?? "").trim() || undefined,
      };
      const format = (def.alertFormat ?? "").trim() || "data";
      if (format !== "data" && format !== "email") {
        throw new PackError(
          CODES.HEALTH_CONFIG,
          `alert format must be data or email, not ${JSON.stringify(format)}`,
        );
      }
      email = format === "email";
      if ((def.path ?? "").trim() !== "") {
        path = validateHealthPath(def.path as string);
        const claimed = CLAIMED.get(app) ?? new Map<string, string>();
        CLAIMED.set(app, claimed);
        for (const p of [path, `${path}/dashboard`]) {
          const holder = claimed.get(p.toLowerCase());
          if (holder !== undefined && holder !== node.id) {
            throw new PackError(
              CODES.HEALTH_CONFIG,
              `path ${path} is already served by health-monitor ${holder}`,
            );
          }
        }
        claimed.set(path.toLowerCase(), node.id);
        claimed.set(`${path}/dashboard`.toLowerCase(), node.id);
      }
    } catch (err) {
      monitor = null;
      path = null;
      configError = err instanceof PackError ? err : new PackError(CODES.HEALTH_CONFIG, String(err));
      status.failed(node, "config error");
      node.error(configError.message);
    }

    let shown = "";
    function showWorst(): void {
      if (!monitor) return;
      const w = monitor.worst();
      // A queue alert is as bad as a critical integration: a critical integration is named
      // first, then an alerted queue, before a warning.
      const queue = w.state === "critical" ? undefined : monitor.alertedQueues()[0];
      const state: HealthState = queue ? "critical" : w.state;
      let text: string;
      if (queue) text = `queue: ${queue.queue}`;
      else if (w.state === "unknown") text = "no data";
      else if (w.state === "healthy") text = `${w.counts.healthy} healthy`;
      else text = `${w.state}: ${w.integration}`;
      const key = `${state}:${text}`;
      if (key === shown) return;
      shown = key;
      const kinds: Record<HealthState, () => void> = {
        unknown: () => node.status({ fill: "grey", shape: "ring", text: clip(text) }),
        healthy: () => status.ok(node, text),
        warning: () => status.degraded(node, text),
        critical: () => status.failed(node, text),
      };
      kinds[state]();
    }

    // Context writes in order, one at a time: the alert log is read, appended to and written back.
    const flowContext = node.context().flow;
    let writes: Promise<void> = Promise.resolve();
    function inContext(work: () => Promise<void>, msg: NodeMessage): void {
      writes = writes.then(work).catch((err: unknown) => {
        node.error(
          new PackError(
            CODES.HEALTH_CONTEXT,
            `cannot keep health in flow context: ${(err as Error).message ?? err}`,
          ),
          msg,
        );
      });
    }
    const contextGet = (key: string): Promise<unknown> =>
      new Promise((resolve, reject) =>
        flowContext.get(key, keeping.store as string, (err: Error | undefined, value: unknown) =>
          err ? reject(err) : resolve(value),
        ),
      );
    const contextSet = (key: string, value: unknown): Promise<void> =>
      new Promise((resolve, reject) =>
        flowContext.set(key, value, keeping.store as string, (err?: Error) =>
          err ? reject(err) : resolve(),
        ),
      );

    function sendSnapshot(
      msg: NodeMessage,
      snapshot: HealthSnapshot,
      send: (m: [NodeMessage, null]) => void,
    ): void {
      msg.topic = "health";
      msg.payload = snapshot;
      const key = keeping.snapshotKey;
      if (key) {
        const copy = structuredClone(snapshot);
        inContext(() => contextSet(key, copy), msg);
      }
      send([msg, null]);
    }

    const dashboard = (): string | undefined => {
      if (!path) return undefined;
      const root = String((RED.settings as { httpAdminRoot?: unknown }).httpAdminRoot ?? "/").replace(
        /\/$/,
        "",
      );
      return `<node-red>${root === "/" ? "" : root}${path}/dashboard`;
    };

    function sendAlert(payload: AlertPayload, topic: string): void {
      const mail = alertMail(payload, dashboard());
      const msg: NodeMessage & { to?: string; alert?: AlertPayload } = email
        ? { topic: mail.topic, payload: mail.text, alert: payload }
        : { topic, payload };
      if (email && emailTo) msg.to = emailTo;
      const key = keeping.alertsKey;
      if (key) {
        const entry = alertLogEntry(payload, mail, emailTo);
        inContext(
          async () => contextSet(key, appendAlert(await contextGet(key), entry, keeping.alertsKept)),
          msg,
        );
      }
      node.send([null, msg]);
    }

    let warnedOverflow = false;
    let warnedQueueOverflow = false;
    function tick(): void {
      if (!monitor) return;
      const { alerts, queueAlerts } = monitor.evaluate();
      if (alerts.length > 0 || queueAlerts.length > 0) {
        const snap = monitor.snapshot();
        for (const a of alerts) {
          sendAlert({ kind: "integration", ...a, metrics: snap.integrations[a.integration] }, a.integration);
        }
        for (const a of queueAlerts) {
          // Figures only: a queue report carries no message content, and neither does this.
          sendAlert(
            {
              kind: "queue",
              ...a,
              metrics: snap.queues.find((q) => q.store === a.store && q.queue === a.queue),
            },
            `queue:${a.store}/${a.queue}`,
          );
        }
      }
      showWorst();
      if (monitor.overflowed > 0 && !warnedOverflow) {
        warnedOverflow = true;
        node.warn(
          `more than ${monitor.config.maxIntegrations} integrations: events of further ones are not counted`,
        );
      }
      if (monitor.queuesOverflowed > 0 && !warnedQueueOverflow) {
        warnedQueueOverflow = true;
        node.warn(`more than ${monitor.config.maxQueues} queues: reports of further ones are not kept`);
      }
    }

    const onEvent = (e: HealthEvent): void => {
      if (
        monitor &&
        e &&
        typeof e.integration === "string" &&
        typeof e.success === "boolean" &&
        typeof e.durationMs === "number"
      ) {
        monitor.record(e);
      }
    };

    // recordQueue checks the report's shape itself and drops a malformed one.
    const onQueue = (m: QueueMetrics): void => {
      if (monitor) monitor.recordQueue(m);
    };

    // recordRefusal checks the event's shape itself.
    const onRefusal = (e: RefusalEvent): void => {
      if (monitor) monitor.recordRefusal(e);
    };

    // recordCheckpoint checks the report's shape itself.
    const onCheckpoint = (r: CheckpointReport): void => {
      if (monitor) monitor.recordCheckpoint(r);
    };

    const timers: NodeJS.Timeout[] = [];
    const handlers: RequestHandler[] = [];
    if (monitor) {
      healthBus().on(HEALTH_EVENT, onEvent);
      healthBus().on(QUEUE_EVENT, onQueue);
      healthBus().on(REFUSAL_EVENT, onRefusal);
      healthBus().on(CHECKPOINT_EVENT, onCheckpoint);
      timers.push(setInterval(tick, TICK_MS));
      if (interval > 0) {
        timers.push(
          setInterval(() => {
            if (monitor) sendSnapshot({}, monitor.snapshot(), (m) => node.send(m));
          }, interval * 1000),
        );
      }
      showWorst();
      if (path) serve(path);
    }

    function serve(p: string): void {
      const answer =
        (page: "data" | "dashboard"): RequestHandler =>
        (req: Request, res: Response) => {
          if (!monitor) {
            res.status(503).json({ error: "health-monitor is stopped", code: CODES.HEALTH_CLOSED });
            return;
          }
          const a = answerHealthRequest(monitor, req.query as Record<string, unknown>, {
            page,
            path: p,
            adminRoot: req.baseUrl ?? "",
            trailingSlash: req.path.length > 1 && req.path.endsWith("/"),
          });
          res.status(a.status).set(a.headers).send(a.body);
        };
      const data = answer("data");
      const dashboard = answer("dashboard");
      handlers.push(data, dashboard);
      RED.httpAdmin.get(p, RED.auth.needsPermission("health-monitor.read"), data);
      // The page holds no data and loads it from the protected path with the editor's token,
      // as the editor's own page does; so it must load without one.
      RED.httpAdmin.get(`${p}/dashboard`, dashboard);
    }

    onInput<HealthMsg>(node, CODES.HEALTH_ERROR, (msg, send) => {
      if (!monitor) throw configError ?? new PackError(CODES.HEALTH_CONFIG, "not configured");
      if (msg.health !== undefined) {
        monitor.record(parseHealthInput(msg.health));
        return;
      }
      tick();
      sendSnapshot(msg, monitor.snapshot(), send);
    });

    node.on("close", (done: () => void) => {
      processMetrics?.close();
      const written = writes;
      healthBus().removeListener(HEALTH_EVENT, onEvent);
      healthBus().removeListener(QUEUE_EVENT, onQueue);
      healthBus().removeListener(REFUSAL_EVENT, onRefusal);
      healthBus().removeListener(CHECKPOINT_EVENT, onCheckpoint);
      for (const t of timers) clearInterval(t);
      if (handlers.length > 0) {
        const stack = routeLayers(RED.httpAdmin);
        for (let i = stack.length - 1; i >= 0; i--) {
          const route = stack[i].route;
          if (route && route.stack.some((l) => handlers.includes(l.handle as RequestHandler)))
            stack.splice(i, 1);
        }
      }
      if (path) {
        const claimed = CLAIMED.get(app);
        for (const p of [path, `${path}/dashboard`]) {
          if (claimed?.get(p.toLowerCase()) === node.id) claimed.delete(p.toLowerCase());
        }
      }
      monitor = null;
      shown = "";
      status.clear(node);
      // Context writes already begun finish first (the log's last alert is kept).
      void written.then(() => done());
    });
  }

  RED.nodes.registerType("health-monitor", HealthMonitorNode);
};
