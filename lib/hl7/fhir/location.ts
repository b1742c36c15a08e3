import type { Coding, Location } from "./fhir-types";
import { SYSTEM } from "./tables";

/**
 * PL (person location) <-> Location, after the v2-to-FHIR IG's PL[Location] map: PL-1 point of
 * care, PL-2 room and PL-3 bed each become a Location (physicalType wa, ro, bd), each `partOf` the
 * nearest valued level above it. Each Location's identifier has the system of PL-4 (facility) and
 * as value the path of the components down to its level, joined by "/" with "%" and "/" inside a
 * component percent-encoded: PV1-3 `2000^2012^01` gives "2000", "2000/2012" and "2000/2012/01"; an
 * empty level stays an empty segment (`2000^^01`: bed "2000//01"). The same place always has the
 * same identifier, so repeats find it (POST + ifNoneExist), and no HL7 delimiter reaches FHIR.
 */

export const PL_LEVELS: ReadonlyArray<Required<Pick<Coding, "code" | "display">>> = [
  { code: "wa", display: "Ward" },
  { code: "ro", display: "Room" },
  { code: "bd", display: "Bed" },
];

const encode = (component: string): string => component.replace(/%/g, "%25").replace(/\//g, "%2F");

/** The identifier value of the level `components.length - 1`: the components down to it as a path. */
export function locationPath(components: readonly string[]): string {
  return components.map(encode).join("/");
}

/** The components a path holds (point of care, room, bed), or undefined when `value` is no such path. */
export function parseLocationPath(value: string): string[] | undefined {
  const parts = value.split("/");
  if (parts.length > PL_LEVELS.length) return undefined;
  const out: string[] = [];
  for (const p of parts) {
    if (/%(?!25|2F)/i.test(p)) return undefined;
    out.push(p.replace(/%2F/gi, "/").replace(/%25/g, "%"));
  }
  return out;
}

/** 0 (point of care), 1 (room) or 2 (bed) from a Location's physicalType; undefined for others. */
export function locationLevel(loc: Location | undefined): number | undefined {
  for (const c of loc?.physicalType?.coding ?? []) {
    if (c.system !== undefined && c.system !== SYSTEM.locationPhysicalType) continue;
    const level = PL_LEVELS.findIndex((l) => l.code === c.code);
    if (level >= 0) return level;
  }
  return undefined;
}
