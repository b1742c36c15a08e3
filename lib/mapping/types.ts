import type { Codes } from "../error-codes";
export type MappingDirection = "both" | "to-fhir" | "to-pms";
/** Which way a rule maps (a rule without one maps both ways). */
export const MAPPING_DIRECTIONS: readonly MappingDirection[] = ["both", "to-fhir", "to-pms"];

/** Which way a pms-fhir-map node maps a whole record. */
export const MAP_DIRECTIONS = ["to-fhir", "to-pms"] as const;
export type MapDirection = (typeof MAP_DIRECTIONS)[number];

/**
 * Where the records that do not map go: "output", the node's second output (a msg of their own);
 * "msg", along with the mapped ones on the first output, as msg.mapping.refused (one msg per input,
 * for a pipeline that counts every record of a page).
 */
export const REFUSED_MODES = ["output", "msg"] as const;
export type RefusedMode = (typeof REFUSED_MODES)[number];

/** The mapping sets the pack defines (lib/mapping/builtins.ts). */
export const BUILTIN_MAPPING_NAMES = ["patient", "appointment", "encounter"] as const;
export type BuiltinMappingName = (typeof BUILTIN_MAPPING_NAMES)[number];

/**
 * One line of a mapping table. See docs/mapping.md for the grammar; in short:
 * `pms` is a dotted path into the PMS record, `fhir` a path into the FHIR resource (the
 * writable subset, or any FHIRPath expression on a `to-pms` rule). A rule that names only
 * one side writes its `default` on that side.
 */
export interface MappingRule {
  pms?: string;
  fhir?: string;
  /** `date`, `dateTime`, `gender`, `appointmentStatus`, `reference:<Type>`, `codeMap`, ... */
  transform?: string;
  /** For `transform: "codeMap"`: PMS code -> FHIR code. */
  codeMap?: Record<string, string>;
  /** For `transform: "codeMap"`: FHIR code -> PMS code, for codes several PMS codes share. */
  reverseCodeMap?: Record<string, string>;
  /** For `transform: "addMinutes"`: the start date-time on each side. */
  with?: { pms: string; fhir: string };
  /**
   * Missing (absent, null or "") on the source side is an error: `true` in both directions,
   * or only `"to-fhir"` (PMS field missing) or `"to-pms"` (FHIR element missing).
   */
  required?: boolean | "to-fhir" | "to-pms";
  /** `email`, `phone`, `date` or `regex:<pattern>`, checked on the PMS-side value. */
  validate?: string;
  /** Default `both`. */
  direction?: MappingDirection;
  /** The PMS-side value assumed when the source is missing (to-fhir: transformed like data). */
  default?: unknown;
  /** Shown in errors instead of `pms <-> fhir`. */
  label?: string;
}

export type MappingErrorCode = Codes<
  "MAP_REQUIRED" | "MAP_VALIDATE" | "MAP_TRANSFORM" | "MAP_COMPILE" | "MAP_INPUT"
>;
export type MappingWarningCode = Codes<"MAP_LOSSY" | "MAP_MULTIPLE">;

export interface MappingIssue<C extends string = MappingErrorCode> {
  /**
   * The field that failed: the PMS path when mapping to FHIR, the FHIR path when mapping to
   * the PMS; for compile errors, the rule property (`pms`, `fhir`, `transform`, ...); "" for
   * the record as a whole.
   */
  field: string;
  /** Index of the rule in the rule list; -1 for the record or the list as a whole. */
  rule: number;
  /** The rule's label, or `pms <-> fhir`. */
  label: string;
  message: string;
  code: C;
}

export type MappingError = MappingIssue<MappingErrorCode>;
export type MappingWarning = MappingIssue<MappingWarningCode>;

export interface MapResult {
  /** The mapped record or resource; undefined when there are errors (never half-mapped). */
  value: Record<string, unknown> | undefined;
  errors: MappingError[];
  warnings: MappingWarning[];
}

export interface CompileOptions {
  /** The value of `%identifierSystem` in paths. */
  identifierSystem?: string;
  /** Other `%name` values for paths. */
  variables?: Record<string, string>;
}

export interface CompiledMapping {
  /** From the rule `{ fhir: "resourceType", default: "<Type>" }`, when there is one. */
  readonly resourceType: string | undefined;
  readonly rules: readonly MappingRule[];
  toFhir(record: unknown): MapResult;
  toPms(resource: unknown): MapResult;
}
