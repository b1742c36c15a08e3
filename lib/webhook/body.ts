import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { CODES, type Codes } from "../error-codes";
import { PackError } from "../errors";
import { VERIFIER_DEFAULTS } from "./verifier";

/** What bounds the reading of one request body. */
export interface BodyLimits {
  /** The largest body accepted, in bytes. */
  maxBytes: number;
  /** From the start of reading to the body's last byte, in milliseconds. */
  timeoutMs: number;
}

/** maxBytes as webhook-verify's, so that the two agree unless told otherwise. */
export const BODY_DEFAULTS = { maxBytes: VERIFIER_DEFAULTS.maxBytes, timeoutMs: 30_000 } as const;

export type BodyErrorCode = Codes<"WEBHOOK_TOO_LARGE" | "WEBHOOK_BODY_TIMEOUT" | "WEBHOOK_ABORTED">;

/** The answer to a sender whose body was refused; none when the sender went away. */
export const BODY_ERROR_STATUS: Readonly<Record<BodyErrorCode, number | undefined>> = {
  WEBHOOK_TOO_LARGE: 413,
  WEBHOOK_BODY_TIMEOUT: 408,
  WEBHOOK_ABORTED: undefined,
};

/** A request as it arrives: Node's IncomingMessage, before anything has read it. */
export type BodyStream = Readable & { headers: IncomingHttpHeaders };

/** The Content-Length the sender declared, or undefined (chunked, or none). */
export function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers["content-length"];
  if (typeof value !== "string" || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

function bodyError(code: BodyErrorCode, message: string, received: number, limits: BodyLimits): PackError {
  return new PackError(code, message, { received, maxBytes: limits.maxBytes, timeoutMs: limits.timeoutMs });
}

/**
 * Reads a request body into one Buffer, refusing it as soon as it is known to be too large: at
 * once from its Content-Length, else when the bytes received pass `maxBytes` (never holding
 * more than that). A body that has not ended `timeoutMs` after reading began is refused too.
 * On a refusal the stream is paused and left unread; answering the sender and closing the
 * connection are the caller's, as only the caller holds the response.
 */
export function readBody(req: BodyStream, limits: BodyLimits): Promise<Buffer> {
  const declared = declaredLength(req.headers);
  if (declared !== undefined && declared > limits.maxBytes) {
    return Promise.reject(
      bodyError(
        CODES.WEBHOOK_TOO_LARGE,
        `the request declares ${declared} bytes, more than the ${limits.maxBytes} allowed`,
        0,
        limits,
      ),
    );
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;

    const finish = (err: PackError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      req.removeListener("error", onGone);
      req.removeListener("close", onGone);
      if (err) {
        req.pause();
        chunks.length = 0;
        reject(err);
      } else {
        resolve(Buffer.concat(chunks, received));
      }
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > limits.maxBytes) {
        finish(
          bodyError(
            CODES.WEBHOOK_TOO_LARGE,
            `the request body passed the ${limits.maxBytes} bytes allowed`,
            received,
            limits,
          ),
        );
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = (): void => finish(undefined);
    const onGone = (): void =>
      finish(
        bodyError(
          CODES.WEBHOOK_ABORTED,
          "the sender closed the connection before the body ended",
          received,
          limits,
        ),
      );
    const timer = setTimeout(
      () =>
        finish(
          bodyError(
            CODES.WEBHOOK_BODY_TIMEOUT,
            `the request body did not end within ${limits.timeoutMs} ms`,
            received,
            limits,
          ),
        ),
      limits.timeoutMs,
    );

    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}
