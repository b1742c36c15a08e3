/**
 * JSON Patch (RFC 6902) over JSON Pointer (RFC 6901), applied to a copy of a resource.
 * A malformed document is a client error (PatchError "malformed", HTTP 400); an operation
 * that does not fit the current state, such as a failed `test` or a missing path, is a
 * conflict (PatchError "conflict", HTTP 409, as RFC 5789 section 2.2 suggests).
 */

export type PatchErrorKind = "malformed" | "conflict";

export class PatchError extends Error {
  readonly kind: PatchErrorKind;
  constructor(kind: PatchErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Container = Json[] | { [key: string]: Json };

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

const OPS = new Set(["add", "remove", "replace", "move", "copy", "test"]);

function parsePointer(pointer: unknown, where: string): string[] {
  if (typeof pointer !== "string") throw new PatchError("malformed", `${where} must be a string`);
  if (pointer === "") return [];
  if (!pointer.startsWith("/"))
    throw new PatchError("malformed", `${where} "${pointer}" must start with "/"`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token))
        throw new PatchError("malformed", `${where} "${pointer}" has a bad escape`);
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

function validate(ops: unknown): Operation[] {
  if (!Array.isArray(ops)) throw new PatchError("malformed", "a JSON Patch document must be an array");
  ops.forEach((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new PatchError("malformed", `operation ${i} must be an object`);
    }
    const op = (item as Record<string, unknown>).op;
    if (typeof op !== "string" || !OPS.has(op)) {
      throw new PatchError("malformed", `operation ${i} has an unknown op ${JSON.stringify(op)}`);
    }
    parsePointer((item as Record<string, unknown>).path, `operation ${i} path`);
    if ((op === "move" || op === "copy") && typeof (item as Record<string, unknown>).from !== "string") {
      throw new PatchError("malformed", `operation ${i} (${op}) needs "from"`);
    }
    if ((op === "add" || op === "replace" || op === "test") && !("value" in item)) {
      throw new PatchError("malformed", `operation ${i} (${op}) needs "value"`);
    }
  });
  return ops as Operation[];
}

function isContainer(value: Json | undefined): value is Container {
  return value !== null && typeof value === "object";
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, pointer: string): number {
  if (forAdd && token === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new PatchError("conflict", `"${pointer}": "${token}" is not an array index`);
  }
  const index = Number(token);
  if (index > arr.length || (!forAdd && index === arr.length)) {
    throw new PatchError("conflict", `"${pointer}": index ${index} is out of range`);
  }
  return index;
}

function parentOf(doc: Json, tokens: string[], pointer: string): Container {
  let node: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) {
      node = node[arrayIndex(node, token, false, pointer)];
    } else if (isContainer(node) && Object.prototype.hasOwnProperty.call(node, token)) {
      node = node[token];
    } else {
      throw new PatchError("conflict", `path "${pointer}" does not exist`);
    }
    if (!isContainer(node)) throw new PatchError("conflict", `path "${pointer}" does not exist`);
  }
  return node as Container;
}

function get(doc: Json, pointer: string): Json {
  let node: Json = doc;
  for (const token of parsePointer(pointer, "path")) {
    if (Array.isArray(node)) {
      node = node[arrayIndex(node, token, false, pointer)];
    } else if (isContainer(node) && Object.prototype.hasOwnProperty.call(node, token)) {
      node = node[token];
    } else {
      throw new PatchError("conflict", `path "${pointer}" does not exist`);
    }
  }
  return node;
}

function add(doc: Json, pointer: string, value: Json): Json {
  const tokens = parsePointer(pointer, "path");
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, pointer), 0, value);
  else parent[last] = value;
  return doc;
}

function remove(doc: Json, pointer: string): Json {
  const tokens = parsePointer(pointer, "path");
  if (tokens.length === 0) throw new PatchError("conflict", "cannot remove the whole document");
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, last, false, pointer), 1);
  } else {
    if (!Object.prototype.hasOwnProperty.call(parent, last)) {
      throw new PatchError("conflict", `path "${pointer}" does not exist`);
    }
    delete parent[last];
  }
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isContainer(a) && isContainer(b) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

const clone = (value: Json): Json => (value === undefined ? value : JSON.parse(JSON.stringify(value)));

/** Applies `ops` to a deep copy of `document` and returns the copy; the input is never changed. */
export function applyJsonPatch<T>(document: T, ops: unknown): T {
  let doc = clone(document as Json);
  for (const op of validate(ops)) {
    switch (op.op) {
      case "add":
        doc = add(doc, op.path, clone(op.value as Json));
        break;
      case "remove":
        doc = remove(doc, op.path);
        break;
      case "replace":
        get(doc, op.path);
        doc =
          parsePointer(op.path, "path").length === 0
            ? clone(op.value as Json)
            : add(remove(doc, op.path), op.path, clone(op.value as Json));
        break;
      case "move": {
        const from = op.from as string;
        if (op.path !== from && op.path.startsWith(from + "/")) {
          throw new PatchError("malformed", `cannot move "${from}" into its own child "${op.path}"`);
        }
        const value = get(doc, from);
        doc = add(remove(doc, from), op.path, value);
        break;
      }
      case "copy":
        doc = add(doc, op.path, clone(get(doc, op.from as string)));
        break;
      case "test":
        if (!deepEqual(get(doc, op.path), op.value as Json)) {
          throw new PatchError("conflict", `test failed at "${op.path}"`);
        }
        break;
    }
  }
  return doc as T;
}
