import { expect } from "chai";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { builtinMappings, checkMapping } from "../../../lib/mapping";
import {
  FHIR_ELEMENT_RESOURCE_TYPES,
  fhirElements,
  fhirPathSuggestions,
} from "../../../lib/mapping/fhir-elements";
import { FHIR_R4_ELEMENTS } from "../../../lib/mapping/fhir-r4-elements";

const ROOT = resolve(__dirname, "..", "..", "..", "..");

const paths = (type: string) => fhirElements(type).map((e) => e.path);
const suggested = (type: string, typed: string) => fhirPathSuggestions(type, typed).map((e) => e.path);

describe("lib/mapping FHIR element suggestions", () => {
  it("bundles the resources the pack maps, small", () => {
    expect(FHIR_ELEMENT_RESOURCE_TYPES).to.include.members([
      "Patient",
      "Appointment",
      "Encounter",
      "Practitioner",
      "Location",
      "Organization",
      "ChargeItem",
    ]);
    // The editor bundles it: a few kilobytes, not the 35 MB of definitions it comes from.
    expect(JSON.stringify(FHIR_R4_ELEMENTS).length).to.be.below(40_000);
  });

  it("is what scripts/fhir-elements.js writes from the installed definitions", async function () {
    this.timeout(30000);
    await promisify(execFile)(process.execPath, ["scripts/fhir-elements.js", "--check"], { cwd: ROOT });
  });

  it("lists a resource's elements, backbone children and its datatypes one level down", () => {
    const patient = paths("Patient");
    expect(patient).to.include.members([
      "birthDate",
      "gender",
      "name",
      "name.family",
      "name.given",
      "identifier.system",
      "identifier.value",
      "telecom.system",
      "address.postalCode",
      "contact.name",
      "deceasedBoolean",
      "deceasedDateTime",
      "extension.url",
    ]);
    for (const noise of ["deceased[x]", "modifierExtension", "contact.id", "name.id", "meta.project"]) {
      expect(patient).to.not.include(noise);
    }
    expect(paths("Appointment")).to.include.members([
      "participant.actor",
      "participant.actor.reference",
      "start",
    ]);
    expect(paths("Encounter")).to.include.members(["class.code", "period.start", "subject.reference"]);
    const name = fhirElements("Patient").find((e) => e.path === "name");
    expect(name).to.deep.equal({ path: "name", type: "HumanName", list: true });
    expect(fhirElements("Patient").find((e) => e.path === "birthDate")).to.deep.equal({
      path: "birthDate",
      type: "date",
      list: false,
    });
  });

  it("knows no element of a type it does not bundle", () => {
    expect(fhirElements("Observation")).to.deep.equal([]);
    expect(fhirElements("constructor")).to.deep.equal([]);
    expect(fhirPathSuggestions("Observation", "val")).to.deep.equal([]);
    expect(fhirPathSuggestions("", "name")).to.deep.equal([]);
  });

  it("completes the typed text: prefix matches first, then elements that contain it", () => {
    expect(suggested("Patient", "birth")).to.deep.equal([
      "birthDate",
      "multipleBirthBoolean",
      "multipleBirthInteger",
    ]);
    const name = suggested("Patient", "name.");
    expect(name).to.include.members(["name.family", "name.given", "name.use", "name.period"]);
    expect(name.every((p) => p.startsWith("name."))).to.equal(true);
    expect(suggested("Patient", "name.fam")).to.deep.equal(["name.family"]);
    const family = suggested("Patient", "family");
    expect(family).to.include.members(["name.family", "contact.name.family"]);
    expect(suggested("Patient", "gen")[0]).to.equal("gender");
    // The typed part matches in any case; the path before it must name elements as FHIR does.
    expect(suggested("Patient", "name.FAM")).to.deep.equal(["name.family"]);
    expect(suggested("Patient", "Name.fam")).to.deep.equal([]);
  });

  it("follows positions, filters and datatypes to any depth, keeping the typed text", () => {
    expect(suggested("Patient", "name[0].fa")).to.deep.equal(["name[0].family"]);
    expect(suggested("Patient", "telecom.where(system='phone').va")).to.deep.equal([
      "telecom.where(system='phone').value",
    ]);
    expect(suggested("Appointment", "participant.actor.identifier.sy")).to.deep.equal([
      "participant.actor.identifier.system",
    ]);
    expect(suggested("Patient", "Patient.birthD")).to.deep.equal(["Patient.birthDate"]);
    // Inside an open filter, on a primitive, or past an unknown element: nothing to offer.
    expect(suggested("Patient", "telecom.where(sys")).to.deep.equal([]);
    expect(suggested("Patient", "birthDate.")).to.deep.equal([]);
    expect(suggested("Patient", "nickname.")).to.deep.equal([]);
  });

  it("suggests every step of the built-in sets' paths", () => {
    const types: Record<string, string> = {
      patient: "Patient",
      appointment: "Appointment",
      encounter: "Encounter",
    };
    for (const [set, rules] of Object.entries(builtinMappings)) {
      for (const rule of rules) {
        const path = rule.fhir;
        if (!path || path === "resourceType") continue;
        // Each top-level dot of the path, e.g. "name[0]." + "f" -> "name[0].family".
        let depth = 0;
        for (let i = 0; i <= path.length; i++) {
          const c = path[i];
          if (c === "(" || c === "[") depth++;
          if (c === ")" || c === "]") depth--;
          if (i > 0 && i < path.length && !(c === "." && depth === 0)) continue;
          const start = i === 0 ? 0 : i + 1;
          const segment = /^[A-Za-z]+/.exec(path.slice(start))?.[0];
          if (!segment || path.startsWith("where(", start)) continue;
          const typed = path.slice(0, start) + segment.slice(0, 2);
          expect(suggested(types[set], typed), `${set}: ${typed}`).to.include(path.slice(0, start) + segment);
        }
      }
    }
  });

  it("suggests only paths the mapping compiler accepts for the type", () => {
    for (const type of FHIR_ELEMENT_RESOURCE_TYPES) {
      const rules = [
        { fhir: "resourceType", default: type },
        ...paths(type).map((fhir, i) => ({ pms: `f${i}`, fhir })),
      ];
      expect(checkMapping(rules), type).to.deep.equal([]);
    }
  });
});
