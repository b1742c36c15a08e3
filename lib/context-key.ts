/**
 * A Node-RED context key the pack writes to: a plain identifier. Node-RED reads dots and
 * brackets in a key as a path into a stored object, so `a.b` would not be the key it looks like.
 */
const PLAIN = /^[A-Za-z_$][\w$]*$/;
export const CONTEXT_KEY_MAX = 100;

export function isContextKey(text: string): boolean {
  return text.length <= CONTEXT_KEY_MAX && PLAIN.test(text);
}

export const CONTEXT_KEY_RULE = "a plain name (letters, digits, _ or $, not starting with a digit)";
