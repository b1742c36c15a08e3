import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { nextTry } from "../../lib/store/policy";
import type { FailOutcome } from "../../lib/store/types";
import { onInput } from "../shared/input";
import { queueOf } from "../shared/queues";
import { status } from "../shared/status";
import type { QueueMeta } from "../durable-queue/config";

interface QueueDoneDef extends NodeDef {
  result?: string;
}

type Result = "success" | "failure";

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  retryAfterMs?: unknown;
}

type DoneMsg = NodeMessageInFlow & {
  queue?: Partial<QueueMeta> & {
    result?: unknown;
    outcome?: string;
    reason?: string;
    retryAt?: string;
  };
  error?: ErrorLike;
  fhir?: { retryAfterMs?: unknown };
  mapping?: { errors?: Array<{ code?: unknown; field?: unknown; message?: unknown }> };
  legacy?: { retryAfterMs?: unknown };
  hl7?: { error?: { code?: unknown; ackCode?: unknown } };
};

function resultOf(setting: string | undefined, msg: DoneMsg): Result {
  const value = setting === "msg" ? msg.queue?.result : (setting ?? "success");
  if (value === "success" || value === "failure") return value;
  throw new PackError(
    CODES.QUEUE_BAD_INPUT,
    setting === "msg"
      ? `msg.queue.result must be "success" or "failure", got ${JSON.stringify(value) ?? "nothing"}`
      : `result must be success, failure or msg, got "${setting}"`,
  );
}

/**
 * What failed: the error a Catch node caught, else the first error of a mapper's "invalid" output
 * (only its code and field: the message may quote the record).
 */
function failureOf(msg: DoneMsg): { code: string; message: string } {
  const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const code = text(msg.error?.code);
  if (code || text(msg.error?.message)) {
    return { code: code ?? CODES.QUEUE_FAILED, message: text(msg.error?.message) ?? "delivery failed" };
  }
  const first = Array.isArray(msg.mapping?.errors) ? msg.mapping.errors[0] : undefined;
  const mapCode = text(first?.code);
  if (mapCode) {
    const field = text(first?.field);
    return { code: mapCode, message: field ? `mapping failed at ${field}` : "mapping failed" };
  }
  return { code: CODES.QUEUE_FAILED, message: "delivery failed" };
}

/** The wait a failed destination asked for: the error's own, else what the request node recorded. */
function retryAfterOf(msg: DoneMsg): number | undefined {
  for (const v of [msg.error?.retryAfterMs, msg.fhir?.retryAfterMs, msg.legacy?.retryAfterMs]) {
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

export = function (RED: NodeAPI) {
  function QueueDone(this: Node, def: QueueDoneDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: QueueDoneDef): void {
    const setting = def.result || "success";
    if (!["success", "failure", "msg"].includes(setting)) {
      node.error(`queue-done ${def.name || node.id}: result must be success, failure or msg`);
      status.failed(node, "bad config");
    }

    let shown = "";
    onInput<DoneMsg>(node, CODES.QUEUE_ERROR, async (msg, send) => {
      const meta = msg.queue;
      if (
        !meta ||
        typeof meta.name !== "string" ||
        typeof meta.store !== "string" ||
        !Number.isSafeInteger(meta.id) ||
        !Number.isSafeInteger(meta.attempt)
      ) {
        throw new PackError(
          CODES.QUEUE_BAD_INPUT,
          "msg.queue is missing or incomplete: queue-done takes the msgs a durable-queue delivered (its second output)",
        );
      }
      const result = resultOf(setting, msg);
      const open = queueOf(meta.store, meta.name);
      if (!open) {
        throw new PackError(
          CODES.QUEUE_NOT_FOUND,
          `no durable-queue holds queue "${meta.name}" now (it was redeployed or removed); the message will be delivered again`,
        );
      }
      const id = meta.id as number;
      const attempt = meta.attempt as number;
      if (result === "success") {
        const finished = await open.handle.complete(id, attempt);
        meta.outcome = finished ? "delivered" : "stale";
        // Not again for every message: the editor would be sent each one.
        if (shown !== meta.outcome) {
          shown = meta.outcome;
          status.ok(node, shown);
        }
      } else {
        shown = "";
        const { code, message } = failureOf(msg);
        const retryAfterMs = retryAfterOf(msg);
        // mllp-out records the NAK it got: an AE/CE is final, an AR/CR worth another try.
        const nak = msg.hl7?.error;
        const ackCode = nak?.code === code && typeof nak.ackCode === "string" ? nak.ackCode : undefined;
        const outcome: FailOutcome = await open.handle.fail(
          id,
          attempt,
          { code, message, retryAfterMs },
          (att, enqueuedAt) => {
            const next = nextTry(open.policy, { code, retryAfterMs, ackCode }, att, enqueuedAt);
            return "dead" in next ? { dead: next.dead } : next;
          },
        );
        meta.outcome = outcome.outcome;
        if (outcome.outcome === "retry") {
          meta.retryAt = new Date(outcome.retryAt).toISOString();
          status.degraded(node, `retry ${code}`);
        } else if (outcome.outcome === "dead") {
          meta.reason = outcome.reason;
          status.failed(node, `dead ${code}`);
        }
      }
      open.wake();
      send(msg);
    });

    node.on("close", (done: () => void) => {
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("queue-done", QueueDone);
};
