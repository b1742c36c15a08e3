import { CODES } from "../error-codes";
import { PackError } from "../errors";

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const MSG_PATH = /^msg((?:\.[A-Za-z_$][\w$]*|\[\d+\])+)$/;

function lookup(msg: Record<string, unknown>, path: string): unknown {
  let value: unknown = msg;
  for (const part of path.match(/\.[A-Za-z_$][\w$]*|\[\d+\]/g) ?? []) {
    if (value == null || typeof value !== "object") return undefined;
    const key = part.startsWith(".") ? part.slice(1) : part.slice(1, -1);
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Whether a placeholder's expression names a msg property (`msg.a.b`, `msg.list[0]`). */
export function isMsgPlaceholder(expr: string): boolean {
  return MSG_PATH.test(expr);
}

/** The placeholders of a template, e.g. ["msg.patientId"]. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/**
 * Fills `{{msg.a.b}}` placeholders with the msg's values, each URL-encoded as one path
 * segment or query value. A placeholder that is not `msg.<path>`, a missing or non-scalar
 * value, and a value of "." or ".." (a dot segment that URL parsing would resolve, encoded or
 * not) are errors.
 */
export function fillPathTemplate(template: string, msg: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_whole, expr: string) => {
    const match = MSG_PATH.exec(expr);
    if (!match) {
      throw new PackError(
        CODES.LEGACY_PATH_PARAM,
        `path placeholder {{${expr}}} must name a msg property, e.g. {{msg.id}}`,
      );
    }
    const value = lookup(msg, match[1]);
    if (value === undefined || value === null || value === "") {
      throw new PackError(CODES.LEGACY_PATH_PARAM, `path placeholder {{${expr}}} has no value`, {
        placeholder: expr,
      });
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new PackError(CODES.LEGACY_PATH_PARAM, `path placeholder {{${expr}}} is not a string or number`, {
        placeholder: expr,
      });
    }
    const text = String(value);
    if (text === "." || text === "..") {
      throw new PackError(CODES.LEGACY_PATH_PARAM, `path placeholder {{${expr}}} may not be "." or ".."`, {
        placeholder: expr,
      });
    }
    return encodeURIComponent(text);
  });
}
