import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportQueue } from "../../lib/health/bus";
import type { Delivery, QueueHandle } from "../../lib/store/types";
import { onInput, type Send } from "../shared/input";
import { addQueue, removeQueue } from "../shared/queues";
import { status } from "../shared/status";
import type { MessageStoreNode } from "../message-store/config";
import {
  keyText,
  optionsOf,
  storedMsgOf,
  type DurableQueueProps,
  type QueueMeta,
  type QueueOptions,
} from "./config";

interface DurableQueueDef extends NodeDef, DurableQueueProps {}

type QueueMsg = NodeMessageInFlow & { queue?: QueueMeta };

/** A plain dotted path (`payload.resourceId`, optionally `msg.`-prefixed) as its parts; anything else: undefined. */
function dottedPath(path: string): string[] | undefined {
  const expr = path.startsWith("msg.") ? path.slice(4) : path;
  return /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(expr) ? expr.split(".") : undefined;
}

function statusText(depth: number, dead: number): string {
  return dead > 0 ? `${depth} queued, ${dead} dead` : `${depth} queued`;
}

export = function (RED: NodeAPI) {
  function DurableQueue(this: Node, def: DurableQueueDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: DurableQueueDef): void {
    let options: QueueOptions | undefined;
    let handle: QueueHandle | undefined;
    let storeNode: MessageStoreNode | undefined;
    let configError: string | undefined;
    try {
      options = optionsOf(def);
      storeNode = (RED.nodes.getNode(def.store ?? "") as MessageStoreNode | null) ?? undefined;
      if (!storeNode) throw new PackError(CODES.QUEUE_CONFIG, "no message store is selected");
      if (!storeNode.open) {
        throw new PackError(
          CODES.QUEUE_CONFIG,
          `the message store is not usable: ${storeNode.configError ?? "not open"}`,
        );
      }
      handle = storeNode.open.store.openQueue(options.queue, {
        maxAttempts: options.policy.maxAttempts,
        maxAgeMs: options.policy.maxAgeMs,
        dedupeWindowMs: options.policy.maxAgeMs,
      });
    } catch (err) {
      configError = (err as Error).message;
      node.error(`durable-queue ${def.name || node.id}: ${configError}`);
      status.failed(node, "bad config");
    }

    const keyExpr =
      def.keyType === "jsonata" && def.key?.trim()
        ? RED.util.prepareJSONataExpression(def.key, node)
        : undefined;
    const keyPath = def.keyType !== "jsonata" ? def.key?.trim() || undefined : undefined;
    const dedupePath = def.dedupe?.trim() || undefined;
    const readKey = keyPath ? reader(keyPath) : undefined;
    const readDedupe = dedupePath ? reader(dedupePath) : undefined;
    let closed = false;
    let pumping = false;
    let pumpAgain = false;
    let timer: NodeJS.Timeout | undefined;
    let timerAt = 0;
    let shown = "";
    let lastMetrics = "";
    let lastReported = 0;
    let storeFailing = false;

    /**
     * RED.util.getMessageProperty, with a plain dotted path parsed once rather than for every msg
     * (a missing parent throws the same TypeError).
     */
    function reader(path: string): (msg: QueueMsg) => unknown {
      const parts = dottedPath(path);
      if (!parts) return (msg) => RED.util.getMessageProperty(msg, path);
      return (msg) => {
        let value: unknown = msg;
        for (const part of parts) value = (value as Record<string, unknown>)[part];
        return value;
      };
    }

    function keyOf(msg: QueueMsg): Promise<string | null> | string | null {
      if (readKey) return keyText(readKey(msg));
      if (!keyExpr) return null;
      return new Promise((resolve, reject) =>
        RED.util.evaluateJSONataExpression(keyExpr, msg, (err, value) => {
          if (err) reject(new PackError(CODES.QUEUE_BAD_INPUT, `the key expression failed: ${err.message}`));
          else {
            try {
              resolve(keyText(value));
            } catch (e) {
              reject(e);
            }
          }
        }),
      );
    }

    function refresh(): void {
      if (!handle || !storeNode?.open) return;
      const s = handle.stats();
      const kind = storeFailing
        ? "failed"
        : s.deadLetters > 0
          ? "degraded"
          : s.inFlight > 0
            ? "working"
            : "ok";
      const text = storeFailing ? "store error" : statusText(s.depth, s.deadLetters);
      if (`${kind}:${text}` !== shown) {
        shown = `${kind}:${text}`;
        status[kind](node, text);
      }
      const metrics = { ...s, store: storeNode.open.name };
      const signature = JSON.stringify(metrics);
      // Also when nothing changed, now and then: a health-monitor takes a queue silent for its window as stale.
      const now = Date.now();
      if (signature !== lastMetrics || s.depth > 0 || now - lastReported >= 30_000) {
        lastMetrics = signature;
        lastReported = now;
        reportQueue(metrics);
      }
    }

    // Messages enqueued in the same millisecond share the text of their time.
    let lastTime = NaN;
    let lastTimeText = "";

    /** msg.queue for a message of this queue, on either output. */
    function metaOf(id: number, key: string | null, attempt: number, enqueuedAt: number): QueueMeta {
      if (enqueuedAt !== lastTime) {
        lastTime = enqueuedAt;
        lastTimeText = new Date(enqueuedAt).toISOString();
      }
      return { name: options!.queue, id, key, attempt, enqueuedAt: lastTimeText, store: storeNode!.id };
    }

    function delivery(d: Delivery): NodeMessage {
      const queue = metaOf(d.id, d.key, d.attempt, d.enqueuedAt);
      return { ...d.msg, _msgid: RED.util.generateId(), queue } as NodeMessage;
    }

    /** Hands out messages while there are free delivery slots and messages whose turn has come. */
    async function pump(): Promise<void> {
      if (!handle || !options || closed) return;
      if (pumping) {
        pumpAgain = true;
        return;
      }
      pumping = true;
      try {
        do {
          pumpAgain = false;
          for (;;) {
            const free = options.concurrency - handle.inFlight();
            if (free <= 0 || closed) break;
            const batch = await handle.claim(free, options.visibilityMs);
            for (const d of batch) node.send([null, delivery(d)]);
            // Fewer than asked for: nothing else is due now (a message that turned into a dead
            // letter instead wakes the queue again once that is written).
            if (batch.length < free) break;
          }
        } while (pumpAgain && !closed);
      } catch (err) {
        node.error(
          new PackError(
            CODES.QUEUE_STORE,
            `durable-queue: reading the store failed: ${(err as Error).message}`,
          ),
        );
      } finally {
        pumping = false;
      }
      if (closed) return;
      const due = handle.inFlight() < options.concurrency ? handle.nextDueInMs() : undefined;
      if (due === undefined) return;
      // A timer already set for no later stays: pump() looks again when it fires.
      const at = Date.now() + Math.max(due, 5);
      if (timer && timerAt <= at) return;
      if (timer) clearTimeout(timer);
      timerAt = at;
      timer = setTimeout(() => {
        timer = undefined;
        void pump();
      }, at - Date.now());
    }

    let wakeScheduled = false;
    function wake(): void {
      if (wakeScheduled || closed) return;
      wakeScheduled = true;
      setImmediate(() => {
        wakeScheduled = false;
        void pump();
      });
    }

    // Stuck deliveries (a flow that never reaches queue-done) are caught when their visibility
    // runs out; the status and the health metrics follow the queue once a second.
    const heartbeat = setInterval(() => {
      void pump();
      refresh();
    }, 1000);
    let unsubscribe: (() => void) | undefined;
    if (handle && options && storeNode?.open) {
      unsubscribe = handle.onReady(wake);
      addQueue({ storeId: storeNode.id, handle, policy: options.policy, wake });
      refresh();
      wake();
    }

    onInput<QueueMsg>(node, CODES.QUEUE_ERROR, async (msg, send: Send) => {
      if (!handle || !options || !storeNode) {
        throw new PackError(CODES.QUEUE_CONFIG, `durable-queue is not usable: ${configError}`);
      }
      const keyed = keyOf(msg);
      const key = typeof keyed === "object" && keyed !== null ? await keyed : keyed;
      const dedupeValue = readDedupe ? readDedupe(msg) : undefined;
      const dedupe =
        dedupeValue === undefined || dedupeValue === null || dedupeValue === "" ? null : String(dedupeValue);
      let result;
      try {
        result = await handle.enqueue({
          msg: storedMsgOf(msg as unknown as Record<string, unknown>),
          key,
          dedupe,
        });
        storeFailing = false;
      } catch (err) {
        storeFailing = true;
        refresh();
        const code = (err as PackError).code;
        throw code === CODES.QUEUE_STORE
          ? err
          : new PackError(
              CODES.QUEUE_STORE,
              `the message was not stored: ${(err as Error).message}`,
              undefined,
              {
                cause: err,
              },
            );
      }
      const queue = metaOf(result.id, key, 0, result.enqueuedAt);
      if (result.duplicate) queue.duplicate = true;
      msg.queue = queue;
      send([msg, null]);
    });

    node.on("close", (removed: boolean, done: () => void) => {
      closed = true;
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      unsubscribe?.();
      status.clear(node);
      if (!handle || !storeNode) return done();
      removeQueue(storeNode.id, handle.name);
      const h = handle;
      // What this node handed out and was not finished goes back to waiting, for the next holder.
      h.releaseAll()
        .catch(() => undefined)
        .finally(() => {
          h.detach();
          void removed;
          done();
        });
    });
  }

  RED.nodes.registerType("durable-queue", DurableQueue);
};
