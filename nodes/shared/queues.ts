import type { RetryPolicy } from "../../lib/store/policy";
import type { MessageStore, QueueHandle } from "../../lib/store/types";

/**
 * The runtime's open message stores and the queues their durable-queue nodes hold, process-wide
 * (a Symbol on globalThis, as the health bus), so that queue-done finds the queue a delivery
 * came from and the admin endpoints find every store.
 */

export interface OpenStore {
  /** The message-store config node's id. */
  id: string;
  name: string;
  /** Where the data lives, without secrets: `file:<path>`, or a database and schema. */
  place: string;
  store: MessageStore;
}

export interface OpenQueue {
  storeId: string;
  handle: QueueHandle;
  policy: RetryPolicy;
  /** Wakes the delivery loop (a queue-done finished one, an operator replayed some). */
  wake(): void;
}

interface Registry {
  stores: Map<string, OpenStore>;
  queues: Map<string, OpenQueue>;
}

const KEY = Symbol.for("@healthbridge/node-red-pms-ehr/queues");
type GlobalWithRegistry = typeof globalThis & { [KEY]?: Registry };

function registry(): Registry {
  const g = globalThis as GlobalWithRegistry;
  g[KEY] ??= { stores: new Map(), queues: new Map() };
  return g[KEY];
}

const queueKey = (storeId: string, name: string): string => `${storeId}\u0000${name}`;

export function addStore(entry: OpenStore): void {
  registry().stores.set(entry.id, entry);
}

export function removeStore(id: string): void {
  registry().stores.delete(id);
}

export function stores(): OpenStore[] {
  return [...registry().stores.values()];
}

export function storeById(id: string): OpenStore | undefined {
  return registry().stores.get(id);
}

/** The config node that has this place open, if any. */
export function storeByPlace(place: string): OpenStore | undefined {
  return stores().find((s) => s.place === place);
}

export function addQueue(entry: OpenQueue): void {
  registry().queues.set(queueKey(entry.storeId, entry.handle.name), entry);
}

export function removeQueue(storeId: string, name: string): void {
  registry().queues.delete(queueKey(storeId, name));
}

export function queueOf(storeId: string, name: string): OpenQueue | undefined {
  return registry().queues.get(queueKey(storeId, name));
}
