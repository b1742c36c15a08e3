import type { ErrorCode } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";

/** A node property as the editor stores it: text trimmed, a number as written, anything else empty. */
export function propText(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

export interface NumberProp {
  /** The property as the error message names it ("max bytes", "port"). */
  name: string;
  /** The config error raised for a bad value (`LEGACY_CONFIG`, `MLLP_CONFIG`, ...). */
  code: ErrorCode;
  min: number;
  max?: number;
  /** Whole numbers only unless false (then a decimal fraction such as 1.5 is allowed too). */
  integer?: boolean;
  /** What the number counts, for the message: "seconds", "hours". */
  unit?: string;
}

const WHOLE = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * A numeric node property: empty gives `fallback`; otherwise it must be written as a plain
 * non-negative number (no sign, exponent, hex or spaces inside) within [min, max], or the node's
 * config error is thrown, naming the property, the range and the value given.
 */
export function numberProp(value: unknown, fallback: number, prop: NumberProp): number {
  const raw = propText(value);
  if (raw === "") return fallback;
  const integer = prop.integer !== false;
  const n = Number(raw);
  if (!(integer ? WHOLE : DECIMAL).test(raw) || n < prop.min || (prop.max !== undefined && n > prop.max)) {
    const kind = `${integer ? "an integer" : "a number"}${prop.unit ? ` of ${prop.unit}` : ""}`;
    const range = prop.max === undefined ? `>= ${prop.min}` : `from ${prop.min} to ${prop.max}`;
    throw new PackError(prop.code, `${prop.name} must be ${kind} ${range}, got "${raw}"`, {
      property: prop.name,
    });
  }
  return n;
}
