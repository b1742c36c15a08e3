/** The parts of FHIR R4 the converter writes and reads (plain JSON shapes). */

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Period {
  start?: string;
  end?: string;
}

export interface Identifier {
  use?: string;
  type?: CodeableConcept;
  system?: string;
  value?: string;
  period?: Period;
}

export interface HumanName {
  use?: string;
  text?: string;
  family?: string;
  given?: string[];
  prefix?: string[];
  suffix?: string[];
  period?: Period;
}

export interface Address {
  use?: string;
  type?: string;
  line?: string[];
  city?: string;
  district?: string;
  state?: string;
  postalCode?: string;
  country?: string;
  period?: Period;
}

export interface ContactPoint {
  system?: string;
  value?: string;
  use?: string;
  rank?: number;
}

export interface Reference {
  reference?: string;
  identifier?: Identifier;
  display?: string;
}

export interface Extension {
  url: string;
  valueString?: string;
  valueDateTime?: string;
}

export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string };
  [key: string]: unknown;
}

export interface Patient extends Resource {
  resourceType: "Patient";
  identifier?: Identifier[];
  active?: boolean;
  name?: HumanName[];
  telecom?: ContactPoint[];
  gender?: string;
  birthDate?: string;
  _birthDate?: { extension?: Extension[] };
  deceasedBoolean?: boolean;
  deceasedDateTime?: string;
  address?: Address[];
  maritalStatus?: CodeableConcept;
  multipleBirthBoolean?: boolean;
  multipleBirthInteger?: number;
  extension?: Extension[];
  link?: Array<{ other: Reference; type: string }>;
  contained?: Resource[];
}

export interface Practitioner extends Resource {
  resourceType: "Practitioner";
  identifier?: Identifier[];
  name?: HumanName[];
}

export interface Location extends Resource {
  resourceType: "Location";
  identifier?: Identifier[];
  status?: string;
  name?: string;
  description?: string;
  mode?: string;
  physicalType?: CodeableConcept;
  partOf?: Reference;
}

export interface EncounterParticipant {
  type?: CodeableConcept[];
  individual?: Reference;
}

export interface Encounter extends Resource {
  resourceType: "Encounter";
  identifier?: Identifier[];
  status: string;
  class: Coding;
  type?: CodeableConcept[];
  serviceType?: CodeableConcept;
  subject?: Reference;
  participant?: EncounterParticipant[];
  period?: Period;
  hospitalization?: {
    preAdmissionIdentifier?: Identifier;
    admitSource?: CodeableConcept;
    dischargeDisposition?: CodeableConcept;
  };
  location?: Array<{ location: Reference; status?: string }>;
}

export interface AppointmentParticipant {
  type?: CodeableConcept[];
  actor?: Reference;
  required?: string;
  status: string;
}

export interface Appointment extends Resource {
  resourceType: "Appointment";
  identifier?: Identifier[];
  status: string;
  serviceType?: CodeableConcept[];
  appointmentType?: CodeableConcept;
  reasonCode?: CodeableConcept[];
  start?: string;
  end?: string;
  minutesDuration?: number;
  comment?: string;
  participant: AppointmentParticipant[];
}

export interface Account extends Resource {
  resourceType: "Account";
  identifier?: Identifier[];
  status: "active" | "inactive" | "entered-in-error" | "on-hold" | "unknown";
  subject?: Reference[];
  coverage?: { coverage: Reference; priority?: number }[];
}

export interface BundleEntry {
  fullUrl?: string;
  resource?: Resource;
  request?: { method: string; url: string; ifNoneExist?: string };
}

export interface Bundle extends Resource {
  resourceType: "Bundle";
  type: string;
  entry?: BundleEntry[];
}
