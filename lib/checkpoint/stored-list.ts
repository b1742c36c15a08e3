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

/** How many times a change is computed again after another process wrote the value between its read and its write. */
export const CONFLICT_TRIES = 5;

/**
 * Reads the list under `key`, computes the next one with `next` (undefined: nothing to write) and
 * writes it. On a store several processes share (one with compare-and-set), the write happens only
 * if nobody wrote the list since the read; otherwise the change is computed again from the new
 * list, CONFLICT_TRIES times at most (then CHECKPOINT_BUSY), so that no process's entry is lost.
 */
export async function changeStoredList<T>(
  store: CheckpointStore,
  key: string,
  what: string,
  isEntry: (e: Record<string, unknown>) => boolean,
  next: (list: T[]) => T[] | undefined,
): Promise<T[]> {
  const versioned = Boolean(store.getVersioned && store.setIf);
  const read = async (): Promise<{ value: unknown; version: string | null } | undefined> =>
    versioned ? store.getVersioned!(key) : { value: await store.get(key), version: null };
  const write = async (version: string | null, list: T[]): Promise<boolean> => {
    if (versioned) return store.setIf!(key, version, list);
    await store.set(key, list);
    return true;
  };
  for (let tries = 1; ; tries++) {
    const found = await storeCall(`read the ${what} ${JSON.stringify(key)}`, read);
    const list = storedList<T>(key, found?.value, what, isEntry);
    const changed = next(list);
    if (changed === undefined) return list;
    const written = await storeCall(`write the ${what} ${JSON.stringify(key)}`, () =>
      write(found?.version ?? null, changed),
    );
    if (written) return changed;
    if (tries >= CONFLICT_TRIES) {
      throw new PackError(
        CODES.CHECKPOINT_BUSY,
        `the ${what} ${JSON.stringify(key)} was changed by another instance ${tries} times while this one changed it; try again`,
        { key },
      );
    }
  }
}
