import { expect } from "chai";
import { compileFhirPath, parseWritablePath, type ParsedStep } from "../../../lib/mapping/path";

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
