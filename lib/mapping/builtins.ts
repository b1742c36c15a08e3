import { compileMapping } from "./compile";
import {
  BUILTIN_MAPPING_NAMES,
  type BuiltinMappingName,
  type CompileOptions,
  type CompiledMapping,
  type MappingRule,
} from "./types";

export type { BuiltinMappingName };

/**
 * Where the PMS updatedAt travels. Not meta.lastUpdated: the FHIR server owns that and
 * overwrites it on every write.
 */
export const PMS_UPDATED_AT_EXTENSION =
  "https://healthbridge.example.org/fhir/StructureDefinition/pms-updated-at";

const updatedAt = `extension.where(url='${PMS_UPDATED_AT_EXTENSION}').valueInstant`;

/** `%identifierSystem` of each built-in set unless the node or caller sets one. */
export const builtinIdentifierSystems: Readonly<Record<BuiltinMappingName, string>> = {
  patient: "urn:healthbridge:pms:patient",
  appointment: "urn:healthbridge:pms:appointment",
  encounter: "urn:healthbridge:pms:encounter",
};

/**
 * The identifier systems of the PMS's objects (docs/pipelines.md, "Identifiers shared by the
 * pipelines"), as the mapping variables that the built-in sets and conditional:<Type> read;
 * given to built-in and custom rules alike unless the caller names other values.
 */
export const builtinVariables: Readonly<Record<string, string>> = Object.freeze({
  patientSystem: builtinIdentifierSystems.patient,
  appointmentSystem: builtinIdentifierSystems.appointment,
  encounterSystem: builtinIdentifierSystems.encounter,
  practitionerSystem: "urn:healthbridge:pms:provider",
});

/** Filters that find a participant by its actor's type and identifier system (a logical reference). */
const patientParticipant =
  "participant.where(actor.type='Patient' and actor.identifier.system=%patientSystem)";
const practitionerParticipant =
  "participant.where(actor.type='Practitioner' and actor.identifier.system=%practitionerSystem)";

const patient: MappingRule[] = [
  { fhir: "resourceType", default: "Patient" },
  { pms: "id", fhir: "identifier.where(system=%identifierSystem).value", required: true },
  { pms: "firstName", fhir: "name[0].given[0]", transform: "string", required: true },
  { pms: "lastName", fhir: "name[0].family", transform: "string", required: true },
  { pms: "dateOfBirth", fhir: "birthDate", transform: "date", required: true, validate: "date" },
  { pms: "gender", fhir: "gender", transform: "gender" },
  { pms: "phone", fhir: "telecom.where(system='phone').value", transform: "string", validate: "phone" },
  { pms: "email", fhir: "telecom.where(system='email').value", transform: "string", validate: "email" },
  { pms: "address.street", fhir: "address[0].line[0]", transform: "string" },
  { pms: "address.city", fhir: "address[0].city", transform: "string" },
  { pms: "address.state", fhir: "address[0].state", transform: "string" },
  { pms: "address.zipCode", fhir: "address[0].postalCode", transform: "string" },
  { pms: "updatedAt", fhir: updatedAt, transform: "dateTime" },
];

const appointment: MappingRule[] = [
  { fhir: "resourceType", default: "Appointment" },
  { pms: "id", fhir: "identifier.where(system=%identifierSystem).value", required: true },
  { pms: "status", fhir: "status", transform: "appointmentStatus", required: true },
  { pms: "scheduledTime", fhir: "start", transform: "dateTime", required: true },
  { pms: "duration", fhir: "minutesDuration", transform: "number", required: "to-fhir" },
  {
    pms: "duration",
    fhir: "end",
    transform: "addMinutes",
    with: { pms: "scheduledTime", fhir: "start" },
    required: "to-pms",
    label: "end = scheduledTime + duration",
  },
  {
    pms: "patientId",
    fhir: `${patientParticipant}.actor.reference`,
    transform: "conditional:Patient",
    direction: "to-fhir",
    required: true,
    label: "patientId -> patient reference",
  },
  { pms: "patientId", fhir: `${patientParticipant}.actor.identifier.value`, required: "to-pms" },
  { fhir: `${patientParticipant}.status`, default: "accepted" },
  { pms: "providerId", fhir: `${practitionerParticipant}.actor.identifier.value`, required: true },
  { fhir: `${practitionerParticipant}.status`, default: "accepted" },
  { pms: "reason", fhir: "reasonCode[0].text", transform: "string" },
  { pms: "updatedAt", fhir: updatedAt, transform: "dateTime" },
];

const encounter: MappingRule[] = [
  { fhir: "resourceType", default: "Encounter" },
  { pms: "id", fhir: "identifier.where(system=%identifierSystem).value", required: true },
  { fhir: "status", default: "planned" },
  { fhir: "class.system", default: "http://terminology.hl7.org/CodeSystem/v3-ActCode" },
  { fhir: "class.code", default: "AMB" },
  { fhir: "class.display", default: "ambulatory" },
  {
    pms: "patientId",
    fhir: "subject.reference",
    transform: "conditional:Patient",
    direction: "to-fhir",
    required: true,
    label: "patientId -> subject reference",
  },
  {
    pms: "patientId",
    fhir: "subject.where(identifier.system=%patientSystem).identifier.value",
    required: "to-pms",
  },
  {
    pms: "providerId",
    fhir: "participant.where(individual.type='Practitioner' and individual.identifier.system=%practitionerSystem).individual.identifier.value",
    required: true,
  },
  { pms: "scheduledTime", fhir: "period.start", transform: "dateTime", required: true },
  {
    pms: "duration",
    fhir: "period.end",
    transform: "addMinutes",
    with: { pms: "scheduledTime", fhir: "period.start" },
    required: true,
    label: "period.end = scheduledTime + duration",
  },
  { fhir: "appointment.where(identifier.system=%appointmentSystem).type", default: "Appointment" },
  { pms: "id", fhir: "appointment.where(identifier.system=%appointmentSystem).identifier.value" },
  { pms: "reason", fhir: "reasonCode[0].text", transform: "string" },
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The built-in rule sets, for the sandbox PMS records (lib/mapping/records.ts). Frozen. */
export const builtinMappings: Readonly<Record<BuiltinMappingName, readonly MappingRule[]>> = deepFreeze({
  patient,
  appointment,
  encounter,
});

/** One PMS record per set, for the editor's "try it" panel and the docs. */
export const builtinSamples: Readonly<Record<BuiltinMappingName, Readonly<Record<string, unknown>>>> =
  deepFreeze({
    patient: {
      id: "pat-00042",
      firstName: "Zoë",
      lastName: "O'Brien-Nguyễn",
      dateOfBirth: "1984-02-29",
      gender: "female",
      phone: "(617) 555-0142",
      email: "zoe.obrien@example.com",
      address: { street: "12 O'Connell Blvd", city: "Boston", state: "MA", zipCode: "02118" },
      updatedAt: "2025-01-06T08:00:00.000Z",
    },
    appointment: {
      id: "appt-000007",
      patientId: "pat-00042",
      providerId: "prov-003",
      scheduledTime: "2025-03-10T09:45:00-04:00",
      duration: 30,
      status: "confirmed",
      reason: "Follow-up visit",
      updatedAt: "2025-03-01T14:12:09.120Z",
    },
    encounter: {
      id: "appt-000007",
      patientId: "pat-00042",
      providerId: "prov-003",
      scheduledTime: "2025-03-10T09:45:00-04:00",
      duration: 30,
      status: "arrived",
      reason: "Follow-up visit",
      updatedAt: "2025-03-10T09:40:00.000Z",
    },
  });

export function isBuiltinMappingName(name: unknown): name is BuiltinMappingName {
  return (BUILTIN_MAPPING_NAMES as readonly unknown[]).includes(name);
}

/** A fresh, editable copy of a built-in set. */
export function builtinRules(name: BuiltinMappingName): MappingRule[] {
  return structuredClone(builtinMappings[name]) as MappingRule[];
}

/** Compiles a built-in set with its default identifier system unless options name one. */
export function compileBuiltin(name: BuiltinMappingName, options: CompileOptions = {}): CompiledMapping {
  return compileMapping(builtinMappings[name], {
    ...options,
    identifierSystem: options.identifierSystem || builtinIdentifierSystems[name],
    variables: { ...builtinVariables, ...options.variables },
  });
}
