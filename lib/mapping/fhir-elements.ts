import { FHIR_R4_ELEMENTS } from "./fhir-r4-elements";

/** An element of a FHIR R4 resource, as the mapping dialog suggests it. */
export interface FhirElement {
  /** The path from the resource (for a suggestion: the whole text to put in the box). */
  path: string;
  /** Its FHIR type (`string`, `HumanName`, `BackboneElement`, ...). */
  type: string;
  /** Whether it holds a list. */
  list: boolean;
}

type Table = ReadonlyMap<string, { type: string; list: boolean }>;

const tables = new Map<string, Table>();

function parse(text: string): Table {
  const table = new Map<string, { type: string; list: boolean }>();
  const tokens = text.split(" ");
  for (let i = 0; i + 1 < tokens.length; i += 2) {
    const type = tokens[i + 1];
    const list = type.endsWith("*");
    table.set(tokens[i], { type: list ? type.slice(0, -1) : type, list });
  }
  return table;
}

function tableOf(kind: "resources" | "types", name: string): Table | undefined {
  const source: Readonly<Record<string, string>> = FHIR_R4_ELEMENTS[kind];
  if (!Object.prototype.hasOwnProperty.call(source, name)) return undefined;
  const key = `${kind}:${name}`;
  let table = tables.get(key);
  if (!table) {
    table = parse(source[name]);
    tables.set(key, table);
  }
  return table;
}

/** The resource types whose elements are bundled, in alphabetical order. */
export const FHIR_ELEMENT_RESOURCE_TYPES: readonly string[] = Object.keys(FHIR_R4_ELEMENTS.resources).sort();

function isBackbone(type: string): boolean {
  return type === "BackboneElement" || type === "Element";
}

/** The elements directly under `prefix` ("" or a backbone path ending in "."). */
function childrenOf(table: Table, prefix: string): FhirElement[] {
  const out: FhirElement[] = [];
  for (const [path, el] of table) {
    if (path.startsWith(prefix) && !path.slice(prefix.length).includes(".")) {
      out.push({ path: path.slice(prefix.length), ...el });
    }
  }
  return out;
}

/**
 * The element paths of a resource type: its own elements (backbone elements' children
 * included) and, one level down, those of their complex datatypes (`name.family`,
 * `identifier.system`). None for a type that is not bundled.
 */
export function fhirElements(resourceType: string): FhirElement[] {
  const table = tableOf("resources", resourceType);
  if (!table) return [];
  const out: FhirElement[] = [];
  for (const [path, el] of table) {
    out.push({ path, ...el });
    const type = isBackbone(el.type) ? undefined : tableOf("types", el.type);
    if (type) for (const child of childrenOf(type, "")) out.push({ ...child, path: `${path}.${child.path}` });
  }
  return out;
}

/**
 * Splits typed path text at its dots outside brackets, parentheses and quotes. Undefined while a
 * bracket, parenthesis or quote is still open (the user is typing inside a filter).
 */
function splitPath(text: string): string[] | undefined {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === "'") quote = false;
    } else if (c === "'") quote = true;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (c === "." && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quote || depth !== 0) return undefined;
  parts.push(text.slice(start));
  return parts;
}

function ranked(candidates: FhirElement[], typed: string, key: (e: FhirElement) => string): FhirElement[] {
  const want = typed.toLowerCase();
  const starts = candidates.filter((e) => key(e).toLowerCase().startsWith(want));
  const contains = candidates.filter(
    (e) => !key(e).toLowerCase().startsWith(want) && key(e).toLowerCase().includes(want),
  );
  return [...starts, ...contains];
}

/**
 * Completions of a FHIR path being typed, for a resource type: with no dot yet, the element
 * paths of fhirElements that start with (then contain) the text; after a dot, the elements
 * under the element the text leads to, followed to any depth through backbone elements and
 * datatypes. `[n]` positions and function calls such as `.where(system='phone')` are kept as
 * typed and do not change the element. Each completion's path is the whole text to put in
 * the box.
 */
export function fhirPathSuggestions(resourceType: string, typed: string): FhirElement[] {
  const text = typed.trim();
  const resource = tableOf("resources", resourceType);
  const parts = splitPath(text);
  if (!resource || !parts) return [];
  if (parts.length > 1 && parts[0] === resourceType) parts.shift();
  const partial = parts.pop() ?? "";
  const head = text.slice(0, text.length - partial.length);
  const whole = (e: FhirElement) => ({ ...e, path: head + e.path });
  if (parts.length === 0) return ranked(fhirElements(resourceType), partial, (e) => e.path).map(whole);

  let table: Table = resource;
  let prefix = "";
  for (const part of parts) {
    if (part.includes("(")) continue;
    const name = part.replace(/\[[^\]]*\]$/, "");
    const el = table.get(prefix + name);
    if (!el) return [];
    if (isBackbone(el.type)) {
      prefix = `${prefix}${name}.`;
    } else {
      const type = tableOf("types", el.type);
      if (!type) return [];
      table = type;
      prefix = "";
    }
  }
  return ranked(childrenOf(table, prefix), partial, (e) => e.path).map(whole);
}
