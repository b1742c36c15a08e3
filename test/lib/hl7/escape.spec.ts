import { expect } from "chai";
import { DEFAULT_DELIMITERS, type Delimiters, escapeHl7, unescapeHl7 } from "../../../lib/hl7";

const CUSTOM: Delimiters = { field: "$", component: "%", repetition: "*", escape: "!", subcomponent: "@" };
const V27: Delimiters = { ...DEFAULT_DELIMITERS, truncation: "#" };

describe("lib/hl7 escape sequences", () => {
  const pairs: Array<[string, string]> = [
    ["a|b", "a\\F\\b"],
    ["a^b", "a\\S\\b"],
    ["a&b", "a\\T\\b"],
    ["a~b", "a\\R\\b"],
    ["C:\\dir", "C:\\E\\dir"],
    ["line 1\nline 2", "line 1\\.br\\line 2"],
    ["tab\there", "tab\\X09\\here"],
    ["vt\u000bfs\u001c", "vt\\X0B\\fs\\X1C\\"],
    ["|^~\\&", "\\F\\\\S\\\\R\\\\E\\\\T\\"],
    ["plain text", "plain text"],
    ["", ""],
  ];

  for (const [value, escaped] of pairs) {
    it(`escapes ${JSON.stringify(value)} and reads it back`, () => {
      expect(escapeHl7(value)).to.equal(escaped);
      expect(unescapeHl7(escaped)).to.equal(value);
    });
  }

  it("writes any line break (CR LF, CR, LF) as one \\.br\\", () => {
    expect(escapeHl7("a\r\nb\rc\nd")).to.equal("a\\.br\\b\\.br\\c\\.br\\d");
  });

  it("reads \\Xhh..\\ as UTF-8 bytes, or Latin-1 when they are not UTF-8", () => {
    expect(unescapeHl7("caf\\XC3A9\\")).to.equal("café");
    expect(unescapeHl7("caf\\XE9\\")).to.equal("café");
    expect(unescapeHl7("\\X0D0A\\")).to.equal("\r\n");
    expect(unescapeHl7("\\x41\\")).to.equal("A");
  });

  it("keeps text formatting commands as written, both ways", () => {
    const ft =
      "\\H\\bold\\N\\ \\.sp2\\ \\.in+4\\ \\.ti-2\\ \\.sk3\\ \\.ce\\ \\.fi\\ \\.nf\\ \\Zlocal\\ \\C2842\\ \\M2442\\";
    expect(unescapeHl7(ft)).to.equal(ft);
    expect(escapeHl7(unescapeHl7(ft))).to.equal(ft);
  });

  it("keeps an escape character that starts no sequence as a literal", () => {
    expect(unescapeHl7("C:\\path\\to")).to.equal("C:\\path\\to");
    expect(unescapeHl7("trailing\\")).to.equal("trailing\\");
    expect(unescapeHl7("bad hex \\XZZ\\ and odd \\X123\\")).to.equal("bad hex \\XZZ\\ and odd \\X123\\");
    // and writes it escaped, so the receiver reads the same literal
    expect(unescapeHl7(escapeHl7("C:\\path\\to"))).to.equal("C:\\path\\to");
  });

  it("uses the message's own delimiters", () => {
    const value = "a$b%c*d!e@f|^~\\&";
    const escaped = escapeHl7(value, CUSTOM);
    expect(escaped).to.equal("a!F!b!S!c!R!d!E!e!T!f|^~\\&");
    expect(unescapeHl7(escaped, CUSTOM)).to.equal(value);
  });

  it("escapes the v2.7 truncation character as \\P\\", () => {
    expect(escapeHl7("#1", V27)).to.equal("\\P\\1");
    expect(unescapeHl7("\\P\\1", V27)).to.equal("#1");
    expect(escapeHl7("#1")).to.equal("#1");
  });
});
