import * as fhirpath from "fhirpath";
import * as r4 from "fhirpath/fhir-context/r4";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import {
  compileFhirPath,
  compilePmsPath,
  isResourceType,
  parseWritablePath,
  pruneHoles,
  type FhirAccessor,
  type PmsAccessor,
} from "./path";
import {
  TransformFailure,
  describe,
  shapeOf,
  resolveTransform,
  transformUses,
  type Notes,
  type Transform,
} from "./transforms";
import {
  MAPPING_DIRECTIONS,
  type CompileOptions,
  type CompiledMapping,
  type MapResult,
  type MappingDirection,
  type MappingError,
  type MappingErrorCode,
  type MappingRule,
  type MappingWarning,
  type MappingWarningCode,
} from "./types";
import { resolveValidator, type Validator } from "./validators";

type Obj = Record<string, unknown>;

const RULE_KEYS = new Set([
  "pms",
  "fhir",
  "transform",
  "codeMap",
  "reverseCodeMap",
  "with",
  "required",
  "validate",
  "direction",
  "default",
  "label",
]);

interface CompiledRule {
  index: number;
  label: string;
  /** Named in errors: the PMS path (to FHIR) and the FHIR path (to the PMS). */
  pmsField: string;
  fhirField: string;
  pms: PmsAccessor | undefined;
  fhir: FhirAccessor | undefined;
  readFhir: ((resource: Obj, notes: Notes) => unknown) | undefined;
  transform: Transform;
  validate: Validator | undefined;
  required: boolean;
  hasDefault: boolean;
  defaultValue: unknown;
  withPms: PmsAccessor | undefined;
  withFhir: ((resource: Obj, notes: Notes) => unknown) | undefined;
  conflictCheck: boolean;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isMissing(v: unknown): boolean {
  return v === undefined || v === null || v === "";
}

function same(a: unknown, b: unknown): boolean {
  return (
    a === b || (typeof a === "object" && typeof b === "object" && JSON.stringify(a) === JSON.stringify(b))
  );
}

function cloneDefault(v: unknown): unknown {
  return v !== null && typeof v === "object" ? structuredClone(v) : v;
}

export function ruleLabel(rule: unknown): string {
  if (!isObj(rule)) return "(not a rule)";
  if (typeof rule.label === "string" && rule.label !== "") return rule.label;
  const pms = typeof rule.pms === "string" && rule.pms !== "" ? rule.pms : "(constant)";
  const fhir = typeof rule.fhir === "string" && rule.fhir !== "" ? rule.fhir : "(constant)";
  return `${pms} <-> ${fhir}`;
}

function compileError(rule: number, label: string, field: string, message: string): MappingError {
  return { field, rule, label, message, code: CODES.MAP_COMPILE };
}

type Reader = (resource: Obj, notes: Notes) => unknown;

function readOnlyReader(expression: string, variables: Record<string, string>): Reader | string {
  let fn: (resource: unknown, env?: Record<string, unknown>) => unknown;
  try {
    fn = fhirpath.compile(expression, r4 as unknown as fhirpath.Model) as typeof fn;
  } catch (err) {
    return `${describe(expression)} is neither a writable path nor a FHIRPath expression: ${(err as Error).message}`;
  }
  return (resource) => {
    let result: unknown;
    try {
      result = fn(resource, variables);
    } catch (err) {
      throw new TransformFailure(`FHIRPath evaluation failed: ${(err as Error).message}`);
    }
    if (!Array.isArray(result) || result.length === 0) return undefined;
    return result.length === 1 ? result[0] : result;
  };
}

interface Compiled {
  issues: MappingError[];
  mapping: CompiledMapping | undefined;
}

function compile(rules: unknown, options: CompileOptions = {}): Compiled {
  const issues: MappingError[] = [];
  if (!Array.isArray(rules)) {
    return { issues: [compileError(-1, "rules", "", "rules must be a list of rules")], mapping: undefined };
  }
  if (rules.length === 0) {
    return { issues: [compileError(-1, "rules", "", "the rule list is empty")], mapping: undefined };
  }
  const variables: Record<string, string> = { ...(options.variables ?? {}) };
  if (options.identifierSystem !== undefined && options.identifierSystem !== "") {
    variables.identifierSystem = options.identifierSystem;
  }

  let resourceType: string | undefined;
  rules.forEach((rule, i) => {
    if (isObj(rule) && typeof rule.fhir === "string" && rule.fhir.trim() === "resourceType") {
      const label = ruleLabel(rule);
      if (rule.pms !== undefined) {
        issues.push(
          compileError(i, label, "pms", "resourceType is a constant: give it a default, not a pms field"),
        );
      } else if (typeof rule.default !== "string" || !isResourceType(rule.default)) {
        issues.push(
          compileError(i, label, "default", `${describe(rule.default)} is not a FHIR R4 resource type`),
        );
      } else if (resourceType !== undefined && resourceType !== rule.default) {
        issues.push(compileError(i, label, "default", `a second resourceType (${rule.default})`));
      } else {
        resourceType = rule.default;
      }
    }
  });

  const toFhir: CompiledRule[] = [];
  const toPms: CompiledRule[] = [];

  rules.forEach((rule, i) => {
    const label = ruleLabel(rule);
    const fail = (field: string, message: string) => issues.push(compileError(i, label, field, message));
    if (!isObj(rule)) {
      fail("", "a rule must be an object");
      return;
    }
    for (const key of Object.keys(rule)) {
      if (!RULE_KEYS.has(key)) fail(key, `unknown rule property ${key}`);
    }
    if (rule.label !== undefined && typeof rule.label !== "string") fail("label", "label must be text");
    const direction = (rule.direction ?? "both") as MappingDirection;
    if (!MAPPING_DIRECTIONS.includes(direction)) {
      fail("direction", `direction must be both, to-fhir or to-pms, not ${describe(rule.direction)}`);
      return;
    }
    if (
      rule.required !== undefined &&
      typeof rule.required !== "boolean" &&
      rule.required !== "to-fhir" &&
      rule.required !== "to-pms"
    ) {
      fail("required", "required must be true, false, to-fhir or to-pms");
    }
    const hasPms = rule.pms !== undefined && rule.pms !== "";
    const hasFhir = rule.fhir !== undefined && rule.fhir !== "";
    const hasDefault = rule.default !== undefined;
    if (!hasPms && !hasFhir) {
      fail("", "a rule needs a pms field, a fhir path, or both");
      return;
    }
    if (hasFhir && typeof rule.fhir === "string" && rule.fhir.trim() === "resourceType") {
      if (direction === "to-pms") fail("direction", "resourceType is written to FHIR and checked when read");
      return;
    }
    if ((!hasPms || !hasFhir) && !hasDefault) {
      fail(
        "default",
        `a rule with only a ${hasPms ? "pms field" : "fhir path"} writes its default: give one`,
      );
      return;
    }
    if (!hasPms && direction === "to-pms")
      fail("direction", "a rule without a pms field can only write to FHIR");
    if (!hasFhir && direction === "to-fhir")
      fail("direction", "a rule without a fhir path can only write to the PMS");
    const forward = hasFhir && (direction === "both" || direction === "to-fhir");
    const reverse = hasPms && (direction === "both" || direction === "to-pms");

    let pms: PmsAccessor | undefined;
    if (hasPms) {
      const compiled = compilePmsPath(rule.pms);
      if (typeof compiled === "string") fail("pms", compiled);
      else pms = compiled;
    }

    let fhir: FhirAccessor | undefined;
    let readFhir: Reader | undefined;
    if (hasFhir) {
      if (typeof rule.fhir !== "string") {
        fail("fhir", "fhir must be a path such as name[0].family");
      } else {
        const missing = new Set<string>();
        const parsed = parseWritablePath(rule.fhir, variables, (v) => missing.add(v));
        if (parsed) {
          for (const v of missing) {
            fail(
              "fhir",
              v === "identifierSystem"
                ? "uses %identifierSystem, which is not set (option identifierSystem)"
                : `uses %${v}, which is not set (option variables)`,
            );
          }
          const accessor = compileFhirPath(rule.fhir, parsed, resourceType);
          if (typeof accessor === "string") fail("fhir", accessor);
          else {
            fhir = accessor;
            readFhir = (resource, notes) => accessor.get(resource, notes);
          }
        } else if (direction !== "to-pms") {
          const reader = readOnlyReader(rule.fhir, variables);
          fail(
            "fhir",
            typeof reader === "string"
              ? reader
              : `${describe(rule.fhir)} is not in the writable subset: set direction to-pms to read it with FHIRPath`,
          );
        } else {
          const reader = readOnlyReader(rule.fhir, variables);
          if (typeof reader === "string") fail("fhir", reader);
          else readFhir = reader;
        }
      }
    }

    const transform = resolveTransform(rule, variables);
    if (typeof transform === "string") fail("transform", transform);
    const uses = transformUses(rule.transform);
    if (rule.codeMap !== undefined && !uses.includes("codeMap")) {
      fail("codeMap", "codeMap is read only by transform codeMap");
    }
    if (rule.reverseCodeMap !== undefined && !uses.includes("reverseCodeMap")) {
      fail("reverseCodeMap", "reverseCodeMap is read only by transform codeMap");
    }
    let withPms: PmsAccessor | undefined;
    let withFhir: Reader | undefined;
    if (uses.includes("with")) {
      const w = rule.with;
      if (!isObj(w) || typeof w.pms !== "string" || typeof w.fhir !== "string") {
        fail(
          "with",
          `${String(rule.transform)} needs with: { pms: "<start field>", fhir: "<start element>" }`,
        );
      } else {
        const p = compilePmsPath(w.pms);
        if (typeof p === "string") fail("with", p);
        else withPms = p;
        const parsed = parseWritablePath(w.fhir, variables, (v) =>
          fail("with", `uses %${v}, which is not set`),
        );
        const accessor = parsed
          ? compileFhirPath(w.fhir, parsed, resourceType)
          : "with.fhir must be a writable path";
        if (typeof accessor === "string") fail("with", accessor);
        else withFhir = (resource, notes) => accessor.get(resource, notes);
      }
    } else if (rule.with !== undefined) {
      fail("with", "with is read only by transform addMinutes");
    }
    const validate = resolveValidator(rule.validate);
    if (typeof validate === "string") fail("validate", validate);

    if (typeof transform === "string" || typeof validate === "string") return;
    const compiled: CompiledRule = {
      index: i,
      label,
      pmsField: pms?.text ?? String(rule.fhir),
      fhirField: typeof rule.fhir === "string" ? rule.fhir : String(rule.pms),
      pms,
      fhir,
      readFhir,
      transform,
      validate,
      required: rule.required === true || rule.required === "to-fhir",
      hasDefault,
      defaultValue: rule.default,
      withPms,
      withFhir,
      conflictCheck: false,
    };
    if (forward && (fhir || !hasFhir)) toFhir.push(compiled);
    if (reverse) toPms.push({ ...compiled, required: rule.required === true || rule.required === "to-pms" });
  });

  if (issues.length > 0) return { issues: issues.sort((a, b) => a.rule - b.rule), mapping: undefined };

  const flagSharedTargets = (list: CompiledRule[], key: (r: CompiledRule) => string | undefined) => {
    const seen = new Map<string, CompiledRule[]>();
    for (const r of list) {
      const k = key(r);
      if (k === undefined) continue;
      const group = seen.get(k) ?? [];
      group.push(r);
      seen.set(k, group);
    }
    for (const group of seen.values()) if (group.length > 1) for (const r of group) r.conflictCheck = true;
  };
  flagSharedTargets(toFhir, (r) => r.fhir?.canonical);
  flagSharedTargets(toPms, (r) => r.pms?.text);

  const positional = toFhir.some((r) => r.fhir?.positional === true);
  let frozenRules: MappingRule[];
  try {
    frozenRules = JSON.parse(JSON.stringify(rules)) as MappingRule[];
  } catch (err) {
    return {
      issues: [compileError(-1, "rules", "", `rules must be plain JSON: ${(err as Error).message}`)],
      mapping: undefined,
    };
  }
  return {
    issues,
    mapping: {
      resourceType,
      rules: frozenRules,
      toFhir: (record) => mapToFhir(toFhir, resourceType, positional, record),
      toPms: (resource) => mapToPms(toPms, resourceType, resource),
    },
  };
}

const notes: Notes = { warning: undefined, multiple: false };

function push<C extends string>(
  list: Array<{ field: string; rule: number; label: string; message: string; code: C }> | undefined,
  r: CompiledRule,
  field: string,
  code: C,
  message: string,
) {
  const entry = { field, rule: r.index, label: r.label, message, code };
  if (list) {
    list.push(entry);
    return list;
  }
  return [entry];
}

function failureMessage(err: unknown): string {
  if (err instanceof TransformFailure) return err.message;
  return `transform failed: ${err instanceof Error ? err.message : String(err)}`;
}

function inputError(field: string, message: string): MapResult {
  return {
    value: undefined,
    errors: [{ field, rule: -1, label: "input", message, code: CODES.MAP_INPUT }],
    warnings: [],
  };
}

function mapToFhir(
  rules: CompiledRule[],
  resourceType: string | undefined,
  positional: boolean,
  record: unknown,
): MapResult {
  if (!isObj(record)) return inputError("", `the PMS record is ${shapeOf(record)}, not an object`);
  const out: Obj = resourceType === undefined ? {} : { resourceType };
  let errors: MappingError[] | undefined;
  let warnings: MappingWarning[] | undefined;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const field = r.pmsField;
    let v = r.pms === undefined ? undefined : r.pms.get(record);
    if (isMissing(v)) {
      if (!r.hasDefault) {
        if (r.required) errors = push(errors, r, field, CODES.MAP_REQUIRED, "is required");
        continue;
      }
      v = cloneDefault(r.defaultValue);
    }
    if (r.validate !== undefined) {
      const problem = r.validate(v);
      if (problem !== undefined) {
        errors = push(errors, r, field, CODES.MAP_VALIDATE, `${shapeOf(v)} ${problem}`);
        continue;
      }
    }
    let out1: unknown;
    try {
      out1 = r.transform.forward(v, r.withPms === undefined ? undefined : r.withPms.get(record), notes);
    } catch (err) {
      notes.warning = undefined;
      errors = push(errors, r, field, CODES.MAP_TRANSFORM, failureMessage(err));
      continue;
    }
    if (notes.warning !== undefined) {
      warnings = push<MappingWarningCode>(warnings, r, field, CODES.MAP_LOSSY, notes.warning);
      notes.warning = undefined;
    }
    const fhir = r.fhir!;
    if (fhir.check !== undefined) {
      const problem = fhir.check(out1);
      if (problem !== undefined) {
        errors = push(errors, r, field, CODES.MAP_TRANSFORM, `${fhir.text}: ${problem}`);
        continue;
      }
    }
    if (errors !== undefined) continue;
    if (r.conflictCheck) {
      const existing = fhir.get(out, undefined);
      if (existing !== undefined) {
        if (!same(existing, out1)) {
          errors = push(
            errors,
            r,
            field,
            CODES.MAP_TRANSFORM,
            `${fhir.text} already holds a different value`,
          );
        }
        continue;
      }
    }
    try {
      fhir.set(out, out1);
    } catch (err) {
      errors = push(errors, r, field, CODES.MAP_TRANSFORM, failureMessage(err));
    }
  }
  if (errors !== undefined) return { value: undefined, errors, warnings: warnings ?? [] };
  if (positional) pruneHoles(out);
  return { value: out, errors: [], warnings: warnings ?? [] };
}

function mapToPms(rules: CompiledRule[], resourceType: string | undefined, resource: unknown): MapResult {
  if (!isObj(resource)) return inputError("", `the FHIR resource is ${shapeOf(resource)}, not an object`);
  if (resourceType !== undefined && resource.resourceType !== resourceType) {
    return inputError("resourceType", `expected a ${resourceType}, got ${describe(resource.resourceType)}`);
  }
  const out: Obj = {};
  let errors: MappingError[] | undefined;
  let warnings: MappingWarning[] | undefined;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const field = r.fhirField;
    let v: unknown;
    if (r.readFhir !== undefined) {
      try {
        notes.multiple = false;
        v = r.readFhir(resource, notes);
      } catch (err) {
        errors = push(errors, r, field, CODES.MAP_TRANSFORM, failureMessage(err));
        continue;
      }
      if (notes.multiple) {
        notes.multiple = false;
        warnings = push<MappingWarningCode>(
          warnings,
          r,
          field,
          CODES.MAP_MULTIPLE,
          "several elements match; the first was mapped",
        );
      }
    }
    if (isMissing(v)) {
      if (!r.hasDefault) {
        if (r.required) errors = push(errors, r, field, CODES.MAP_REQUIRED, "is required");
        continue;
      }
      v = cloneDefault(r.defaultValue);
    } else {
      try {
        v = r.transform.reverse(v, r.withFhir === undefined ? undefined : r.withFhir(resource, notes), notes);
      } catch (err) {
        notes.warning = undefined;
        errors = push(errors, r, field, CODES.MAP_TRANSFORM, failureMessage(err));
        continue;
      }
      notes.warning = undefined;
      notes.multiple = false;
      if (v === undefined) continue;
    }
    if (r.validate !== undefined) {
      const problem = r.validate(v);
      if (problem !== undefined) {
        errors = push(errors, r, field, CODES.MAP_VALIDATE, `${shapeOf(v)} ${problem}`);
        continue;
      }
    }
    if (errors !== undefined) continue;
    const pms = r.pms!;
    if (r.conflictCheck) {
      const existing = pms.get(out);
      if (existing !== undefined) {
        if (!same(existing, v)) {
          errors = push(
            errors,
            r,
            field,
            CODES.MAP_TRANSFORM,
            `gives ${pms.text} a different value than another rule`,
          );
        }
        continue;
      }
    }
    try {
      pms.set(out, v);
    } catch (err) {
      errors = push(errors, r, field, CODES.MAP_TRANSFORM, failureMessage(err));
    }
  }
  if (errors !== undefined) return { value: undefined, errors, warnings: warnings ?? [] };
  return { value: out, errors: [], warnings: warnings ?? [] };
}

/** Every problem of a rule list, as MAP_COMPILE entries (empty when it compiles). */
export function checkMapping(rules: unknown, options?: CompileOptions): MappingError[] {
  return compile(rules, options).issues;
}

/**
 * Compiles a rule list once into a mapper for both directions. Throws PackError MAP_COMPILE
 * (details.errors lists every problem) for a broken rule list; the mapper itself never throws
 * for bad data: it returns error entries.
 */
export function compileMapping(
  rules: readonly MappingRule[] | unknown,
  options?: CompileOptions,
): CompiledMapping {
  const { issues, mapping } = compile(rules, options);
  if (!mapping) {
    const summary = issues
      .slice(0, 3)
      .map((e) => (e.rule >= 0 ? `rule ${e.rule} (${e.label}) ${e.field}: ${e.message}` : e.message))
      .join("; ");
    const more = issues.length > 3 ? ` and ${issues.length - 3} more` : "";
    throw new PackError(CODES.MAP_COMPILE, `invalid mapping: ${summary}${more}`, { errors: issues });
  }
  return mapping;
}

export type { MappingErrorCode };
