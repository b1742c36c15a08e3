import type { ErrorCode } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { numberRuleText, readNumber, type NumberRule } from "../../lib/number-prop";

/** A node property as the editor stores it: text trimmed, a number as written, anything else empty. */
export function propText(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

export interface NumberProp extends NumberRule {
  /** The property as the error message names it ("max bytes", "port"). */
  name: string;
  /** The config error raised for a bad value (`LEGACY_CONFIG`, `MLLP_CONFIG`, ...). */
  code: ErrorCode;
  /** What the number counts, for the message: "seconds", "hours". */
  unit?: string;
}

/**
 * A numeric node property: empty gives `fallback`; otherwise it must be written as a plain
 * non-negative number (no sign, exponent, hex or spaces inside; unless `form` says otherwise)
 * within [min, max] (lib/number-prop, the rule the editors check too), or the node's config error
 * is thrown, naming the property, the range and the value given.
 */
export function numberProp(value: unknown, fallback: number, prop: NumberProp): number {
  const raw = propText(value);
  if (raw === "") return fallback;
  const n = readNumber(raw, prop);
  if (n === undefined) {
    throw new PackError(prop.code, `${prop.name} must be ${numberRuleText(prop, prop.unit)}, got "${raw}"`, {
      property: prop.name,
    });
  }
  return n;
}
