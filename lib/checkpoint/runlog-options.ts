import { PackError } from "../errors";
import { CODES } from "../error-codes";

/**
 * The run log's property rules, apart from the log itself so that the editor's bundle can check
 * them as the runtime does without pulling in the checkpoint store (node:crypto).
 */

const KEY = /^[A-Za-z_$][\w$]{0,99}$/;
const RESERVED = new Set(["seq", "at", "type", "outcome", "code", "watermark", "advanced", "more"]);
export const RUN_LOG_MAX = 1000;

/** Checks log options as a node checks its properties at start (CHECKPOINT_CONFIG). */
export function validateRunLogOptions(options: { key: string; size: number; countName: string }): void {
  if (!KEY.test(options.key)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, "log key must be a plain name (letters, digits, _ or $)");
  }
  if (!Number.isSafeInteger(options.size) || options.size < 1 || options.size > RUN_LOG_MAX) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, `runs kept must be a whole number from 1 to ${RUN_LOG_MAX}`);
  }
  if (!KEY.test(options.countName) || RESERVED.has(options.countName)) {
    throw new PackError(
      CODES.CHECKPOINT_CONFIG,
      `count name must be a plain name other than ${[...RESERVED].join(", ")}`,
    );
  }
}
