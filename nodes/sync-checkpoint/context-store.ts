import type { NodeContextData } from "node-red";
import type { CheckpointStore } from "../../lib/checkpoint";

/** A Node-RED context (global scope) in one named store, as a CheckpointStore; always through the async API. */
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
