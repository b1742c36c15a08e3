import { expect } from "chai";
import { checkMapping, compileMapping, type MappingRule } from "../../../lib/mapping";

function compileErrors(rules: unknown, options?: Parameters<typeof checkMapping>[1]) {
  return checkMapping(rules, options).map((e) => ({ rule: e.rule, field: e.field, message: e.message }));
}

describe("lib/mapping FHIR paths", () => {
  it("writes the issue's paths into an empty resource and reads them back with the same accessor", () => {
    const rules: MappingRule[] = [
      { fhir: "resourceType", default: "Appointment" },
      { pms: "source", default: "fhir" },
      { pms: "phone", fhir: "extension.where(url='urn:phone').valueString" },
      { pms: "practitioner", fhir: "participant.where(actor.type='Practitioner').actor.reference" },
      { pms: "patient", fhir: "participant.where(actor.type='Patient').actor.reference" },
      { pms: "reason", fhir: "reasonCode[0].text" },
    ];
    const m = compileMapping(rules);
    const record = { phone: "555-0100", practitioner: "Practitioner/1", patient: "Patient/2", reason: "Flu" };
    const out = m.toFhir(record);
    expect(out.errors).to.deep.equal([]);
    expect(out.value).to.deep.equal({
      resourceType: "Appointment",
      extension: [{ url: "urn:phone", valueString: "555-0100" }],
      participant: [
        { actor: { type: "Practitioner", reference: "Practitioner/1" } },
        { actor: { type: "Patient", reference: "Patient/2" } },
      ],
      reasonCode: [{ text: "Flu" }],
    });
    expect(m.toPms(out.value).value).to.deep.equal({ source: "fhir", ...record });
  });

  it("writes name[0].given[0] and telecom.where(system='phone').value into a Patient", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "first", fhir: "name[0].given[0]" },
      { pms: "middle", fhir: "name[0].given[1]" },
      { pms: "phone", fhir: "telecom.where(system='phone').value" },
      { pms: "homeEmail", fhir: "telecom.where(system='email' and use='home').value" },
      { pms: "workEmail", fhir: "telecom.where(system = 'email' and use = 'work').value" },
      { pms: "mrn", fhir: "identifier.where(type.coding.code='MR').value" },
      { pms: "family", fhir: "Patient.name.family" },
    ]);
    const record = {
      first: "José",
      middle: "María",
      phone: "(617) 555-0142",
      homeEmail: "a@example.com",
      workEmail: "b@example.com",
      mrn: "MR-1",
      family: "Nguyễn",
    };
    const out = m.toFhir(record);
    expect(out.value).to.deep.equal({
      resourceType: "Patient",
      name: [{ given: ["José", "María"], family: "Nguyễn" }],
      telecom: [
        { system: "phone", value: "(617) 555-0142" },
        { system: "email", use: "home", value: "a@example.com" },
        { system: "email", use: "work", value: "b@example.com" },
      ],
      identifier: [{ type: { coding: [{ code: "MR" }] }, value: "MR-1" }],
    });
    expect(m.toPms(out.value).value).to.deep.equal(record);
  });

  it("reads filters from resources written elsewhere, in any element order", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "phone", fhir: "telecom.where(system='phone').value" },
      { pms: "email", fhir: "telecom.where(system='email').value" },
    ]);
    const out = m.toPms({
      resourceType: "Patient",
      telecom: [
        { system: "fax", value: "1" },
        { value: "e@example.com", system: "email" },
        { system: "phone", value: "2" },
        { system: "phone", value: "3" },
      ],
    });
    expect(out.value).to.deep.equal({ phone: "2", email: "e@example.com" });
    expect(out.warnings).to.have.length(1);
    expect(out.warnings[0]).to.include({
      code: "MAP_MULTIPLE",
      field: "telecom.where(system='phone').value",
    });
  });

  it("fills the first matching element instead of adding a second", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "phone", fhir: "telecom.where(system='phone').value" },
      { fhir: "telecom.where(system='phone').use", default: "mobile" },
    ]);
    expect(m.toFhir({ phone: "1" }).value).to.deep.equal({
      resourceType: "Patient",
      telecom: [{ system: "phone", value: "1", use: "mobile" }],
    });
  });

  it("filters an element that holds one value: read only when the conditions hold, written beside the value", () => {
    const rules: MappingRule[] = [
      { fhir: "resourceType", default: "Encounter" },
      { pms: "ref", fhir: "subject.reference" },
      { pms: "patientId", fhir: "subject.where(identifier.system=%patientSystem).identifier.value" },
    ];
    const m = compileMapping(rules, { variables: { patientSystem: "urn:p" } });
    expect(m.toFhir({ ref: "Patient/1", patientId: "P1" }).value).to.deep.equal({
      resourceType: "Encounter",
      subject: { reference: "Patient/1", identifier: { system: "urn:p", value: "P1" } },
    });
    expect(
      m.toPms({ resourceType: "Encounter", subject: { identifier: { system: "urn:p", value: "P1" } } }).value,
    ).to.deep.equal({ patientId: "P1" });
    expect(
      m.toPms({ resourceType: "Encounter", subject: { identifier: { system: "urn:other", value: "P1" } } })
        .value,
    ).to.deep.equal({});
    const other = compileMapping(
      [
        { fhir: "resourceType", default: "Encounter" },
        { fhir: "subject.identifier.system", default: "urn:other" },
        { pms: "patientId", fhir: "subject.where(identifier.system='urn:p').identifier.value" },
      ],
      {},
    ).toFhir({ patientId: "P1" });
    expect(other.value).to.equal(undefined);
    expect(other.errors.map((e) => [e.code, e.message])).to.deep.equal([
      [
        "MAP_TRANSFORM",
        "subject.where(identifier.system='urn:p').identifier.value: subject already holds a value its where() conditions do not hold for",
      ],
    ]);
  });

  it("closes holes left by later positions (name[1] without name[0])", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "a", fhir: "name[0].family" },
      { pms: "b", fhir: "name[1].family" },
    ]);
    expect(m.toFhir({ b: "B" }).value).to.deep.equal({ resourceType: "Patient", name: [{ family: "B" }] });
    expect(m.toFhir({ a: "A", b: "B" }).value).to.deep.equal({
      resourceType: "Patient",
      name: [{ family: "A" }, { family: "B" }],
    });
  });

  it("resolves %variables, and reports a missing one", () => {
    const rules: MappingRule[] = [
      { fhir: "resourceType", default: "Patient" },
      { pms: "id", fhir: "identifier.where(system=%identifierSystem).value" },
      { pms: "mrn", fhir: "identifier.where(system=%mrnSystem).value" },
    ];
    const m = compileMapping(rules, { identifierSystem: "urn:a", variables: { mrnSystem: "urn:b" } });
    expect(m.toFhir({ id: "1", mrn: "2" }).value).to.deep.equal({
      resourceType: "Patient",
      identifier: [
        { system: "urn:a", value: "1" },
        { system: "urn:b", value: "2" },
      ],
    });
    expect(compileErrors(rules, { variables: { mrnSystem: "urn:b" } })).to.deep.equal([
      {
        rule: 1,
        field: "fhir",
        message: "uses %identifierSystem, which is not set (option identifierSystem)",
      },
    ]);
  });

  it("reads any other FHIRPath expression with fhirpath on to-pms rules", () => {
    const m = compileMapping(
      [
        { fhir: "resourceType", default: "Patient" },
        {
          pms: "fullName",
          fhir: "name.first().given.join(' ') + ' ' + name.first().family",
          direction: "to-pms",
        },
        { pms: "phones", fhir: "telecom.where(system='phone').value.count()", direction: "to-pms" },
        { pms: "allPhones", fhir: "telecom.where(system='phone').value.distinct()", direction: "to-pms" },
        { pms: "mrn", fhir: "identifier.where(system=%identifierSystem).value.first()", direction: "to-pms" },
      ],
      { identifierSystem: "urn:mrn" },
    );
    const out = m.toPms({
      resourceType: "Patient",
      identifier: [{ system: "urn:mrn", value: "7" }],
      name: [{ given: ["Mary", "Kate"], family: "O'Neil" }],
      telecom: [
        { system: "phone", value: "1" },
        { system: "phone", value: "2" },
      ],
    });
    expect(out.errors).to.deep.equal([]);
    expect(out.value).to.deep.equal({
      fullName: "Mary Kate O'Neil",
      phones: 2,
      allPhones: ["1", "2"],
      mrn: "7",
    });
  });

  it("refuses read-only expressions on rules that write to FHIR, and broken expressions", () => {
    expect(compileErrors([{ pms: "a", fhir: "name.first().family" }])).to.deep.equal([
      {
        rule: 0,
        field: "fhir",
        message:
          '"name.first().family" is not in the writable subset: set direction to-pms to read it with FHIRPath',
      },
    ]);
    const broken = compileErrors([{ pms: "a", fhir: "name.where(", direction: "to-pms" }]);
    expect(broken).to.have.length(1);
    expect(broken[0].message).to.match(/neither a writable path nor a FHIRPath expression/);
  });

  it("checks paths against the R4 model", () => {
    const errors = compileErrors([
      { fhir: "resourceType", default: "Patient" },
      { pms: "a", fhir: "nmae.family" },
      { pms: "b", fhir: "deceased" },
      { pms: "c", fhir: "gender.where(x='y').value" },
      { pms: "d", fhir: "birthDate.value" },
      { pms: "e", fhir: "maritalStatus[1].text" },
      { pms: "f", fhir: "telecom.where(system='phone')" },
      { pms: "g", fhir: "telecom.where(rank='1').value" },
      { pms: "h", fhir: "telecom.where(foo='1').value" },
      { pms: "i", fhir: "name.constructor" },
    ]);
    expect(errors).to.deep.equal([
      { rule: 1, field: "fhir", message: "Patient has no element nmae" },
      { rule: 2, field: "fhir", message: "deceased is a choice of types: name one, e.g. deceasedBoolean" },
      { rule: 3, field: "fhir", message: "where(): code has no element x" },
      { rule: 4, field: "fhir", message: "birthDate is a date; it has no element value" },
      { rule: 5, field: "fhir", message: "maritalStatus holds one value; only maritalStatus[0] exists" },
      { rule: 6, field: "fhir", message: "a where() filter must be followed by the element to map" },
      { rule: 7, field: "fhir", message: "where(): rank is a positiveInt; '1' cannot match it" },
      { rule: 8, field: "fhir", message: "where(): ContactPoint has no element foo" },
      { rule: 9, field: "fhir", message: "constructor cannot be used as an element name" },
    ]);
  });

  it("follows the data's shape when there is no resourceType rule", () => {
    const m = compileMapping([
      { pms: "a", fhir: "code.coding[0].code" },
      { pms: "b", fhir: "valueQuantity.value" },
    ]);
    const out = m.toFhir({ a: "x", b: 5 });
    expect(out.value).to.deep.equal({ code: { coding: [{ code: "x" }] }, valueQuantity: { value: 5 } });
    expect(m.toPms({ code: [{ coding: [{ code: "y" }] }], valueQuantity: { value: 6 } }).value).to.deep.equal(
      {
        a: "y",
        b: 6,
      },
    );
  });

  it("checks the JSON type of every value written", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Appointment" },
      { pms: "d", fhir: "minutesDuration" },
      { pms: "s", fhir: "status" },
      { pms: "a", fhir: "participant[0].actor" },
    ]);
    expect(m.toFhir({ d: 30, s: "booked", a: { reference: "Patient/1" } }).errors).to.deep.equal([]);
    const bad = m.toFhir({ d: "30", s: 5, a: "Patient/1" });
    expect(bad.value).to.equal(undefined);
    expect(bad.errors.map((e) => [e.field, e.code, e.message])).to.deep.equal([
      ["d", "MAP_TRANSFORM", "minutesDuration: a string of 2 characters is not a FHIR positiveInt"],
      ["s", "MAP_TRANSFORM", "status: a number is not text for a FHIR code"],
      ["a", "MAP_TRANSFORM", "participant[0].actor: a string of 9 characters is not a FHIR Reference object"],
    ]);
    expect(m.toFhir({ d: 0 }).errors[0].message).to.equal(
      "minutesDuration: 0 is not a positiveInt (1 or more)",
    );
  });

  it("refuses PMS paths that are not dotted names", () => {
    expect(compileErrors([{ pms: "a..b", fhir: "x" }])[0]).to.deep.include({ field: "pms" });
    expect(compileErrors([{ pms: "a[0]", fhir: "x" }])[0]).to.deep.include({ field: "pms" });
    expect(compileErrors([{ pms: "__proto__.x", fhir: "x" }])[0]).to.deep.equal({
      rule: 0,
      field: "pms",
      message: "__proto__ cannot be used as a field name",
    });
  });

  it("writes nested PMS fields and refuses to overwrite a value with a container", () => {
    const m = compileMapping([
      { fhir: "resourceType", default: "Patient" },
      { pms: "address.zipCode", fhir: "address[0].postalCode" },
      { pms: "address.geo.lat", fhir: "address[0].extension.where(url='lat').valueDecimal" },
    ]);
    expect(m.toPms({ resourceType: "Patient", address: [{ postalCode: "02118" }] }).value).to.deep.equal({
      address: { zipCode: "02118" },
    });
    const out = m.toFhir({ address: { zipCode: "02118", geo: { lat: 42.3 } } });
    expect(m.toPms(out.value).value).to.deep.equal({ address: { zipCode: "02118", geo: { lat: 42.3 } } });
  });
});
