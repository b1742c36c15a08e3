import { expect } from "chai";
import { checkMapping, compileMapping, transformCatalog, type MappingRule } from "../../../lib/mapping";
import {
  describe as describeValue,
  resolveTransform,
  shapeOf,
  TransformFailure,
  transformUses,
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
      ["Confirmed", "booked"],
      ["booked", "booked"],
      ["No-Show", "noshow"],
      ["noshow", "noshow"],
      [" checked-in ", "checked-in"],
      ["checked  in", "checked-in"],
      ["checkedin", "checked-in"],
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
    for (const bad of ["rescheduled", "", "toString", "__proto__", 3])
      refuses(() => fwd(t, bad), /is not a PMS appointment status$/);
    for (const bad of ["proposed", "Booked", "toString", "hasOwnProperty", null])
      refuses(() => rev(t, bad), /has no PMS appointment status$/);
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

describe("lib/mapping transforms, rule by rule", () => {
  it("tells a value's shape without its content, for messages that may travel with PHI", () => {
    expect(shapeOf(null)).to.equal("null");
    expect(shapeOf(undefined)).to.equal("nothing");
    expect(shapeOf("")).to.equal("an empty string");
    expect(shapeOf("Smith")).to.equal("a string of 5 characters");
    expect(shapeOf("Zoë 😀")).to.equal("a string of 5 characters");
    expect(shapeOf(3.5)).to.equal("a number");
    expect(shapeOf(Number.NaN)).to.equal("NaN");
    expect(shapeOf(Number.NEGATIVE_INFINITY)).to.equal("-Infinity");
    expect(shapeOf(false)).to.equal("a boolean");
    expect(shapeOf([1, 2, 3])).to.equal("a list of 3");
    expect(shapeOf(new Date(0))).to.equal("a Date");
    expect(shapeOf(new Date(Number.NaN))).to.equal("an invalid Date");
    expect(shapeOf({ a: 1 })).to.equal("an object");
    expect(shapeOf(10n)).to.equal("an bigint");
  });

  it("renders a configuration value in an error message in at most 40 characters", () => {
    expect(describeValue("YYYY")).to.equal('"YYYY"');
    expect(describeValue(undefined)).to.equal("undefined");
    expect(describeValue(new Date(0))).to.equal("Date(…)");
    expect(describeValue(new Date(Number.NaN))).to.equal("Date(invalid)");
    expect(describeValue({ a: [1] })).to.equal('{"a":[1]}');
    expect(describeValue(() => 1)).to.equal("function");
    expect(describeValue(10n)).to.equal("bigint");
    const long = describeValue("x".repeat(60));
    expect(long).to.have.length(40);
    expect(long).to.equal(`"${"x".repeat(38)}…`);
    expect(describeValue("x".repeat(38))).to.equal(`"${"x".repeat(38)}"`);
  });

  it("number: the JSON and decimal notations, signs and exponents; nothing else", () => {
    const t = transform({ transform: "number" });
    const cases: Array<[string, number]> = [
      ["42", 42],
      [" -7 ", -7],
      ["+3", 3],
      ["1.", 1],
      [".5", 0.5],
      ["-0.25", -0.25],
      ["1e3", 1000],
      ["2.5E-2", 0.025],
      ["1e+2", 100],
    ];
    for (const [text, n] of cases) expect(fwd(t, text), text).to.equal(n);
    for (const bad of [
      "",
      " ",
      ".",
      "1..2",
      "1e",
      "e3",
      "0x10",
      "1_000",
      "1,5",
      "Infinity",
      "NaN",
      "--1",
      "1 2",
    ])
      refuses(() => fwd(t, bad), /is not a number$/);
    refuses(() => fwd(t, Number.POSITIVE_INFINITY), /^Infinity is not a number$/);
    refuses(() => fwd(t, true), /^a boolean is not a number$/);
    expect(rev(t, "12")).to.equal(12);
  });

  it("boolean: true/yes/y/1 and false/no/n/0 in any case, 1 and 0 as numbers; nothing else", () => {
    const t = transform({ transform: "boolean" });
    for (const yes of ["true", "TRUE", " Yes ", "y", "Y", "1", 1, true])
      expect(fwd(t, yes), String(yes)).to.equal(true);
    for (const no of ["false", "No", "n", "N", "0", " 0 ", 0, false])
      expect(fwd(t, no), String(no)).to.equal(false);
    for (const bad of ["", "t", "f", "on", "off", "2", 2, -1, null, [true]])
      refuses(() => fwd(t, bad), /is not a boolean$/);
    expect(rev(t, "yes")).to.equal(true);
  });

  it("string: finite numbers and booleans as text, nothing else", () => {
    const t = transform({ transform: "string" });
    expect(fwd(t, 0)).to.equal("0");
    expect(fwd(t, -1.5)).to.equal("-1.5");
    expect(fwd(t, false)).to.equal("false");
    expect(rev(t, "")).to.equal("");
    refuses(() => fwd(t, Number.NaN), /^NaN is not text$/);
    refuses(() => fwd(t, null), /^null is not text$/);
    refuses(() => fwd(t, ["a"]), /^a list of 1 is not text$/);
  });

  it("dateTime: a Date object is its instant in UTC; an invalid one and non-text are refused", () => {
    const t = transform({ transform: "dateTime" });
    expect(fwd(t, new Date(Date.UTC(2025, 0, 6, 8, 5, 7, 250)))).to.equal("2025-01-06T08:05:07.250Z");
    refuses(() => fwd(t, new Date(Number.NaN)), /^invalid Date$/);
    refuses(() => fwd(t, 20250106), /^a number is not a date-time$/);
    refuses(() => fwd(t, "2025-01-06"), /^a string of 10 characters is not an ISO date-time$/);
    refuses(
      () => fwd(t, "2025-01-06T08:05"),
      /^a string of 16 characters has no UTC offset \(Z or ±hh:mm\)$/,
    );
    expect(fwd(t, "2025-01-06T08:05:07.250+05:30")).to.equal("2025-01-06T08:05:07.250+05:30");
    expect(rev(t, "2025-01-06 08:05+0530")).to.equal("2025-01-06T08:05:00+05:30");
  });

  it("dateTime: a Date outside the years 0001 to 9999 is refused, as its ISO text (+010000-...) is no FHIR dateTime", () => {
    const t = transform({ transform: "dateTime" });
    expect(fwd(t, new Date("9999-12-31T23:59:59.999Z"))).to.equal("9999-12-31T23:59:59.999Z");
    expect(fwd(t, new Date("0001-01-01T00:00:00Z"))).to.equal("0001-01-01T00:00:00.000Z");
    for (const outside of ["+010000-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "-000001-01-01T00:00:00Z"]) {
      const d = new Date(outside);
      expect(Number.isNaN(d.getTime()), outside).to.equal(false);
      refuses(() => fwd(t, d), /^a Date outside the years 0001 to 9999 is not a FHIR dateTime$/);
    }
    const add = transform({ transform: "addMinutes", with: { pms: "s", fhir: "start" } });
    refuses(
      () => fwd(add, 15, new Date("+010000-01-01T00:00:00Z")),
      /^a Date outside the years 0001 to 9999 is not a FHIR dateTime$/,
    );
  });

  it("addMinutes: whole, non-negative minutes after a start that is there; back only whole minutes after it", () => {
    const t = transform({ transform: "addMinutes", with: { pms: "s", fhir: "start" } });
    const start = "2025-01-06T08:00:00Z";
    expect(fwd(t, 0, start)).to.equal("2025-01-06T08:00:00Z");
    expect(fwd(t, "15", start)).to.equal("2025-01-06T08:15:00Z");
    refuses(() => fwd(t, -1, start), /^a number is not a whole number of minutes$/);
    refuses(() => fwd(t, 1.5, start), /^a number is not a whole number of minutes$/);
    for (const missing of [undefined, null, ""]) {
      refuses(() => fwd(t, 15, missing), /^the start date-time \(with\.pms\) is missing$/);
      refuses(() => rev(t, start, missing), /^the start date-time \(with\.fhir\) is missing$/);
    }
    refuses(() => fwd(t, 15, "2025-01-06T08:00"), /has no UTC offset/);
    expect(rev(t, "2025-01-06T09:30:00+01:00", start)).to.equal(30);
    expect(rev(t, start, start)).to.equal(0);
    refuses(
      () => rev(t, "2025-01-06T07:59:00Z", start),
      /^a string of 20 characters is not whole minutes after the start$/,
    );
    refuses(() => rev(t, "2025-01-06T08:00:30Z", start), /is not whole minutes after the start$/);
  });

  it("gender: back only from the four FHIR codes, as written", () => {
    const t = transform({ transform: "gender" });
    expect(rev(t, "other")).to.equal("O");
    expect(rev(t, "unknown")).to.equal("U");
    for (const bad of ["Male", "m", "constructor", 1])
      refuses(() => rev(t, bad), /is not a FHIR gender \(male, female, other, unknown\)$/);
    const n = notes();
    expect(t.forward("constructor", undefined, n)).to.equal("unknown");
    expect(n.warning).to.equal("a string of 11 characters is not a known gender: mapped to unknown");
    refuses(() => fwd(t, 1), /^a number is not a gender code$/);
  });

  it("reference: ids of 1 to 64 FHIR id characters, integers as ids; back from Type/id forms only", () => {
    const t = transform({ transform: "reference:Patient" });
    expect(fwd(t, 42)).to.equal("Patient/42");
    expect(fwd(t, "a-b.C9")).to.equal("Patient/a-b.C9");
    expect(fwd(t, "x".repeat(64))).to.equal(`Patient/${"x".repeat(64)}`);
    for (const bad of ["", "x".repeat(65), "a b", "a/b", "a_b", 1.5, null])
      refuses(() => fwd(t, bad), /is not a valid FHIR id$/);
    expect(rev(t, "Patient/7")).to.equal("7");
    expect(rev(t, "https://ehr.example/fhir/Patient/7/_history/3")).to.equal("7");
    for (const bad of ["Practitioner/7", "Patient/", "Patient/7/extra", "xPatient/7", 7])
      refuses(() => rev(t, bad), /is not a reference to a Patient$/);
    expect(resolveTransform({ transform: "reference:patient" })).to.equal(
      "reference needs a resource type, e.g. reference:Patient",
    );
    expect(resolveTransform({ transform: "reference:P" })).to.equal(
      "reference needs a resource type, e.g. reference:Patient",
    );
    expect(resolveTransform({ transform: "reference:" })).to.equal(
      "reference needs a resource type, e.g. reference:Patient",
    );
  });

  it("names each way a transform spec or its tables can be wrong", () => {
    expect(resolveTransform({ transform: 5 })).to.equal(
      "transform must be a name such as date or reference:Patient",
    );
    expect(resolveTransform({ transform: "nope" })).to.equal('unknown transform "nope"');
    expect(resolveTransform({ transform: "gender:x" })).to.equal("gender takes no parameter");
    expect(resolveTransform({ transform: "date:DD-MM-YYYY" })).to.equal(
      'date takes YYYY-MM-DD or YYYYMMDD, not "DD-MM-YYYY"',
    );
    expect(resolveTransform({ transform: "codeMap" })).to.equal(
      "codeMap needs a codeMap table: { pmsCode: fhirCode, ... }",
    );
    expect(resolveTransform({ transform: "codeMap", codeMap: ["a"] })).to.equal(
      "codeMap needs a codeMap table: { pmsCode: fhirCode, ... }",
    );
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "" } })).to.equal(
      'codeMap value for "a" is not a code',
    );
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: 1 } })).to.equal(
      'codeMap value for "a" is not a code',
    );
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: null })).to.equal(
      "reverseCodeMap must be a table: { fhirCode: pmsCode, ... }",
    );
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: [] })).to.equal(
      "reverseCodeMap must be a table: { fhirCode: pmsCode, ... }",
    );
    expect(
      resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: { x: "" } }),
    ).to.equal('reverseCodeMap value for "x" is not a code');
    expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x", b: "x", c: "y", d: "y" } })).to.equal(
      'codeMap sends several PMS codes to "x", "y": say which comes back in reverseCodeMap',
    );
    for (const none of [undefined, null, ""])
      expect((resolveTransform({ transform: none }) as { spec: string }).spec).to.equal("");
  });

  it("codeMap: numbers and booleans looked up as their text; only text comes back", () => {
    const t = transform({
      transform: "codeMap",
      codeMap: { "1": "a", true: "b", x: "c" },
      reverseCodeMap: { c: "x" },
    });
    expect(fwd(t, 1)).to.equal("a");
    expect(fwd(t, true)).to.equal("b");
    expect(fwd(t, "x")).to.equal("c");
    refuses(() => fwd(t, null), /^null is not in the codeMap$/);
    refuses(() => fwd(t, "toString"), /is not in the codeMap$/);
    expect(rev(t, "a")).to.equal("1");
    expect(rev(t, "c")).to.equal("x");
    refuses(() => rev(t, 1), /^a number is not in the reverse codeMap$/);
  });

  it("keeps each transform's spec as the rule wrote it", () => {
    const vars = { patientSystem: "urn:x" };
    for (const spec of [
      "string",
      "number",
      "boolean",
      "date",
      "date:YYYY-MM-DD",
      "date:YYYYMMDD",
      "dateTime",
      "addMinutes",
      "gender",
      "appointmentStatus",
      "reference:Patient",
      "conditional:Patient",
    ])
      expect(transform({ transform: spec }, vars).spec, spec).to.equal(spec);
    expect(transform({ transform: "codeMap", codeMap: { a: "x" } }).spec).to.equal("codeMap");
  });

  it("date:YYYY-MM-DD is the dashed form both ways, as date alone is", () => {
    const t = transform({ transform: "date:YYYY-MM-DD" });
    expect(fwd(t, "19800504")).to.equal("1980-05-04");
    expect(rev(t, "1980-05-04")).to.equal("1980-05-04");
    expect(rev(t, "19800504")).to.equal("1980-05-04");
  });

  it("gender: a PMS code is read without the spaces around it", () => {
    const t = transform({ transform: "gender" });
    const n = notes();
    expect(t.forward(" F ", undefined, n)).to.equal("female");
    expect(t.forward("\tmale\n", undefined, n)).to.equal("male");
    expect(n.warning).to.equal(undefined);
  });

  it("refuses a list holding a code, where a code must stand alone", () => {
    refuses(
      () => rev(transform({ transform: "gender" }), ["male"]),
      /^a list of 1 is not a FHIR gender \(male, female, other, unknown\)$/,
    );
    refuses(
      () => rev(transform({ transform: "appointmentStatus" }), ["booked"]),
      /^a list of 1 has no PMS appointment status$/,
    );
    refuses(
      () => rev(transform({ transform: "reference:Patient" }), ["Patient/7"]),
      /^a list of 1 is not a reference to a Patient$/,
    );
    refuses(
      () => rev(transform({ transform: "conditional:Patient" }, { patientSystem: "urn:x" }), ["Patient/7"]),
      /^a list of 1 is not Patient\?identifier=urn:x\|<id>$/,
    );
    const codeMap = transform({ transform: "codeMap", codeMap: { x: "c", null: "n" } });
    refuses(() => fwd(codeMap, ["x"]), /^a list of 1 is not in the codeMap$/);
    refuses(() => fwd(codeMap, null), /^null is not in the codeMap$/);
  });

  it("reference and conditional take a resource type name alone: a capital letter, then 1 to 63 letters", () => {
    const vars = { patientSystem: "urn:x", patient1System: "urn:x", myPatientSystem: "urn:x" };
    for (const type of ["myPatient", "Patient1", "Patient/x", "fhir/Patient"]) {
      expect(resolveTransform({ transform: `reference:${type}` }), type).to.equal(
        "reference needs a resource type, e.g. reference:Patient",
      );
      expect(resolveTransform({ transform: `conditional:${type}` }, vars), type).to.equal(
        "conditional needs a resource type, e.g. conditional:Patient",
      );
    }
    expect(typeof resolveTransform({ transform: `reference:P${"a".repeat(63)}` })).to.equal("object");
    expect(resolveTransform({ transform: `reference:P${"a".repeat(64)}` })).to.equal(
      "reference needs a resource type, e.g. reference:Patient",
    );
  });

  it("codeMap: a table is an object, for codeMap and reverseCodeMap alike, with text codes back", () => {
    expect(resolveTransform({ transform: "codeMap", codeMap: null })).to.equal(
      "codeMap needs a codeMap table: { pmsCode: fhirCode, ... }",
    );
    for (const bad of ["x=a", 5, true])
      expect(resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: bad })).to.equal(
        "reverseCodeMap must be a table: { fhirCode: pmsCode, ... }",
      );
    expect(
      resolveTransform({ transform: "codeMap", codeMap: { a: "x" }, reverseCodeMap: { x: 5 } }),
    ).to.equal('reverseCodeMap value for "x" is not a code');
  });

  it("tells which rule fields each transform reads", () => {
    expect(transformUses("codeMap")).to.deep.equal(["codeMap", "reverseCodeMap"]);
    expect(transformUses("reference:Patient")).to.deep.equal([]);
    expect(transformUses("addMinutes")).to.deep.equal(["with"]);
    expect(transformUses("nope")).to.deep.equal([]);
    expect(transformUses(undefined)).to.deep.equal([]);
  });
});
