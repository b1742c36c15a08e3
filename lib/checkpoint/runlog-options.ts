import { PackError } from "../errors";
import { CODES } from "../error-codes";
import { CONTEXT_KEY_RULE, isContextKey } from "../context-key";

/**
 * The run log's property rules, apart from the log itself so that the editor's bundle can check
 * them as the runtime does without pulling in the checkpoint store (node:crypto).
 */

/** The entry's own fields: a count name or a field of msg.run cannot take their place. */
export const ENTRY_FIELDS = new Set([
  "seq",
  "at",
  "type",
  "outcome",
  "code",
  "node",
  "watermark",
  "advanced",
  "more",
]);
export const RUN_LOG_MAX = 1000;

/** Checks log options as a node checks its properties at start (CHECKPOINT_CONFIG). */
export function validateRunLogOptions(options: { key: string; size: number; countName: string }): void {
  if (!isContextKey(options.key)) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, `log key must be ${CONTEXT_KEY_RULE}`);
  }
  if (!Number.isSafeInteger(options.size) || options.size < 1 || options.size > RUN_LOG_MAX) {
    throw new PackError(CODES.CHECKPOINT_CONFIG, `runs kept must be a whole number from 1 to ${RUN_LOG_MAX}`);
  }
  if (!isContextKey(options.countName) || ENTRY_FIELDS.has(options.countName)) {
    throw new PackError(
      CODES.CHECKPOINT_CONFIG,
      `count name must be a plain name other than ${[...ENTRY_FIELDS].join(", ")}`,
    );
  }
}
