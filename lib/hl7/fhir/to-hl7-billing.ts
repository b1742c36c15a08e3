import { CODES } from "../../error-codes";
import { PackError } from "../../errors";
import { BILLING_SYSTEM, TRANSACTION_ID_TYPE } from "./billing";
import type { ChargeItem, Condition, Procedure } from "./billing-types";
import type {
  Account,
  Bundle,
  CodeableConcept,
  Encounter,
  Identifier,
  Location,
  Patient,
  Practitioner,
  Reference,
  Resource,
} from "./fhir-types";
import { PATIENT_CLASS, SYSTEM } from "./tables";
import { cwe, refType, Resolver, SegmentBuilder, type Hl7Output, type Repetition } from "./to-hl7";

/**
 * ChargeItems -> DFT^P03: one message per patient, visit and account, one FT1 per ChargeItem, DG1 from
 * the charges' reasons and supporting Conditions. Subject, context, account, performers and services
 * are read from the Bundle (by fullUrl or Type/id) or from the ChargeItem's contained resources.
 */

/** What FhirToV2 lends the DFT writer. */
export interface DftHost {
  readonly version: string;
  pid(patient: Patient): SegmentBuilder;
  cx(id: Identifier): Repetition;
  xcn(pr: Practitioner | undefined, ref: Reference | undefined): Repetition;
  pl(loc: Location | undefined, ref: Reference | undefined, refs: Resolver): Repetition;
  dtm(value: string, where: string): string;
  message(type: string, event: string, structure: string, segments: SegmentBuilder[], now: Date): Hl7Output;
  timestamp(now: Date): string;
}

/** Encounter.class -> PV1-2 (the reverse of table 0004's map). */
const CLASS_TO_V2: ReadonlyMap<string, string> = new Map(
  Object.entries(PATIENT_CLASS).map(([v2, c]) => [`${c.system}|${c.code}`, v2]),
);

function bad(where: string, reason: string): PackError {
  return new PackError(CODES.HL7_CONVERT, `${where}: ${reason}`, { location: where });
}

function num(v: unknown, where: string): string {
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(where, "not a number");
  return String(v);
}

interface Visit {
  patient: Patient;
  encounter?: Encounter;
  account?: Account | { identifier: Identifier[] };
  items: Array<{ item: ChargeItem; at: string; refs: Resolver }>;
}

function identifierOf(r: Resource | undefined, ref: Reference | undefined): Identifier | undefined {
  const ids = (r as { identifier?: Identifier[] } | undefined)?.identifier ?? [];
  return ids.find((i) => i.value) ?? (ref?.identifier?.value ? ref.identifier : undefined);
}

/** Groups the charges by patient, encounter and account, in the order they come. */
function group(items: ChargeItem[], bundle: Bundle | undefined): Visit[] {
  const visits = new Map<string, Visit>();
  items.forEach((item, i) => {
    const at = items.length > 1 ? `ChargeItem[${i}]` : "ChargeItem";
    const refs = new Resolver(bundle, item);
    const subject = refs.resolve(item.subject);
    let patient: Patient | undefined;
    if (subject?.resourceType === "Patient") patient = subject as Patient;
    else if (!subject && refType(item.subject, undefined) === "Patient" && item.subject?.identifier?.value) {
      patient = { resourceType: "Patient", identifier: [item.subject.identifier] };
    }
    if (!patient) {
      throw bad(
        `${at}.subject`,
        "the Patient is neither in the Bundle, nor contained, nor named by identifier",
      );
    }
    const encounter = refs.resolve(item.context) as Encounter | undefined;
    const accountRef = item.account?.[0];
    const accountRes = refs.resolve(accountRef) as Account | undefined;
    const accountId = identifierOf(accountRes, accountRef);
    const patientId = identifierOf(patient, undefined);
    const key = [
      `${patientId?.system}|${patientId?.value}`,
      encounter ? `${identifierOf(encounter, undefined)?.value}` : "",
      accountId ? `${accountId.system}|${accountId.value}` : "",
    ].join("\u001f");
    let v = visits.get(key);
    if (!v) {
      v = { patient, items: [] };
      if (encounter?.resourceType === "Encounter") v.encounter = encounter;
      if (accountId) v.account = accountRes ?? { identifier: [accountId] };
      visits.set(key, v);
    }
    v.items.push({ item, at, refs });
  });
  return [...visits.values()];
}

export function chargeMessages(
  host: DftHost,
  items: ChargeItem[],
  bundle: Bundle | undefined,
  now: Date,
): Hl7Output[] {
  if (items.length === 0) {
    throw new PackError(CODES.HL7_UNSUPPORTED, "no ChargeItem to convert", { resourceType: "ChargeItem" });
  }
  return group(items, bundle).map((v) => dft(host, v, now));
}

function dft(host: DftHost, v: Visit, now: Date): Hl7Output {
  const evn = new SegmentBuilder("EVN");
  if (!/^2\.([6-9])/.test(host.version)) evn.set(1, "P03");
  evn.set(2, host.timestamp(now));
  const pid = host.pid(v.patient);
  const accountId = identifierOf(v.account as Resource | undefined, undefined);
  if (accountId) pid.set(18, host.cx(accountId));
  const segments: SegmentBuilder[] = [evn, pid];
  if (v.encounter) {
    const pv1 = new SegmentBuilder("PV1").set(1, "1");
    const c = v.encounter.class;
    pv1.set(2, (c && CLASS_TO_V2.get(`${c.system}|${c.code}`)) ?? "U");
    const place = v.encounter.location?.[0]?.location;
    if (place) {
      const refs = v.items[0].refs;
      const resolved = refs.resolve(place);
      const loc = resolved?.resourceType === "Location" ? (resolved as Location) : undefined;
      pv1.set(3, host.pl(loc, place, refs));
    }
    const visit = identifierOf(v.encounter, undefined);
    if (visit) pv1.set(19, host.cx(visit));
    segments.push(pv1);
  }
  const diagnoses: CodeableConcept[] = [];
  const seen = new Set<string>();
  const addDiagnosis = (cc: CodeableConcept | undefined): void => {
    const c = cc?.coding?.find((x) => x.code);
    const k = c ? `${c.system ?? ""}|${c.code}` : (cc?.text ?? "");
    if (!cc || k === "" || seen.has(k)) return;
    seen.add(k);
    diagnoses.push(cc);
  };
  v.items.forEach(({ item, at, refs }, i) => segments.push(ft1(host, item, at, refs, i + 1, addDiagnosis)));
  diagnoses.forEach((cc, i) =>
    segments.push(
      new SegmentBuilder("DG1")
        .set(1, String(i + 1))
        .set(3, cwe(cc))
        .set(6, "F"),
    ),
  );
  return host.message("DFT", "P03", "DFT_P03", segments, now);
}

function ft1(
  host: DftHost,
  item: ChargeItem,
  at: string,
  refs: Resolver,
  setId: number,
  addDiagnosis: (cc: CodeableConcept | undefined) => void,
): SegmentBuilder {
  const s = new SegmentBuilder("FT1").set(1, String(setId));
  const ids = (item.identifier ?? []).filter((i) => i.value);
  const tid =
    ids.find((i) =>
      i.type?.coding?.some((c) => c.system === SYSTEM.v2_0203 && c.code === TRANSACTION_ID_TYPE),
    ) ?? ids.find((i) => i.system && i.use !== "secondary");
  if (tid?.value) s.set(2, tid.value);
  const batch = ids.find((i) => i.type?.text === "FT1-3 batch ID");
  if (batch?.value) s.set(3, batch.value);
  if (item.occurrenceDateTime) {
    s.set(4, [host.dtm(item.occurrenceDateTime, `${at}.occurrenceDateTime`)]);
  } else if (item.occurrencePeriod?.start) {
    const p = item.occurrencePeriod;
    const start = host.dtm(p.start!, `${at}.occurrencePeriod.start`);
    // FT1-4 is a DR (start^end) from 2.5; before, a TS that holds the start only
    const range = !/^2\.(3|4)/.test(host.version);
    s.set(4, [start, p.end && range ? host.dtm(p.end, `${at}.occurrencePeriod.end`) : ""]);
  } else {
    throw bad(
      `${at}.occurrence[x]`,
      "a charge needs its service date (occurrenceDateTime or occurrencePeriod.start)",
    );
  }
  if (item.enteredDate) s.set(5, host.dtm(item.enteredDate, `${at}.enteredDate`));
  const type = item.extension?.find((e) => e.url === BILLING_SYSTEM.transactionType)?.valueCoding?.code;
  s.set(6, type || "CG");
  const code = cwe(item.code);
  if (!code || !item.code?.coding?.some((c) => c.code))
    throw bad(`${at}.code`, "a charge needs a coded charge (FT1-7)");
  s.set(7, code);
  if (item.quantity !== undefined) s.set(10, num(item.quantity.value, `${at}.quantity.value`));
  if (item.priceOverride) {
    s.set(11, [
      [num(item.priceOverride.value, `${at}.priceOverride.value`), item.priceOverride.currency ?? ""],
    ]);
  }
  const unit = item.extension?.find((e) => e.url === BILLING_SYSTEM.unitPrice)?.valueMoney;
  if (unit) s.set(12, [[num(unit.value, `${at}.extension.valueMoney.value`), unit.currency ?? ""]]);
  s.setReps(
    19,
    (item.reason ?? []).map((r) => cwe(r) ?? []),
  );
  for (const r of item.reason ?? []) addDiagnosis(r);
  for (const ref of item.supportingInformation ?? []) {
    const cond = refs.resolve(ref);
    if (cond?.resourceType === "Condition") addDiagnosis((cond as Condition).code);
  }
  const byRole = (role: string): Repetition[] =>
    (item.performer ?? [])
      .filter(
        (p) => (p.function?.coding?.find((c) => c.system === BILLING_SYSTEM.v2_0912)?.code ?? "PP") === role,
      )
      .map((p) => host.xcn(refs.resolve(p.actor) as Practitioner | undefined, p.actor));
  s.setReps(20, byRole("PP"));
  s.setReps(21, byRole("OP"));
  for (const ref of item.service ?? []) {
    const proc = refs.resolve(ref);
    if (proc?.resourceType === "Procedure") {
      s.set(25, cwe((proc as Procedure).code));
      break;
    }
  }
  return s;
}
