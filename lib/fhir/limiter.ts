import { CODES } from "../error-codes";
import { FhirError } from "./errors";

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A FIFO semaphore: at most `max` holders; the rest wait in arrival order. */
export class Limiter {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private closedError: Error | undefined;

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError("max must be a positive integer");
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function, to be called exactly once. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.active < this.max && this.waiters.length === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortError(signal));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** Rejects every waiter with `err`, and every later acquire. Holders keep their slots. */
  close(err: Error): void {
    this.closedError = err;
    const waiting = this.waiters.splice(0);
    for (const w of waiting) {
      if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
      w.reject(err);
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) {
        if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
        next.resolve(this.releaser());
      } else {
        this.active--;
      }
    };
  }
}

export function abortError(signal: AbortSignal): FhirError {
  return new FhirError(CODES.FHIR_ABORTED, "the FHIR interaction was aborted", undefined, {
    cause: signal.reason,
  });
}
