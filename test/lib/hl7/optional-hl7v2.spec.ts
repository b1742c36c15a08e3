import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A Node.js process in which `hl7v2` cannot be found, as in a Node-RED user directory where the
 * optional package was not installed: it loads the pack's HL7 library and reports what happened.
 */
const CHILD = `
const Module = require("node:module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "hl7v2" || request.startsWith("hl7v2/") || request.startsWith("hl7v2-dictionary")) {
    const err = new Error("Cannot find module '" + request + "'");
    err.code = "MODULE_NOT_FOUND";
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
const { parseHl7 } = require(process.argv[1]);
const text = "MSH|^~\\\\&|PMS|CLINIC|EHR|HOSP|20260101120000||ADT^A01|C1|P|2.5.1\\rPID|1||123^^^MRN||Doe^Jane\\r";
const outcome = (f) => {
  try {
    return { ok: f() };
  } catch (err) {
    return { code: err.code, name: err.name, message: err.message };
  }
};
process.stdout.write(JSON.stringify({
  plain: outcome(() => parseHl7(text).header.type),
  validate: outcome(() => parseHl7(text, { validate: true }).header.type),
  typed: outcome(() => parseHl7(text).hl7v2().version),
}));
`;

describe("lib/hl7 without the optional hl7v2 package", function () {
  this.timeout(30000);

  it("parses without it, and strict validation or the typed API fail with HL7_VALIDATOR_MISSING saying what to install", async () => {
    const lib = join(__dirname, "..", "..", "..", "lib", "hl7");
    const { stdout } = await run(process.execPath, ["-e", CHILD, lib]);
    const out = JSON.parse(stdout) as Record<
      string,
      { ok?: unknown; code?: string; message?: string; name?: string }
    >;
    expect(out.plain).to.deep.equal({ ok: "ADT" });
    for (const failed of [out.validate, out.typed]) {
      expect(failed.code).to.equal("HL7_VALIDATOR_MISSING");
      expect(failed.name).to.equal("PackError");
      expect(failed.message).to.include("npm install hl7v2@1.8.0 hl7v2-dictionary@1.8.0");
      expect(failed.message).to.include("not installed");
    }
  });

  it("in this checkout it is installed (a dev dependency), so validation runs", async () => {
    const lib = join(__dirname, "..", "..", "..", "lib", "hl7");
    const script = `const { parseHl7 } = require(process.argv[1]);
try { parseHl7("MSH|^~\\\\&|A|B|C|D|20260101||ADT^A01|C1|P|2.5.1\\rPID|1||x||y||notadate\\r", { validate: true }); process.stdout.write("accepted"); }
catch (err) { process.stdout.write(err.code); }`;
    const { stdout } = await run(process.execPath, ["-e", script, lib]);
    expect(stdout).to.equal("HL7_PARSE");
  });
});
