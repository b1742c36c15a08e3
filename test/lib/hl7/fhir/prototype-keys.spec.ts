import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PackError } from "../../../../lib/errors";
import { createConverter } from "../../../../lib/hl7/fhir";
import { resolveTransform, type Transform, TransformFailure } from "../../../../lib/mapping/transforms";

const FIXTURES = join(__dirname, "..", "..", "..", "..", "..", "test", "fixtures", "hl7-fhir");
/** Names an object has through Object.prototype: a plain-object code table would answer them. */
const KEYS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];

function sample(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8").replace(/\r?\n/g, "\r");
}

/** Only what JSON has: strings, finite numbers, booleans, null, arrays and plain objects. */
function expectPlain(value: unknown, path: string): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    expect(Number.isFinite(value), path).to.equal(true);
    return;
  }
  expect(typeof value, path).to.equal("object");
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) {
    expect(proto, path).to.equal(Array.prototype);
    value.forEach((v, i) => expectPlain(v, `${path}[${i}]`));
    return;
  }
  expect(proto, `${path}: a plain object`).to.equal(Object.prototype);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    expect(v, `${path}.${k}`).to.not.equal(undefined);
    expectPlain(v, `${path}.${k}`);
  }
}

/** Replaces field `n` (HL7 numbering) of the first segment `name` of a message. */
function setField(text: string, name: string, n: number, value: string): string {
  return text
    .split("\r")
    .map((line) => {
      if (!line.startsWith(`${name}|`)) return line;
      const parts = line.split("|");
      // MSH-1 is the separator itself: MSH-n is part n - 1
      const at = name === "MSH" ? n - 1 : n;
      while (parts.length <= at) parts.push("");
      parts[at] = value;
      return parts.join("|");
    })
    .join("\r");
}

describe("code tables: prototype names in coded fields", () => {
  const toFhir = createConverter({ direction: "to-fhir", timezone: "UTC" });
  const toHl7 = createConverter({ direction: "to-hl7" });

  /** Converts, and checks the result is JSON only; a refusal must be a coded PackError. */
  function convert(text: string, what: string): "ok" | string {
    let result;
    try {
      result = toFhir.toFhir(text);
    } catch (err) {
      expect(err, `${what}: ${String(err)}`).to.be.instanceOf(PackError);
      return (err as PackError).code;
    }
    expectPlain(result.bundle, `${what}: bundle`);
    expectPlain(result.warnings, `${what}: warnings`);
    expect(JSON.parse(JSON.stringify(result.bundle)), what).to.deep.equal(result.bundle);
    return "ok";
  }

  const ADT_FIELDS: Array<[string, number, (key: string) => string]> = [
    ["PID", 8, (k) => k], // administrative sex
    ["PID", 16, (k) => k], // marital status
    ["PID", 5, (k) => `Everyman^Adam^^^^^${k}`], // name type
    ["PID", 11, (k) => `1 Main St^^Town^^12345^^${k}`], // address type
    ["PID", 13, (k) => `^${k}^${k}^^1^555^5552004`], // telecom use and equipment
    ["PID", 3, (k) => `100234^^^GHH-MRN^${k}`], // identifier type
    ["PID", 10, (k) => `2106-3^White^${k}`], // coding system of a CWE
    ["PV1", 2, (k) => k], // patient class
    ["PV1", 4, (k) => `${k}^x^${k}`], // admission type
  ];

  for (const [seg, field, value] of ADT_FIELDS) {
    it(`ADT ${seg}-${field}: no Function or prototype reaches the Bundle`, () => {
      const base = sample("adt-a01-v2.5.1.hl7");
      for (const key of KEYS) {
        expect(convert(setField(base, seg, field, value(key)), `${seg}-${field}=${key}`)).to.equal("ok");
      }
    });
  }

  it("SIU filler status and participant status", () => {
    const base = sample("siu-s12-v2.5.1.hl7");
    for (const key of KEYS) {
      let text = setField(base, "SCH", 25, key);
      text = setField(text, "AIP", 12, key);
      text = setField(text, "AIS", 10, key);
      expect(convert(text, `SIU ${key}`)).to.equal("ok");
    }
  });

  it("SIU duration unit: an unknown unit is HL7_CONVERT", () => {
    const base = sample("siu-s12-v2.5.1.hl7");
    for (const key of KEYS) {
      const text = setField(setField(base, "SCH", 10, `${key}^x^UCUM`), "TQ1", 8, "");
      expect(convert(text, `SCH-10 ${key}`)).to.equal("HL7_CONVERT");
    }
  });

  it("a prototype name as the event or message type is HL7_UNSUPPORTED, not a lookup", () => {
    const base = sample("adt-a01-v2.5.1.hl7");
    for (const key of KEYS) {
      expect(convert(setField(base, "MSH", 9, `ADT^${key}`), `event ${key}`)).to.equal("HL7_UNSUPPORTED");
      expect(convert(setField(base, "MSH", 9, `SIU^${key}`), `event ${key}`)).to.equal("HL7_UNSUPPORTED");
    }
  });

  it("FHIR -> v2: prototype names in gender, marital status, uses and statuses write no function text", () => {
    for (const key of KEYS) {
      const patient = {
        resourceType: "Patient",
        identifier: [{ system: "urn:oid:1.2.3", value: "P-1" }],
        name: [{ use: key, family: "Doe" }],
        gender: key,
        maritalStatus: {
          coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", code: key }],
        },
        telecom: [{ system: key, use: key, value: "555" }],
        address: [{ use: key, city: "Cork" }],
      };
      const appointment = {
        resourceType: "Appointment",
        identifier: [{ system: "urn:oid:1.2.3", value: "A-1" }],
        status: key,
        start: "2024-03-05T09:30:00Z",
        end: "2024-03-05T10:00:00Z",
        participant: [{ actor: { display: "Dr X" }, status: key }],
      };
      for (const resource of [patient, appointment]) {
        try {
          for (const out of toHl7.toHl7(resource)) {
            expect(out.text).to.be.a("string");
            expect(out.text, key).to.not.match(/function|native code|\[object/);
          }
        } catch (err) {
          expect(err, `${resource.resourceType} ${key}: ${String(err)}`).to.be.instanceOf(PackError);
        }
      }
    }
  });

  it("lib/mapping gender and appointmentStatus transforms do not answer prototype names", () => {
    const notes = () => ({ warning: undefined as string | undefined, multiple: false });
    const get = (spec: string): Transform => {
      const t = resolveTransform({ transform: spec });
      if (typeof t === "string") throw new Error(t);
      return t;
    };
    const gender = get("gender");
    const status = get("appointmentStatus");
    for (const key of KEYS) {
      const n = notes();
      expect(gender.forward(key, undefined, n)).to.equal("unknown");
      expect(n.warning).to.be.a("string");
      expect(() => gender.reverse(key, undefined, notes())).to.throw(TransformFailure);
      expect(() => status.forward(key, undefined, notes())).to.throw(TransformFailure);
      expect(() => status.reverse(key, undefined, notes())).to.throw(TransformFailure);
    }
  });
});
