import type { ErrorCode, PackErrorCode } from "./error-codes";

/**
 * The one error type every node hands to `done(err)`. Node-RED passes a Catch node the
 * message and the own properties `code`, `stack` and `cause` of the Error, so `code` and
 * `details` are assigned as own properties, never as getters on the prototype.
 */
export class PackError extends Error {
  readonly code: PackErrorCode;
  readonly details: unknown;

  /** `code` is one of lib/error-codes.ts: the compiler refuses a code that is not registered. */
  constructor(code: PackErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PackError";
    this.code = code;
    this.details = details;
  }
}

export function isPackError(err: unknown): err is PackError {
  return err instanceof PackError;
}

/** Any thrown value as an Error that carries an own `code` (`fallbackCode` when it had none). */
export function toCodedError(err: unknown, fallbackCode: ErrorCode): Error & { code: string } {
  if (err instanceof Error) {
    const coded = err as Error & { code?: unknown };
    if (typeof coded.code !== "string" || coded.code === "") {
      Object.defineProperty(coded, "code", { value: fallbackCode, enumerable: true, writable: true });
    }
    return coded as Error & { code: string };
  }
  return new PackError(fallbackCode, String(err));
}
