import type * as Hl7v2 from "hl7v2";
import { CODES } from "../error-codes";
import { PackError } from "../errors";

export type Hl7v2Module = typeof Hl7v2;

/** What a user runs in the Node-RED user directory to have strict validation. */
export const HL7V2_INSTALL = "npm install hl7v2@1.8.0 hl7v2-dictionary@1.8.0";

let loaded: Hl7v2Module | undefined;

/**
 * The optional `hl7v2` package (with `hl7v2-dictionary`, which it requires), loaded on first use:
 * its dictionaries make `require` take about a second, and only strict validation needs it, so it
 * is not a dependency of the pack. HL7_VALIDATOR_MISSING when it is not installed.
 */
export function hl7v2(): Hl7v2Module {
  if (loaded) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require("hl7v2") as Hl7v2Module;
  } catch (err) {
    const missing = (err as { code?: unknown }).code === "MODULE_NOT_FOUND";
    throw new PackError(
      CODES.HL7_VALIDATOR_MISSING,
      missing
        ? `strict validation (hl7-parse's validate) needs the optional hl7v2 package, which is not installed: ${HL7V2_INSTALL} in the Node-RED user directory, then restart Node-RED`
        : `the hl7v2 package would not load: ${String((err as Error).message ?? err)}`,
      undefined,
      { cause: err },
    );
  }
  return loaded;
}
