import { convertError } from "./datatypes";
import type { Identifier, Patient } from "./fhir-types";
import { location, type V2Segment } from "./view";

/** Identifier types tried, in order, for the business key of a Patient. */
const PATIENT_KEY_TYPES = ["MR", "PI", "PT", "PE"];

/** The identifier a Patient is found by: the first of type MR, PI, PT, PE, else the first. */
export function pickKey(ids: Identifier[]): Identifier {
  for (const type of PATIENT_KEY_TYPES) {
    const hit = ids.find((i) => i.type?.coding?.[0]?.code === type);
    if (hit) return hit;
  }
  return ids[0];
}

/** The business key of the Patient made from `pid`; HL7_CONVERT at PID-3 when it has no identifier. */
export function patientKey(p: Patient, pid: V2Segment): Identifier {
  if (!p.identifier?.length) throw convertError(location(pid, 3), "no patient identifier");
  return pickKey(p.identifier);
}
