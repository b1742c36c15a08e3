/**
 * Vocabulary maps of the HL7 v2-to-FHIR implementation guide (hl7.org/fhir/uv/v2mappings, STU1),
 * one entry per v2 code, and the reverse maps the FHIR -> v2 direction uses.
 * Rows the guide leaves empty are absent here; docs/hl7-fhir.md lists them.
 */

/**
 * A code table without a prototype, frozen: a value looked up that is no code of the table
 * ("constructor", "__proto__", "toString" ...) finds nothing rather than an Object method.
 */
export function codes<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

export interface MappedCoding {
  system: string;
  code: string;
  display?: string;
}

export const SYSTEM = {
  v2_0001: "http://terminology.hl7.org/CodeSystem/v2-0001",
  v2_0002: "http://terminology.hl7.org/CodeSystem/v2-0002",
  v2_0004: "http://terminology.hl7.org/CodeSystem/v2-0004",
  v2_0007: "http://terminology.hl7.org/CodeSystem/v2-0007",
  v2_0023: "http://terminology.hl7.org/CodeSystem/v2-0023",
  v2_0069: "http://terminology.hl7.org/CodeSystem/v2-0069",
  v2_0112: "http://terminology.hl7.org/CodeSystem/v2-0112",
  v2_0203: "http://terminology.hl7.org/CodeSystem/v2-0203",
  v2_0276: "http://terminology.hl7.org/CodeSystem/v2-0276",
  v2_0277: "http://terminology.hl7.org/CodeSystem/v2-0277",
  v2_0443: "http://terminology.hl7.org/CodeSystem/v2-0443",
  actCode: "http://terminology.hl7.org/CodeSystem/v3-ActCode",
  maritalStatus: "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
  nullFlavor: "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
  participationType: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
  locationPhysicalType: "http://terminology.hl7.org/CodeSystem/location-physical-type",
  birthTime: "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
  mothersMaidenName: "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
} as const;

/** Table 0001 Administrative Sex -> AdministrativeGender (ConceptMap table-hl70001-to-administrative-gender). */
export const ADMINISTRATIVE_SEX: Readonly<Record<string, string>> = codes({
  F: "female",
  M: "male",
  O: "other",
  U: "unknown",
  A: "other",
  N: "other",
});

/** AdministrativeGender -> table 0001, for FHIR -> v2. */
export const GENDER_TO_SEX: Readonly<Record<string, string>> = codes({
  female: "F",
  male: "M",
  other: "O",
  unknown: "U",
});

/** Table 0002 Marital Status -> v3 MaritalStatus / NullFlavor (ConceptMap table-hl70002-to-marital-status). */
export const MARITAL_STATUS: Readonly<Record<string, MappedCoding>> = codes({
  A: { system: SYSTEM.maritalStatus, code: "L", display: "Legally Separated" },
  D: { system: SYSTEM.maritalStatus, code: "D", display: "Divorced" },
  M: { system: SYSTEM.maritalStatus, code: "M", display: "Married" },
  S: { system: SYSTEM.maritalStatus, code: "S", display: "Never Married" },
  W: { system: SYSTEM.maritalStatus, code: "W", display: "Widowed" },
  C: { system: SYSTEM.maritalStatus, code: "C", display: "Common Law" },
  G: { system: SYSTEM.maritalStatus, code: "T", display: "Domestic partner" },
  P: { system: SYSTEM.maritalStatus, code: "T", display: "Domestic partner" },
  R: { system: SYSTEM.maritalStatus, code: "T", display: "Domestic partner" },
  E: { system: SYSTEM.maritalStatus, code: "L", display: "Legally Separated" },
  N: { system: SYSTEM.maritalStatus, code: "A", display: "Annulled" },
  I: { system: SYSTEM.maritalStatus, code: "I", display: "Interlocutory" },
  B: { system: SYSTEM.maritalStatus, code: "U", display: "unmarried" },
  U: { system: SYSTEM.nullFlavor, code: "UNK", display: "Unknown" },
  O: { system: SYSTEM.nullFlavor, code: "OTH", display: "Other" },
  T: { system: SYSTEM.nullFlavor, code: "NAVU", display: "Not available" },
});

/** v3 MaritalStatus / NullFlavor code -> table 0002 (the first v2 code of each many-to-one row). */
export const MARITAL_STATUS_TO_V2: Readonly<Record<string, string>> = codes({
  L: "A",
  D: "D",
  M: "M",
  S: "S",
  W: "W",
  C: "C",
  T: "P",
  A: "N",
  I: "I",
  U: "B",
  UNK: "U",
  OTH: "O",
  NAVU: "T",
});

/** Table 0004 Patient Class -> Encounter.class (ConceptMap table-hl70004-to-encounter-class). */
export const PATIENT_CLASS: Readonly<Record<string, MappedCoding>> = codes({
  E: { system: SYSTEM.actCode, code: "EMER", display: "emergency" },
  I: { system: SYSTEM.actCode, code: "IMP", display: "inpatient encounter" },
  O: { system: SYSTEM.actCode, code: "AMB", display: "ambulatory" },
  P: { system: SYSTEM.actCode, code: "PRENC", display: "pre-admission" },
  R: { system: SYSTEM.v2_0004, code: "R", display: "Recurring patient" },
  B: { system: SYSTEM.v2_0004, code: "B", display: "Obstetrics" },
  C: { system: SYSTEM.v2_0004, code: "C", display: "Commercial Account" },
  N: { system: SYSTEM.v2_0004, code: "N", display: "Not Applicable" },
  U: { system: SYSTEM.v2_0004, code: "U", display: "Unknown" },
});

/** Table 0004 Patient Class -> Encounter.status when PV1-45 is empty (table-hl70004-to-encounter-status). */
export const PATIENT_CLASS_STATUS: Readonly<Record<string, string>> = codes({
  E: "in-progress",
  I: "in-progress",
  O: "in-progress",
  P: "planned",
  R: "in-progress",
  B: "in-progress",
  C: "in-progress",
  N: "in-progress",
  U: "unknown",
});

/**
 * Trigger event (table 0003) -> Encounter.status. A01..A13 are the guide's map
 * (table-hl70003-to-encounter-status); the others follow the same reading of the event.
 * Events absent here (A08, A31, A54 ...) carry no visit state: the status then comes from
 * PV1-45 / PV1-2 as the PV1 segment map says.
 */
export const EVENT_ENCOUNTER_STATUS: Readonly<Record<string, string>> = codes({
  A01: "in-progress",
  A02: "in-progress",
  A03: "finished",
  A04: "planned",
  A05: "planned",
  A06: "in-progress",
  A07: "in-progress",
  A11: "cancelled",
  A12: "in-progress",
  A13: "in-progress",
  A14: "planned",
  A21: "onleave",
  A22: "in-progress",
  A23: "entered-in-error",
  A27: "cancelled",
  A38: "cancelled",
  A52: "in-progress",
  A53: "onleave",
});

/** Table 0200 Name Type -> HumanName.use (ConceptMap table-hl70200-to-name-use); unmapped codes leave use empty. */
export const NAME_TYPE: Readonly<Record<string, string>> = codes({
  BAD: "old",
  D: "usual",
  L: "official",
  M: "maiden",
  MSK: "anonymous",
  N: "nickname",
  NAV: "temp",
  R: "official",
  TEMP: "temp",
});

export const NAME_USE_TO_V2: Readonly<Record<string, string>> = codes({
  usual: "D",
  official: "L",
  maiden: "M",
  anonymous: "MSK",
  nickname: "N",
  temp: "TEMP",
  old: "BAD",
});

/** Table 0190 Address Type -> Address.use (table-hl70190-to-address-use). */
export const ADDRESS_USE: Readonly<Record<string, string>> = codes({
  BA: "old",
  BI: "billing",
  C: "temp",
  B: "work",
  H: "home",
  O: "work",
});

/** Table 0190 Address Type -> Address.type (table-hl70190-to-address-type). */
export const ADDRESS_TYPE: Readonly<Record<string, string>> = codes({
  M: "postal",
  SH: "postal",
});

export const ADDRESS_USE_TO_V2: Readonly<Record<string, string>> = codes({
  home: "H",
  work: "O",
  temp: "C",
  old: "BA",
  billing: "BI",
});

/** Table 0201 Telecommunication Use -> ContactPoint.use (table-hl70201-to-contact-point-use). */
export const TELECOM_USE: Readonly<Record<string, string>> = codes({
  PRN: "home",
  WPN: "work",
  PRS: "mobile",
});

export const CONTACT_USE_TO_V2: Readonly<Record<string, string>> = codes({
  home: "PRN",
  work: "WPN",
  mobile: "PRS",
});

/**
 * Table 0202 Telecommunication Equipment -> ContactPoint.system (table-hl70202-to-contact-point-system).
 * CP is the guide's one row that targets ContactPoint.use (mobile) instead: the system is then phone.
 */
export const TELECOM_EQUIPMENT: Readonly<Record<string, string>> = codes({
  PH: "phone",
  FX: "fax",
  MD: "other",
  CP: "phone",
  SAT: "other",
  BP: "pager",
  Internet: "email",
  "X.400": "email",
  TDD: "other",
  TTY: "other",
});

export const CONTACT_SYSTEM_TO_V2: Readonly<Record<string, string>> = codes({
  phone: "PH",
  fax: "FX",
  pager: "BP",
  email: "Internet",
  other: "PH",
});

/** Table 0203 Identifier Type: the codes are FHIR's v2-0203 codes unchanged; displays of the common ones. */
export const IDENTIFIER_TYPE_DISPLAY: Readonly<Record<string, string>> = codes({
  AN: "Account number",
  DL: "Driver's license number",
  DN: "Doctor number",
  EI: "Employee number",
  FILL: "Filler Identifier",
  HC: "Health Card Number",
  LN: "License number",
  MA: "Patient Medicaid number",
  MC: "Patient's Medicare number",
  MD: "Medical License number",
  MR: "Medical record number",
  NI: "National unique individual identifier",
  NPI: "National provider identifier",
  PE: "Living Subject Enterprise Number",
  PI: "Patient internal identifier",
  PLAC: "Placer Identifier",
  PN: "Person number",
  PPN: "Passport number",
  PRN: "Provider number",
  PT: "Patient external identifier",
  RI: "Resource identifier",
  SS: "Social Security number",
  U: "Unspecified identifier",
  VN: "Visit number",
  XX: "Organization identifier",
});

/** Table 0278 Filler Status -> Appointment.status (table-hl70278-to-appointment-status). */
export const FILLER_STATUS: Readonly<Record<string, string>> = codes({
  PENDING: "pending",
  WAITLIST: "waitlist",
  BOOKED: "booked",
  STARTED: "checked-in",
  COMPLETE: "fulfilled",
  CANCELLED: "cancelled",
  DELETED: "entered-in-error",
  NOSHOW: "noshow",
});

export const APPOINTMENT_STATUS_TO_FILLER: Readonly<Record<string, string>> = codes({
  proposed: "Pending",
  pending: "Pending",
  booked: "Booked",
  arrived: "Started",
  "checked-in": "Started",
  fulfilled: "Complete",
  cancelled: "Cancelled",
  noshow: "Noshow",
  "entered-in-error": "Deleted",
  waitlist: "Waitlist",
});

/**
 * Table 0278 Filler Status of one resource (AIG/AIL/AIP-12, AIS-10) -> Appointment.participant.status.
 * The guide has no such map; this is the pack's reading of each code.
 */
export const FILLER_TO_PARTICIPANT_STATUS: Readonly<Record<string, string>> = codes({
  BOOKED: "accepted",
  STARTED: "accepted",
  COMPLETE: "accepted",
  OVERBOOK: "accepted",
  PENDING: "tentative",
  WAITLIST: "tentative",
  CANCELLED: "declined",
  DELETED: "declined",
  DISCONTINUED: "declined",
  NOSHOW: "declined",
  BLOCKED: "declined",
});

export const PARTICIPANT_STATUS_TO_FILLER: Readonly<Record<string, string>> = codes({
  accepted: "Booked",
  tentative: "Pending",
  "needs-action": "Pending",
  declined: "Cancelled",
});

/** SIU trigger -> Appointment.status when SCH-25 is empty or has no mapping. */
export const SIU_EVENT_STATUS: Readonly<Record<string, string>> = codes({
  S12: "booked",
  S13: "booked",
  S14: "booked",
  S15: "cancelled",
  S16: "cancelled",
  S17: "entered-in-error",
  S26: "noshow",
});

/** Encounter participant types for PV1-7/8/9/17 (PV1[Encounter] segment map). */
export const PV1_PARTICIPANTS: ReadonlyArray<{ field: number; code: string; display: string }> = [
  { field: 7, code: "ATND", display: "attender" },
  { field: 8, code: "REF", display: "referrer" },
  { field: 9, code: "CON", display: "consultant" },
  { field: 17, code: "ADM", display: "admitter" },
];

/** Durations in SCH-10 / AIS-8 units (ISO+ / ANSI / UCUM spellings) -> minutes per unit. */
export const DURATION_UNIT_MINUTES: Readonly<Record<string, number>> = codes({
  S: 1 / 60,
  SEC: 1 / 60,
  M: 1,
  MIN: 1,
  H: 60,
  HR: 60,
  HOUR: 60,
  D: 1440,
  DAY: 1440,
});
