import { buildMsh, newControlId } from "../../lib/hl7/build";
import { escapeHl7 } from "../../lib/hl7/escape";
import type { PmsAppointment, PmsPatient, PmsProvider } from "../../lib/mapping/records";
import type { PmsData } from "../pms/data";

/**
 * HL7 v2.5.1 ADT and SIU messages about the sandbox PMS's patients and visits, as a practice
 * system's interface engine would send them. The identifiers carry assigning authorities that
 * the shipped HL7 pipelines map (hl7-fhir Systems, HL7_SYSTEMS below) onto the same identifier
 * systems as the PMS mapping sets, so a patient or visit from HL7 and from the PMS API is one
 * resource in the EHR.
 */

export const HL7_AUTHORITIES = {
  patient: "PMSPAT",
  visit: "PMSVISIT",
  appointment: "PMSAPPT",
  provider: "PMSPROV",
} as const;

/** The hl7-fhir Systems table of examples/pipelines/hl7-adt-to-fhir.json and examples/pipelines/hl7-siu-to-fhir.json. */
export const HL7_SYSTEMS: Readonly<Record<string, string>> = Object.freeze({
  PMSPAT: "urn:healthbridge:pms:patient",
  PMSVISIT: "urn:healthbridge:pms:encounter",
  PMSAPPT: "urn:healthbridge:pms:appointment",
  PMSPROV: "urn:healthbridge:pms:provider",
});

export type AdtEvent = "A01" | "A03" | "A04" | "A08";
export type SiuEvent = "S12" | "S14" | "S15";
export type DftEvent = "P03";

export interface Hl7Parties {
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
}

export interface MessageOptions extends Hl7Parties {
  controlId?: string;
  /** MSH-7 / EVN-2 (default now). */
  timestamp?: Date;
}

const DEFAULT_PARTIES: Required<Hl7Parties> = {
  sendingApplication: "PMS",
  sendingFacility: "CLINIC",
  receivingApplication: "EHR",
  receivingFacility: "HEALTHBRIDGE",
};

const ADT_STRUCTURE: Record<AdtEvent, string> = {
  A01: "ADT_A01",
  A03: "ADT_A03",
  A04: "ADT_A01",
  A08: "ADT_A01",
};

const e = (value: string | number | undefined): string =>
  value === undefined ? "" : escapeHl7(String(value));

/** `2025-01-06T09:30:00-05:00` -> `20250106093000-0500`; a `Z` time as `+0000`. */
export function v2DateTime(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!m) throw new RangeError(`not an ISO date-time with a zone: ${iso}`);
  const zone = m[7] === "Z" ? "+0000" : m[7].replace(":", "");
  return `${m[1]}${m[2]}${m[3]}${m[4]}${m[5]}${m[6] ?? "00"}${zone}`;
}

/** An ISO date-time plus minutes, in the same offset. */
export function addMinutesIso(iso: string, minutes: number): string {
  const m = /(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  const zone = m ? m[1] : "Z";
  const offset =
    zone === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  const local = new Date(Date.parse(iso) + (minutes + offset) * 60000).toISOString().slice(0, 19);
  return `${local}${zone === "Z" ? "Z" : zone}`;
}

function sex(gender: string | undefined): string {
  if (!gender) return "U";
  const g = gender.trim().toLowerCase();
  if (g === "m" || g === "male") return "M";
  if (g === "f" || g === "female") return "F";
  if (g === "o" || g === "other") return "O";
  return "U";
}

function msh(type: string, event: string, structure: string, o: MessageOptions): string {
  return buildMsh({
    ...DEFAULT_PARTIES,
    ...stripUndefined(o),
    messageType: [type, event, structure],
    controlId: o.controlId ?? newControlId(),
    timestamp: o.timestamp ?? new Date(),
    version: "2.5.1",
  });
}

function stripUndefined(o: Hl7Parties): Hl7Parties {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && typeof v === "string"));
}

function pid(p: PmsPatient): string {
  const a = p.address;
  const address = a ? [e(a.street), "", e(a.city), e(a.state), e(a.zipCode), "USA", "H"].join("^") : "";
  const telecom = [
    p.phone ? `${e(p.phone)}^PRN^PH` : undefined,
    p.email ? `^NET^Internet^${e(p.email)}` : undefined,
  ].filter((t) => t !== undefined);
  const fields = [
    "PID",
    "1",
    "",
    `${e(p.id)}^^^${HL7_AUTHORITIES.patient}^MR`,
    "",
    `${e(p.lastName)}^${e(p.firstName)}^^^^^L`,
    "",
    p.dateOfBirth.replace(/-/g, ""),
    sex(p.gender),
    "",
    "",
    address,
    "",
    telecom.join("~"),
  ];
  return fields.join("|");
}

function xcn(provider: PmsProvider): string {
  return `${e(provider.id)}^${e(provider.lastName)}^${e(provider.firstName)}^^^^^^${HL7_AUTHORITIES.provider}`;
}

function pv1(event: AdtEvent, appt: PmsAppointment, provider: PmsProvider): string {
  const f: string[] = ["PV1", "1", "O"];
  f[7] = xcn(provider);
  f[19] = `${e(appt.id)}^^^${HL7_AUTHORITIES.visit}^VN`;
  f[44] = v2DateTime(appt.scheduledTime);
  if (event === "A03") f[45] = v2DateTime(addMinutesIso(appt.scheduledTime, appt.duration));
  return Array.from(f, (v) => v ?? "").join("|");
}

export interface VisitParts {
  patient: PmsPatient;
  appointment: PmsAppointment;
  provider: PmsProvider;
}

/** ADT^A04 (registration), A01 (visit begins), A08 (update), A03 (visit ends: PV1-45 set). */
export function adtMessage(event: AdtEvent, parts: VisitParts, options: MessageOptions = {}): string {
  const when = options.timestamp ?? new Date();
  return [
    msh("ADT", event, ADT_STRUCTURE[event], { ...options, timestamp: when }),
    `EVN|${event}|${v2DateTime(when.toISOString())}`,
    pid(parts.patient),
    pv1(event, parts.appointment, parts.provider),
  ].join("\r");
}

/** SIU^S12 (booked), S14 (modified), S15 (cancelled). */
export function siuMessage(event: SiuEvent, parts: VisitParts, options: MessageOptions = {}): string {
  const { appointment: a, patient, provider } = parts;
  const start = v2DateTime(a.scheduledTime);
  const end = v2DateTime(addMinutesIso(a.scheduledTime, a.duration));
  const filler = event === "S15" ? "Cancelled" : "Booked";
  const sch: string[] = ["SCH", "", `${e(a.id)}^${HL7_AUTHORITIES.appointment}`];
  sch[7] = a.reason ? `^${e(a.reason)}` : "";
  sch[9] = String(a.duration);
  sch[10] = "min^minutes^UCUM";
  sch[25] = filler;
  return [
    msh("SIU", event, "SIU_S12", options),
    Array.from(sch, (v) => v ?? "").join("|"),
    `TQ1|1||||||${start}|${end}`,
    pid(patient),
    "RGS|1|A",
    `AIS|1|A|VISIT^Office visit^L|${start}|||${a.duration}|min||${filler}`,
    `AIP|1|A|${xcn(provider)}|PP^Primary performer^HL70443||||||||${filler}`,
  ].join("\r");
}

export interface GeneratedMessage {
  type: "ADT" | "SIU" | "DFT";
  event: AdtEvent | SiuEvent | DftEvent;
  appointmentId: string;
  patientId: string;
  text: string;
}

/**
 * The message story of each visit, in order: booked (S12), modified (S14), then either
 * cancelled (S15, for cancelled or no-show appointments) or registered (A04), started (A01),
 * updated (A08) and, for completed ones, ended (A03).
 */
export function messagesFromPms(
  data: PmsData,
  options: MessageOptions & { appointments?: number } = {},
): GeneratedMessage[] {
  const { controlId: _one, appointments: count, ...common } = options;
  const out: GeneratedMessage[] = [];
  const visits = data.appointments.slice(0, count ?? data.appointments.length);
  for (const appointment of visits) {
    const patient = data.patients.find((p) => p.id === appointment.patientId);
    const provider = data.providers.find((p) => p.id === appointment.providerId);
    if (!patient || !provider) continue;
    const parts = { patient, appointment, provider };
    const add = (type: "ADT" | "SIU", event: AdtEvent | SiuEvent): void => {
      const text =
        type === "ADT"
          ? adtMessage(event as AdtEvent, parts, common)
          : siuMessage(event as SiuEvent, parts, common);
      out.push({ type, event, appointmentId: appointment.id, patientId: patient.id, text });
    };
    add("SIU", "S12");
    add("SIU", "S14");
    if (appointment.status === "cancelled" || appointment.status === "no_show") {
      add("SIU", "S15");
      continue;
    }
    add("ADT", "A04");
    add("ADT", "A01");
    add("ADT", "A08");
    if (appointment.status === "completed") add("ADT", "A03");
  }
  return out;
}

/** One line of a visit's bill: a CPT code, how many, and the total. */
export interface VisitCharge {
  /** FT1-2: unique per charge at the sender, so a resent DFT names the same charges. */
  transactionId: string;
  code: string;
  description: string;
  quantity: number;
  /** FT1-11 extended amount: the line's total. */
  amount: number;
  currency: string;
}

/** What the EHR bills for a completed visit: an office visit by its length, and a lab draw when labs were the reason. */
export function chargesForVisit(appointment: PmsAppointment): VisitCharge[] {
  const [code, description, amount] =
    appointment.duration <= 20
      ? ["99212", "Office visit, established patient, 10-19 min", 75]
      : appointment.duration <= 30
        ? ["99213", "Office visit, established patient, 20-29 min", 110]
        : ["99214", "Office visit, established patient, 30-39 min", 160];
  const out: VisitCharge[] = [
    { transactionId: `${appointment.id}-1`, code, description, quantity: 1, amount, currency: "USD" },
  ];
  if (/lab|diabetes/i.test(appointment.reason ?? "")) {
    out.push({
      transactionId: `${appointment.id}-2`,
      code: "36415",
      description: "Routine venipuncture",
      quantity: 1,
      amount: 15,
      currency: "USD",
    });
  }
  return out;
}

/**
 * DFT^P03 (post detail financial transactions): the charges of a completed visit, as the EHR's
 * interface engine sends them to the practice's billing: PID and PV1 as in the ADT story, one FT1
 * per charge (FT1-2 transaction ID, FT1-4 service date, FT1-6 CG, FT1-7 CPT code, FT1-10
 * quantity, FT1-11 extended amount, FT1-12 unit amount, FT1-20 performed by).
 */
export function dftMessage(parts: VisitParts, charges: VisitCharge[], options: MessageOptions = {}): string {
  if (charges.length === 0) throw new RangeError("a DFT^P03 needs at least one charge");
  const when = options.timestamp ?? new Date();
  const { appointment: a, provider } = parts;
  const served = v2DateTime(a.scheduledTime);
  const ft1 = charges.map((c, i) => {
    const f: string[] = ["FT1", String(i + 1), e(c.transactionId)];
    f[4] = served;
    f[5] = v2DateTime(when.toISOString());
    f[6] = "CG";
    f[7] = `${e(c.code)}^${e(c.description)}^C4`;
    f[10] = String(c.quantity);
    f[11] = `${c.amount.toFixed(2)}&${c.currency}`;
    f[12] = `${(c.amount / c.quantity).toFixed(2)}&${c.currency}`;
    f[20] = xcn(provider);
    return Array.from(f, (v) => v ?? "").join("|");
  });
  return [
    msh("DFT", "P03", "DFT_P03", { ...options, timestamp: when }),
    `EVN|P03|${v2DateTime(when.toISOString())}`,
    pid(parts.patient),
    pv1("A03", a, provider),
    ...ft1,
  ].join("\r");
}

/** A DFT^P03 with the charges of each completed visit of the PMS, in the order of its visits. */
export function dftFromPms(
  data: PmsData,
  options: MessageOptions & { appointments?: number } = {},
): GeneratedMessage[] {
  const { controlId: _one, appointments: count, ...common } = options;
  const out: GeneratedMessage[] = [];
  for (const appointment of data.appointments.slice(0, count ?? data.appointments.length)) {
    if (appointment.status !== "completed") continue;
    const patient = data.patients.find((p) => p.id === appointment.patientId);
    const provider = data.providers.find((p) => p.id === appointment.providerId);
    if (!patient || !provider) continue;
    const text = dftMessage({ patient, appointment, provider }, chargesForVisit(appointment), common);
    out.push({ type: "DFT", event: "P03", appointmentId: appointment.id, patientId: patient.id, text });
  }
  return out;
}
