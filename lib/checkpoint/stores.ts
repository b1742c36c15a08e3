import { CODES, type PackErrorCode } from "../error-codes";
import { PackError } from "../errors";
import { isObject } from "../object";

/**
 * Which Node-RED context store a store name means, given the `contextStorage` of settings.js:
 * the physical store (for the per-name lock, so that "" and an alias of it share one lock) and
 * whether it persists. An unknown name is an error: Node-RED would quietly use the default
 * store instead, and a checkpoint meant for the file store would then live in memory.
 */
export function resolveContextStore(
  contextStorage: unknown,
  name: string | undefined,
  code: PackErrorCode = CODES.CHECKPOINT_CONFIG,
): { store: string | undefined; physical: string } {
  const wanted = (name ?? "").trim();
  const cs = isObject(contextStorage) ? contextStorage : {};
  const names = Object.keys(cs).filter((k) => k !== "_");
  if (names.length === 0) {
    if (wanted === "" || wanted === "memory" || wanted === "default")
      return { store: undefined, physical: "memory" };
    throw new PackError(
      code,
      `context store ${JSON.stringify(wanted)} is not configured: settings.js has no contextStorage, so only the default memory store exists`,
    );
  }
  const defaultPhysical = (): string => {
    const d = cs.default;
    if (typeof d === "string") return d;
    if (d !== undefined) return "default";
    return names[0];
  };
  if (wanted === "") return { store: undefined, physical: defaultPhysical() };
  if (!names.includes(wanted)) {
    throw new PackError(
      code,
      `context store ${JSON.stringify(wanted)} is not in settings.js contextStorage (${names.join(", ")})`,
    );
  }
  return { store: wanted, physical: wanted === "default" ? defaultPhysical() : wanted };
}

/**
 * Whether a physical store (as resolveContextStore names it) keeps its values across a restart:
 * every store but Node-RED's `memory` module, which is also what runs when settings.js has no
 * contextStorage. A custom module is taken at its word.
 */
export function isPersistentStore(contextStorage: unknown, physical: string): boolean {
  const config = isObject(contextStorage) ? contextStorage[physical] : undefined;
  return isObject(config) && config.module !== "memory";
}
