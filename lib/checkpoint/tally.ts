import { isContextKey, CONTEXT_KEY_RULE } from "../context-key";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { isObject } from "../object";
import { serialized } from "./lock";
import { changeStoredList } from "./stored-list";
import type { CheckpointStore } from "./store";
import { describe } from "./time";

/** A record that failed for good: its id and codes, never its data. */
export interface Refusal {
  /** The record's id; null when the record had none. */
  id: string | null;
  code: string;
  message: string;
}

/** What became of one page: records written (by id) and records refused, from the mapper or the server. */
export interface PageOutcome {
  written: string[];
  refused: Refusal[];
}

/** One entry of the dead-letter list. */
export interface DeadLetterEntry extends Refusal {
  entity: string;
  runId: string | null;
  at: string;
}

export const DEAD_LETTER_MAX = 100_000;

function list(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} must be an array, not ${describe(value)}`);
  }
  return value;
}

function refusalOf(value: unknown, what: string): Refusal {
  if (!isObject(value) || typeof value.code !== "string" || value.code === "") {
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what} must be {id, code, message}`);
  }
  const id = value.id;
  if (id !== null && id !== undefined && typeof id !== "string" && typeof id !== "number") {
    throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `${what}.id must be a string, a number or null`);
  }
  return {
    id: id === null || id === undefined ? null : String(id),
    code: value.code,
    message: typeof value.message === "string" ? value.message : "",
  };
}

/**
 * A page's outcome from the pack's own answers: `msg.mapping.refused` (pms-fhir-map, records that
 * did not map) and `msg.fhir.written` / `msg.fhir.refused` (fhir-request writing many records).
 * Either may be absent.
 */
export function pageOutcome(msg: { mapping?: unknown; fhir?: unknown }): PageOutcome {
  const mapping = isObject(msg.mapping) ? msg.mapping : {};
  const fhir = isObject(msg.fhir) ? msg.fhir : {};
  const written = list(fhir.written, "msg.fhir.written").map((w, i) => {
    const id = isObject(w) ? w.id : undefined;
    if (typeof id !== "string" && typeof id !== "number") {
      throw new PackError(CODES.CHECKPOINT_BAD_INPUT, `msg.fhir.written[${i}] has no id`);
    }
    return String(id);
  });
  const refused = [
    ...list(mapping.refused, "msg.mapping.refused").map((r, i) => refusalOf(r, `msg.mapping.refused[${i}]`)),
    ...list(fhir.refused, "msg.fhir.refused").map((r, i) => refusalOf(r, `msg.fhir.refused[${i}]`)),
  ];
  return { written, refused };
}

function count(run: Record<string, unknown>, field: string): number {
  const v = run[field];
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new PackError(
      CODES.CHECKPOINT_BAD_INPUT,
      `msg.run.${field} must be a whole number, not ${describe(v)}`,
    );
  }
  return v;
}

/** msg.run with the page's records counted: `written` and `deadLettered` over the run so far. */
export function tallyRun(run: unknown, outcome: PageOutcome): Record<string, unknown> {
  const r = isObject(run) ? run : {};
  return {
    ...r,
    written: count(r, "written") + outcome.written.length,
    deadLettered: count(r, "deadLettered") + outcome.refused.length,
  };
}

export interface DeadLetterListOptions {
  /** The context key of the list (a plain name). */
  key: string;
  /** How many entries are kept, the oldest dropped first. */
  max: number;
  /** Updates of one key within one scope run one at a time in this process. */
  scope: string;
  now?: () => number;
}

/** Checks dead-letter list options as a node checks its properties at start (CHECKPOINT_CONFIG). */
export function validateDeadLetterOptions(options: { key: string; max: number }): void {
  if (!isContextKey(options.key)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, `dead-letter key must be ${CONTEXT_KEY_RULE}`);
  }
  if (!Number.isSafeInteger(options.max) || options.max < 1 || options.max > DEAD_LETTER_MAX) {
    throw new PackError(
      CODES.CHECKPOINT_CONFIG,
      `dead letters kept must be a whole number from 1 to ${DEAD_LETTER_MAX}`,
    );
  }
}

const isDeadLetter = (e: Record<string, unknown>): boolean =>
  typeof e.entity === "string" && typeof e.code === "string";

/**
 * The records of a sync that failed for good, in a key-value store (Node-RED flow context),
 * newest last: one entry per (entity, id), replaced when the record fails again and removed once
 * it is written. The checkpoint moves past them; a record is read again when it changes at the
 * source, and leaves the list when that write succeeds.
 */
export class DeadLetterList {
  private readonly store: CheckpointStore;
  private readonly options: DeadLetterListOptions;
  private readonly now: () => number;

  constructor(store: CheckpointStore, options: DeadLetterListOptions) {
    validateDeadLetterOptions(options);
    this.store = store;
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Applies a page's outcome; the list's size after it. Nothing is written when nothing changes. */
  update(entity: string, runId: string | null, outcome: PageOutcome): Promise<number> {
    const { key, max, scope } = this.options;
    const touched = new Set<string | null>([...outcome.written, ...outcome.refused.map((r) => r.id)]);
    return serialized(`${scope}\u0000${key}`, async () => {
      const list = await changeStoredList<DeadLetterEntry>(
        this.store,
        key,
        "dead-letter list",
        isDeadLetter,
        (old) => {
          if (old.length === 0 && outcome.refused.length === 0) return undefined;
          let next = old.filter((d) => d.entity !== entity || !touched.has(d.id));
          if (next.length === old.length && outcome.refused.length === 0) return undefined;
          const at = new Date(this.now()).toISOString();
          for (const r of outcome.refused)
            next.push({ entity, id: r.id, code: r.code, message: r.message, runId, at });
          if (next.length > max) next = next.slice(next.length - max);
          return next;
        },
      );
      return list.length;
    });
  }
}
