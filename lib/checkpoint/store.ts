/**
 * Where checkpoints live. Values are plain JSON (strings, numbers, null, objects), so that
 * Node-RED's `localfilesystem` context store can hold them; `set(key, undefined)` deletes.
 */
export interface CheckpointStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  /**
   * Where several processes share the store: a value with its version (undefined when absent), and
   * a write that happens only while the key is still at that version (null: still absent).
   */
  getVersioned?(key: string): Promise<{ value: unknown; version: string } | undefined>;
  setIf?(key: string, version: string | null, value: unknown): Promise<boolean>;
}

/** For tests and for a checkpoint that need not outlive the process. Values are copied in and out, as a file store would. */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly data = new Map<string, string>();

  async get(key: string): Promise<unknown> {
    const text = this.data.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.data.delete(key);
    else this.data.set(key, JSON.stringify(value));
  }
}

/**
 * The context key of a checkpoint. Node-RED reads a context key as a property path
 * (`a.b`, `a[0]`, `#:(store)::key`), so every character outside [A-Za-z0-9] is written as
 * `_xx` (its UTF-8 bytes in hex): `pms.patients` -> `syncCheckpoint_pms_2epatients`. The
 * mapping is one to one, so two names never share a key.
 */
export function storageKey(name: string): string {
  let out = "syncCheckpoint_";
  for (const byte of Buffer.from(name, "utf8")) {
    const isAlnum =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
    out += isAlnum ? String.fromCharCode(byte) : `_${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}
