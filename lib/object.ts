/**
 * A plain object (not null, not an array, not a Buffer or other byte array): what a msg property
 * must be before its fields are read.
 */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
