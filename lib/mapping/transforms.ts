import {
  addMinutes,
  epochMs,
  formatCompactDate,
  formatDate,
  formatDateTime,
  parseCalendarDate,
  parseDateTime,
} from "./datetime";

/** A transform's refusal of one value; becomes a MAP_TRANSFORM error entry. */
export class TransformFailure extends Error {}

/** Side channel for lossy but accepted values, read and cleared by the rule loop. */
export interface Notes {
  warning: string | undefined;
  multiple: boolean;
}

export interface Transform {
  /** The spec as written in the rule, e.g. `reference:Patient`. */
  readonly spec: string;
  /** PMS value -> FHIR value. `other` is the value of the rule's `with.pms` field. */
  forward(value: unknown, other: unknown, notes: Notes): unknown;
  /** FHIR value -> PMS value. `other` is the value of the rule's `with.fhir` element. */
  reverse(value: unknown, other: unknown, notes: Notes): unknown;
}

export interface TransformInfo {
  name: string;
  /** How the name takes a parameter after a colon. */
  param: "none" | "optional" | "required";
  /** Other rule properties it reads. */
  uses: Array<"codeMap" | "reverseCodeMap" | "with">;
  description: string;
}

/** What the editor offers in its transform picker and the help documents. */
export const transformCatalog: readonly TransformInfo[] = [
  {
    name: "string",
    param: "none",
    uses: [],
    description: "Text both ways; numbers and booleans become their text.",
  },
  {
    name: "number",
    param: "none",
    uses: [],
    description: 'A number both ways; numeric text ("30") becomes a number.',
  },
  {
    name: "boolean",
    param: "none",
    uses: [],
    description: "true/false both ways; also accepts yes/no, y/n, 1/0, true/false as text.",
  },
  {
    name: "date",
    param: "optional",
    uses: [],
    description:
      "Calendar date, never shifted by a time zone. Accepts YYYY-MM-DD, YYYYMMDD or an ISO date-time " +
      "(its date part as written); back to the PMS as YYYY-MM-DD, or YYYYMMDD with date:YYYYMMDD.",
  },
  {
    name: "dateTime",
    param: "none",
    uses: [],
    description:
      "Date-time with its UTC offset kept as written (seconds added when missing, +hhmm becomes +hh:mm). " +
      "A date-time without an offset is an error.",
  },
  {
    name: "addMinutes",
    param: "none",
    uses: ["with"],
    description:
      "The rule's PMS value is a number of minutes after the date-time named by with.pms (e.g. an end from " +
      "a duration); back: the whole minutes from the with.fhir date-time to the element.",
  },
  {
    name: "gender",
    param: "none",
    uses: [],
    description:
      "m/male -> male, f/female -> female, o/other -> other, anything else -> unknown (with a warning " +
      "unless it was u/unknown); back: M, F, O, U.",
  },
  {
    name: "appointmentStatus",
    param: "none",
    uses: [],
    description:
      "scheduled/confirmed -> booked, completed -> fulfilled, cancelled, no_show -> noshow, arrived, " +
      "checked_in -> checked-in; back: booked -> scheduled and the reverse of the rest.",
  },
  {
    name: "reference",
    param: "required",
    uses: [],
    description:
      "reference:Type. An id becomes Type/id; back: the id of a Type reference (relative, absolute or " +
      "versioned).",
  },
  {
    name: "conditional",
    param: "required",
    uses: [],
    description:
      "conditional:Type. An id becomes Type?identifier=<system>|id, a conditional reference that the FHIR " +
      "server replaces with the resource holding that identifier (in a transaction); the system is the " +
      "variable %<type>System (%patientSystem for Patient). Back: the id of that form; a literal Type/id " +
      "reference does not hold it and is an error.",
  },
  {
    name: "codeMap",
    param: "none",
    uses: ["codeMap", "reverseCodeMap"],
    description:
      "Codes through the rule's codeMap table (PMS code -> FHIR code) and back through its inverse; " +
      "reverseCodeMap decides codes that several PMS codes share.",
  },
];

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** A short, JSON-ish rendering of a value for an error message. */
export function describe(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = JSON.stringify(value);
  else if (value === undefined) text = "undefined";
  else if (value instanceof Date) text = `Date(${Number.isNaN(value.getTime()) ? "invalid" : "…"})`;
  else {
    try {
      text = JSON.stringify(value) ?? typeof value;
    } catch {
      text = typeof value;
    }
  }
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/**
 * What a record's value is, without its content, for error messages: a value that does not map may
 * be patient data, and mapping errors travel on msgs, into dead letters and logs.
 */
export function shapeOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (typeof value === "string")
    return value === "" ? "an empty string" : `a string of ${[...value].length} characters`;
  if (typeof value === "number") return Number.isFinite(value) ? "a number" : String(value);
  if (typeof value === "boolean") return "a boolean";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : "a Date";
  return `an ${typeof value}`;
}

function fail(message: string): never {
  throw new TransformFailure(message);
}

function cloneIfObject(value: unknown): unknown {
  return value !== null && typeof value === "object" && !(value instanceof Date)
    ? structuredClone(value)
    : value;
}

const identity: Transform = {
  spec: "",
  forward: (v) => cloneIfObject(v),
  reverse: (v) => cloneIfObject(v),
};

function toText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return String(v);
  return fail(`${shapeOf(v)} is not text`);
}

const stringTransform: Transform = { spec: "string", forward: toText, reverse: toText };

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(v: unknown): number {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && NUMERIC.test(v.trim())) return Number(v.trim());
  return fail(`${shapeOf(v)} is not a number`);
}

const numberTransform: Transform = { spec: "number", forward: toNumber, reverse: toNumber };

const TRUE_TEXT = new Set(["true", "yes", "y", "1"]);
const FALSE_TEXT = new Set(["false", "no", "n", "0"]);

function toBoolean(v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (TRUE_TEXT.has(t)) return true;
    if (FALSE_TEXT.has(t)) return false;
  }
  return fail(`${shapeOf(v)} is not a boolean`);
}

const booleanTransform: Transform = { spec: "boolean", forward: toBoolean, reverse: toBoolean };

function calendarDate(v: unknown) {
  const d = parseCalendarDate(v);
  if (!d) fail(`${shapeOf(v)} is not a calendar date (YYYY-MM-DD, YYYYMMDD or an ISO date-time)`);
  return d;
}

function dateTransform(param: string | undefined): Transform | string {
  if (param !== undefined && param !== "YYYY-MM-DD" && param !== "YYYYMMDD") {
    return `date takes YYYY-MM-DD or YYYYMMDD, not ${describe(param)}`;
  }
  const compact = param === "YYYYMMDD";
  return {
    spec: param === undefined ? "date" : `date:${param}`,
    forward: (v) => formatDate(calendarDate(v)),
    reverse: (v) => {
      const d = calendarDate(v);
      return compact ? formatCompactDate(d) : formatDate(d);
    },
  };
}

function dateTime(v: unknown): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) fail("invalid Date");
    // Past 9999 (or before 0001) toISOString writes an expanded year (+010000-01-01T...), which is
    // no FHIR dateTime.
    const iso = v.toISOString();
    if (!parseDateTime(iso)) fail("a Date outside the years 0001 to 9999 is not a FHIR dateTime");
    return iso;
  }
  if (typeof v !== "string") return fail(`${shapeOf(v)} is not a date-time`);
  const dt = parseDateTime(v);
  if (!dt) return fail(`${shapeOf(v)} is not an ISO date-time`);
  if (dt.offset === "") return fail(`${shapeOf(v)} has no UTC offset (Z or ±hh:mm)`);
  return dt.exact ? v : formatDateTime(dt);
}

const dateTimeTransform: Transform = { spec: "dateTime", forward: dateTime, reverse: dateTime };

function fullDateTime(v: unknown, what: string) {
  const text = dateTime(v);
  const dt = parseDateTime(text);
  if (!dt) return fail(`${what} ${shapeOf(v)} is not an ISO date-time`);
  return dt;
}

const addMinutesTransform: Transform = {
  spec: "addMinutes",
  forward(v, other) {
    const minutes = toNumber(v);
    if (!Number.isInteger(minutes) || minutes < 0) fail(`${shapeOf(v)} is not a whole number of minutes`);
    if (other === undefined || other === null || other === "")
      fail("the start date-time (with.pms) is missing");
    return formatDateTime(addMinutes(fullDateTime(other, "start"), minutes));
  },
  reverse(v, other) {
    if (other === undefined || other === null || other === "") {
      fail("the start date-time (with.fhir) is missing");
    }
    const diff = epochMs(fullDateTime(v, "end")) - epochMs(fullDateTime(other, "start"));
    if (diff < 0 || diff % 60000 !== 0) fail(`${shapeOf(v)} is not whole minutes after the start`);
    return diff / 60000;
  },
};

/**
 * A code table without a prototype, frozen: a value looked up that is no code of the table
 * ("constructor", "__proto__", "toString" ...) finds nothing rather than an Object method.
 */
function codes(entries: Record<string, string>): Readonly<Record<string, string>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, entries));
}

const GENDER_TO_FHIR: Readonly<Record<string, string>> = codes({
  m: "male",
  male: "male",
  f: "female",
  female: "female",
  o: "other",
  other: "other",
  u: "unknown",
  unknown: "unknown",
});
const GENDER_TO_PMS: Readonly<Record<string, string>> = codes({
  male: "M",
  female: "F",
  other: "O",
  unknown: "U",
});

const genderTransform: Transform = {
  spec: "gender",
  forward(v, _other, notes) {
    if (typeof v !== "string") return fail(`${shapeOf(v)} is not a gender code`);
    const known = GENDER_TO_FHIR[v.trim().toLowerCase()];
    if (known !== undefined) return known;
    notes.warning = `${shapeOf(v)} is not a known gender: mapped to unknown`;
    return "unknown";
  },
  reverse(v) {
    const code = typeof v === "string" ? GENDER_TO_PMS[v] : undefined;
    return code ?? fail(`${shapeOf(v)} is not a FHIR gender (male, female, other, unknown)`);
  },
};

const STATUS_TO_FHIR: Readonly<Record<string, string>> = codes({
  scheduled: "booked",
  confirmed: "booked",
  booked: "booked",
  completed: "fulfilled",
  cancelled: "cancelled",
  canceled: "cancelled",
  no_show: "noshow",
  noshow: "noshow",
  arrived: "arrived",
  checked_in: "checked-in",
  checkedin: "checked-in",
});
const STATUS_TO_PMS: Readonly<Record<string, string>> = codes({
  booked: "scheduled",
  fulfilled: "completed",
  cancelled: "cancelled",
  noshow: "no_show",
  arrived: "arrived",
  "checked-in": "checked_in",
});

const appointmentStatusTransform: Transform = {
  spec: "appointmentStatus",
  forward(v) {
    const key =
      typeof v === "string"
        ? v
            .trim()
            .toLowerCase()
            .replace(/[\s-]+/g, "_")
        : undefined;
    const code = key === undefined ? undefined : STATUS_TO_FHIR[key];
    return code ?? fail(`${shapeOf(v)} is not a PMS appointment status`);
  },
  reverse(v) {
    const code = typeof v === "string" && Object.hasOwn(STATUS_TO_PMS, v) ? STATUS_TO_PMS[v] : undefined;
    return code ?? fail(`${shapeOf(v)} has no PMS appointment status`);
  },
};

function referenceTransform(type: string | undefined): Transform | string {
  if (type === undefined || !/^[A-Z][A-Za-z]{1,63}$/.test(type)) {
    return `reference needs a resource type, e.g. reference:Patient`;
  }
  const pattern = new RegExp(`^(?:.*/)?${type}/([A-Za-z0-9\\-.]{1,64})(?:/_history/[^/]+)?$`);
  return {
    spec: `reference:${type}`,
    forward(v) {
      const id = typeof v === "number" && Number.isInteger(v) ? String(v) : v;
      if (typeof id !== "string" || !FHIR_ID.test(id)) return fail(`${shapeOf(v)} is not a valid FHIR id`);
      return `${type}/${id}`;
    },
    reverse(v) {
      const m = typeof v === "string" ? pattern.exec(v) : null;
      return m ? m[1] : fail(`${shapeOf(v)} is not a reference to a ${type}`);
    },
  };
}

/** What a conditional reference's identifier value may hold: nothing a query string would change. */
const SEARCH_SAFE_VALUE = /^[A-Za-z0-9._~:@/-]{1,255}$/;
const SEARCH_SAFE_SYSTEM = /^[^\s|&#?,$\\%+]+$/;

/** `%patientSystem` for Patient, `%relatedPersonSystem` for RelatedPerson. */
export function referenceSystemVariable(type: string): string {
  return `${type[0].toLowerCase()}${type.slice(1)}System`;
}

function conditionalTransform(
  type: string | undefined,
  variables: Readonly<Record<string, string>>,
): Transform | string {
  if (type === undefined || !/^[A-Z][A-Za-z]{1,63}$/.test(type)) {
    return "conditional needs a resource type, e.g. conditional:Patient";
  }
  const variable = referenceSystemVariable(type);
  const system = Object.hasOwn(variables, variable) ? variables[variable] : undefined;
  if (system === undefined || system === "") {
    return `conditional:${type} takes its identifier system from %${variable}, which is not set (option variables)`;
  }
  if (!SEARCH_SAFE_SYSTEM.test(system)) {
    return `%${variable} ${describe(system)} cannot stand in a search URI (no spaces, | & # ? , $ \\ % +)`;
  }
  const prefix = `${type}?identifier=${system}|`;
  const literal = new RegExp(`^(?:.*/)?${type}/[A-Za-z0-9\\-.]{1,64}(?:/_history/[^/]+)?$`);
  return {
    spec: `conditional:${type}`,
    forward(v) {
      const id = typeof v === "number" && Number.isInteger(v) ? String(v) : v;
      if (typeof id !== "string" || !SEARCH_SAFE_VALUE.test(id)) {
        return fail(
          `${shapeOf(v)} is not an identifier value a search URI can carry (A-Z a-z 0-9 . _ ~ : @ / -)`,
        );
      }
      return `${prefix}${id}`;
    },
    reverse(v) {
      if (typeof v === "string" && v.startsWith(prefix) && SEARCH_SAFE_VALUE.test(v.slice(prefix.length))) {
        return v.slice(prefix.length);
      }
      if (typeof v === "string" && literal.test(v)) {
        return fail(
          `${shapeOf(v)} is a literal reference: the PMS id is not in it (read it from the reference's identifier)`,
        );
      }
      return fail(`${shapeOf(v)} is not ${prefix}<id>`);
    },
  };
}

function codeMapTransform(table: unknown, reverseTable: unknown): Transform | string {
  if (table === null || typeof table !== "object" || Array.isArray(table)) {
    return "codeMap needs a codeMap table: { pmsCode: fhirCode, ... }";
  }
  const forward = new Map<string, string>();
  const inverse = new Map<string, string>();
  const shared = new Set<string>();
  for (const [pms, fhir] of Object.entries(table)) {
    if (typeof fhir !== "string" || fhir === "") return `codeMap value for ${describe(pms)} is not a code`;
    forward.set(pms, fhir);
    if (inverse.has(fhir)) shared.add(fhir);
    else inverse.set(fhir, pms);
  }
  if (reverseTable !== undefined) {
    if (reverseTable === null || typeof reverseTable !== "object" || Array.isArray(reverseTable)) {
      return "reverseCodeMap must be a table: { fhirCode: pmsCode, ... }";
    }
    for (const [fhir, pms] of Object.entries(reverseTable)) {
      if (typeof pms !== "string" || pms === "")
        return `reverseCodeMap value for ${describe(fhir)} is not a code`;
      inverse.set(fhir, pms);
      shared.delete(fhir);
    }
  }
  if (shared.size > 0) {
    return `codeMap sends several PMS codes to ${[...shared].map((c) => describe(c)).join(", ")}: say which comes back in reverseCodeMap`;
  }
  return {
    spec: "codeMap",
    forward(v) {
      const key = typeof v === "number" || typeof v === "boolean" ? String(v) : v;
      const code = typeof key === "string" ? forward.get(key) : undefined;
      return code ?? fail(`${shapeOf(v)} is not in the codeMap`);
    },
    reverse(v) {
      const code = typeof v === "string" ? inverse.get(v) : undefined;
      return code ?? fail(`${shapeOf(v)} is not in the reverse codeMap`);
    },
  };
}

export interface TransformRuleParts {
  transform?: unknown;
  codeMap?: unknown;
  reverseCodeMap?: unknown;
  with?: unknown;
}

/**
 * The transform a rule names, or a message saying why it cannot have one. `variables` are the
 * mapping's `%name` values (conditional reads its identifier system there).
 */
export function resolveTransform(
  rule: TransformRuleParts,
  variables: Readonly<Record<string, string>> = {},
): Transform | string {
  const spec = rule.transform;
  if (spec === undefined || spec === null || spec === "") return identity;
  if (typeof spec !== "string") return "transform must be a name such as date or reference:Patient";
  const colon = spec.indexOf(":");
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const param = colon < 0 ? undefined : spec.slice(colon + 1);
  const info = transformCatalog.find((t) => t.name === name);
  if (!info) return `unknown transform ${describe(spec)}`;
  if (info.param === "none" && param !== undefined) return `${name} takes no parameter`;
  switch (name) {
    case "string":
      return stringTransform;
    case "number":
      return numberTransform;
    case "boolean":
      return booleanTransform;
    case "date":
      return dateTransform(param);
    case "dateTime":
      return dateTimeTransform;
    case "addMinutes":
      return addMinutesTransform;
    case "gender":
      return genderTransform;
    case "appointmentStatus":
      return appointmentStatusTransform;
    case "reference":
      return referenceTransform(param);
    case "conditional":
      return conditionalTransform(param, variables);
    default:
      return codeMapTransform(rule.codeMap, rule.reverseCodeMap);
  }
}

export function transformUses(spec: unknown): TransformInfo["uses"] {
  if (typeof spec !== "string") return [];
  const name = spec.split(":")[0];
  return transformCatalog.find((t) => t.name === name)?.uses ?? [];
}
