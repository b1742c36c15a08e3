const LOCKS_KEY = Symbol.for("@healthbridge/node-red-pms-ehr/checkpoint-locks");
type GlobalWithLocks = typeof globalThis & { [LOCKS_KEY]?: Map<string, Promise<void>> };

function locks(): Map<string, Promise<void>> {
  const g = globalThis as GlobalWithLocks;
  return (g[LOCKS_KEY] ??= new Map());
}

/** Runs `fn` after every earlier operation on `key` has settled (one process, every instance of the pack). */
export function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const map = locks();
  const before = map.get(key) ?? Promise.resolve();
  const result = before.then(fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  map.set(key, tail);
  void tail.then(() => {
    if (map.get(key) === tail) map.delete(key);
  });
  return result;
}
