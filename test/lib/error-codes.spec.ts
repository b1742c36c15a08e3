import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import {
  CODES,
  ERROR_CODE_FAMILIES,
  ERROR_CODES,
  codesOfNode,
  describeCode,
  fhirHttpCode,
  legacyHttpCode,
  type NodeType,
} from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { ERRORS_DOC, renderErrorsDoc } from "../../scripts/errors-doc";

const ROOT = join(__dirname, "..", "..", "..");
/** The prefixes of the pack's codes: a string literal in code that looks like one must be a constant. */
const CODE_LIKE = /^(FHIR|LEGACY|WEBHOOK|MAP|CHECKPOINT|HEALTH|HL7|MLLP|QUEUE|FLOW|SYNC)_[A-Z0-9][A-Z0-9_]*$/;
/** A code, or the head of a template that builds one (`FHIR_HTTP_${status}`). */
const codeLike = (text: string, head: boolean): boolean =>
  CODE_LIKE.test(head && text.endsWith("_") ? `${text}0` : text);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".editor.ts")) out.push(p);
  }
  return out;
}

const SOURCES = [...sourceFiles(join(ROOT, "lib")), ...sourceFiles(join(ROOT, "nodes"))].filter(
  (f) => relative(ROOT, f) !== join("lib", "error-codes.ts"),
);

interface Use {
  file: string;
  line: number;
  text: string;
}

/** String literals (and template heads) in value positions of the runtime sources that look like codes. */
function literalCodes(): Use[] {
  const found: Use[] = [];
  for (const file of SOURCES) {
    const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      // A literal type is checked by the compiler when written as Codes<...>; other types carry no value.
      if (ts.isTypeNode(node)) return;
      const head = ts.isTemplateHead(node);
      const text =
        head || ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) ? node.text : undefined;
      if (text !== undefined && codeLike(text, head) && !ts.isImportDeclaration(node.parent)) {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
        found.push({ file: relative(ROOT, file), line: line + 1, text });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

/** `CODES.X` and the family helpers used anywhere in the runtime sources. */
function referencedCodes(): Set<string> {
  const used = new Set<string>();
  for (const file of SOURCES) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\bCODES\.([A-Z][A-Z0-9_]*)/g)) used.add(m[1]);
    if (/\bfhirHttpCode\(/.test(text)) used.add("FHIR_HTTP_");
    if (/\blegacyHttpCode\(/.test(text)) used.add("LEGACY_HTTP_");
  }
  return used;
}

interface FlowNode {
  type?: string;
  name?: string;
  func?: string;
}

/** Code-like string literals in the shipped pipelines' function nodes, but not env.get("NAME") names. */
function flowCodes(): Array<{ file: string; node: string; code: string }> {
  const out: Array<{ file: string; node: string; code: string }> = [];
  const dir = join(ROOT, "examples", "pipelines");
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
    const nodes = JSON.parse(readFileSync(join(dir, name), "utf8")) as FlowNode[];
    for (const n of nodes) {
      if (n.type !== "function" || typeof n.func !== "string") continue;
      for (const m of n.func.matchAll(/(env\.get\(\s*)?(["'`])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_?)(\$\{|\2)/g)) {
        if (m[1] || (!CODE_LIKE.test(m[3]) && m[3] !== "ERROR")) continue;
        out.push({ file: name, node: n.name ?? "", code: m[4] === "${" ? `${m[3]}<status>` : m[3] });
      }
    }
  }
  return out;
}

/** The help text of a node: its data-help-name script in nodes/<type>/locales/en-US/<type>.html. */
function helpOf(type: string): string {
  const html = readFileSync(join(ROOT, "nodes", type, "locales", "en-US", `${type}.html`), "utf8");
  const m = new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`).exec(html);
  if (!m) throw new Error(`${type}.html has no help`);
  return m[1];
}

/** The codes named in `<code>` under the help's one Errors heading. */
function helpCodes(help: string): string[] {
  const start = help.indexOf("<h3>Errors</h3>");
  const next = help.indexOf("<h3>", start + 1);
  const section = help.slice(start, next === -1 ? undefined : next);
  const codes = new Set<string>();
  for (const m of section.matchAll(/<code>([A-Z][A-Z0-9_]*(?:&lt;status&gt;)?)<\/code>/g)) {
    // An example of a family (FHIR_HTTP_404) counts as the family.
    const code = m[1]
      .replace("&lt;status&gt;", "<status>")
      .replace(/^(FHIR_HTTP_|LEGACY_HTTP_)\d{3}$/, "$1<status>");
    if (describeCode(code) || code.endsWith("<status>")) codes.add(code);
  }
  return [...codes].sort();
}

const NODE_TYPES = readdirSync(join(ROOT, "nodes")).filter((d) => d !== "shared");

describe("lib/error-codes: the registry of every code", () => {
  it("gives each code a value equal to its name, a meaning and what to do", () => {
    for (const [code, info] of [...Object.entries(ERROR_CODES), ...Object.entries(ERROR_CODE_FAMILIES)]) {
      expect(code, code).to.match(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_?$/);
      expect(info.meaning.length, `${code} meaning`).to.be.greaterThan(10);
      expect(info.action.length, `${code} action`).to.be.greaterThan(3);
      for (const n of info.nodes) expect(NODE_TYPES, `${code} names ${n}`).to.include(n);
    }
    for (const [key, value] of Object.entries(CODES)) expect(value).to.equal(key);
    expect(Object.keys(CODES)).to.have.members(Object.keys(ERROR_CODES));
    expect(Object.isFrozen(CODES)).to.equal(true);
  });

  it("describes a status family by its pattern, and nothing for an unknown code", () => {
    expect(fhirHttpCode(412)).to.equal("FHIR_HTTP_412");
    expect(legacyHttpCode(429)).to.equal("LEGACY_HTTP_429");
    expect(describeCode("FHIR_HTTP_412")).to.equal(ERROR_CODE_FAMILIES.FHIR_HTTP_);
    expect(describeCode("LEGACY_HTTP_503")).to.equal(ERROR_CODE_FAMILIES.LEGACY_HTTP_);
    expect(describeCode(CODES.HL7_PARSE)).to.equal(ERROR_CODES.HL7_PARSE);
    expect(describeCode("FHIR_HTTP_")).to.equal(undefined);
    expect(describeCode("HL7_NOPE")).to.equal(undefined);
    expect(new PackError(fhirHttpCode(404), "gone").code).to.equal("FHIR_HTTP_404");
  });

  it("lib/ and nodes/ raise codes through the registry's constants, never as string literals", () => {
    const literals = literalCodes();
    expect(SOURCES.length).to.be.greaterThan(50);
    expect(
      literals.map((u) => `${u.file}:${u.line} "${u.text}"`),
      "use CODES.<code> (lib/error-codes.ts), fhirHttpCode() or legacyHttpCode()",
    ).to.deep.equal([]);
  });

  it("holds no stale code: each is used in lib/ or nodes/, or set by a shipped pipeline", () => {
    const used = referencedCodes();
    const inFlows = new Set(flowCodes().map((c) => c.code));
    const stale = [...Object.entries(ERROR_CODES), ...Object.entries(ERROR_CODE_FAMILIES)]
      .filter(([code, info]) => (info.kind === "flow" ? !inFlows.has(code) : !used.has(code)))
      .map(([code]) => code);
    expect(stale).to.deep.equal([]);
  });

  it("every code a shipped pipeline sets is in the registry", () => {
    const unknown = flowCodes()
      .filter(
        (c) =>
          !describeCode(c.code) &&
          !(c.code.endsWith("<status>") && c.code.replace("<status>", "") in ERROR_CODE_FAMILIES),
      )
      .map((c) => `${c.file} "${c.node}": ${c.code}`);
    expect(unknown).to.deep.equal([]);
  });

  it("docs/errors.md is what the registry renders (node dist/scripts/errors-doc.js writes it)", async () => {
    const expected = await renderErrorsDoc(ERRORS_DOC);
    const actual = readFileSync(ERRORS_DOC, "utf8");
    expect(
      actual === expected,
      "docs/errors.md is stale: npm run build && node dist/scripts/errors-doc.js",
    ).to.equal(true);
    for (const code of Object.keys(ERROR_CODES)) expect(actual).to.include(`\`${code}\``);
  });

  describe("each node's help lists its codes under one Errors heading", () => {
    for (const type of NODE_TYPES) {
      it(type, () => {
        const help = helpOf(type);
        const headings = [...help.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1]);
        expect(
          headings.filter((h) => h === "Errors"),
          "one <h3>Errors</h3>",
        ).to.have.length(1);
        expect(help, "no second, smaller Errors heading").not.to.match(/<h4>Errors<\/h4>|<b>Errors\.?<\/b>/);
        const at = headings.indexOf("Errors");
        if (headings.includes("Details"))
          expect(at, "Errors after Details").to.be.greaterThan(headings.indexOf("Details"));
        if (headings.includes("References")) {
          expect(at, "Errors before References").to.be.lessThan(headings.indexOf("References"));
        }
        expect(helpCodes(help)).to.deep.equal(codesOfNode(type as NodeType).sort());
      });
    }
  });
});
