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

  describe("the message's own delimiters, each one on its own", () => {
    const one: Array<[keyof Delimiters, string, string]> = [
      ["field", "#", "F"],
      ["component", "#", "S"],
      ["repetition", "#", "R"],
      ["subcomponent", "#", "T"],
    ];
    for (const [name, ch, code] of one) {
      it(`a ${name} separator other than the default is escaped as \\${code}\\, and the default one is text`, () => {
        const d: Delimiters = { ...DEFAULT_DELIMITERS, [name]: ch };
        const plain = DEFAULT_DELIMITERS[name];
        expect(escapeHl7(`a${ch}b${plain}c`, d)).to.equal(`a\\${code}\\b${plain}c`);
        expect(escapeHl7(`a${ch}b`, d)).to.equal(`a\\${code}\\b`);
        expect(unescapeHl7(`a\\${code}\\b${plain}c`, d)).to.equal(`a${ch}b${plain}c`);
      });
    }

    it("an escape character other than the default is escaped as <e>E<e>, and the backslash is text", () => {
      const d: Delimiters = { ...DEFAULT_DELIMITERS, escape: "#" };
      expect(escapeHl7("a#b\\c|d", d)).to.equal("a#E#b\\c#F#d");
      expect(escapeHl7("a#b", d)).to.equal("a#E#b");
      expect(unescapeHl7("a#E#b\\c#F#d", d)).to.equal("a#b\\c|d");
    });

    it("with a truncation character (v2.7+) it is escaped as \\P\\; without one, # is text", () => {
      expect(escapeHl7("a#b", V27)).to.equal("a\\P\\b");
      expect(unescapeHl7("a\\P\\b", V27)).to.equal("a#b");
      expect(escapeHl7("a#b")).to.equal("a#b");
    });
  });

  describe("escaping: what is kept, what is written as a sequence", () => {
    it("keeps a formatting sequence written in the value (\\H\\, \\N\\, \\.sp2\\, \\Zxx\\, \\C..\\, \\M..\\)", () => {
      for (const v of [
        "\\H\\bold\\N\\",
        "\\.sp2\\",
        "\\.in+4\\",
        "\\Zmine\\",
        "\\C2842\\",
        "\\M24402A\\",
        "\\.ce\\",
      ]) {
        expect(escapeHl7(v), v).to.equal(v);
        expect(escapeHl7(v, { ...DEFAULT_DELIMITERS, field: "$" }), v).to.equal(v);
      }
    });

    it("a backslash that opens no formatting sequence is \\E\\, a literal \\.br\\ too (a value's line break is a line feed)", () => {
      expect(escapeHl7("a\\b\\c")).to.equal("a\\E\\b\\E\\c");
      expect(escapeHl7("\\.br\\")).to.equal("\\E\\.br\\E\\");
      expect(escapeHl7("\\Hx")).to.equal("\\E\\Hx");
      expect(escapeHl7("\\\\")).to.equal("\\E\\\\E\\");
      expect(escapeHl7("x\\H")).to.equal("x\\E\\H");
    });

    it("each line break is one \\.br\\: CR LF is one, LF LF two", () => {
      expect(escapeHl7("a\n\nb")).to.equal("a\\.br\\\\.br\\b");
      expect(escapeHl7("a\r\rb")).to.equal("a\\.br\\\\.br\\b");
      expect(escapeHl7("a\n\rb")).to.equal("a\\.br\\\\.br\\b");
    });

    it("other control characters and DEL as \\Xhh\\", () => {
      expect(escapeHl7("\u0000\u001f\u007f ~")).to.equal("\\X00\\\\X1F\\\\X7F\\ \\R\\");
      expect(escapeHl7("\u007f", CUSTOM)).to.equal("!X7F!");
    });
  });

  describe("unescaping: what is not a sequence stays as written", () => {
    it("\\Xhh..\\ needs an even number of hex digits, and only hex digits", () => {
      expect(unescapeHl7("\\X41\\")).to.equal("A");
      expect(unescapeHl7("\\x4142\\")).to.equal("AB");
      expect(unescapeHl7("\\X\\")).to.equal("\\X\\");
      expect(unescapeHl7("\\X414\\")).to.equal("\\X414\\");
      expect(unescapeHl7("\\XG041\\")).to.equal("\\XG041\\");
      expect(unescapeHl7("\\X41G0\\")).to.equal("\\X41G0\\");
      expect(unescapeHl7("\\XC3A9\\")).to.equal("é");
      expect(unescapeHl7("\\XE9\\")).to.equal("é");
    });

    it("keeps formatting sequences as written", () => {
      expect(unescapeHl7("\\H\\bold\\N\\")).to.equal("\\H\\bold\\N\\");
      expect(unescapeHl7("a\\.sp2\\b\\F\\")).to.equal("a\\.sp2\\b|");
    });

    it("an unknown sequence or an unclosed escape is text, and what follows is still read", () => {
      expect(unescapeHl7("\\Q\\F\\")).to.equal("\\Q|");
      expect(unescapeHl7("a\\F")).to.equal("a\\F");
      expect(unescapeHl7("x\\F\\y\\T")).to.equal("x|y\\T");
      expect(unescapeHl7("\\.br\\x")).to.equal("\nx");
      expect(unescapeHl7("a\\P\\b")).to.equal("a\\P\\b");
    });
  });
});

describe("lib/hl7 escape sequences: text that is not a whole sequence", () => {
  it("an escape character without a closing one is kept as written, with what follows", () => {
    expect(unescapeHl7("a\\Fx")).to.equal("a\\Fx");
    expect(unescapeHl7("a\\T\\b\\Sx")).to.equal("a&b\\Sx");
  });

  it("a formatting sequence is kept as written; its closing escape character opens no other sequence", () => {
    expect(unescapeHl7("\\H\\F\\")).to.equal("\\H\\F\\");
    expect(unescapeHl7("\\H\\\\F\\")).to.equal("\\H\\|");
    expect(unescapeHl7("\\.sp2\\x\\S\\y")).to.equal("\\.sp2\\x^y");
  });

  it("delimiters without an escape character unescape nothing", () => {
    expect(unescapeHl7("a\\F\\b", { ...DEFAULT_DELIMITERS, escape: "" })).to.equal("a\\F\\b");
  });
});
