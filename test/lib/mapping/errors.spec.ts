import { expect } from "chai";
import { PackError } from "../../../lib/errors";
import { checkMapping, compileBuiltin, compileMapping, type MapResult } from "../../../lib/mapping";
import { mulberry32 } from "../../../sandbox/pms/data";

const goodPatient = {
  id: "pat-1",
  firstName: "Zoë",
  lastName: "O'Brien",
  dateOfBirth: "1984-02-29",
  gender: "F",
  phone: "(617) 555-0142",
  email: "zoe.obrien@example.com",
  address: { street: "1 Main St", city: "Boston", state: "MA", zipCode: "02118" },
  updatedAt: "2025-01-06T08:00:00.000Z",
};

const goodAppointment = {
  id: "appt-1",
  patientId: "pat-1",
  providerId: "prov-1",
  scheduledTime: "2025-01-06T09:30:00-05:00",
  duration: 30,
  status: "scheduled",
  reason: "Checkup",
  updatedAt: "2025-01-06T08:00:00.000Z",
};

function fieldsAndCodes(result: MapResult): Array<[string, string]> {
  expect(result.value, "nothing is half-mapped").to.equal(undefined);
  return result.errors.map((e) => [e.field, e.code]);
}

describe("lib/mapping errors", () => {
  const patient = compileBuiltin("patient");
  const appointment = compileBuiltin("appointment");

  it("maps the good records without errors", () => {
    expect(patient.toFhir(goodPatient).errors).to.deep.equal([]);
    expect(appointment.toFhir(goodAppointment).errors).to.deep.equal([]);
  });

  it("reports input that is not an object as MAP_INPUT, both ways", () => {
    for (const bad of [null, undefined, "text", 42, [goodPatient], true]) {
      for (const result of [patient.toFhir(bad), patient.toPms(bad)]) {
        expect(fieldsAndCodes(result)).to.deep.equal([["", "MAP_INPUT"]]);
        expect(result.errors[0].rule).to.equal(-1);
      }
    }
    const wrongType = patient.toPms({ resourceType: "Appointment", id: "1" });
    expect(fieldsAndCodes(wrongType)).to.deep.equal([["resourceType", "MAP_INPUT"]]);
    expect(wrongType.errors[0].message).to.equal('expected a Patient, got "Appointment"');
  });

  it("names every missing required field, whether absent, null or empty", () => {
    for (const missing of [undefined, null, ""]) {
      const record: Record<string, unknown> = { ...goodPatient };
      for (const f of ["id", "firstName", "lastName", "dateOfBirth"]) {
        if (missing === undefined) delete record[f];
        else record[f] = missing;
      }
      const result = patient.toFhir(record);
      expect(fieldsAndCodes(result)).to.deep.equal([
        ["id", "MAP_REQUIRED"],
        ["firstName", "MAP_REQUIRED"],
        ["lastName", "MAP_REQUIRED"],
        ["dateOfBirth", "MAP_REQUIRED"],
      ]);
      expect(result.errors[1]).to.deep.equal({
        field: "firstName",
        rule: 2,
        label: "firstName <-> name[0].given[0]",
        message: "is required",
        code: "MAP_REQUIRED",
      });
    }
    const appt = appointment.toFhir({ id: "a" });
    expect(fieldsAndCodes(appt).map(([f]) => f)).to.deep.equal([
      "status",
      "scheduledTime",
      "duration",
      "patientId",
      "providerId",
    ]);
  });

  it("names fields that fail validation", () => {
    const result = patient.toFhir({
      ...goodPatient,
      dateOfBirth: "1985-02-29",
      email: "zoe@",
      phone: "call me",
    });
    expect(fieldsAndCodes(result)).to.deep.equal([
      ["dateOfBirth", "MAP_VALIDATE"],
      ["phone", "MAP_VALIDATE"],
      ["email", "MAP_VALIDATE"],
    ]);
    // The value is named by its shape only: it may be patient data.
    expect(result.errors[0].message).to.equal("a string of 10 characters is not a real calendar date");
    for (const e of result.errors) {
      for (const value of ["1985-02-29", "zoe@", "call me"]) expect(e.message).to.not.include(value);
    }
    for (const phone of ["123", "+1 (617) 555-0142 ext. 12", "617.555.0142 x9"]) {
      const r = patient.toFhir({ ...goodPatient, phone });
      expect(r.errors.length, phone).to.equal(phone === "123" ? 1 : 0);
    }
    const zip = compileMapping([{ pms: "zip", fhir: "postalCode", validate: "regex:^\\d{5}(-\\d{4})?$" }]);
    expect(zip.toFhir({ zip: "02118-1234" }).errors).to.deep.equal([]);
    expect(fieldsAndCodes(zip.toFhir({ zip: "2118" }))).to.deep.equal([["zip", "MAP_VALIDATE"]]);
  });

  it("names fields whose transform fails", () => {
    const p = patient.toFhir({ ...goodPatient, gender: 1, updatedAt: "2025-01-06T08:00:00" });
    expect(fieldsAndCodes(p)).to.deep.equal([
      ["gender", "MAP_TRANSFORM"],
      ["updatedAt", "MAP_TRANSFORM"],
    ]);
    const a = appointment.toFhir({
      ...goodAppointment,
      status: "rescheduled",
      patientId: "pat 1",
      duration: "half an hour",
    });
    expect(fieldsAndCodes(a)).to.deep.equal([
      ["status", "MAP_TRANSFORM"],
      ["duration", "MAP_TRANSFORM"],
      ["duration", "MAP_TRANSFORM"],
      ["patientId", "MAP_TRANSFORM"],
    ]);
    expect(a.errors[3].message).to.equal(
      "a string of 5 characters is not an identifier value a search URI can carry (A-Z a-z 0-9 . _ ~ : @ / -)",
    );
  });

  it("names FHIR elements that are missing or wrong when mapping to the PMS", () => {
    const fhir = patient.toFhir(goodPatient).value as Record<string, unknown>;
    const noBirth = { ...fhir };
    delete noBirth.birthDate;
    expect(fieldsAndCodes(patient.toPms(noBirth))).to.deep.equal([["birthDate", "MAP_REQUIRED"]]);
    expect(fieldsAndCodes(patient.toPms({ ...fhir, gender: "M", birthDate: "1984" }))).to.deep.equal([
      ["birthDate", "MAP_TRANSFORM"],
      ["gender", "MAP_TRANSFORM"],
    ]);
    const email = patient.toPms({
      ...fhir,
      telecom: [{ system: "email", value: "not-an-address" }],
    });
    expect(fieldsAndCodes(email)).to.deep.equal([["telecom.where(system='email').value", "MAP_VALIDATE"]]);

    const appt = appointment.toFhir(goodAppointment).value as Record<string, unknown>;
    expect(fieldsAndCodes(appointment.toPms({ ...appt, end: "2025-01-06T10:10:00-05:00" }))).to.deep.equal([
      ["end", "MAP_TRANSFORM"],
    ]);
    expect(fieldsAndCodes(appointment.toPms({ ...appt, end: "2025-01-06T10:10:30-05:00" }))).to.deep.equal([
      ["end", "MAP_TRANSFORM"],
    ]);
    // Participants found by actor type and identifier system: another system is no patient, and
    // a bare literal reference holds no PMS id.
    const participants = [
      {
        actor: { type: "Patient", reference: "Patient/1", identifier: { system: "urn:other", value: "p" } },
        status: "accepted",
      },
      { actor: { type: "Practitioner", reference: "Practitioner/prov-1" }, status: "accepted" },
    ];
    const patientField =
      "participant.where(actor.type='Patient' and actor.identifier.system=%patientSystem).actor.identifier.value";
    const providerField =
      "participant.where(actor.type='Practitioner' and actor.identifier.system=%practitionerSystem).actor.identifier.value";
    expect(fieldsAndCodes(appointment.toPms({ ...appt, participant: participants }))).to.deep.equal([
      [patientField, "MAP_REQUIRED"],
      [providerField, "MAP_REQUIRED"],
    ]);
    expect(fieldsAndCodes(appointment.toPms({ ...appt, status: "proposed" }))).to.deep.equal([
      ["status", "MAP_TRANSFORM"],
    ]);
  });

  it("fills a field from the end when minutesDuration is absent", () => {
    const appt = appointment.toFhir(goodAppointment).value as Record<string, unknown>;
    const noMinutes = { ...appt };
    delete noMinutes.minutesDuration;
    const result = appointment.toPms(noMinutes);
    expect(result.errors).to.deep.equal([]);
    expect((result.value as Record<string, unknown>).duration).to.equal(30);
  });

  it("refuses a record that has a value where a rule needs a container", () => {
    const pms = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "a", fhir: "gender" },
      { pms: "a.b", fhir: "birthDate" },
    ]);
    expect(
      fieldsAndCodes(pms.toPms({ resourceType: "Patient", gender: "male", birthDate: "2000-01-01" })),
    ).to.deep.equal([["birthDate", "MAP_TRANSFORM"]]);
  });

  it("reports rules that write one element with different values", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "a", fhir: "name[0].family" },
      { pms: "b", fhir: "name.family" },
    ]);
    expect(m.toFhir({ a: "x", b: "x" }).value).to.deep.equal({
      resourceType: "Patient",
      name: [{ family: "x" }],
    });
    expect(fieldsAndCodes(m.toFhir({ a: "x", b: "y" }))).to.deep.equal([["b", "MAP_TRANSFORM"]]);
  });

  it("never throws for bad data (seeded fuzz)", () => {
    const rand = mulberry32(99);
    const junk = (): unknown => {
      const pool: unknown[] = [
        null,
        "",
        " ",
        0,
        -1,
        1.5,
        Number.NaN,
        true,
        [],
        [1, "a"],
        {},
        { a: { b: 1 } },
        new Date(Number.NaN),
        new Date(0),
        "x".repeat(300),
        "2025-13-45T99:99:99Z",
        "toString",
        "__proto__",
        "Patient/../../x",
      ];
      return pool[Math.floor(rand() * pool.length)];
    };
    const mappings = [patient, appointment, compileBuiltin("encounter")];
    for (let i = 0; i < 3000; i++) {
      const record: Record<string, unknown> = { ...goodPatient, ...goodAppointment };
      for (const key of Object.keys(record)) if (rand() < 0.4) record[key] = junk();
      const resource = structuredClone(patient.toFhir(goodPatient).value) as Record<string, unknown>;
      for (const key of Object.keys(resource))
        if (key !== "resourceType" && rand() < 0.4) resource[key] = junk();
      for (const m of mappings) {
        for (const r of [m.toFhir(record), m.toPms(resource), m.toPms(junk()), m.toFhir(junk())]) {
          expect(r.value === undefined).to.equal(r.errors.length > 0);
          for (const e of r.errors) expect(e.field).to.be.a("string");
        }
      }
    }
  });

  describe("compile errors", () => {
    function compileErrors(rules: unknown) {
      return checkMapping(rules).map((e) => [e.rule, e.field, e.message]);
    }

    it("throws PackError MAP_COMPILE naming each broken rule", () => {
      let thrown: unknown;
      try {
        compileMapping([
          { pms: "a", fhir: "gender", transform: "sex" },
          { pms: "b", fhir: "birthDate", label: "Birth date", transform: "datum" },
        ]);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(PackError);
      const err = thrown as PackError;
      expect(err.code).to.equal("MAP_COMPILE");
      expect(err.message).to.equal(
        'invalid mapping: rule 0 (a <-> gender) transform: unknown transform "sex"; ' +
          'rule 1 (Birth date) transform: unknown transform "datum"',
      );
      expect((err.details as { errors: unknown[] }).errors).to.have.length(2);
    });

    it("explains every way a rule can be wrong", () => {
      expect(compileErrors("rules")).to.deep.equal([[-1, "", "rules must be a list of rules"]]);
      expect(compileErrors([])).to.deep.equal([[-1, "", "the rule list is empty"]]);
      expect(
        compileErrors([
          null,
          { pms: "a" },
          { fhir: "gender" },
          { pms: "a", fhir: "gender", requried: true },
          { pms: "a", fhir: "gender", direction: "sideways" },
          { pms: "a", fhir: "gender", required: "yes" },
          { fhir: "gender", default: "male", direction: "to-pms" },
          { pms: "a", default: 1, direction: "to-fhir" },
          { pms: "a", fhir: "gender", codeMap: { M: "male" } },
          { pms: "a", fhir: "end", transform: "addMinutes" },
          { pms: "a", fhir: "end", with: { pms: "s", fhir: "start" } },
          { pms: "a", fhir: "gender", validate: "postcode" },
          { pms: "a", fhir: "gender", validate: "regex:(" },
          { fhir: "resourceType", default: "Patients" },
          { pms: "", fhir: "" },
          { pms: "a", fhir: "gender", label: 5 },
        ]).map(
          ([rule, field, message]) => `${rule} ${field}: ${String(message).replace(/: Invalid.*$/, "")}`,
        ),
      ).to.deep.equal([
        "0 : a rule must be an object",
        "1 default: a rule with only a pms field writes its default: give one",
        "2 default: a rule with only a fhir path writes its default: give one",
        "3 requried: unknown rule property requried",
        '4 direction: direction must be both, to-fhir or to-pms, not "sideways"',
        "5 required: required must be true, false, to-fhir or to-pms",
        "6 direction: a rule without a pms field can only write to FHIR",
        "7 direction: a rule without a fhir path can only write to the PMS",
        "8 codeMap: codeMap is read only by transform codeMap",
        '9 with: addMinutes needs with: { pms: "<start field>", fhir: "<start element>" }',
        "10 with: with is read only by transform addMinutes",
        '11 validate: unknown validation "postcode" (email, phone, date or regex:<pattern>)',
        "12 validate: validate regex:( is not a valid regular expression",
        '13 default: "Patients" is not a FHIR R4 resource type',
        "14 : a rule needs a pms field, a fhir path, or both",
        "15 label: label must be text",
      ]);
    });
  });
});
