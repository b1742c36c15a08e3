import { expect } from "chai";
import { checkMapping, compileMapping, transformCatalog, type MappingRule } from "../../../lib/mapping";
import {
  resolveTransform,
  TransformFailure,
  type Notes,
  type Transform,
} from "../../../lib/mapping/transforms";

function transform(
  rule: Parameters<typeof resolveTransform>[0],
  variables?: Record<string, string>,
): Transform {
  const t = resolveTransform(rule, variables);
  if (typeof t === "string") throw new Error(t);
  return t;
}

function notes(): Notes {
  return { warning: undefined, multiple: false };
}

function fwd(t: Transform, v: unknown, other?: unknown): unknown {
  return t.forward(v, other, notes());
}

function rev(t: Transform, v: unknown, other?: unknown): unknown {
  return t.reverse(v, other, notes());
}

function refuses(fn: () => unknown, pattern: RegExp): void {
  expect(fn).to.throw(TransformFailure, pattern);
}

/** A one-rule mapping on a Patient, to see a transform through the public API. */
function oneRule(rule: MappingRule) {
  return compileMapping([{ fhir: "resourceType", default: "Patient" }, rule]);
}

describe("lib/mapping transforms", () => {
  it("lists every transform in the catalog the editor and help use", () => {
    expect(transformCatalog.map((t) => t.name)).to.deep.equal([
      "string",
      "number",
      "boolean",
      "date",
      "dateTime",
      "addMinutes",
      "gender",
      "appointmentStatus",
      "reference",
      "conditional",
      "codeMap",
    ]);
  });

  it("copies values unchanged (and unshared) without a transform", () => {
    const t = transform({});
    const obj = { a: [1, 2] };
    const out = fwd(t, obj);
    expect(out).to.deep.equal(obj);
    expect(out).to.not.equal(obj);
    expect(rev(t, "x")).to.equal("x");
  });

  it("string: text both ways; numbers and booleans become text; objects are refused", () => {
    const t = transform({ transform: "string" });
    expect(fwd(t, "O'Brien")).to.equal("O'Brien");
    expect(fwd(t, 42)).to.equal("42");
    expect(fwd(t, false)).to.equal("false");
    expect(rev(t, "Zoë")).to.equal("Zoë");
    refuses(() => fwd(t, { a: 1 }), /not text/);
    refuses(() => rev(t, [1]), /not text/);
    refuses(() => fwd(t, Number.NaN), /not text/);
  });

  it("number: numbers and numeric text both ways", () => {
    const t = transform({ transform: "number" });
    expect(fwd(t, 30)).to.equal(30);
    expect(fwd(t, " 45 ")).to.equal(45);
    expect(fwd(t, "-1.5e2")).to.equal(-150);
    expect(rev(t, 60)).to.equal(60);
    refuses(() => fwd(t, "30 min"), /not a number/);
    refuses(() => fwd(t, Infinity), /not a number/);
    refuses(() => rev(t, true), /not a number/);
  });

  it("boolean: booleans and yes/no text both ways", () => {
    const t = transform({ transform: "boolean" });
    for (const v of [true, "true", "Yes", "y", "1", 1]) expect(fwd(t, v)).to.equal(true);
    for (const v of [false, "FALSE", "no", "N", "0", 0]) expect(fwd(t, v)).to.equal(false);
    expect(rev(t, true)).to.equal(true);
    expect(rev(t, false)).to.equal(false);
    refuses(() => fwd(t, "maybe"), /not a boolean/);
    refuses(() => fwd(t, 2), /not a boolean/);
  });

  it("date: accepts YYYY-MM-DD, YYYYMMDD and ISO date-times without moving the day", () => {
    const t = transform({ transform: "date" });
    expect(fwd(t, "1980-05-04")).to.equal("1980-05-04");
    expect(fwd(t, "19800504")).to.equal("1980-05-04");
    expect(fwd(t, "1980-05-04T23:30:00-11:00")).to.equal("1980-05-04");
    expect(fwd(t, "1980-05-04T00:30:00+14:00")).to.equal("1980-05-04");
    expect(fwd(t, "1980-05-04 08:00")).to.equal("1980-05-04");
    expect(fwd(t, "2000-02-29")).to.equal("2000-02-29");
    expect(fwd(t, "0099-01-01")).to.equal("0099-01-01");
    expect(rev(t, "1980-05-04")).to.equal("1980-05-04");
    expect(fwd(t, new Date(1980, 4, 4))).to.equal("1980-05-04");
    for (const bad of [
      "1900-02-29",
      "1980-13-01",
      "1980-04-31",
      "19800230",
      "1980-5-4",
      "05/04/1980",
      19800504,
      "",
    ]) {
      refuses(() => fwd(t, bad), /not a calendar date/);
    }
    refuses(() => rev(t, "1980"), /not a calendar date/);
    refuses(() => fwd(t, new Date(Number.NaN)), /not a calendar date/);
  });

  it("date:YYYYMMDD writes compact dates back to the PMS", () => {
    const t = transform({ transform: "date:YYYYMMDD" });
    expect(fwd(t, "19800504")).to.equal("1980-05-04");
    expect(rev(t, "1980-05-04")).to.equal("19800504");
    expect(resolveTransform({ transform: "date:DD.MM.YYYY" }))
      .to.be.a("string")
      .that.matches(/date takes/);
  });

  it("dateTime: keeps the offset as written, completes seconds, refuses a missing offset", () => {
    const t = transform({ transform: "dateTime" });
    expect(fwd(t, "2025-01-06T09:30:00-05:00")).to.equal("2025-01-06T09:30:00-05:00");
    expect(fwd(t, "2025-01-06T09:30:00.123+14:00")).to.equal("2025-01-06T09:30:00.123+14:00");
    expect(fwd(t, "2025-01-06T09:30Z")).to.equal("2025-01-06T09:30:00Z");
    expect(fwd(t, "2025-01-06 09:30:00+0530")).to.equal("2025-01-06T09:30:00+05:30");
    expect(fwd(t, new Date(Date.UTC(2025, 0, 6, 14, 30)))).to.equal("2025-01-06T14:30:00.000Z");
    expect(rev(t, "2025-07-01T08:00:00-04:00")).to.equal("2025-07-01T08:00:00-04:00");
    refuses(() => fwd(t, "2025-01-06T09:30:00"), /no UTC offset/);
    refuses(() => fwd(t, "2025-01-06T24:00:00Z"), /not an ISO date-time/);
    refuses(() => fwd(t, "2025-02-30T10:00:00Z"), /not an ISO date-time/);
    refuses(() => fwd(t, "2025-01-06T10:00:00+15:00"), /not an ISO date-time/);
    refuses(() => fwd(t, "2025-01-06T10:00:00.1234567890Z"), /not an ISO date-time/);
    refuses(() => fwd(t, 1736155800000), /not a date-time/);
  });

  it("addMinutes: end = start + minutes in the start's offset, and back to whole minutes", () => {
    const t = transform({ transform: "addMinutes", with: { pms: "s", fhir: "start" } });
    expect(fwd(t, 30, "2025-01-06T09:45:00-05:00")).to.equal("2025-01-06T10:15:00-05:00");
    expect(fwd(t, "60", "2025-12-31T23:30:00.500Z")).to.equal("2026-01-01T00:30:00.500Z");
    expect(fwd(t, 0, "2025-01-06T09:45:00+14:00")).to.equal("2025-01-06T09:45:00+14:00");
    expect(rev(t, "2025-01-06T10:15:00-05:00", "2025-01-06T09:45:00-05:00")).to.equal(30);
    expect(rev(t, "2025-01-06T15:15:00Z", "2025-01-06T09:45:00-05:00")).to.equal(30);
    refuses(() => fwd(t, 30), /start date-time/);
    refuses(() => fwd(t, 2.5, "2025-01-06T09:45:00Z"), /whole number of minutes/);
    refuses(() => fwd(t, -5, "2025-01-06T09:45:00Z"), /whole number of minutes/);
    refuses(() => rev(t, "2025-01-06T09:45:30Z", "2025-01-06T09:45:00Z"), /whole minutes/);
    refuses(() => rev(t, "2025-01-06T09:00:00Z", "2025-01-06T09:45:00Z"), /whole minutes/);
    refuses(() => rev(t, "2025-01-06T09:00:00Z", undefined), /start date-time/);
  });

  it("gender: m/male/M, f/female, o/other, anything else unknown (with a warning); back M/F/O/U", () => {
    const t = transform({ transform: "gender" });
    const cases: Array<[string, string]> = [
      ["M", "male"],
      ["m", "male"],
      ["male", "male"],
      ["Male", "male"],
      ["F", "female"],
      ["f", "female"],
      ["FEMALE", "female"],
      ["o", "other"],
      ["other", "other"],
      ["U", "unknown"],
      ["unknown", "unknown"],
    ];
    for (const [pms, fhir] of cases) {
      const n = notes();
      expect(t.forward(pms, undefined, n)).to.equal(fhir);
      expect(n.warning).to.equal(undefined);
    }
    const n = notes();
    expect(t.forward("X", undefined, n)).to.equal("unknown");
    expect(n.warning).to.match(/not a known gender/);
    expect(rev(t, "male")).to.equal("M");
    expect(rev(t, "female")).to.equal("F");
    expect(rev(t, "other")).to.equal("O");
    expect(rev(t, "unknown")).to.equal("U");
    refuses(() => rev(t, "M"), /not a FHIR gender/);
    refuses(() => fwd(t, 1), /not a gender code/);
  });

  it("appointmentStatus: PMS statuses to FHIR and back; booked comes back as scheduled", () => {
    const t = transform({ transform: "appointmentStatus" });
    const forward: Array<[string, string]> = [
      ["scheduled", "booked"],
      ["confirmed", "booked"],
      ["completed", "fulfilled"],
      ["cancelled", "cancelled"],
      ["no_show", "noshow"],
      ["arrived", "arrived"],
      ["checked_in", "checked-in"],
      ["Checked-In", "checked-in"],
      ["no show", "noshow"],
      ["canceled", "cancelled"],
    ];
    for (const [pms, fhir] of forward) expect(fwd(t, pms), pms).to.equal(fhir);
    const back: Array<[string, string]> = [
      ["booked", "scheduled"],
      ["fulfilled", "completed"],
      ["cancelled", "cancelled"],
      ["noshow", "no_show"],
      ["arrived", "arrived"],
      ["checked-in", "checked_in"],
    ];
    for (const [fhir, pms] of back) expect(rev(t, fhir), fhir).to.equal(pms);
    refuses(() => fwd(t, "rescheduled"), /not a PMS appointment status/);
    refuses(() => rev(t, "proposed"), /no PMS appointment status/);
    refuses(() => rev(t, "toString"), /no PMS appointment status/);
  });

  it("reference:<Type>: id to Type/id and back from relative, absolute and versioned references", () => {
    const t = transform({ transform: "reference:Patient" });
    expect(fwd(t, "pat-00001")).to.equal("Patient/pat-00001");
    expect(fwd(t, 123)).to.equal("Patient/123");
    expect(rev(t, "Patient/pat-00001")).to.equal("pat-00001");
    expect(rev(t, "https://ehr.example.org/fhir/Patient/42")).to.equal("42");
    expect(rev(t, "Patient/42/_history/3")).to.equal("42");
    refuses(() => fwd(t, "has space"), /not a valid FHIR id/);
    refuses(() => fwd(t, "x".repeat(65)), /not a valid FHIR id/);
    refuses(() => rev(t, "Practitioner/7"), /not a reference to a Patient/);
    refuses(() => rev(t, "#contained"), /not a reference to a Patient/);
    expect(resolveTransform({ transform: "reference" })).to.match(/needs a resource type/);
    expect(resolveTransform({ transform: "reference:patient" })).to.match(/needs a resource type/);
  });

  it("conditional:<Type>: id to Type?identifier=<%typeSystem>|id and back from exactly that form", () => {
    const vars = {
      patientSystem: "urn:healthbridge:pms:patient",
      relatedPersonSystem: "https://pms.example/rp",
    };
    const t = transform({ transform: "conditional:Patient" }, vars);
    expect(t.spec).to.equal("conditional:Patient");
    expect(fwd(t, "pat-00001")).to.equal("Patient?identifier=urn:healthbridge:pms:patient|pat-00001");
    expect(fwd(t, 123)).to.equal("Patient?identifier=urn:healthbridge:pms:patient|123");
    expect(fwd(t, "a.b_c~d:e@f/g")).to.equal("Patient?identifier=urn:healthbridge:pms:patient|a.b_c~d:e@f/g");
    expect(rev(t, "Patient?identifier=urn:healthbridge:pms:patient|pat-00001")).to.equal("pat-00001");
    const rp = transform({ transform: "conditional:RelatedPerson" }, vars);
    expect(fwd(rp, "rp-1")).to.equal("RelatedPerson?identifier=https://pms.example/rp|rp-1");
    expect(rev(rp, "RelatedPerson?identifier=https://pms.example/rp|rp-1")).to.equal("rp-1");
  });

  it("conditional:<Type> refuses what a search URI cannot carry, and what is not its own form back", () => {
    const t = transform({ transform: "conditional:Patient" }, { patientSystem: "urn:x" });
    for (const bad of [
      "has space",
      "a|b",
      "a&b=c",
      "a,b",
      "a+b",
      "a%20b",
      "a#b",
      "",
      "x".repeat(256),
      1.5,
      -0.5,
      true,
      null,
      {},
      [],
    ]) {
      refuses(() => fwd(t, bad), /is not an identifier value a search URI can carry/);
    }
    expect(fwd(t, "x".repeat(255))).to.have.length("Patient?identifier=urn:x|".length + 255);
    // A literal reference (what the server stores once it resolved the conditional one) holds no PMS id.
    for (const literal of [
      "Patient/abc",
      "https://ehr.example.org/fhir/Patient/abc",
      "Patient/abc/_history/2",
    ]) {
      refuses(() => rev(t, literal), /is a literal reference: the PMS id is not in it/);
    }
    for (const other of [
      "Patient?identifier=urn:y|p1",
      "Practitioner?identifier=urn:x|p1",
      "Patient?identifier=urn:x|",
      "Patient?identifier=urn:x|a b",
      "Patient?identifier=urn%3Ax%7Cp1",
      "Patient?name=x",
      "Practitioner/7",
      "#contained",
      "",
    ]) {
      refuses(() => rev(t, other), /is not Patient\?identifier=urn:x\|<id>/);
    }
    for (const notText of [42, null, undefined, { reference: "Patient?identifier=urn:x|p1" }]) {
      refuses(() => rev(t, notText), /is not Patient\?identifier=urn:x\|<id>/);
    }
  });

  it("conditional:<Type> needs a type and its system variable, a system that fits a search URI", () => {
    expect(resolveTransform({ transform: "conditional" })).to.match(/needs a resource type/);
    expect(resolveTransform({ transform: "conditional:patient" }, { patientSystem: "urn:x" })).to.match(
      /needs a resource type/,
    );
    expect(resolveTransform({ transform: "conditional:Patient" })).to.equal(
      "conditional:Patient takes its identifier system from %patientSystem, which is not set (option variables)",
    );
    expect(resolveTransform({ transform: "conditional:Patient" }, { patientSystem: "" })).to.match(/not set/);
    for (const system of [
      "urn:a|b",
      "urn a",
      "urn:a&b",
      "urn:a?b",
      "urn:a#b",
      "urn:a,b",
      "urn:a%7C",
      "urn:a+b",
    ]) {
      expect(
        resolveTransform({ transform: "conditional:Patient" }, { patientSystem: system }),
        system,
      ).to.match(/cannot stand in a search URI/);
    }
    // Through compileMapping: the rule that fails is named, with the property.
    const errors = checkMapping([
      { fhir: "resourceType", default: "Appointment" },
      { pms: "p", fhir: "participant[0].actor.reference", transform: "conditional:Patient" },
    ]);
    expect(errors.map((e) => [e.rule, e.field, e.code])).to.deep.equal([[1, "transform", "MAP_COMPILE"]]);
  });

  it("conditional:<Type> in a mapping: a bad value is a MAP_TRANSFORM error naming the field, never a throw", () => {
    const m = compileMapping(
      [
        { fhir: "resourceType", default: "Encounter" },
        { pms: "patientId", fhir: "subject.reference", transform: "conditional:Patient", required: true },
      ],
      { variables: { patientSystem: "urn:x" } },
    );
    expect(m.toFhir({ patientId: "p1" }).value).to.deep.equal({
      resourceType: "Encounter",
      subject: { reference: "Patient?identifier=urn:x|p1" },
    });
    for (const bad of ["p 1", { id: 1 }, ["p1"], false]) {
      const r = m.toFhir({ patientId: bad });
      expect(r.value).to.equal(undefined);
      expect(r.errors.map((e) => [e.field, e.code])).to.deep.equal([["patientId", "MAP_TRANSFORM"]]);
    }
    expect(m.toFhir({}).errors.map((e) => [e.field, e.code])).to.deep.equal([["patientId", "MAP_REQUIRED"]]);
    const back = m.toPms({ resourceType: "Encounter", subject: { reference: "Patient/123" } });
    expect(back.value).to.equal(undefined);
    expect(back.errors.map((e) => [e.field, e.code])).to.deep.equal([["subject.reference", "MAP_TRANSFORM"]]);
    expect(back.errors[0].message).to.match(/literal reference/);
    expect(
      m.toPms({ resourceType: "Encounter", subject: { reference: "Patient?identifier=urn:x|p1" } }).value,
    ).to.deep.equal({
      patientId: "p1",
    });
  });

  it("codeMap: the analyst's table forward and inverted back", () => {
    const t = transform({ transform: "codeMap", codeMap: { S: "single", M: "married", "1": "one" } });
    expect(fwd(t, "S")).to.equal("single");
    expect(fwd(t, 1)).to.equal("one");
    expect(rev(t, "married")).to.equal("M");
    refuses(() => fwd(t, "X"), /not in the codeMap/);
    refuses(() => fwd(t, "toString"), /not in the codeMap/);
    refuses(() => rev(t, "widowed"), /not in the reverse codeMap/);
  });

  it("codeMap: shared FHIR codes need reverseCodeMap, which decides the way back", () => {
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x", b: "x" } })).to.match(
      /several PMS codes.*reverseCodeMap/,
    );
    const t = transform({ transform: "codeMap", codeMap: { a: "x", b: "x" }, reverseCodeMap: { x: "b" } });
    expect(fwd(t, "a")).to.equal("x");
    expect(rev(t, "x")).to.equal("b");
    expect(resolveTransform({ transform: "codeMap" })).to.match(/needs a codeMap table/);
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: 1 } })).to.match(/not a code/);
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: [] })).to.match(
      /must be a table/,
    );
  });

  it("names unknown transforms and parameters", () => {
    expect(resolveTransform({ transform: "uppercase" })).to.match(/unknown transform "uppercase"/);
    expect(resolveTransform({ transform: "gender:x" })).to.match(/takes no parameter/);
    expect(resolveTransform({ transform: 5 })).to.match(/must be a name/);
  });

  it("runs every transform both ways through a compiled rule", () => {
    const cases: Array<{ rule: MappingRule; pms: unknown; fhir: unknown; path: string[] }> = [
      {
        rule: { pms: "v", fhir: "name[0].family", transform: "string" },
        pms: "Nguyễn",
        fhir: "Nguyễn",
        path: ["name", "0", "family"],
      },
      {
        rule: { pms: "v", fhir: "multipleBirthInteger", transform: "number" },
        pms: 2,
        fhir: 2,
        path: ["multipleBirthInteger"],
      },
      { rule: { pms: "v", fhir: "active", transform: "boolean" }, pms: true, fhir: true, path: ["active"] },
      {
        rule: { pms: "v", fhir: "birthDate", transform: "date" },
        pms: "1999-12-31",
        fhir: "1999-12-31",
        path: ["birthDate"],
      },
      {
        rule: { pms: "v", fhir: "deceasedDateTime", transform: "dateTime" },
        pms: "2024-03-10T02:30:00-10:00",
        fhir: "2024-03-10T02:30:00-10:00",
        path: ["deceasedDateTime"],
      },
      { rule: { pms: "v", fhir: "gender", transform: "gender" }, pms: "O", fhir: "other", path: ["gender"] },
      {
        rule: { pms: "v", fhir: "generalPractitioner[0].reference", transform: "reference:Practitioner" },
        pms: "prov-001",
        fhir: "Practitioner/prov-001",
        path: ["generalPractitioner", "0", "reference"],
      },
      {
        rule: {
          pms: "v",
          fhir: "maritalStatus.coding[0].code",
          transform: "codeMap",
          codeMap: { S: "S", W: "W", X: "UNK" },
        },
        pms: "X",
        fhir: "UNK",
        path: ["maritalStatus", "coding", "0", "code"],
      },
    ];
    for (const c of cases) {
      const m = oneRule(c.rule);
      const out = m.toFhir({ v: c.pms });
      expect(out.errors, String(c.rule.transform)).to.deep.equal([]);
      let cur: unknown = out.value;
      for (const key of c.path) cur = (cur as Record<string, unknown>)[key];
      expect(cur, String(c.rule.transform)).to.deep.equal(c.fhir);
      const back = m.toPms(out.value);
      expect(back.errors).to.deep.equal([]);
      expect(back.value, String(c.rule.transform)).to.deep.equal({ v: c.pms });
    }
    const appt = compileMapping([
      { fhir: "resourceType", default: "Appointment" },
      { pms: "start", fhir: "start", transform: "dateTime" },
      { pms: "mins", fhir: "end", transform: "addMinutes", with: { pms: "start", fhir: "start" } },
    ]);
    const out = appt.toFhir({ start: "2025-03-09T01:45:00-05:00", mins: 45 });
    expect(out.value).to.deep.equal({
      resourceType: "Appointment",
      start: "2025-03-09T01:45:00-05:00",
      end: "2025-03-09T02:30:00-05:00",
    });
    expect(appt.toPms(out.value).value).to.deep.equal({ start: "2025-03-09T01:45:00-05:00", mins: 45 });
  });
});
