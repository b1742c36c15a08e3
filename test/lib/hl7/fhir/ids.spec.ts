import { createHash } from "node:crypto";
import { expect } from "chai";
import {
  DEFAULT_SYSTEM_PATTERN,
  deterministicUuid,
  IdentifierSystems,
  tokenParam,
} from "../../../../lib/hl7/fhir/ids";

const hd = (namespace: string, universalId = "", universalIdType = "") => ({
  namespace,
  universalId,
  universalIdType,
});

describe("hl7-fhir identifier systems", () => {
  const systems = new IdentifierSystems({
    systems: {
      "MRN-AUTH": "urn:oid:1.2.3.4",
      "2.16.840.1.113883.4.1": "http://hl7.org/fhir/sid/us-ssn",
      "": "urn:local",
    },
  });

  it("maps an authority through the table, by namespace or universal ID", () => {
    expect(systems.system(hd("MRN-AUTH"), "FAC")).to.equal("urn:oid:1.2.3.4");
    expect(systems.system(hd("SSA", "2.16.840.1.113883.4.1", "ISO"), "FAC")).to.equal(
      "http://hl7.org/fhir/sid/us-ssn",
    );
  });

  it("derives a system from the HD universal ID when the table lacks it", () => {
    expect(systems.system(hd("X", "1.2.840.99", "ISO"), "FAC")).to.equal("urn:oid:1.2.840.99");
    expect(systems.system(hd("", "6F1D9C8A-0000-4000-8000-000000000001", "UUID"), "FAC")).to.equal(
      "urn:uuid:6f1d9c8a-0000-4000-8000-000000000001",
    );
    expect(systems.system(hd("", "https://ids.example.org/mrn", "URI"), "FAC")).to.equal(
      "https://ids.example.org/mrn",
    );
  });

  it("uses the pattern for unknown authorities, URI-encoded", () => {
    expect(systems.system(hd("GOOD HEALTH"), "FAC")).to.equal("urn:healthbridge:hl7v2:GOOD%20HEALTH");
    const custom = new IdentifierSystems({ systemPattern: "https://ids.example.org/{authority}/id" });
    expect(custom.system(hd("A/B"), "FAC")).to.equal("https://ids.example.org/A%2FB/id");
    expect(DEFAULT_SYSTEM_PATTERN).to.contain("{authority}");
  });

  it("falls back to the table's empty key, then to the sending facility", () => {
    expect(systems.system(hd(""), "FAC")).to.equal("urn:local");
    const plain = new IdentifierSystems();
    expect(plain.system(hd(""), "FAC")).to.equal("urn:healthbridge:hl7v2:FAC");
    expect(plain.system(hd(""), "")).to.equal("urn:healthbridge:hl7v2:local");
  });

  it("writes a system back as the HD it came from", () => {
    expect(systems.authority("urn:oid:1.2.3.4")).to.deep.equal(hd("MRN-AUTH"));
    expect(systems.authority("http://hl7.org/fhir/sid/us-ssn")).to.deep.equal(
      hd("", "2.16.840.1.113883.4.1", "ISO"),
    );
    expect(systems.authority("urn:oid:1.2.840.99")).to.deep.equal(hd("", "1.2.840.99", "ISO"));
    expect(systems.authority("urn:healthbridge:hl7v2:GOOD%20HEALTH")).to.deep.equal(hd("GOOD HEALTH"));
    expect(systems.authority("https://other.example/ids")).to.deep.equal(
      hd("", "https://other.example/ids", "URI"),
    );
    expect(systems.authority(undefined)).to.deep.equal(hd(""));
    for (const h of [hd("GOOD HEALTH"), hd("X", "1.2.840.99", "ISO"), hd("", "https://a.example/x", "URI")]) {
      const back = systems.authority(systems.system(h, "FAC"));
      expect(systems.system(back, "FAC")).to.equal(systems.system(h, "FAC"));
    }
  });

  it("gives the same version-5 UUID for the same key and different ones otherwise", () => {
    const a = deterministicUuid("Patient", "urn:oid:1.2|100");
    expect(a).to.equal(deterministicUuid("Patient", "urn:oid:1.2|100"));
    expect(a).to.match(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).to.not.equal(deterministicUuid("Patient", "urn:oid:1.2|101"));
    expect(a).to.not.equal(deterministicUuid("Encounter", "urn:oid:1.2|100"));
  });

  it("keeps the fullUrls of earlier releases: RFC 4122 version-5 layout over SHA-1 of the namespaced key", () => {
    // The bytes-level construction the UUID RFC gives, against which the string-level one is checked.
    const reference = (kind: string, key: string): string => {
      const h = createHash("sha1").update(`healthbridge/hl7-fhir\0${kind}\0${key}`).digest();
      h[6] = (h[6] & 0x0f) | 0x50;
      h[8] = (h[8] & 0x3f) | 0x80;
      const x = h.toString("hex", 0, 16);
      return `urn:uuid:${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    };
    const variants = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const key = `urn:oid:2.16.840.1.113883.19|${i}^ü`;
      const got = deterministicUuid("Practitioner", key);
      expect(got).to.equal(reference("Practitioner", key));
      variants.add(got[28]);
    }
    expect([...variants].sort()).to.deep.equal(["8", "9", "a", "b"]);
    expect(deterministicUuid("Patient", "urn:oid:1.2|100")).to.equal(reference("Patient", "urn:oid:1.2|100"));
  });

  it("escapes token search values", () => {
    expect(decodeURIComponent(tokenParam("urn:x", "a|b,c$d\\e"))).to.equal("urn:x|a\\|b\\,c\\$d\\\\e");
    expect(tokenParam("urn:oid:1.2", "100 234")).to.equal("urn%3Aoid%3A1.2%7C100%20234");
  });
});
