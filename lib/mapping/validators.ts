import { parseCalendarDate } from "./datetime";

/** A check of a PMS-side value; returns a message when it fails. */
export type Validator = (value: unknown) => string | undefined;

export const validatorNames = ["email", "phone", "date", "regex:<pattern>"] as const;

const EMAIL =
  /^[^\s@"(),:;<>[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
const PHONE = /^\+?[0-9().\-\s]+(?:\s*(?:x|ext\.?)\s*\d{1,6})?$/i;

const email: Validator = (v) =>
  typeof v === "string" && v.length <= 254 && EMAIL.test(v) ? undefined : "is not a valid e-mail address";

/** Digits, spaces and ( ) . - with an optional leading +: counted by hand, the common case. */
function plainPhoneDigits(v: string): number {
  let digits = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (!(c === 32 || c === 40 || c === 41 || c === 46 || c === 45 || (c === 43 && i === 0))) return -1;
  }
  return digits;
}

const phone: Validator = (v) => {
  if (typeof v !== "string") return "is not a phone number";
  let digits = plainPhoneDigits(v);
  if (digits < 0) {
    if (!PHONE.test(v)) return "is not a phone number";
    digits = plainPhoneDigits(v.replace(/\s*(?:x|ext\.?)\s*\d{1,6}$/i, ""));
  }
  return digits >= 7 && digits <= 15 ? undefined : "is not a phone number (7 to 15 digits)";
};

const date: Validator = (v) => (parseCalendarDate(v) ? undefined : "is not a real calendar date");

/** The validator a rule names, or a message saying why the name is wrong. */
export function resolveValidator(spec: unknown): Validator | string | undefined {
  if (spec === undefined || spec === null || spec === "") return undefined;
  if (typeof spec !== "string") return "validate must be email, phone, date or regex:<pattern>";
  if (spec === "email") return email;
  if (spec === "phone") return phone;
  if (spec === "date") return date;
  if (spec.startsWith("regex:")) {
    let re: RegExp;
    try {
      re = new RegExp(spec.slice(6));
    } catch (err) {
      return `validate ${spec} is not a valid regular expression: ${(err as Error).message}`;
    }
    return (v) =>
      (typeof v === "string" || typeof v === "number") && re.test(String(v))
        ? undefined
        : `does not match ${spec.slice(6)}`;
  }
  return `unknown validation ${JSON.stringify(spec)} (email, phone, date or regex:<pattern>)`;
}
