import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { isObject } from "../object";
import type { CheckpointStore } from "./store";
import { describe } from "./time";

/**
 * A list the pack keeps under a context key (the run log, the dead-letter list), checked as it is
 * read: anything else under the key is reported as CHECKPOINT_CORRUPT, never overwritten.
 */
export function storedList<T>(
  key: string,
  value: unknown,
  what: string,
  isEntry: (e: Record<string, unknown>) => boolean,
): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((e) => isObject(e) && isEntry(e))) {
    throw new PackError(
      CODES.CHECKPOINT_CORRUPT,
      `context key ${JSON.stringify(key)} holds something that is not a ${what} (${describe(value)}); delete it`,
    );
  }
  return value as T[];
}

/** A store call, its failure as CHECKPOINT_STORE naming what was read or written (the cause kept). */
export async function storeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new PackError(CODES.CHECKPOINT_STORE, `could not ${what}`, undefined, { cause: err });
  }
}

/** Reads the list (`what`: "run log") under `key` from `store`, checked as storedList checks it. */
export async function readStoredList<T>(
  store: CheckpointStore,
  key: string,
  what: string,
  isEntry: (e: Record<string, unknown>) => boolean,
): Promise<T[]> {
  const value = await storeCall(`read the ${what} ${JSON.stringify(key)}`, () => store.get(key));
  return storedList<T>(key, value, what, isEntry);
}
