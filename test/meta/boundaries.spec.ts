import { expect } from "chai";
import { ESLint } from "eslint";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PACK_DIR } from "../../sandbox/node-red";

/**
 * The layer rules of eslint.config.mjs (docs/architecture.md) catch what they forbid: each
 * snippet is linted as if it were a file at that place in the pack, with the pack's own config.
 */

const RULE = "@typescript-eslint/no-restricted-imports";

describe("layer boundaries", function () {
  this.timeout(60_000);
  let eslint: ESLint;

  before(() => {
    eslint = new ESLint({ cwd: PACK_DIR });
  });

  /** The boundary messages ESLint gives `code` as the file `file` of the pack. */
  async function violations(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: join(PACK_DIR, file) });
    return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
  }

  const forbidden: Array<[string, string, RegExp]> = [
    ["lib/fhir/boundary-probe.ts", 'import type { NodeAPI } from "node-red";\n', /never imports Node-RED/],
    ["lib/fhir/boundary-probe.ts", 'import { util } from "@node-red/util";\n', /never imports Node-RED/],
    [
      "lib/hl7/fhir/boundary-probe.ts",
      'import { status } from "../../../nodes/shared/status";\n',
      /never imports nodes\//,
    ],
    [
      "lib/boundary-probe.ts",
      'import type { ServerConfigNode } from "../nodes/fhir-server/types";\n',
      /never imports nodes\//,
    ],
    ["lib/store/boundary-probe.ts", 'import { startFhir } from "../../sandbox/fhir";\n', /not shipped/],
    ["lib/store/boundary-probe.ts", 'export { expect } from "../../test/support/assert";\n', /not shipped/],
    ["nodes/fhir-request/boundary-probe.ts", 'import { demo } from "../../sandbox/demo";\n', /not shipped/],
    [
      "nodes/shared/boundary-probe.ts",
      'import type { Pms } from "../../sandbox/pms/server";\n',
      /not shipped/,
    ],
    [
      "nodes/mllp-in/mllp-in.editor.ts",
      'import { HL7_SENDER } from "../../sandbox/hl7/sender";\n',
      /not shipped/,
    ],
  ];
  for (const [file, code, message] of forbidden) {
    it(`refuses in ${file}: ${code.trim()}`, async () => {
      const found = await violations(file, `${code}export const probe = 1;\n`);
      expect(found).to.have.length(1);
      expect(found[0]).to.match(message);
    });
  }

  const allowed: Array<[string, string]> = [
    ["lib/fhir/boundary-probe.ts", 'import { createHash } from "node:crypto";\n'],
    ["lib/fhir/boundary-probe.ts", 'import { PackError } from "../errors";\n'],
    ["lib/fhir/boundary-probe.ts", 'import { toFhir } from "../mapping/nodes-of-a-rule";\n'],
    ["nodes/fhir-request/boundary-probe.ts", 'import type { NodeAPI } from "node-red";\n'],
    ["nodes/fhir-request/boundary-probe.ts", 'import { FhirClient } from "../../lib/fhir/client";\n'],
    ["sandbox/boundary-probe.ts", 'import { PackError } from "../lib/errors";\n'],
    ["test/lib/boundary-probe.ts", 'import { demo } from "../../sandbox/demo";\n'],
  ];
  for (const [file, code] of allowed) {
    it(`allows in ${file}: ${code.trim()}`, async () => {
      expect(await violations(file, `${code}export const probe = 1;\n`)).to.deep.equal([]);
    });
  }

  it("fails the editor build when an editor script imports lib code that needs Node.js", async () => {
    // scripts/build.js bundles editor scripts for the browser: node: modules cannot resolve there.
    const { bundleEditors } = (await import(pathToFileURL(join(PACK_DIR, "scripts", "build.js")).href)) as {
      bundleEditors(types: string[], entryOf: (type: string) => string): Promise<Map<string, string> | null>;
    };
    const dir = mkdtempSync(join(tmpdir(), "pms-ehr-editor-probe-"));
    const errors: string[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(" "));
    try {
      const lib = (file: string) => JSON.stringify(join(PACK_DIR, "lib", file));
      writeFileSync(
        join(dir, "pure.editor.ts"),
        `import { isEnvReference } from ${lib("env")};\nconsole.log(isEnvReference("\${A}"));\n`,
      );
      writeFileSync(
        join(dir, "node.editor.ts"),
        `import { validateHealthPath } from ${lib("health/http")};\nconsole.log(validateHealthPath("/x"));\n`,
      );
      const pure = await bundleEditors(["pure"], (type) => join(dir, `${type}.editor.ts`));
      expect(pure?.get("pure")).to.match(/^\s*"use strict";\s*\(\(\) => \{/);
      expect(pure?.get("pure")).to.not.match(/\brequire\(|__commonJS|__esm/);
      expect(await bundleEditors(["node"], (type) => join(dir, `${type}.editor.ts`))).to.equal(null);
    } finally {
      console.error = consoleError;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(errors.join("\n")).to.match(/Could not resolve "node:crypto"/);
  });
});
