import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Project root from dist/test/lib/hl7 or test/lib/hl7. */
const ROOT = join(__dirname, __dirname.includes(`${"dist"}`) ? "../../../.." : "../../..");

export function fixturePath(name: string): string {
  return join(ROOT, "test", "fixtures", "hl7", name);
}

/** A sample message's bytes as written (BOM, line ends and all). */
export function fixtureBytes(name: string): Buffer {
  return readFileSync(fixturePath(name));
}

export function fixture(name: string): string {
  return fixtureBytes(name).toString("utf8");
}
