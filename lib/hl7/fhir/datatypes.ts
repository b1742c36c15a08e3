import { CODES } from "../../error-codes";
import { PackError } from "../../errors";
import { parseV2DateTime, toFhirDate, toFhirDateTime, type TimeZone } from "./datetime";
import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Identifier,
  Period,
} from "./fhir-types";
import type { Hd, IdentifierSystems } from "./ids";
import {
  ADDRESS_TYPE,
  ADDRESS_USE,
  codes,
  IDENTIFIER_TYPE_DISPLAY,
  NAME_TYPE,
  SYSTEM,
  TELECOM_EQUIPMENT,
  TELECOM_USE,
} from "./tables";
import { location, type V2Segment } from "./view";

/** v2 data types (the guide's data type maps CX, XPN, XAD, XTN, XCN, PL, CWE, EI) -> FHIR. */

export interface ConvertContext {
  systems: IdentifierSystems;
  zone: TimeZone;
  /** MSH-4.1: the authority of identifiers that name none. */
  facility: string;
  warnings: string[];
}

export function convertError(where: string, reason: string): PackError {
  return new PackError(CODES.HL7_CONVERT, `${where}: ${reason}`, { location: where });
}

/** A DTM/TS component as FHIR dateTime; a value that is not a v2 date is an HL7_CONVERT error. */
export function dateTimeAt(
  seg: V2Segment,
  ctx: ConvertContext,
  field: number,
  component = 1,
  repetition = 0,
): string | undefined {
  const raw = seg.get(field, component, 1, repetition);
  if (raw === "") return undefined;
  const v = parseV2DateTime(raw);
  if (!v)
    throw convertError(
      location(seg, field, component > 1 ? component : undefined, repetition),
      "not a valid HL7 date/time",
    );
  return toFhirDateTime(v, ctx.zone);
}

/** A DT/DTM component as FHIR date at the precision given (no zone is applied). */
export function dateAt(
  seg: V2Segment,
  field: number,
  component = 1,
  repetition = 0,
  subcomponent = 1,
): string | undefined {
  const raw = seg.get(field, component, subcomponent, repetition);
  if (raw === "") return undefined;
  const v = parseV2DateTime(raw);
  if (!v)
    throw convertError(
      location(seg, field, component > 1 ? component : undefined, repetition),
      "not a valid HL7 date",
    );
  return toFhirDate(v);
}

function period(start?: string, end?: string): Period | undefined {
  if (!start && !end) return undefined;
  const p: Period = {};
  if (start) p.start = start;
  if (end) p.end = end;
  return p;
}

export function hdAt(seg: V2Segment, field: number, component: number, repetition = 0): Hd {
  return {
    namespace: seg.get(field, component, 1, repetition),
    universalId: seg.get(field, component, 2, repetition),
    universalIdType: seg.get(field, component, 3, repetition),
  };
}

export function identifierType(code: string): CodeableConcept {
  const coding: Coding = { system: SYSTEM.v2_0203, code };
  const display = IDENTIFIER_TYPE_DISPLAY[code];
  if (display) coding.display = display;
  return { coding: [coding] };
}

/** CX -> Identifier (value CX.1, system from CX.4, type CX.5, period CX.7/CX.8). */
export function cxToIdentifier(
  seg: V2Segment,
  ctx: ConvertContext,
  field: number,
  repetition = 0,
): Identifier | undefined {
  const value = seg.get(field, 1, 1, repetition);
  if (value === "") return undefined;
  const id: Identifier = { system: ctx.systems.system(hdAt(seg, field, 4, repetition), ctx.facility), value };
  const type = seg.get(field, 5, 1, repetition);
  if (type !== "") id.type = identifierType(type);
  const p = period(dateAt(seg, field, 7, repetition), dateAt(seg, field, 8, repetition));
  if (p) id.period = p;
  return id;
}

/** Every repetition of a CX field. */
export function cxList(seg: V2Segment, ctx: ConvertContext, field: number): Identifier[] {
  const out: Identifier[] = [];
  const n = seg.reps(field);
  for (let r = 0; r < n; r++) {
    const id = cxToIdentifier(seg, ctx, field, r);
    if (id) out.push(id);
  }
  return out;
}

/** EI -> Identifier (entity identifier EI.1, system from EI.2..EI.4). */
export function eiToIdentifier(
  seg: V2Segment,
  ctx: ConvertContext,
  field: number,
  typeCode?: string,
): Identifier | undefined {
  const value = seg.get(field, 1);
  if (value === "") return undefined;
  const hd: Hd = {
    namespace: seg.get(field, 2),
    universalId: seg.get(field, 3),
    universalIdType: seg.get(field, 4),
  };
  const id: Identifier = { system: ctx.systems.system(hd, ctx.facility), value };
  if (typeCode) id.type = identifierType(typeCode);
  return id;
}

function pushIf(list: string[], value: string): void {
  if (value !== "") list.push(value);
}

/**
 * XPN -> HumanName. `layout` says where the person name starts: XPN starts at component 1,
 * XCN at component 2 (after the ID number).
 */
export function nameAt(
  seg: V2Segment,
  field: number,
  repetition: number,
  layout: "XPN" | "XCN",
): HumanName | undefined {
  const o = layout === "XCN" ? 1 : 0;
  const name: HumanName = {};
  const family = seg.get(field, 1 + o, 1, repetition);
  if (family !== "") name.family = family;
  const given: string[] = [];
  pushIf(given, seg.get(field, 2 + o, 1, repetition));
  pushIf(given, seg.get(field, 3 + o, 1, repetition));
  if (given.length) name.given = given;
  const prefix = seg.get(field, 5 + o, 1, repetition);
  if (prefix !== "") name.prefix = [prefix];
  const suffix: string[] = [];
  pushIf(suffix, seg.get(field, 4 + o, 1, repetition));
  pushIf(suffix, seg.get(field, 6 + o, 1, repetition));
  if (suffix.length) name.suffix = suffix;
  if (!name.family && !name.given && !name.prefix && !name.suffix) return undefined;
  if (layout === "XPN") {
    const use = NAME_TYPE[seg.get(field, 7, 1, repetition)];
    if (use) {
      // use first in the JSON, as FHIR orders HumanName's elements
      const withUse: HumanName = { use, ...name };
      return withPeriod(seg, field, repetition, withUse);
    }
    return withPeriod(seg, field, repetition, name);
  }
  return name;
}

function withPeriod(seg: V2Segment, field: number, repetition: number, name: HumanName): HumanName {
  // XPN-10 (DR, up to 2.5) or XPN-12/13 (2.5 and later)
  const p = period(
    dateAt(seg, field, 10, repetition, 1) ?? dateAt(seg, field, 12, repetition),
    dateAt(seg, field, 10, repetition, 2) ?? dateAt(seg, field, 13, repetition),
  );
  if (p) name.period = p;
  return name;
}

/** XAD -> Address. */
export function addressAt(seg: V2Segment, field: number, repetition: number): Address | undefined {
  const a: Address = {};
  const kind = seg.get(field, 7, 1, repetition);
  const use = ADDRESS_USE[kind];
  if (use) a.use = use;
  const type = ADDRESS_TYPE[kind];
  if (type) a.type = type;
  const line: string[] = [];
  pushIf(line, seg.get(field, 1, 1, repetition));
  pushIf(line, seg.get(field, 2, 1, repetition));
  if (line.length) a.line = line;
  const city = seg.get(field, 3, 1, repetition);
  if (city !== "") a.city = city;
  const district = seg.get(field, 9, 1, repetition);
  if (district !== "") a.district = district;
  const state = seg.get(field, 4, 1, repetition);
  if (state !== "") a.state = state;
  const zip = seg.get(field, 5, 1, repetition);
  if (zip !== "") a.postalCode = zip;
  const country = seg.get(field, 6, 1, repetition);
  if (country !== "") a.country = country;
  if (!a.line && !a.city && !a.district && !a.state && !a.postalCode && !a.country) return undefined;
  // XAD-12 (DR, up to 2.5) or XAD-13/14 (2.5 and later)
  const p = period(
    dateAt(seg, field, 12, repetition, 1) ?? dateAt(seg, field, 13, repetition),
    dateAt(seg, field, 12, repetition, 2) ?? dateAt(seg, field, 14, repetition),
  );
  if (p) a.period = p;
  return a;
}

/**
 * XTN -> ContactPoint, for both layouts: the number is XTN-12 (unformatted, 2.5+), else the
 * parts XTN-5..8, else XTN-1 (the formatted number of 2.3-2.6); e-mail is XTN-4.
 */
export function telecomAt(
  seg: V2Segment,
  field: number,
  repetition: number,
  defaultUse: string,
): ContactPoint | undefined {
  const useCode = seg.get(field, 2, 1, repetition);
  const equipment = seg.get(field, 3, 1, repetition);
  const email = seg.get(field, 4, 1, repetition);
  let system = TELECOM_EQUIPMENT[equipment];
  let value = "";
  if (
    system === "email" ||
    useCode === "NET" ||
    (equipment === "" && email !== "" && !hasNumber(seg, field, repetition))
  ) {
    system = "email";
    value = email || seg.get(field, 1, 1, repetition);
  } else {
    value =
      seg.get(field, 12, 1, repetition) ||
      composedNumber(seg, field, repetition) ||
      seg.get(field, 1, 1, repetition);
    system = system ?? "phone";
  }
  if (value === "") return undefined;
  const cp: ContactPoint = { system, value };
  const use = equipment === "CP" ? "mobile" : useCode === "" ? defaultUse : TELECOM_USE[useCode];
  if (use) cp.use = use;
  return cp;
}

function hasNumber(seg: V2Segment, field: number, repetition: number): boolean {
  return (
    seg.get(field, 1, 1, repetition) !== "" ||
    seg.get(field, 7, 1, repetition) !== "" ||
    seg.get(field, 12, 1, repetition) !== ""
  );
}

function composedNumber(seg: V2Segment, field: number, repetition: number): string {
  const local = seg.get(field, 7, 1, repetition);
  if (local === "") return "";
  const country = seg.get(field, 5, 1, repetition);
  const area = seg.get(field, 6, 1, repetition);
  const ext = seg.get(field, 8, 1, repetition);
  let out = "";
  if (country !== "") out += `+${country} `;
  if (area !== "") out += `(${area}) `;
  out += local;
  if (ext !== "") out += ` ext. ${ext}`;
  return out;
}

const CODING_SYSTEMS: Readonly<Record<string, string>> = codes({
  LN: "http://loinc.org",
  SCT: "http://snomed.info/sct",
  SNM: "http://snomed.info/sct",
  I10: "http://hl7.org/fhir/sid/icd-10",
  I9C: "http://hl7.org/fhir/sid/icd-9-cm",
  C4: "http://www.ama-assn.org/go/cpt",
  CPT: "http://www.ama-assn.org/go/cpt",
  UCUM: "http://unitsofmeasure.org",
});

/** A v2 coding system name (CWE.3) as a FHIR system URI; "" when there is none to give. */
export function codingSystem(name: string, fallback?: string): string | undefined {
  if (name === "") return fallback;
  const hl7 = /^HL7(\d{4})$/i.exec(name);
  if (hl7) return `http://terminology.hl7.org/CodeSystem/v2-${hl7[1]}`;
  return CODING_SYSTEMS[name.toUpperCase()];
}

/** CWE/CE -> CodeableConcept (primary and alternate triplet). */
export function cweAt(
  seg: V2Segment,
  field: number,
  repetition = 0,
  defaultSystem?: string,
): CodeableConcept | undefined {
  const coding: Coding[] = [];
  let text = "";
  for (const base of [1, 4]) {
    const code = seg.get(field, base, 1, repetition);
    const display = seg.get(field, base + 1, 1, repetition);
    if (code === "" && display === "") continue;
    if (base === 1) text = display;
    if (code === "") continue;
    const c: Coding = {};
    const system = codingSystem(
      seg.get(field, base + 2, 1, repetition),
      base === 1 ? defaultSystem : undefined,
    );
    if (system) c.system = system;
    c.code = code;
    if (display !== "") c.display = display;
    coding.push(c);
  }
  if (!coding.length && text === "") return undefined;
  const cc: CodeableConcept = {};
  if (coding.length) cc.coding = coding;
  if (text !== "") cc.text = text;
  return cc;
}
