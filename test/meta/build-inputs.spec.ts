import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PACK_DIR } from "../../sandbox/node-red";

/**
 * `npm test` builds with --if-changed, trusting dist/ whenever the digest of the build's inputs is
 * the one stored by the last clean build: a source the digest leaves out would be tested stale.
 */
describe("the build's digest of its inputs", function () {
  this.timeout(60_000);
  let build: { inputsDigest(dir: string): string; INPUTS: string[] };
  let dir: string;

  before(async () => {
    build = (await import(pathToFileURL(join(PACK_DIR, "scripts", "build.js")).href)) as typeof build;
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-build-inputs-"));
    for (const input of build.INPUTS) cpSync(join(PACK_DIR, input), join(dir, input), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("covers every folder and file the compilers and the guides read", () => {
    for (const config of ["tsconfig.json", "tsconfig.editor.json"]) {
      const { include } = JSON.parse(readFileSync(join(PACK_DIR, config), "utf8")) as { include: string[] };
      for (const pattern of include)
        expect(build.INPUTS, `${config}: ${pattern}`).to.include(pattern.split("/")[0]);
    }
    for (const read of ["docs", "README.md", "CHANGELOG.md", "icons", "grafana", "package-lock.json"])
      expect(build.INPUTS).to.include(read);
  });

  it("changes with a file's content, name or removal, and only then", () => {
    const before = build.inputsDigest(dir);
    expect(build.inputsDigest(dir)).to.equal(before);
    const file = join(dir, "lib", "errors.ts");
    const text = readFileSync(file, "utf8");
    writeFileSync(file, `${text} `);
    expect(build.inputsDigest(dir)).to.not.equal(before);
    writeFileSync(file, text);
    expect(build.inputsDigest(dir)).to.equal(before);
    renameSync(join(dir, "docs", "testing.md"), join(dir, "docs", "testing2.md"));
    expect(build.inputsDigest(dir)).to.not.equal(before);
    renameSync(join(dir, "docs", "testing2.md"), join(dir, "docs", "testing.md"));
    writeFileSync(join(dir, "nodes", "extra.ts"), "");
    expect(build.inputsDigest(dir)).to.not.equal(before);
    rmSync(join(dir, "nodes", "extra.ts"));
    expect(build.inputsDigest(dir)).to.equal(before);
  });
});
