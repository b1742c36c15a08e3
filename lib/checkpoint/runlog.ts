import { CODES } from "../error-codes";
import { isObject } from "../object";
import { serialized } from "./lock";
import { ENTRY_FIELDS, validateRunLogOptions } from "./runlog-options";
import type { CheckpointStore } from "./store";
import { changeStoredList } from "./stored-list";

export { RUN_LOG_MAX, validateRunLogOptions } from "./runlog-options";

export interface RunLogOptions {
  /** The context key of the log (a plain name: Node-RED reads dots and brackets as a path). */
  key: string;
  /** How many runs are kept, the oldest dropped first. */
  size: number;
  /** The entry's name for the run's record count (`appointments`, `encounters`). */
  countName: string;
  /** Appends to one key within one scope run one at a time in this process. */
  scope: string;
  now?: () => number;
}

/** One run as the log keeps it: counts, codes and times, never record data. */
export type RunEntry = Record<string, string | number | boolean> & {
  seq: number;
  at: string;
  outcome: "ok" | "failed" | "skipped";
};

/** What a run's msg carries at its end: `msg.run` (from select), `msg.checkpoint`, and `msg.error` when a Catch node sent it. */
export interface RunInput {
  run?: unknown;
  checkpoint?: unknown;
  error?: unknown;
}

/** The error's node: its name, else its type (a Catch node's msg.error.source). */
function sourceOf(err: Record<string, unknown>): string | undefined {
  const source = isObject(err.source) ? err.source : {};
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v.slice(0, 100) : undefined);
  return text(source.name) ?? text(source.type);
}

/**
 * The entry for a run that ended with `input`: ok without `msg.error`; skipped when the error is
 * CHECKPOINT_BUSY (another run holds the checkpoint); otherwise failed, with the error's code and
 * the node that raised it. The watermark is the committed one, so only an ok run has it. The
 * flow's own fields of `msg.run` (strings, numbers, booleans such as `entity`, `written`) are
 * kept as they are; select's `total` is the entry's count.
 */
export function runEntry(input: RunInput, countName: string, seq: number, at: string): RunEntry {
  const run = isObject(input.run) ? input.run : {};
  const cp = isObject(input.checkpoint) ? input.checkpoint : {};
  const err = isObject(input.error) ? input.error : undefined;
  const code = err && typeof err.code === "string" && err.code !== "" ? err.code : undefined;
  const outcome = !err ? "ok" : code === CODES.CHECKPOINT_BUSY ? "skipped" : "failed";
  const entry = { seq, at } as RunEntry;
  if (typeof run.type === "string" && run.type !== "") entry.type = run.type;
  for (const [k, v] of Object.entries(run)) {
    if (ENTRY_FIELDS.has(k) || k === countName || k === "total" || k === "more") continue;
    if (typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) entry[k] = v;
    else if (typeof v === "string" && v.length <= 200) entry[k] = v;
  }
  entry.outcome = outcome;
  if (outcome !== "ok" && code) entry.code = code;
  const node = outcome === "failed" && err ? sourceOf(err) : undefined;
  if (node) entry.node = node;
  const total = run.total;
  entry[countName] = typeof total === "number" && Number.isSafeInteger(total) && total >= 0 ? total : 0;
  if (outcome === "ok" && typeof cp.highWater === "string") entry.watermark = cp.highWater;
  if (typeof cp.advanced === "boolean") entry.advanced = cp.advanced;
  if (outcome === "ok" && run.more === true) entry.more = true;
  return entry;
}

const isRunEntry = (e: Record<string, unknown>): boolean =>
  typeof e.seq === "number" && Number.isSafeInteger(e.seq);

/**
 * The last runs of a sync in a key-value store (Node-RED flow context): one entry per run,
 * numbered, the oldest dropped once `size` are kept.
 */
export class RunLog {
  private readonly store: CheckpointStore;
  private readonly options: RunLogOptions;
  private readonly now: () => number;

  constructor(store: CheckpointStore, options: RunLogOptions) {
    validateRunLogOptions(options);
    this.store = store;
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Appends the run that ended with `input`; the entry as kept. */
  append(input: RunInput): Promise<RunEntry> {
    const { key, size, countName, scope } = this.options;
    return serialized(`${scope}\u0000${key}`, async () => {
      let entry!: RunEntry;
      await changeStoredList<RunEntry>(this.store, key, "run log", isRunEntry, (runs) => {
        const last = runs.at(-1);
        entry = runEntry(input, countName, last ? last.seq + 1 : 1, new Date(this.now()).toISOString());
        return [...runs, entry].slice(-size);
      });
      return entry;
    });
  }
}
