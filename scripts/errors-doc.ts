/**
 * Writes docs/errors.md from lib/error-codes.ts: `npm run build && node dist/scripts/errors-doc.js`.
 * test/lib/error-codes.spec.ts fails while the file differs from what this renders.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import * as prettier from "prettier";
import { ERROR_CODE_FAMILIES, ERROR_CODES, type CodeInfo, type CodeKind } from "../lib/error-codes";

const SECTIONS: ReadonlyArray<{ kind: CodeKind; title: string; intro: string }> = [
  {
    kind: "error",
    title: "Errors",
    intro:
      "Raised with `done(err)`, so a Catch node gets them as `msg.error.code`; a configuration node's are logged at deploy and raised by every node that uses it.",
  },
  {
    kind: "rejection",
    title: "Rejections",
    intro:
      "Sent out of a node's reject output, or answered over HTTP, with the code in the msg or the answer.",
  },
  { kind: "warning", title: "Warnings", intro: "Logged (`node.warn`) or listed in `msg.mapping.warnings`." },
  {
    kind: "dead-letter",
    title: "Dead-letter codes",
    intro:
      "Recorded on a queued message that became a dead letter (the queues sidebar and admin API show them).",
  },
  {
    kind: "lint",
    title: "Flow checker findings",
    intro:
      "Found by `lintFlow` (lib/pipelines/flow-lint.ts) in a pipeline's JSON; the pipeline tests run it.",
  },
  {
    kind: "flow",
    title: "Set by the shipped pipelines",
    intro:
      "Written by a function node of a pipeline in examples/pipelines/ into its failure or dead-letter records.",
  },
];

function entry(code: string, info: CodeInfo): string {
  const nodes = info.nodes.length ? ` (${info.nodes.map((n) => `\`${n}\``).join(", ")})` : "";
  return `- **\`${code}\`**${nodes}: ${info.meaning} _What to do:_ ${info.action}`;
}

/** docs/errors.md as the registry says it, formatted as `prettier --write` would leave it. */
export async function renderErrorsDoc(file: string): Promise<string> {
  const out: string[] = [
    "# Error codes",
    "",
    "<!-- Generated from lib/error-codes.ts by scripts/errors-doc.ts: edit the registry, not this file. -->",
    "",
    "Every code the pack can raise, with what it means and what to do. A code's text never changes:",
    "flows and Catch nodes match on it. In code, use the constants (`CODES.HL7_PARSE`, `fhirHttpCode(404)`)",
    "exported by `lib/error-codes.ts`; each node's help lists its own codes under **Errors**. The nodes",
    "that list a code are named after it.",
    "",
  ];
  const entries: Array<[string, CodeInfo]> = [
    ...Object.entries(ERROR_CODE_FAMILIES).map(([k, v]): [string, CodeInfo] => [`${k}<status>`, v]),
    ...Object.entries(ERROR_CODES),
  ];
  for (const section of SECTIONS) {
    const rows = entries.filter(([, info]) => info.kind === section.kind);
    if (rows.length === 0) continue;
    out.push(`## ${section.title}`, "", section.intro, "");
    for (const [code, info] of rows) out.push(entry(code, info));
    out.push("");
  }
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(out.join("\n"), { ...options, filepath: file });
}

/** The generated file, from dist/scripts/. */
export const ERRORS_DOC = path.resolve(__dirname, "..", "..", "docs", "errors.md");

if (require.main === module) {
  renderErrorsDoc(ERRORS_DOC).then(
    (text) => {
      writeFileSync(ERRORS_DOC, text);
      console.log(`wrote ${ERRORS_DOC}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
