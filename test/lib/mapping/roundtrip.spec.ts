import { expect } from "chai";
import { builtinMappings, compileBuiltin, type MappingRule } from "../../../lib/mapping";
import type { PmsAppointment, PmsPatient } from "../../../lib/mapping/records";
import { generatePmsData } from "../../../sandbox/pms/data";

/*
 * What "exact" means, for every generated record r (thousands, seeded) and each built-in set:
 *
 * 1. toPms(toFhir(r)) equals canonical(r) on the set's bidirectional fields, where
 *    canonical() is written here, independently of the engine: it spells the few values
 *    whose forward transform normalises (gender "male" -> "M", "" -> absent; status
 *    "confirmed" -> "scheduled") in the one form that comes back, and leaves every other
 *    field byte for byte as it was.
 * 2. For canonical records that is identity: toPms(toFhir(c)) equals c exactly.
 * 3. FHIR -> PMS -> FHIR is identity for every generated record: toFhir(toPms(f)) equals f
 *    for f = toFhir(r); nothing the PMS side can hold is lost on the way to FHIR.
 */

const GENDER_CANONICAL: Record<string, string | undefined> = {
  M: "M",
  m: "M",
  male: "M",
  Male: "M",
  F: "F",
  f: "F",
  female: "F",
  FEMALE: "F",
  O: "O",
  other: "O",
  U: "U",
  unknown: "U",
  "": undefined,
};

const STATUS_CANONICAL: Record<string, string> = {
  scheduled: "scheduled",
  confirmed: "scheduled",
  completed: "completed",
  cancelled: "cancelled",
  no_show: "no_show",
  arrived: "arrived",
  checked_in: "checked_in",
};

function canonicalPatient(p: PmsPatient): Record<string, unknown> {
  const out: Record<string, unknown> = { ...p };
  if (p.gender !== undefined) {
    expect(Object.hasOwn(GENDER_CANONICAL, p.gender), `gender ${p.gender}`).to.equal(true);
    const g = GENDER_CANONICAL[p.gender];
    if (g === undefined) delete out.gender;
    else out.gender = g;
  }
  return out;
}

function canonicalAppointment(a: PmsAppointment): Record<string, unknown> {
  return { ...a, status: STATUS_CANONICAL[a.status] };
}

/** The PMS fields a rule set maps both ways. */
function bidirectionalFields(rules: readonly MappingRule[]): string[] {
  const fields = new Set<string>();
  for (const r of rules) {
    if (r.pms && r.fhir && (r.direction ?? "both") === "both") fields.add(r.pms.split(".")[0]);
  }
  return [...fields];
}

function pick(record: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (record[f] !== undefined) out[f] = record[f];
  return out;
}

describe("lib/mapping built-in sets round-trip", function () {
  const data = generatePmsData({ seed: 20250106, patients: 3000, appointments: 3000, providers: 25 });

  const sets: Array<{
    name: "patient" | "appointment" | "encounter";
    records: Array<Record<string, unknown>>;
    canonical: (r: Record<string, unknown>) => Record<string, unknown>;
  }> = [
    {
      name: "patient",
      records: data.patients as unknown as Array<Record<string, unknown>>,
      canonical: (r) => canonicalPatient(r as unknown as PmsPatient),
    },
    {
      name: "appointment",
      records: data.appointments as unknown as Array<Record<string, unknown>>,
      canonical: (r) => canonicalAppointment(r as unknown as PmsAppointment),
    },
    {
      name: "encounter",
      records: data.appointments as unknown as Array<Record<string, unknown>>,
      canonical: (r) => canonicalAppointment(r as unknown as PmsAppointment),
    },
  ];

  it("maps the fields the issue names", () => {
    expect(bidirectionalFields(builtinMappings.patient).sort()).to.deep.equal(
      [
        "address",
        "dateOfBirth",
        "email",
        "firstName",
        "gender",
        "id",
        "lastName",
        "phone",
        "updatedAt",
      ].sort(),
    );
    expect(bidirectionalFields(builtinMappings.appointment).sort()).to.deep.equal(
      ["duration", "id", "patientId", "providerId", "reason", "scheduledTime", "status", "updatedAt"].sort(),
    );
    expect(bidirectionalFields(builtinMappings.encounter).sort()).to.deep.equal(
      ["duration", "id", "patientId", "providerId", "reason", "scheduledTime"].sort(),
    );
  });

  for (const set of sets) {
    it(`${set.name}: toPms(toFhir(r)) is canonical(r) for ${set.records.length} generated records`, () => {
      const mapping = compileBuiltin(set.name);
      const fields = bidirectionalFields(builtinMappings[set.name]);
      let normalised = 0;
      for (const r of set.records) {
        const fhir = mapping.toFhir(r);
        expect(fhir.errors, JSON.stringify(r)).to.deep.equal([]);
        const back = mapping.toPms(fhir.value);
        expect(back.errors, JSON.stringify(fhir.value)).to.deep.equal([]);
        const expected = pick(set.canonical(r), fields);
        expect(back.value, JSON.stringify(r)).to.deep.equal(expected);
        if (JSON.stringify(pick(r, fields)) !== JSON.stringify(expected)) normalised++;

        const again = mapping.toPms(mapping.toFhir(expected).value);
        expect(again.value).to.deep.equal(expected);

        expect(mapping.toFhir(back.value).value).to.deep.equal(fhir.value);
      }
      // The generated mess does exercise normalisation, and most records need none.
      if (set.name !== "encounter") expect(normalised).to.be.greaterThan(50);
      expect(normalised).to.be.lessThan(set.records.length * 0.6);
    });
  }

  it("writes and reads the encounter's subject identifier under %patientSystem, as overridden", () => {
    const record = {
      id: "a-1",
      patientId: "p-1",
      providerId: "d-1",
      scheduledTime: "2026-12-01T09:00:00Z",
      duration: 30,
    };
    const mapping = compileBuiltin("encounter", { variables: { patientSystem: "urn:other:mrn" } });
    const fhir = mapping.toFhir(record).value as { subject: unknown };
    expect(fhir.subject).to.deep.equal({
      reference: "Patient?identifier=urn:other:mrn|p-1",
      identifier: { system: "urn:other:mrn", value: "p-1" },
    });
    expect(mapping.toPms(fhir).value).to.include({ patientId: "p-1" });
    const elsewhere = {
      ...fhir,
      subject: { identifier: { system: "urn:healthbridge:pms:patient", value: "p-1" } },
    };
    expect(mapping.toPms(elsewhere).errors.map((e) => [e.code, e.field])).to.deep.equal([
      ["MAP_REQUIRED", "subject.where(identifier.system=%patientSystem).identifier.value"],
    ]);
  });

  it("keeps a FHIR resource written elsewhere when it passes through the PMS shape and back", () => {
    const mapping = compileBuiltin("patient");
    const resource = {
      resourceType: "Patient",
      identifier: [{ system: "urn:healthbridge:pms:patient", value: "p-1" }],
      name: [{ given: ["Siobhán"], family: "Ó Súilleabháin" }],
      birthDate: "1968-02-29",
      gender: "unknown",
      telecom: [{ system: "phone", value: "+1 907 555 0100" }],
      address: [{ line: ["1 Main St"], postalCode: "99501" }],
    };
    const pms = mapping.toPms(resource);
    expect(pms.value).to.deep.equal({
      id: "p-1",
      firstName: "Siobhán",
      lastName: "Ó Súilleabháin",
      dateOfBirth: "1968-02-29",
      gender: "U",
      phone: "+1 907 555 0100",
      address: { street: "1 Main St", zipCode: "99501" },
    });
    expect(mapping.toFhir(pms.value).value).to.deep.equal(resource);
  });
});
