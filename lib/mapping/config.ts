import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { builtinVariables, compileBuiltin, isBuiltinMappingName } from "./builtins";
import { compileMapping } from "./compile";
import {
  MAP_DIRECTIONS,
  type CompiledMapping,
  type MapDirection,
  type MapResult,
  type MappingError,
  type MappingWarning,
} from "./types";
export { REFUSED_MODES, type RefusedMode } from "./types";

/** How the pms-fhir-map node (and its editor's "try it") names a mapping. */
export interface MappingConfig {
  mapping: string;
  /** Only for `custom`. */
  rules?: unknown;
  identifierSystem?: string;
}

export type { MapDirection };

export function isMapDirection(v: unknown): v is MapDirection {
  return (MAP_DIRECTIONS as readonly unknown[]).includes(v);
}

/**
 * Compiles a built-in set (with its default identifier system) or custom rules, both with the
 * built-in variables (%patientSystem, ...); throws MAP_COMPILE.
 */
export function compileMappingConfig(config: MappingConfig): CompiledMapping {
  const system = typeof config.identifierSystem === "string" ? config.identifierSystem.trim() : "";
  if (isBuiltinMappingName(config.mapping)) {
    return compileBuiltin(config.mapping, { identifierSystem: system });
  }
  if (config.mapping === "custom") {
    return compileMapping(config.rules, { identifierSystem: system, variables: builtinVariables });
  }
  const error: MappingError = {
    field: "mapping",
    rule: -1,
    label: "mapping",
    message: `mapping must be patient, appointment, encounter or custom, not ${JSON.stringify(config.mapping)}`,
    code: CODES.MAP_COMPILE,
  };
  throw new PackError(CODES.MAP_COMPILE, error.message, { errors: [error] });
}

/** An error or warning of one element of an array payload carries the element's index. */
export type IndexedError = MappingError & { index?: number };
export type IndexedWarning = MappingWarning & { index?: number };

export type PayloadOutcome =
  /** msg.payload is neither an object nor an array: the node fails the msg (done(err)). */
  | { kind: "input"; errors: IndexedError[] }
  | {
      kind: "single";
      /** Undefined when the record is invalid. */
      value: Record<string, unknown> | undefined;
      errors: IndexedError[];
      warnings: IndexedWarning[];
    }
  | {
      kind: "array";
      /** Mapped values of the valid elements, in input order. */
      mapped: Array<Record<string, unknown>>;
      /** The invalid elements themselves, untouched, in input order. */
      invalid: unknown[];
      errors: IndexedError[];
      warnings: IndexedWarning[];
    };

function isRecordLike(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Maps msg.payload: one record, or every element of an array split into valid and invalid. */
export function mapPayload(
  mapping: CompiledMapping,
  direction: MapDirection,
  payload: unknown,
): PayloadOutcome {
  const map = (v: unknown): MapResult => (direction === "to-fhir" ? mapping.toFhir(v) : mapping.toPms(v));
  if (Array.isArray(payload)) {
    const mapped: Array<Record<string, unknown>> = [];
    const invalid: unknown[] = [];
    const errors: IndexedError[] = [];
    const warnings: IndexedWarning[] = [];
    payload.forEach((element, index) => {
      const result = map(element);
      for (const w of result.warnings) warnings.push({ ...w, index });
      if (result.value === undefined) {
        invalid.push(element);
        for (const e of result.errors) errors.push({ ...e, index });
      } else {
        mapped.push(result.value);
      }
    });
    return { kind: "array", mapped, invalid, errors, warnings };
  }
  if (!isRecordLike(payload)) {
    const what = payload === null ? "null" : Buffer.isBuffer(payload) ? "a Buffer" : typeof payload;
    return {
      kind: "input",
      errors: [
        {
          field: "",
          rule: -1,
          label: "input",
          message: `msg.payload must be an object or an array of objects, not ${what}`,
          code: CODES.MAP_INPUT,
        },
      ],
    };
  }
  const result = map(payload);
  return { kind: "single", value: result.value, errors: result.errors, warnings: result.warnings };
}

/** A record that did not map, for a dead-letter list: its id and error codes, never its values. */
export interface MapRefusal {
  /** Its position in msg.payload (0 for a single record). */
  index: number;
  /** The record's `id` as text; null when it has none. */
  id: string | null;
  /** The first error's code. */
  code: string;
  /** Each error as `field: code`, joined by "; ". */
  message: string;
}

/** The refusals of a mapped payload, one per record that did not map, in payload order. */
export function refusalsOf(payload: unknown, errors: IndexedError[]): MapRefusal[] {
  const byIndex = new Map<number, IndexedError[]>();
  for (const e of errors) {
    const index = e.index ?? 0;
    const list = byIndex.get(index);
    if (list) list.push(e);
    else byIndex.set(index, [e]);
  }
  return [...byIndex.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, own]) => {
      const record = Array.isArray(payload) ? payload[index] : payload;
      const id = isRecordLike(record) ? record.id : undefined;
      return {
        index,
        id: typeof id === "string" || typeof id === "number" ? String(id) : null,
        code: own[0].code,
        message: own.map((e) => `${e.field || "record"}: ${e.code}`).join("; "),
      };
    });
}
