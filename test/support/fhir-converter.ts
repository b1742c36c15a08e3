import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { messageFromPayload } from "../../lib/hl7/fhir";

/**
 * Microsoft FHIR-Converter's HL7 v2 samples and expected bundles (test/fixtures/fhir-converter, MIT,
 * see NOTICE.md there), and the facts a PMS relies on, taken the same way from the reference's bundle
 * and from ours (or from what a FHIR server holds), so that specs compare them field by field.
 * Identifier systems are left out of every fact: the pack maps assigning authorities through its
 * `systems` table, the reference through its own URIs.
 */

export const FHIR_CONVERTER_DIR = join(__dirname, "..", "..", "..", "test", "fixtures", "fhir-converter");

export type Json = Record<string, unknown>;

/** Sample names (file name without `.hl7`) whose message type is one of `types` ("ADT", "SIU" ...). */
export function samples(types: string[]): string[] {
  return readdirSync(join(FHIR_CONVERTER_DIR, "input"))
    .filter((f) => f.endsWith(".hl7"))
    .map((f) => f.slice(0, -4))
    .filter((name) => types.some((t) => name.startsWith(t)))
    .sort();
}

/** The sample's text as FHIR-Converter ships it (many start with a UTF-8 BOM, which the pack strips). */
export function sampleText(name: string): string {
  return readFileSync(join(FHIR_CONVERTER_DIR, "input", `${name}.hl7`), "utf8");
}

export function expectedBundle(name: string): Json {
  return JSON.parse(
    readFileSync(join(FHIR_CONVERTER_DIR, "expected", `${name}-expected.json`), "utf8"),
  ) as Json;
}

/** The resources of a Bundle (reference or ours), in order. */
export function resourcesOf(bundle: Json, type?: string): Json[] {
  const entries = (bundle.entry as Array<{ resource?: Json }> | undefined) ?? [];
  return entries
    .map((e) => e.resource)
    .filter((r): r is Json => r !== undefined && (type === undefined || r.resourceType === type));
}

interface IdLike {
  value?: string;
  use?: string;
  type?: { coding?: Array<{ code?: string }> };
}

/** "value (type)" of an identifier, e.g. "PATID1234 (MR)"; "value" when it has no type code. */
export function idFact(id: IdLike | undefined): string {
  if (!id?.value) return "";
  const type = id.type?.coding?.find((c) => c.code)?.code;
  return type ? `${id.value} (${type})` : id.value;
}

export function idFacts(resource: Json, options: { withOld?: boolean } = {}): string[] {
  const ids = (resource.identifier as IdLike[] | undefined) ?? [];
  return ids
    .filter((i) => options.withOld || i.use !== "old")
    .map(idFact)
    .filter(Boolean)
    .sort();
}

export interface PatientFacts {
  identifiers: string[];
  names: string[];
  birthDate?: string;
  gender?: string;
}

/** Identifiers, names ("family, given given"), birth date, gender. */
export function patientFacts(patient: Json): PatientFacts {
  const names = ((patient.name as Array<{ family?: string; given?: string[] }> | undefined) ?? [])
    .map((n) => `${n.family ?? ""}, ${(n.given ?? []).join(" ")}`.trim())
    .sort();
  const out: PatientFacts = { identifiers: idFacts(patient), names };
  if (typeof patient.birthDate === "string") out.birthDate = patient.birthDate;
  if (typeof patient.gender === "string") out.gender = patient.gender;
  return out;
}

/**
 * A merge, move or identifier change as "Type: surviving <- prior" (prior "-" when none): from the
 * reference's Linkage items (source, then its historical items) and from ours (Patient.link replaces,
 * identifiers kept with use old, Account.partOf, Encounter.partOf).
 */
export function referenceLinks(bundle: Json): string[] {
  const out: string[] = [];
  for (const linkage of resourcesOf(bundle, "Linkage")) {
    const items =
      (linkage.item as Array<{ type: string; resource: { type?: string; identifier?: IdLike } }>) ?? [];
    for (let i = 0; i < items.length; i++) {
      if (items[i].type !== "source") continue;
      const source = items[i].resource;
      let any = false;
      for (let j = i + 1; j < items.length && items[j].type !== "source"; j++) {
        out.push(`${source.type}: ${idFact(source.identifier)} <- ${idFact(items[j].resource.identifier)}`);
        any = true;
      }
      if (!any) out.push(`${source.type}: ${idFact(source.identifier)} <- -`);
    }
  }
  return out.sort();
}

/** A resource and the URL others refer to it by (a Bundle's fullUrl, or `Type/id` on a server). */
export interface Held {
  url: string;
  resource: Json;
}

/** Our Bundle's entries as `Held`. */
export function heldOf(bundle: Json): Held[] {
  const entries = (bundle.entry as Array<{ fullUrl?: string; resource?: Json }> | undefined) ?? [];
  return entries.filter((e) => e.resource).map((e) => ({ url: e.fullUrl ?? "", resource: e.resource! }));
}

/** Our merges and changes in the same form, resolving references among `held`. */
export function packLinks(held: Held[]): string[] {
  const byUrl = new Map<string, Json>();
  for (const h of held) byUrl.set(h.url, h.resource);
  const resources = held.map((h) => h.resource);
  const first = (r: Json | undefined): string => {
    const ids = (r?.identifier as IdLike[] | undefined) ?? [];
    return idFact(ids.find((i) => i.use !== "old"));
  };
  const out: string[] = [];
  // an Account some resource points to (a merge's partOf, an Encounter's account) is no account on its own
  const pointedTo = new Set<Json>();
  for (const r of resources) {
    const refs = [r.partOf, ...((r.account as unknown[] | undefined) ?? [])] as Array<
      { reference?: string } | undefined
    >;
    for (const ref of refs)
      if (ref?.reference && byUrl.get(ref.reference)) pointedTo.add(byUrl.get(ref.reference)!);
  }
  for (const r of resources) {
    const type = r.resourceType as string;
    const olds = ((r.identifier as IdLike[] | undefined) ?? []).filter((i) => i.use === "old");
    for (const old of olds) out.push(`${type}: ${first(r)} <- ${idFact(old)}`);
    for (const l of (r.link as Array<{ type: string; other: { reference: string } }> | undefined) ?? []) {
      if (l.type === "replaces") out.push(`${type}: ${first(r)} <- ${first(byUrl.get(l.other.reference))}`);
    }
    // a Location's partOf is the place it is in (bed in room), not a merge
    const partOf =
      type === "Location" ? undefined : (r.partOf as { reference?: string } | undefined)?.reference;
    if (partOf) out.push(`${type}: ${first(byUrl.get(partOf))} <- ${first(r)}`);
    else if (type === "Account" && r.status === "active" && !pointedTo.has(r) && olds.length === 0) {
      out.push(`${type}: ${first(r)} <- -`);
    }
  }
  return out.sort();
}

export interface EncounterFacts {
  identifiers: string[];
  status?: string;
  hasAccount: boolean;
}

export function encounterFacts(encounter: Json): EncounterFacts {
  const out: EncounterFacts = {
    identifiers: idFacts(encounter),
    hasAccount: Array.isArray(encounter.account) && encounter.account.length > 0,
  };
  if (typeof encounter.status === "string") out.status = encounter.status;
  return out;
}

export interface AppointmentFacts {
  identifiers: string[];
  status?: string;
  /** Instants in ms since the epoch, so that the same time in two offsets compares equal. */
  start?: number;
  end?: number;
}

export function appointmentFacts(appointment: Json): AppointmentFacts {
  const out: AppointmentFacts = { identifiers: idFacts(appointment) };
  if (typeof appointment.status === "string") out.status = appointment.status;
  if (typeof appointment.start === "string") out.start = Date.parse(appointment.start);
  if (typeof appointment.end === "string") out.end = Date.parse(appointment.end);
  return out;
}

/** One difference between the reference's facts and ours. */
export interface Difference {
  sample: string;
  /** e.g. "Patient.identifier", "Appointment.status", "link". */
  fact: string;
  /** What the reference has that we lack ("" when nothing), and what we have that it lacks. */
  reference: string;
  pack: string;
}

/** The differences of two lists of facts (as multisets). */
export function listDifferences(
  sample: string,
  fact: string,
  reference: string[],
  pack: string[],
): Difference[] {
  const missing = [...reference];
  const extra: string[] = [];
  for (const p of pack) {
    const at = missing.indexOf(p);
    if (at >= 0) missing.splice(at, 1);
    else extra.push(p);
  }
  if (missing.length === 0 && extra.length === 0) return [];
  return [{ sample, fact, reference: missing.join("; "), pack: extra.join("; ") }];
}

export function valueDifference(
  sample: string,
  fact: string,
  reference: unknown,
  pack: unknown,
): Difference[] {
  const show = (v: unknown): string =>
    v === undefined ? "" : typeof v === "number" ? new Date(v).toISOString() : String(v);
  return show(reference) === show(pack)
    ? []
    : [{ sample, fact, reference: show(reference), pack: show(pack) }];
}

/** A difference that is there on purpose, and why; `matches` says which differences it explains. */
export interface ByDesign {
  id: string;
  fact: string;
  reason: string;
  matches: (d: Difference) => boolean;
}

/** Differences no by-design row explains, and the rows that explained none (a stale table). */
export function unexplained(
  differences: Difference[],
  table: ByDesign[],
): { left: Difference[]; unused: string[] } {
  const used = new Set<string>();
  const left: Difference[] = [];
  for (const d of differences) {
    const row = table.find((r) => r.fact === d.fact && r.matches(d));
    if (row) used.add(row.id);
    else left.push(d);
  }
  return { left, unused: table.filter((r) => !used.has(r.id)).map((r) => r.id) };
}

/** The merge, move and change triggers (compared on their link, identifier, Encounter and Account facts). */
export const MERGE_TRIGGERS = /^ADT-A(24|30|3[4-79]|4\d|5[01])-/;

const shareId = (a: Json, b: Json): boolean => {
  const values = new Set(((a.identifier as IdLike[] | undefined) ?? []).map((i) => i.value));
  return ((b.identifier as IdLike[] | undefined) ?? []).some(
    (i) => i.value !== undefined && values.has(i.value),
  );
};

/**
 * Every difference between the reference's facts for an ADT or SIU sample and what the pack wrote
 * (`held`: our Bundle's entries, or what the FHIR server holds after the message): each reference
 * Patient against ours that shares an identifier value (identifiers, names, birth date, gender); for
 * merges, moves and changes the links and the Encounters (visit numbers, status, account); for SIU each
 * Appointment (identifiers, status, start, end).
 */
export function adtSiuDifferences(sample: string, reference: Json, held: Held[]): Difference[] {
  const out: Difference[] = [];
  const ours = (type: string): Json[] => held.map((h) => h.resource).filter((r) => r.resourceType === type);
  for (const ref of resourcesOf(reference, "Patient")) {
    const mine = ours("Patient").find((p) => shareId(ref, p));
    if (!mine) {
      out.push({ sample, fact: "Patient", reference: idFacts(ref).join("; "), pack: "" });
      continue;
    }
    const a = patientFacts(ref);
    const b = patientFacts(mine);
    out.push(...listDifferences(sample, "Patient.identifier", a.identifiers, b.identifiers));
    out.push(...listDifferences(sample, "Patient.name", a.names, b.names));
    out.push(...valueDifference(sample, "Patient.birthDate", a.birthDate, b.birthDate));
    out.push(...valueDifference(sample, "Patient.gender", a.gender, b.gender));
  }
  if (MERGE_TRIGGERS.test(sample)) {
    out.push(...listDifferences(sample, "link", referenceLinks(reference), packLinks(held)));
    for (const ref of resourcesOf(reference, "Encounter")) {
      const mine = ours("Encounter").find((e) => shareId(ref, e));
      if (!mine) {
        out.push({ sample, fact: "Encounter", reference: idFacts(ref).join("; "), pack: "" });
        continue;
      }
      const a = encounterFacts(ref);
      const b = encounterFacts(mine);
      out.push(...listDifferences(sample, "Encounter.identifier", a.identifiers, b.identifiers));
      out.push(...valueDifference(sample, "Encounter.status", a.status, b.status));
      out.push(...valueDifference(sample, "Encounter.account", a.hasAccount, b.hasAccount));
    }
  }
  for (const ref of resourcesOf(reference, "Appointment")) {
    const mine = ours("Appointment").find((a) => shareId(ref, a));
    if (!mine) {
      out.push({ sample, fact: "Appointment", reference: idFacts(ref).join("; "), pack: "" });
      continue;
    }
    const a = appointmentFacts(ref);
    const b = appointmentFacts(mine);
    out.push(...listDifferences(sample, "Appointment.identifier", a.identifiers, b.identifiers));
    out.push(...valueDifference(sample, "Appointment.status", a.status, b.status));
    out.push(...valueDifference(sample, "Appointment.start", a.start, b.start));
    out.push(...valueDifference(sample, "Appointment.end", a.end, b.end));
  }
  return out;
}

/** The text of a PID field's repetitions (component `component`), for the by-design rules. */
function pidValues(sample: string, fields: number[], component = 1): Set<string> {
  const pid = messageFromPayload(sampleText(sample)).segments.find((s) => s.name === "PID");
  const out = new Set<string>();
  if (!pid) return out;
  for (const f of fields) for (let r = 0; r < pid.reps(f); r++) out.add(pid.get(f, component, 1, r));
  return out;
}

const split = (list: string): string[] => (list === "" ? [] : list.split("; "));
const valueOf = (fact: string): string => fact.replace(/ \([^)]*\)$/, "");

/** The ADT and SIU differences from the reference that are there on purpose (docs/hl7-fhir.md has the same table). */
export const ADT_SIU_BY_DESIGN: ByDesign[] = [
  {
    id: "identifiers-beyond-pid-2-3-4",
    fact: "Patient.identifier",
    reason:
      "FHIR-Converter also makes Patient identifiers of PID-19 (SSN), PID-20 (driver's licence) and, when the " +
      "guarantor (GT1) or insured (IN1/IN2) is the patient, of their identifiers. The pack takes a Patient's " +
      "identifiers from PID-3, PID-2 and PID-4 only: SSN and licence belong in PID-3 with their type " +
      "(PID-19/20 are kept for backward compatibility only), and guarantor and insured are roles of their own.",
    matches: (d) => {
      const pid = pidValues(d.sample, [2, 3, 4]);
      return d.pack === "" && split(d.reference).every((f) => !pid.has(valueOf(f)));
    },
  },
  {
    id: "names-beyond-pid-5",
    fact: "Patient.name",
    reason:
      "FHIR-Converter adds PID-9 alias names, the names of a guarantor (GT1-3) or insured (IN2) who is the " +
      "patient, and XPN-15 (called by) as one more given name. The pack writes PID-5 (XPN-1 to XPN-7 and the " +
      "validity period) and leaves aliases and nicknames out, as docs/hl7-fhir.md lists.",
    matches: (d) => {
      const families = pidValues(d.sample, [5]);
      const extra = split(d.pack);
      const missing = split(d.reference);
      const calledBy = (p: string): boolean => missing.some((r) => r.startsWith(`${p} `));
      const others = missing.filter((r) => !extra.some((p) => r.startsWith(`${p} `)));
      return extra.every(calledBy) && others.every((r) => !families.has(r.split(",")[0].split("&")[0]));
    },
  },
];
