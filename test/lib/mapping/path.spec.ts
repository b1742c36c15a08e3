import { expect } from "chai";
import {
  compileFhirPath,
  compilePmsPath,
  isResourceType,
  parseWritablePath,
  pruneHoles,
  type ParsedStep,
} from "../../../lib/mapping/path";
import { TransformFailure, type Notes } from "../../../lib/mapping/transforms";

/**
 * The writable subset of FHIRPath the mapping writes through, as its grammar: identifiers,
 * `[n]` positions, and `where()` with `=` conditions joined by `and`, whose literals are FHIRPath
 * strings (single quotes, the escapes \' \" \` \\ \/ \f \n \r \t \uXXXX), numbers, booleans and
 * %variables (FHIRPath N1, sections 3 and 4.1).
 */
function parse(text: string, variables: Record<string, string> = {}): ParsedStep[] | undefined {
  return parseWritablePath(text, variables, () => undefined);
}

function compile(text: string, resourceType = "Patient") {
  const parsed = parse(text);
  if (!parsed) throw new Error(`${text} should parse`);
  return compileFhirPath(text, parsed, resourceType);
}

describe("lib/mapping writable FHIR path grammar", () => {
  it("reads names, positions and conditions into steps", () => {
    expect(parse("name[0].given[2]")).to.deep.equal([
      { name: "name", index: 0 },
      { name: "given", index: 2 },
    ]);
    expect(parse("  birthDate  ")).to.deep.equal([{ name: "birthDate" }]);
    expect(parse("_x1.y_2")).to.deep.equal([{ name: "_x1" }, { name: "y_2" }]);
    expect(parse("telecom.where(system='phone' and use = 'home').value")).to.deep.equal([
      {
        name: "telecom",
        where: [
          { path: ["system"], literal: "phone" },
          { path: ["use"], literal: "home" },
        ],
      },
      { name: "value" },
    ]);
    expect(parse("identifier.where( type.coding.code = 'MR' ).value")).to.deep.equal([
      { name: "identifier", where: [{ path: ["type", "coding", "code"], literal: "MR" }] },
      { name: "value" },
    ]);
  });

  it("reads number, boolean and variable literals", () => {
    expect(parse("a.where(n=42).b")?.[0].where).to.deep.equal([{ path: ["n"], literal: 42 }]);
    expect(parse("a.where(n=-1.5).b")?.[0].where).to.deep.equal([{ path: ["n"], literal: -1.5 }]);
    expect(parse("a.where(n=0).b")?.[0].where).to.deep.equal([{ path: ["n"], literal: 0 }]);
    expect(parse("a.where(f=true and g=false).b")?.[0].where).to.deep.equal([
      { path: ["f"], literal: true },
      { path: ["g"], literal: false },
    ]);
    expect(parse("a.where(s=%sys).b", { sys: "urn:x" })?.[0].where).to.deep.equal([
      { path: ["s"], literal: "urn:x" },
    ]);
  });

  it("reports a missing variable and goes on with an empty literal", () => {
    const missing: string[] = [];
    const steps = parseWritablePath("a.where(s=%nope and t=%also).b", { other: "x" }, (n) => missing.push(n));
    expect(missing).to.deep.equal(["nope", "also"]);
    expect(steps?.[0].where).to.deep.equal([
      { path: ["s"], literal: "" },
      { path: ["t"], literal: "" },
    ]);
    const inherited: string[] = [];
    parseWritablePath("a.where(s=%toString).b", {}, (n) => inherited.push(n));
    expect(inherited, "a name Object.prototype has is not a variable").to.deep.equal(["toString"]);
  });

  it("decodes every FHIRPath string escape", () => {
    const literal = (text: string) => parse(`a.where(s=${text}).b`)?.[0].where?.[0].literal;
    expect(literal(String.raw`'it\'s'`)).to.equal("it's");
    expect(literal(String.raw`'\"\`\\\/'`)).to.equal('"`\\/');
    expect(literal(String.raw`'\f\n\r\t'`)).to.equal("\f\n\r\t");
    expect(literal(String.raw`'\u00e9\u0041\uFFFF'`)).to.equal("\u00e9A\uffff");
    expect(literal("''")).to.equal("");
    expect(literal("'a b'")).to.equal("a b");
  });

  const refused = [
    "",
    "   ",
    ".name",
    "name.",
    "name..given",
    "1name",
    "name[]",
    "name[-1]",
    "name[1",
    "name[a]",
    "name[0]x",
    "name given",
    "where(a='b').c",
    "name[0].where(use='x').given",
    "name.where(use='x').where(text='y').given",
    "name.where(use='x'",
    "name.where(use 'x').given",
    "name.where(use=).given",
    "name.where(use=x).given",
    "name.where(use=%).given",
    "name.where(use='x' or text='y').given",
    "name.where(use='x' andtext='y').given",
    "name.where(use='x')and.given",
    "name.where(.use='x').given",
    "name.where(use.='x').given",
    String.raw`name.where(use='\q').given`,
    String.raw`name.where(use='\u12G4').given`,
    String.raw`name.where(use='\u12').given`,
    "name.where(use='open).given",
    "name.where(use='\\",
    "name.given()",
    "name.first()",
    "name.exists(use='x').given",
  ];
  for (const text of refused) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      expect(parse(text)).to.equal(undefined);
    });
  }

  it("names what the model refuses", () => {
    expect(compile("Patient[0].name.family")).to.equal("Patient[n] is not an element");
    expect(compile("name.where(use='official')")).to.equal(
      "a where() filter must be followed by the element to map",
    );
    expect(compile("constructor.x")).to.equal("constructor cannot be used as an element name");
    expect(compile("name.where(__proto__='x').given")).to.equal(
      "__proto__ cannot be used as an element name",
    );
    expect(compile("gender.text")).to.equal("gender is a code; it has no element text");
    expect(compile("birthDate[1]")).to.equal("birthDate holds one value; only birthDate[0] exists");
    expect(compile("name.where(family.x='y').given")).to.equal("where(): string has no element x");
    expect(compile("name.where(nope='y').given")).to.equal("where(): HumanName has no element nope");
    expect(compile("deceased")).to.equal("deceased is a choice of types: name one, e.g. deceasedBoolean");
    expect(compile("name.where(use=1).given")).to.equal("where(): use is a code; 1 cannot match it");
    expect(compile("name.where(use=true).given")).to.equal("where(): use is a code; true cannot match it");
    expect(compile("active.where(x='1').y")).to.match(/boolean/);
    expect(compile("link.where(other='x').type")).to.equal(
      "where(): other is a Reference; 'x' cannot match it",
    );
    expect(compile(String.raw`name.where(use='it\'s \\').given`)).to.be.an("object");
    expect(compile("multipleBirthInteger", "Patient")).to.be.an("object");
  });

  it("spells one target one way, whatever the order of conditions and the implicit [0]", () => {
    const a = compile("telecom.where(use='home' and system='phone').value");
    const b = compile("telecom.where(system='phone' and use='home').value");
    if (typeof a === "string" || typeof b === "string") throw new Error(String(a));
    expect(a.canonical).to.equal(b.canonical);
    expect(a.canonical).to.equal("telecom.where(system='phone' and use='home').value");
    expect(a.filterTargets).to.deep.equal([
      "telecom.where(system='phone' and use='home').use",
      "telecom.where(system='phone' and use='home').system",
    ]);
    const c = compile("Patient.name.given");
    const d = compile("name[0].given[0]");
    if (typeof c === "string" || typeof d === "string") throw new Error(String(c));
    expect(c.canonical).to.equal("name[0].given[0]");
    expect(d.canonical).to.equal("name[0].given[0]");
    expect(c.positional).to.equal(false);
    const e = compile("name[1].given[0]");
    if (typeof e === "string") throw new Error(e);
    expect(e.positional).to.equal(true);
  });

  it("checks each FHIR primitive's JSON type before writing, as R4's JSON format defines it", () => {
    const check = (path: string, type = "Patient") => {
      const acc = compile(path, type);
      if (typeof acc === "string") throw new Error(acc);
      return acc.check;
    };
    const text = check("name.family");
    expect(text?.("Smith")).to.equal(undefined);
    expect(text?.("")).to.match(/is not text for a FHIR string/);
    expect(text?.(5)).to.match(/is not text for a FHIR string/);
    const decimal = check("valueQuantity.value", "Observation");
    expect(decimal?.(1.5)).to.equal(undefined);
    expect(decimal?.(Number.POSITIVE_INFINITY)).to.match(/is not a FHIR decimal/);
    expect(decimal?.(Number.NaN)).to.match(/is not a FHIR decimal/);
    expect(decimal?.("1.5")).to.match(/is not a FHIR decimal/);
    const integer = check("multipleBirthInteger");
    expect(integer?.(2)).to.equal(undefined);
    expect(integer?.(-2)).to.equal(undefined);
    expect(integer?.(2.5)).to.match(/is not a FHIR integer/);
    const positive = check("minutesDuration", "Appointment");
    expect(positive?.(1)).to.equal(undefined);
    expect(positive?.(0)).to.equal("0 is not a positiveInt (1 or more)");
    const unsigned = check("numberOfInstances", "ImagingStudy");
    expect(unsigned?.(0)).to.equal(undefined);
    expect(unsigned?.(-1)).to.equal("-1 is not an unsignedInt (0 or more)");
    const flag = check("active");
    expect(flag?.(false)).to.equal(undefined);
    expect(flag?.("true")).to.match(/is not a FHIR boolean/);
    const object = check("maritalStatus");
    expect(object?.({ text: "M" })).to.equal(undefined);
    expect(object?.("M")).to.match(/is not a FHIR CodeableConcept object/);
    expect(object?.([{ text: "M" }])).to.match(/is not a FHIR CodeableConcept object/);
    const list = check("identifier");
    expect(list?.({ value: "1" })).to.equal(undefined);
    expect(list?.([{ value: "1" }])).to.equal("is a list; this element takes one item per rule");
    expect(check("identifier[0]")?.([{ value: "1" }])).to.match(/is not a FHIR Identifier object/);
    expect(check("name.family", "Patient")).to.be.a("function");
    const loose = compileFhirPath("anything.goes", parse("anything.goes") ?? [], undefined);
    if (typeof loose === "string") throw new Error(loose);
    expect(loose.check).to.equal(undefined);
    expect(loose.type).to.equal(undefined);
  });
});

/** The compiled accessor of a path; resourceType null: no resource type, shapes follow the data. */
function accessor(text: string, resourceType: string | null = "Patient") {
  const parsed = parseWritablePath(text, {}, () => undefined);
  if (!parsed) throw new Error(`${text} should parse`);
  const acc = compileFhirPath(text, parsed, resourceType ?? undefined);
  if (typeof acc === "string") throw new Error(acc);
  return acc;
}

describe("lib/mapping FHIR and PMS path accessors", () => {
  const fresh = (): Notes => ({ warning: undefined, multiple: false });

  it("reads a single element, a list's first item, and nothing through a primitive or null", () => {
    const family = accessor("name.family");
    expect(family.get({ name: [{ family: "A" }, { family: "B" }] }, undefined)).to.equal("A");
    const n = fresh();
    family.get({ name: [{ family: "A" }, { family: "B" }] }, n);
    expect(n.multiple, "a second name is data left unread").to.equal(true);
    const one = fresh();
    family.get({ name: [{ family: "A" }] }, one);
    expect(one.multiple).to.equal(false);
    const explicit = fresh();
    expect(accessor("name[1].family").get({ name: [{ family: "A" }, { family: "B" }] }, explicit)).to.equal(
      "B",
    );
    expect(explicit.multiple, "name[1] says which").to.equal(false);
    expect(family.get({ name: { family: "C" } }, undefined), "a lone object reads as item 0").to.equal("C");
    expect(accessor("name[1].family").get({ name: { family: "C" } }, undefined)).to.equal(undefined);
    expect(family.get({ name: null }, undefined)).to.equal(undefined);
    expect(family.get({ name: ["x"] }, undefined)).to.equal(undefined);
    expect(family.get(null, undefined)).to.equal(undefined);
    expect(family.get("Patient", undefined)).to.equal(undefined);
    expect(accessor("birthDate").get({ birthDate: null }, undefined)).to.equal(undefined);
    expect(accessor("gender").get({ gender: "male" }, undefined)).to.equal("male");
  });

  it("reads the first element a where() holds for, and notes a second one", () => {
    const phone = accessor("telecom.where(system='phone').value");
    const data = {
      telecom: [
        { system: "email", value: "a@b" },
        { system: "phone", value: "1" },
        { system: "phone", value: "2" },
      ],
    };
    const n = fresh();
    expect(phone.get(data, n)).to.equal("1");
    expect(n.multiple).to.equal(true);
    const single = fresh();
    expect(phone.get({ telecom: [{ system: "phone", value: "9" }] }, single)).to.equal("9");
    expect(single.multiple).to.equal(false);
    expect(phone.get({ telecom: [{ system: "email", value: "a@b" }] }, undefined)).to.equal(undefined);
    expect(
      phone.get({ telecom: { system: "phone", value: "1" } }, undefined),
      "where() on a lone object",
    ).to.equal(undefined);
    const deep = accessor("identifier.where(type.coding.code='MR' and system='urn:mrn').value");
    const ids = {
      identifier: [
        { system: "urn:mrn", type: { coding: [{ code: "XX" }, { code: "MR" }] }, value: "7" },
        { system: "urn:other", type: { coding: [{ code: "MR" }] }, value: "8" },
      ],
    };
    expect(deep.get(ids, undefined)).to.equal("7");
    const two = accessor("identifier.where(type.text='MRN').value");
    expect(
      two.get({ identifier: [{ type: { text: "SSN" } }, { type: { text: "MRN" }, value: "5" }] }, undefined),
    ).to.equal("5");
    expect(two.get({ identifier: [{ type: "MRN", value: "4" }] }, undefined)).to.equal(undefined);
  });

  it("writes through single elements, positions and filters, creating what is missing", () => {
    const root: Record<string, unknown> = {};
    accessor("name[1].given[0]").set(root, "B");
    accessor("telecom.where(system='phone' and use='home').value").set(root, "555");
    accessor("maritalStatus.text").set(root, "M");
    expect(root).to.deep.equal({
      name: [undefined, { given: ["B"] }],
      telecom: [{ system: "phone", use: "home", value: "555" }],
      maritalStatus: { text: "M" },
    });
    pruneHoles(root);
    expect(root.name).to.deep.equal([{ given: ["B"] }]);
    accessor("telecom.where(system='phone' and use='home').rank").set(root, 1);
    expect(root.telecom, "the same element is found again").to.deep.equal([
      { system: "phone", use: "home", value: "555", rank: 1 },
    ]);
    accessor("telecom.where(system='email').value").set(root, "a@b");
    expect((root.telecom as unknown[]).length).to.equal(2);
  });

  it("refuses to write where the resource holds something else, naming the path", () => {
    const throwsFor = (text: string, root: Record<string, unknown>, message: string) =>
      expect(() => accessor(text).set(root, "v")).to.throw(TransformFailure, message);
    throwsFor(
      "maritalStatus.text",
      { maritalStatus: "M" },
      "maritalStatus.text: maritalStatus already holds a string of 1 characters",
    );
    throwsFor(
      "name[0].family",
      { name: { family: "A" } },
      "name[0].family: name already holds a single value where FHIR has a list",
    );
    throwsFor(
      "name[0].family",
      { name: ["A"] },
      "name[0].family: name already holds a string of 1 characters",
    );
    throwsFor(
      "telecom.where(system='phone').value",
      { telecom: "x" },
      "already holds a single value where FHIR has a list",
    );
    throwsFor(
      "name[0].given[0]",
      { name: [{ given: "x" }] },
      "name[0].given[0]: given already holds a single value where FHIR has a list",
    );
  });

  it("writes a filter on a single element beside its value when the conditions hold or can be made to", () => {
    const code = accessor("maritalStatus.where(text='Married').coding.code");
    const root: Record<string, unknown> = {};
    code.set(root, "M");
    expect(root).to.deep.equal({ maritalStatus: { text: "Married", coding: [{ code: "M" }] } });
    const filled: Record<string, unknown> = { maritalStatus: { coding: [] } };
    code.set(filled, "M");
    expect(filled.maritalStatus).to.deep.include({ text: "Married" });
    expect(() => code.set({ maritalStatus: { text: "Single" } }, "S")).to.throw(
      TransformFailure,
      "maritalStatus already holds a value its where() conditions do not hold for",
    );
    expect(() => code.set({ maritalStatus: 5 }, "S")).to.throw(
      TransformFailure,
      "maritalStatus already holds a number",
    );
    expect(code.get({ maritalStatus: { text: "Single", coding: [{ code: "S" }] } }, undefined)).to.equal(
      undefined,
    );
    expect(code.get({ maritalStatus: { text: "Married", coding: [{ code: "M" }] } }, undefined)).to.equal(
      "M",
    );
  });

  it("follows the data's shape without a model: a list's first object, else a new object", () => {
    const loose = accessor("a.b", null);
    const root: Record<string, unknown> = { a: [{ c: 1 }, { c: 2 }] };
    loose.set(root, 3);
    expect(root).to.deep.equal({ a: [{ c: 1, b: 3 }, { c: 2 }] });
    const fresh2: Record<string, unknown> = { a: null };
    loose.set(fresh2, 1);
    expect(fresh2).to.deep.equal({ a: { b: 1 } });
    expect(() => loose.set({ a: ["x"] }, 1)).to.throw(TransformFailure, "a.b: a already holds a list of 1");
    expect(() => loose.set({ a: 7 }, 1)).to.throw(TransformFailure, "a.b: a already holds a number");
  });

  it("prunes holes at every depth and leaves lists without holes as they are", () => {
    const value = { a: [undefined, { b: [1, undefined, 2] }], c: [0, null, false], d: "x" };
    const sparse: unknown[] = [];
    sparse[2] = "z";
    const withSparse = { s: sparse };
    pruneHoles(value);
    pruneHoles(withSparse);
    pruneHoles("text");
    expect(value).to.deep.equal({ a: [{ b: [1, 2] }], c: [0, null, false], d: "x" });
    expect(withSparse.s).to.deep.equal(["z"]);
  });

  it("reads and writes dotted PMS paths of any depth, refusing what is not one", () => {
    expect(compilePmsPath("")).to.equal("pms must be a dotted path such as address.zipCode");
    expect(compilePmsPath("  ")).to.equal("pms must be a dotted path such as address.zipCode");
    expect(compilePmsPath(5)).to.equal("pms must be a dotted path such as address.zipCode");
    expect(compilePmsPath("a..b")).to.equal('"a..b" is not a dotted path');
    expect(compilePmsPath("a.")).to.equal('"a." is not a dotted path');
    expect(compilePmsPath("a[0]")).to.equal('"a[0]" is not a dotted path');
    expect(compilePmsPath("a b")).to.equal('"a b" is not a dotted path');
    expect(compilePmsPath("a.__proto__")).to.equal("__proto__ cannot be used as a field name");
    expect(compilePmsPath("constructor")).to.equal("constructor cannot be used as a field name");
    const paths = ["a", "a.b", "a.b.c"].map((t) => {
      const acc = compilePmsPath(t);
      if (typeof acc === "string") throw new Error(acc);
      return acc;
    });
    const record = { a: { b: { c: 3 } } };
    expect(paths.map((p) => p.get(record))).to.deep.equal([record.a, record.a.b, 3]);
    for (const bad of [null, "x", { a: null }, { a: "s" }, { a: { b: 4 } }]) {
      expect(paths[2].get(bad), JSON.stringify(bad)).to.equal(undefined);
    }
    expect(paths[1].get({ a: "s" })).to.equal(undefined);
    expect(paths[1].get(7)).to.equal(undefined);
    expect(paths[0].get(null)).to.equal(undefined);
    const out: Record<string, unknown> = { a: null };
    paths[2].set(out, 1);
    expect(out).to.deep.equal({ a: { b: { c: 1 } } });
    expect(() => paths[2].set({ a: { b: [1] } }, 1)).to.throw(
      TransformFailure,
      "a.b.c: b already holds a list of 1",
    );
    expect(() => paths[1].set({ a: 3 }, 1)).to.throw(TransformFailure, "a.b: a already holds a number");
  });
});

describe("lib/mapping FHIR paths: the model's and the data's rules, one by one", () => {
  it("reads where as a name when no ( follows it", () => {
    expect(parse("a.where.b")).to.deep.equal([{ name: "a" }, { name: "where" }, { name: "b" }]);
  });

  it("names FHIR's resource types, those derived from Resource alone (Bundle, Binary, Parameters) too", () => {
    for (const type of ["Patient", "Appointment", "Bundle", "Binary", "Parameters"])
      expect(isResourceType(type), type).to.equal(true);
    for (const type of ["HumanName", "Element", "BackboneElement", "Nope"])
      expect(isResourceType(type), type).to.equal(false);
  });

  it("reads a path of the resource type alone as an element of that name, which it has not", () => {
    expect(compile("Patient")).to.equal("Patient has no element Patient");
  });

  it("finds the children of an element typed Element under its own path (Dosage.doseAndRate)", () => {
    const text = accessor("dosageInstruction.doseAndRate.type.text", "MedicationRequest");
    expect(text.type).to.equal("string");
    expect(text.canonical).to.equal("dosageInstruction[0].doseAndRate[0].type.text");
  });

  it("takes [0] on an element that holds one value, and reads that value", () => {
    const gender = accessor("gender[0]");
    expect(gender.get({ gender: "male" }, undefined)).to.equal("male");
    expect(gender.positional).to.equal(false);
  });

  it("counts a write as positional only at a position after the first", () => {
    expect(accessor("name[1].family").positional).to.equal(true);
    expect(accessor("name[0].given[0]").positional).to.equal(false);
    expect(accessor("name.given").positional).to.equal(false);
  });

  it("where(): one condition matches a list the model says is one value as two conditions do, by any item", () => {
    const one = accessor("identifier.where(type.text='MRN').value");
    const two = accessor("identifier.where(type.text='MRN' and system='urn:mrn').value");
    const listed = {
      identifier: [{ system: "urn:mrn", type: [{ text: "x" }, { text: "MRN" }], value: "42" }],
    };
    expect(one.get(listed, undefined)).to.equal("42");
    expect(two.get(listed, undefined)).to.equal("42");
    const single = { identifier: [{ type: { text: "MRN" }, value: "7" }] };
    expect(one.get(single, undefined)).to.equal("7");
    const short = accessor("identifier.where(system='urn:mrn').value");
    expect(short.get({ identifier: [{ system: ["urn:mrn"], value: "8" }] }, undefined)).to.equal("8");
    expect(short.get({ identifier: [{ system: "urn:other", value: "9" }] }, undefined)).to.equal(undefined);
  });

  it("where(): a condition cannot step into a primitive, not even to id or extension", () => {
    expect(compile("identifier.where(system.id='a').value")).to.equal("where(): uri has no element id");
  });

  it("where(): a literal must be of the element's JSON type (boolean, integer, decimal, string)", () => {
    expect(accessor("communication.where(preferred=true).language").type).to.equal("CodeableConcept");
    expect(compile("communication.where(preferred='yes').language")).to.equal(
      "where(): preferred is a boolean; 'yes' cannot match it",
    );
    expect(compile("communication.where(preferred=1).language")).to.equal(
      "where(): preferred is a boolean; 1 cannot match it",
    );
    expect(accessor("telecom.where(rank=1).value").type).to.equal("string");
    expect(compile("telecom.where(rank=true).value")).to.equal(
      "where(): rank is a positiveInt; true cannot match it",
    );
    expect(accessor("component.where(valueQuantity.value=5).code.text", "Observation").type).to.equal(
      "string",
    );
    expect(compile("identifier.where(type=1).value")).to.equal(
      "where(): type is a CodeableConcept; 1 cannot match it",
    );
    expect(compile("identifier.where(type.text=1).value")).to.equal(
      "where(): type.text is a string; 1 cannot match it",
    );
    expect(compile(String.raw`communication.where(preferred='it\'s a\\b').language`)).to.equal(
      String.raw`where(): preferred is a boolean; 'it\'s a\\b' cannot match it`,
    );
  });

  it("spells a condition's path and the filtered element's place with dots", () => {
    const phone = accessor("contact.telecom.where(period.start='2020').value");
    expect(phone.canonical).to.equal("contact[0].telecom.where(period.start='2020').value");
    expect(phone.filterTargets).to.deep.equal(["contact[0].telecom.where(period.start='2020').period.start"]);
  });

  it("filters without a model on the data's shape, and writes what the conditions test", () => {
    const loose = accessor("a.where(b.c='x').d", null);
    expect(
      loose.get(
        {
          a: [
            { b: { c: "y" }, d: 1 },
            { b: { c: "x" }, d: 2 },
          ],
        },
        undefined,
      ),
    ).to.equal(2);
    const root: Record<string, unknown> = {};
    loose.set(root, 3);
    expect(root).to.deep.equal({ a: [{ b: { c: "x" }, d: 3 }] });
  });

  it("does not read a list as its first item where the model says one value", () => {
    const text = accessor("maritalStatus.text");
    expect(text.get({ maritalStatus: [{ text: "M" }] }, undefined)).to.equal(undefined);
    expect(() => text.set({ maritalStatus: [{ text: "M" }] }, "S")).to.throw(
      TransformFailure,
      "maritalStatus.text: maritalStatus already holds a list of 1",
    );
  });

  it("reads a null list item as nothing, and reads without notes", () => {
    expect(accessor("name.given").get({ name: [{ given: [null, "B"] }] }, undefined)).to.equal(undefined);
    const phone = accessor("telecom.where(system='phone').value");
    const two = {
      telecom: [
        { system: "phone", value: "1" },
        { system: "phone", value: "2" },
      ],
    };
    expect(phone.get(two, undefined)).to.equal("1");
  });

  it("where(): skips list items that are not objects", () => {
    const mrn = accessor("identifier.where(type.text='MRN').value");
    expect(mrn.get({ identifier: [null, "MRN", { type: { text: "MRN" }, value: "5" }] }, undefined)).to.equal(
      "5",
    );
    const home = accessor("telecom.where(system='phone' and use='home').value");
    expect(
      home.get({ telecom: [null, "phone", { system: "phone", use: "home", value: "1" }] }, undefined),
    ).to.equal("1");
  });

  it("where(): a condition through a list holds when one item holds it, and never through text", () => {
    const mr = accessor("identifier.where(type.coding.code='MR').value");
    const ids = {
      identifier: [
        { type: { coding: [{ code: "XX" }] }, value: "1" },
        { type: "MR", value: "2" },
        { type: { coding: [{ code: "MR" }] }, value: "3" },
      ],
    };
    expect(mr.get(ids, undefined)).to.equal("3");
    const ann = accessor("name.where(given='Ann').family");
    expect(
      ann.get(
        {
          name: [
            { given: ["Bo"], family: "A" },
            { given: ["Cy", "Ann"], family: "B" },
          ],
        },
        undefined,
      ),
    ).to.equal("B");
    const contact = accessor("contact.where(telecom.value='555').name.family");
    const contacts = {
      contact: [
        { telecom: [{ value: "1" }], name: { family: "A" } },
        { telecom: [{ value: "2" }, { value: "555" }], name: { family: "B" } },
      ],
    };
    expect(contact.get(contacts, undefined)).to.equal("B");
    const assigned = accessor("identifier.where(assigner.identifier.value='X').value");
    const byAssigner = {
      identifier: [
        { assigner: { identifier: { value: "Y" } }, value: "1" },
        { assigner: { identifier: { value: "X" } }, value: "2" },
      ],
    };
    expect(assigned.get(byAssigner, undefined)).to.equal("2");
  });

  it("where(): a new element holds what its conditions test, as a list where FHIR has one", () => {
    const root: Record<string, unknown> = {};
    accessor("name.where(given='Ann').family").set(root, "A");
    expect(root).to.deep.equal({ name: [{ given: ["Ann"], family: "A" }] });
  });

  it("writes over null as over nothing: lists, list items, filtered elements and what they test", () => {
    const family = accessor("name.family");
    const noList: Record<string, unknown> = { name: null };
    family.set(noList, "A");
    expect(noList).to.deep.equal({ name: [{ family: "A" }] });
    const nullItem: Record<string, unknown> = { name: [null] };
    family.set(nullItem, "A");
    expect(nullItem).to.deep.equal({ name: [{ family: "A" }] });
    const code = accessor("maritalStatus.where(text='Married').coding.code");
    const nullOne: Record<string, unknown> = { maritalStatus: null };
    code.set(nullOne, "M");
    expect(nullOne).to.deep.equal({ maritalStatus: { text: "Married", coding: [{ code: "M" }] } });
    const nullText: Record<string, unknown> = { maritalStatus: { text: null } };
    code.set(nullText, "M");
    expect(nullText).to.deep.equal({ maritalStatus: { text: "Married", coding: [{ code: "M" }] } });
    const org = accessor("managingOrganization.where(identifier.value='X').display");
    const nullIdentifier: Record<string, unknown> = { managingOrganization: { identifier: null } };
    org.set(nullIdentifier, "Clinic");
    expect(nullIdentifier).to.deep.equal({
      managingOrganization: { identifier: { value: "X" }, display: "Clinic" },
    });
  });

  it("where() on one value: fills what the conditions lack beside what holds, and refuses what is in the way", () => {
    const display = accessor("maritalStatus.where(text='Married' and coding.code='M').coding.display");
    const half: Record<string, unknown> = { maritalStatus: { text: "Married", coding: [{ system: "s" }] } };
    display.set(half, "married");
    expect(half).to.deep.equal({
      maritalStatus: { text: "Married", coding: [{ system: "s", code: "M", display: "married" }] },
    });
    const nullCoding: Record<string, unknown> = { maritalStatus: { text: "Married", coding: null } };
    display.set(nullCoding, "married");
    expect(nullCoding).to.deep.equal({
      maritalStatus: { text: "Married", coding: [{ code: "M", display: "married" }] },
    });
    const conflict = "already holds a value its where() conditions do not hold for";
    expect(() => display.set({ maritalStatus: { coding: { code: "M" } } }, "x")).to.throw(
      TransformFailure,
      `${display.text}: maritalStatus ${conflict}`,
    );
    const org = accessor("managingOrganization.where(identifier.value='X').display");
    expect(() => org.set({ managingOrganization: { identifier: "X" } }, "x")).to.throw(
      TransformFailure,
      `${org.text}: managingOrganization ${conflict}`,
    );
  });

  it("PMS paths read nothing from a record that is not an object", () => {
    const one = compilePmsPath("length");
    const two = compilePmsPath("a.b");
    if (typeof one === "string" || typeof two === "string") throw new Error("should compile");
    expect(one.get("abc")).to.equal(undefined);
    expect(two.get(null)).to.equal(undefined);
    expect(two.get(undefined)).to.equal(undefined);
  });
});
