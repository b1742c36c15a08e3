import * as r4 from "fhirpath/fhir-context/r4";
import { TransformFailure, describe, shapeOf, type Notes } from "./transforms";

/*
 * Paths compiled once into accessors: the PMS side is a dotted path, the FHIR side the
 * writable FHIRPath subset
 *
 *   path   := step ("." step)*
 *   step   := name ("[" digits "]")? | name "." "where(" cond (" and " cond)* ")"
 *   cond   := name ("." name)* "=" ( 'text' | %variable | number | true | false )
 *
 * resolved against the FHIR R4 model, so that a list element without [n] means its first
 * item and writing creates lists where FHIR has them.
 */

type Model = {
  path2Type: Record<string, string>;
  path2Repeating: Record<string, true>;
  type2Parent: Record<string, string>;
  pathsDefinedElsewhere: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
};

const model = r4 as unknown as Model;

/** Names a path must not use: they would reach Object.prototype instead of data. */
const FORBIDDEN = new Set(Object.getOwnPropertyNames(Object.prototype).concat(["prototype"]));

export type Literal = string | number | boolean;

export interface ParsedCond {
  path: string[];
  literal: Literal;
}

export interface ParsedStep {
  name: string;
  index?: number;
  where?: ParsedCond[];
}

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  eat(s: string): boolean {
    if (!this.peek(s)) return false;
    this.pos += s.length;
    return true;
  }

  spaces(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m || m.index !== this.pos) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /\d+/y;
const NUMBER = /-?\d+(?:\.\d+)?/y;

const ESCAPES: Record<string, string> = {
  "'": "'",
  '"': '"',
  "`": "`",
  "\\": "\\",
  "/": "/",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

function parseString(c: Cursor): string | undefined {
  if (!c.eat("'")) return undefined;
  let out = "";
  while (!c.done) {
    const ch = c.text[c.pos++];
    if (ch === "'") return out;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const esc = c.text[c.pos++];
    if (esc === "u") {
      const hex = c.text.slice(c.pos, c.pos + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
      out += String.fromCharCode(parseInt(hex, 16));
      c.pos += 4;
    } else if (esc !== undefined && ESCAPES[esc] !== undefined) {
      out += ESCAPES[esc];
    } else {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Parses the writable subset. Returns undefined for anything else (which may still be a
 * read-only FHIRPath expression); `%name` variables are looked up in `variables`, and a
 * missing one is reported through `missing`.
 */
export function parseWritablePath(
  text: string,
  variables: Record<string, string>,
  missing: (name: string) => void,
): ParsedStep[] | undefined {
  const c = new Cursor(text.trim());
  const steps: ParsedStep[] = [];
  for (;;) {
    const name = c.match(IDENT);
    if (name === undefined) return undefined;
    if (name === "where" && c.peek("(")) {
      const prev = steps[steps.length - 1];
      if (!prev || prev.index !== undefined || prev.where) return undefined;
      c.eat("(");
      const conds: ParsedCond[] = [];
      for (;;) {
        c.spaces();
        const path: string[] = [];
        for (;;) {
          const part = c.match(IDENT);
          if (part === undefined) return undefined;
          path.push(part);
          if (!c.eat(".")) break;
        }
        c.spaces();
        if (!c.eat("=")) return undefined;
        c.spaces();
        let literal: Literal | undefined;
        if (c.peek("'")) literal = parseString(c);
        else if (c.eat("%")) {
          const v = c.match(IDENT);
          if (v === undefined) return undefined;
          literal = Object.hasOwn(variables, v) ? variables[v] : undefined;
          if (literal === undefined) {
            missing(v);
            literal = "";
          }
        } else if (c.eat("true")) literal = true;
        else if (c.eat("false")) literal = false;
        else {
          const n = c.match(NUMBER);
          literal = n === undefined ? undefined : Number(n);
        }
        if (literal === undefined) return undefined;
        conds.push({ path, literal });
        c.spaces();
        if (c.eat(")")) break;
        if (!c.eat("and")) return undefined;
        if (!/\s/.test(c.text[c.pos] ?? "")) return undefined;
      }
      prev.where = conds;
    } else {
      const step: ParsedStep = { name };
      if (c.eat("[")) {
        const digits = c.match(DIGITS);
        if (digits === undefined || !c.eat("]")) return undefined;
        step.index = Number(digits);
      }
      steps.push(step);
    }
    if (c.done) return steps;
    if (!c.eat(".")) return undefined;
  }
}

/** What the model says about one element. */
interface ElementDef {
  key: string;
  type: string;
  repeating: boolean;
  /** Where its children are defined: its own path for backbone elements, else its type. */
  childPrefix: string;
}

const PRIMITIVE_KIND: Record<string, "string" | "number" | "integer" | "boolean"> = {
  string: "string",
  code: "string",
  uri: "string",
  url: "string",
  canonical: "string",
  oid: "string",
  uuid: "string",
  id: "string",
  markdown: "string",
  base64Binary: "string",
  date: "string",
  dateTime: "string",
  instant: "string",
  time: "string",
  xhtml: "string",
  "System.String": "string",
  "System.Date": "string",
  "System.DateTime": "string",
  "System.Time": "string",
  decimal: "number",
  "System.Decimal": "number",
  integer: "integer",
  positiveInt: "integer",
  unsignedInt: "integer",
  "System.Integer": "integer",
  boolean: "boolean",
  "System.Boolean": "boolean",
};

export function isResourceType(name: string): boolean {
  return model.type2Parent[name] === "DomainResource" || model.type2Parent[name] === "Resource";
}

function lookupElement(prefix: string, type: string, name: string): ElementDef | string {
  let key = `${prefix}.${name}`;
  let found = model.path2Type[key] ?? model.pathsDefinedElsewhere[key];
  if (found === undefined) {
    for (let t = prefix === type ? model.type2Parent[type] : type; t; t = model.type2Parent[t]) {
      key = `${t}.${name}`;
      found = model.path2Type[key];
      if (found !== undefined) break;
    }
  }
  if (found === undefined) {
    if (model.choiceTypePaths[`${prefix}.${name}`]) {
      const choices = model.choiceTypePaths[`${prefix}.${name}`];
      return `${name} is a choice of types: name one, e.g. ${name}${choices[0]}`;
    }
    return `${prefix} has no element ${name}`;
  }
  const elsewhere = model.pathsDefinedElsewhere[key];
  const elementType = elsewhere ? model.path2Type[elsewhere] : found;
  const backbone = elementType === "BackboneElement" || elementType === "Element";
  return {
    key,
    type: elementType,
    repeating: model.path2Repeating[key] === true,
    childPrefix: backbone ? (elsewhere ?? key) : elementType,
  };
}

const enum Mode {
  /** Model says one value. */
  Single,
  /** No model: a list reads as its first item, writing makes a single value. */
  Loose,
  /** A list item by position (explicit or the implicit first). */
  Index,
  /** The first list item whose conditions hold. */
  Where,
  /** The one value, when its conditions hold. */
  WhereOne,
}

interface CondStep {
  name: string;
  repeating: boolean;
}

interface Cond {
  steps: CondStep[];
  literal: Literal;
}

interface Step {
  name: string;
  mode: Mode;
  index: number;
  /** [n] not written, so several items mean data left unread. */
  implicit: boolean;
  conds: Cond[];
  match: (el: unknown) => boolean;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function condHolds(value: unknown, cond: Cond, depth: number): boolean {
  if (Array.isArray(value)) {
    for (const item of value) if (condHolds(item, cond, depth)) return true;
    return false;
  }
  if (depth === cond.steps.length) return value === cond.literal;
  if (!isObj(value)) return false;
  return condHolds(value[cond.steps[depth].name], cond, depth + 1);
}

/**
 * The filter test of a where() step: every condition holds, each matching when any item on its way
 * does (so a list where the model says one value is read as the item that matches, whatever the
 * number of conditions).
 */
function compileMatcher(conds: Cond[]): (el: unknown) => boolean {
  return (el) => {
    if (!isObj(el)) return false;
    for (const cond of conds) if (!condHolds(el, cond, 0)) return false;
    return true;
  };
}

/**
 * Writes what the conditions test into `el` (the first item of a list on the way), so that they
 * hold; false when `el` already holds something else where one of them writes.
 */
function fillMatching(el: Obj, conds: Cond[]): boolean {
  for (const cond of conds) {
    let cur = el;
    for (let i = 0; i < cond.steps.length; i++) {
      const { name, repeating } = cond.steps[i];
      let next = cur[name];
      if (i === cond.steps.length - 1) {
        if (next === undefined || next === null) cur[name] = repeating ? [cond.literal] : cond.literal;
        else if (!condHolds(next, cond, cond.steps.length)) return false;
        break;
      }
      if (repeating) {
        if (next === undefined || next === null) cur[name] = next = [{}];
        if (!Array.isArray(next)) return false;
        next = next[0];
      } else if (next === undefined || next === null) {
        cur[name] = next = {};
      }
      if (!isObj(next)) return false;
      cur = next;
    }
  }
  return true;
}

function createMatching(conds: Cond[]): Obj {
  const el: Obj = {};
  fillMatching(el, conds);
  return el;
}

export type LeafCheck = (value: unknown) => string | undefined;

export interface FhirAccessor {
  /** The path as written. */
  readonly text: string;
  /** One spelling per target, for finding rules that write the same element. */
  readonly canonical: string;
  /** Writes at a position after the first, which may leave holes to prune. */
  readonly positional: boolean;
  /** FHIR type of the element, when the model knows it. */
  readonly type: string | undefined;
  /** The filters of this path, as element paths with the literal they hold. */
  readonly filterTargets: string[];
  get(root: unknown, notes: Notes | undefined): unknown;
  /** Throws TransformFailure when the resource has something else where a container must go. */
  set(root: Obj, value: unknown): void;
  /** Checks a value before it is written (JSON type, whole numbers, no empty text). */
  check: LeafCheck | undefined;
}

function leafCheck(type: string | undefined, repeatingLeafWithoutIndex: boolean): LeafCheck | undefined {
  if (type === undefined) return undefined;
  const kind = PRIMITIVE_KIND[type];
  const noList = repeatingLeafWithoutIndex
    ? (v: unknown) => (Array.isArray(v) ? "is a list; this element takes one item per rule" : undefined)
    : undefined;
  switch (kind) {
    case "string":
      return (v) =>
        typeof v === "string" && v !== "" ? undefined : `${shapeOf(v)} is not text for a FHIR ${type}`;
    case "number":
      return (v) =>
        typeof v === "number" && Number.isFinite(v) ? undefined : `${shapeOf(v)} is not a FHIR ${type}`;
    case "integer":
      return (v) => {
        if (typeof v !== "number" || !Number.isInteger(v)) return `${shapeOf(v)} is not a FHIR ${type}`;
        if (type === "positiveInt" && v < 1) return `${v} is not a positiveInt (1 or more)`;
        if (type === "unsignedInt" && v < 0) return `${v} is not an unsignedInt (0 or more)`;
        return undefined;
      };
    case "boolean":
      return (v) => (typeof v === "boolean" ? undefined : `${shapeOf(v)} is not a FHIR boolean`);
    default:
      return (v) => noList?.(v) ?? (isObj(v) ? undefined : `${shapeOf(v)} is not a FHIR ${type} object`);
  }
}

function literalText(l: Literal): string {
  return typeof l === "string" ? `'${l.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'` : String(l);
}

/**
 * Compiles a writable FHIR path for a resource type (undefined: no model, shapes follow the
 * data). Returns a message when the path breaks the subset's rules or the model.
 */
export function compileFhirPath(
  text: string,
  parsed: ParsedStep[],
  resourceType: string | undefined,
): FhirAccessor | string {
  let parts = parsed;
  if (resourceType !== undefined && parts.length > 1 && parts[0].name === resourceType && !parts[0].where) {
    if (parts[0].index !== undefined) return `${resourceType}[n] is not an element`;
    parts = parts.slice(1);
  }
  if (parts[parts.length - 1].where) return "a where() filter must be followed by the element to map";
  const steps: Step[] = [];
  let prefix = resourceType;
  let type = resourceType;
  let leafType: string | undefined;
  let leafRepeatingNoIndex = false;
  let positional = false;
  const canonical: string[] = [];
  const filterTargets: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (FORBIDDEN.has(p.name)) return `${p.name} cannot be used as an element name`;
    let repeating: boolean | undefined;
    if (prefix !== undefined && type !== undefined) {
      if (PRIMITIVE_KIND[type] !== undefined)
        return `${parts[i - 1].name} is a ${type}; it has no element ${p.name}`;
      const def = lookupElement(prefix, type, p.name);
      if (typeof def === "string") return def;
      repeating = def.repeating;
      prefix = def.childPrefix;
      type = def.type;
      leafType = def.type;
    } else {
      leafType = undefined;
    }
    if (p.index !== undefined && p.index > 0) positional = true;
    if (p.index !== undefined && p.index > 0 && repeating === false) {
      return `${p.name} holds one value; only ${p.name}[0] exists`;
    }
    const conds: Cond[] = [];
    if (p.where) {
      for (const cond of p.where) {
        const condSteps: CondStep[] = [];
        let cPrefix = prefix;
        let cType = type;
        let cLeaf: string | undefined;
        for (const name of cond.path) {
          if (FORBIDDEN.has(name)) return `${name} cannot be used as an element name`;
          if (cPrefix !== undefined && cType !== undefined) {
            if (PRIMITIVE_KIND[cType] !== undefined) return `where(): ${cType} has no element ${name}`;
            const def = lookupElement(cPrefix, cType, name);
            if (typeof def === "string") return `where(): ${def}`;
            condSteps.push({ name, repeating: def.repeating });
            cPrefix = def.childPrefix;
            cType = def.type;
            cLeaf = def.type;
          } else {
            condSteps.push({ name, repeating: false });
          }
        }
        if (cLeaf !== undefined) {
          const kind = PRIMITIVE_KIND[cLeaf];
          const literalKind = typeof cond.literal;
          const ok =
            kind === "string"
              ? literalKind === "string"
              : kind === "boolean"
                ? literalKind === "boolean"
                : kind === "number" || kind === "integer"
                  ? literalKind === "number"
                  : false;
          if (!ok)
            return `where(): ${cond.path.join(".")} is a ${cLeaf}; ${literalText(cond.literal)} cannot match it`;
        }
        conds.push({ steps: condSteps, literal: cond.literal });
      }
    }
    const mode = p.where
      ? repeating === false
        ? Mode.WhereOne
        : Mode.Where
      : p.index !== undefined || repeating === true
        ? Mode.Index
        : repeating === false
          ? Mode.Single
          : Mode.Loose;
    const implicit = p.index === undefined;
    steps.push({ name: p.name, mode, index: p.index ?? 0, implicit, conds, match: compileMatcher(conds) });
    if (i === parts.length - 1) leafRepeatingNoIndex = repeating === true && implicit;
    const where = conds.length
      ? `.where(${p
          .where!.map((c) => `${c.path.join(".")}=${literalText(c.literal)}`)
          .sort()
          .join(" and ")})`
      : "";
    canonical.push(mode === Mode.Index ? `${p.name}[${p.index ?? 0}]` : `${p.name}${where}`);
    if (p.where) {
      const base = canonical.slice(0, -1).concat(`${p.name}${where}`).join(".");
      for (const c of p.where) filterTargets.push(`${base}.${c.path.join(".")}`);
    }
  }
  const n = steps.length;
  const check = leafCheck(leafType, leafRepeatingNoIndex);

  function get(root: unknown, notes: Notes | undefined): unknown {
    let cur = root;
    for (let i = 0; i < n; i++) {
      if (cur === null || typeof cur !== "object") return undefined;
      const s = steps[i];
      const v = (cur as Obj)[s.name];
      if (v === undefined || v === null) return undefined;
      switch (s.mode) {
        case Mode.Single:
          cur = v;
          break;
        case Mode.Loose:
        case Mode.Index:
          if (Array.isArray(v)) {
            if (s.implicit && v.length > 1 && notes) notes.multiple = true;
            cur = v[s.index];
          } else {
            cur = s.index === 0 ? v : undefined;
          }
          break;
        case Mode.Where: {
          if (!Array.isArray(v)) return undefined;
          let found: unknown;
          for (const el of v) {
            if (!s.match(el)) continue;
            if (found !== undefined) {
              if (notes) notes.multiple = true;
              break;
            }
            found = el;
          }
          cur = found;
          break;
        }
        case Mode.WhereOne:
          if (!s.match(v)) return undefined;
          cur = v;
          break;
      }
    }
    return cur === null ? undefined : cur;
  }

  function conflict(s: Step, what: string): never {
    throw new TransformFailure(`${text}: ${s.name} already holds ${what}`);
  }

  function list(c: Obj, s: Step): unknown[] {
    const v = c[s.name];
    if (v === undefined || v === null) {
      const arr: unknown[] = [];
      c[s.name] = arr;
      return arr;
    }
    if (!Array.isArray(v)) conflict(s, "a single value where FHIR has a list");
    return v;
  }

  function set(root: Obj, value: unknown): void {
    let cur = root;
    for (let i = 0; i < n - 1; i++) {
      const s = steps[i];
      switch (s.mode) {
        case Mode.Single:
        case Mode.Loose: {
          let v = cur[s.name];
          if (v === undefined || v === null) {
            v = {};
            cur[s.name] = v;
          } else if (s.mode === Mode.Loose && Array.isArray(v) && isObj(v[0])) {
            v = v[0];
          } else if (!isObj(v)) {
            conflict(s, shapeOf(v));
          }
          cur = v as Obj;
          break;
        }
        case Mode.Index: {
          const arr = list(cur, s);
          let v = arr[s.index];
          if (v === undefined || v === null) {
            v = {};
            arr[s.index] = v;
          } else if (!isObj(v)) {
            conflict(s, shapeOf(v));
          }
          cur = v as Obj;
          break;
        }
        case Mode.Where: {
          const arr = list(cur, s);
          let found: Obj | undefined;
          for (const el of arr) {
            if (s.match(el)) {
              found = el as Obj;
              break;
            }
          }
          if (!found) {
            found = createMatching(s.conds);
            arr.push(found);
          }
          cur = found;
          break;
        }
        case Mode.WhereOne: {
          const v = cur[s.name];
          if (v === undefined || v === null) {
            cur = cur[s.name] = createMatching(s.conds);
          } else if (isObj(v) && (s.match(v) || fillMatching(v, s.conds))) {
            cur = v;
          } else {
            conflict(s, isObj(v) ? "a value its where() conditions do not hold for" : shapeOf(v));
          }
          break;
        }
      }
    }
    const last = steps[n - 1];
    if (last.mode === Mode.Index) list(cur, last)[last.index] = value;
    else cur[last.name] = value;
  }

  return {
    text,
    canonical: canonical.join("."),
    positional,
    type: leafType,
    filterTargets,
    get,
    set,
    check,
  };
}

/** Removes the holes that writes at later positions left in lists. */
export function pruneHoles(value: unknown): void {
  if (Array.isArray(value)) {
    let holes = false;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || value[i] === undefined) holes = true;
      else pruneHoles(value[i]);
    }
    if (holes) {
      const kept = value.filter((v) => v !== undefined);
      value.length = 0;
      value.push(...kept);
    }
  } else if (isObj(value)) {
    for (const key of Object.keys(value)) pruneHoles(value[key]);
  }
}

export interface PmsAccessor {
  readonly text: string;
  get(record: unknown): unknown;
  /** Throws TransformFailure when the record has a non-object where a container must go. */
  set(record: Obj, value: unknown): void;
}

/** A dotted PMS path (`address.zipCode`), or a message saying why it is not one. */
export function compilePmsPath(text: unknown): PmsAccessor | string {
  if (typeof text !== "string" || text.trim() === "")
    return "pms must be a dotted path such as address.zipCode";
  const names = text.split(".");
  for (const name of names) {
    if (name === "" || /[[\]\s]/.test(name)) return `${describe(text)} is not a dotted path`;
    if (FORBIDDEN.has(name)) return `${name} cannot be used as a field name`;
  }
  const [a, b] = names;
  let get: (record: unknown) => unknown;
  if (names.length === 1) {
    get = (r) => (r !== null && typeof r === "object" ? (r as Obj)[a] : undefined);
  } else if (names.length === 2) {
    get = (r) => {
      if (r === null || typeof r !== "object") return undefined;
      const v = (r as Obj)[a];
      return v !== null && typeof v === "object" ? (v as Obj)[b] : undefined;
    };
  } else {
    get = (r) => {
      let cur = r;
      for (const name of names) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Obj)[name];
      }
      return cur;
    };
  }
  const set = (record: Obj, value: unknown): void => {
    let cur = record;
    for (let i = 0; i < names.length - 1; i++) {
      let v = cur[names[i]];
      if (v === undefined || v === null) {
        v = {};
        cur[names[i]] = v;
      } else if (!isObj(v)) {
        throw new TransformFailure(`${text}: ${names[i]} already holds ${shapeOf(v)}`);
      }
      cur = v as Obj;
    }
    cur[names[names.length - 1]] = value;
  };
  return { text, get, set };
}
