/*
 * Run by tz.spec.ts in a child process under a given TZ: maps seeded records with every
 * built-in set and prints the results, which must not depend on the host time zone.
 */
import { compileBuiltin } from "../../../lib/mapping";
import { generatePmsData } from "../../../sandbox/pms/data";

const data = generatePmsData({ seed: 1234, patients: 400, appointments: 400 });
const patient = compileBuiltin("patient");
const appointment = compileBuiltin("appointment");
const encounter = compileBuiltin("encounter");
const edgeDates = [
  "1970-01-01",
  "19691231",
  "2000-02-29",
  "1999-12-31T23:59:59-11:00",
  "2000-01-01T00:00:00+14:00",
];

// Dates as a database driver hands over a DATE column: local midnight (or any time) of that day.
const dateObjects = [new Date(1970, 0, 1), new Date(2000, 1, 29, 23, 30), new Date(1999, 11, 31, 0, 5)];

const out = {
  timezoneOffset: new Date(Date.UTC(2025, 0, 1)).getTimezoneOffset(),
  patients: data.patients.map((p) => {
    const fhir = patient.toFhir(p).value;
    return { fhir, pms: patient.toPms(fhir).value };
  }),
  edges: edgeDates.map((dateOfBirth) => {
    const fhir = patient.toFhir({ id: "e", firstName: "E", lastName: "E", dateOfBirth }).value;
    return { fhir, pms: patient.toPms(fhir).value };
  }),
  dateObjects: dateObjects.map((dateOfBirth) => {
    const mapped = patient.toFhir({ id: "d", firstName: "D", lastName: "D", dateOfBirth });
    return { birthDate: mapped.value?.birthDate, errors: mapped.errors.map((e) => e.code) };
  }),
  appointments: data.appointments.map((a) => {
    const fhir = appointment.toFhir(a).value;
    const enc = encounter.toFhir(a).value;
    return {
      fhir,
      pms: appointment.toPms(fhir).value,
      encounter: enc,
      fromEncounter: encounter.toPms(enc).value,
    };
  }),
};
process.stdout.write(JSON.stringify(out));
