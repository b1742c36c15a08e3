import { isEnvReference } from "./env";

/**
 * What a numeric node property may hold: one rule for the runtime (nodes/shared/props.ts
 * `numberProp`, lib/health/config.ts) and for the editor's validators (`numberField`), so that
 * the editor marks as invalid what the node would refuse.
 */
export interface NumberRule {
  min: number;
  max?: number;
  /** Whole numbers only unless false (then a decimal fraction such as 1.5 is allowed too). */
  integer?: boolean;
  /**
   * How the number is written. "plain" (the default): digits with an optional decimal fraction,
   * no sign, exponent, hex or spaces inside. "any": whatever JavaScript's Number() reads as a
   * finite number (".5", "1e3"), which health-monitor's thresholds have always accepted.
   */
  form?: "plain" | "any";
}

const WHOLE = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** The number that `text` (trimmed, not empty) writes under `rule`; undefined when it breaks the rule. */
export function readNumber(text: string, rule: NumberRule): number | undefined {
  const integer = rule.integer !== false;
  const n = Number(text);
  if (rule.form === "any") {
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return undefined;
  } else if (!(integer ? WHOLE : DECIMAL).test(text)) {
    return undefined;
  }
  if (n < rule.min || (rule.max !== undefined && n > rule.max)) return undefined;
  return n;
}

export interface NumberFieldOptions {
  /** Empty is refused (by default it passes: the node then takes its default). */
  required?: boolean;
  /** A `${NAME}` environment variable reference passes (Node-RED replaces it when it loads the flow). */
  env?: boolean;
}

/** The rule in words, as the runtime's errors and the editor's hover say it: "an integer from 1 to 65535". */
export function numberRuleText(rule: NumberRule, unit?: string): string {
  const kind = `${rule.integer !== false ? "an integer" : "a number"}${unit ? ` of ${unit}` : ""}`;
  return `${kind} ${rule.max === undefined ? `>= ${rule.min}` : `from ${rule.min} to ${rule.max}`}`;
}

export interface FieldValidator {
  (value: unknown): boolean;
  (value: unknown, opt: { label?: string }): boolean | string;
}

/**
 * An editor `validate` function for a numeric property under `rule`. It takes Node-RED 3's second
 * argument, so it answers a bad value with the reason, which the editor shows on hover; called
 * without it (Node-RED 2's way), it answers false.
 */
export function numberField(rule: NumberRule, options: NumberFieldOptions = {}): FieldValidator {
  return ((value: unknown, opt?: { label?: string }) => {
    const text = String(value ?? "").trim();
    let ok: boolean;
    if (text === "") ok = options.required !== true;
    else if (options.env === true && isEnvReference(text)) ok = true;
    else ok = readNumber(text, rule) !== undefined;
    if (ok) return true;
    if (!opt) return false;
    const reason =
      text === "" ? "required" : `must be ${numberRuleText(rule)}${options.env ? " or ${ENV_VAR}" : ""}`;
    return opt.label ? `${opt.label}: ${reason}` : reason;
  }) as FieldValidator;
}
