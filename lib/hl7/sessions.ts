import { CODES } from "../error-codes";
import { PackError } from "../errors";
import type { AckCode, AckOptions } from "./ack";

/**
 * What became of a message, for a reply that names the outcome instead of a code: the
 * listener answers with the code configured for it (`mllp-in`'s per-outcome codes).
 * `error` is `invalid` or `failed` by the error's code (`applicationErrorCode`): a code of
 * an error that another try would meet again (HL7_*, MAP_*, *_BAD_INPUT, HTTP 4xx ...) is
 * `invalid`, any other `failed`. `accepted` (the message is stored, e.g. at a durable-queue's
 * first output) is CA in enhanced mode, so that the application ACK can follow, and AA in
 * original mode, which has no other ACK.
 */
export type AckOutcome = "filtered" | "invalid" | "failed" | "error" | "accepted";
export const ACK_OUTCOMES: readonly AckOutcome[] = ["filtered", "invalid", "failed", "error", "accepted"];

export function isAckOutcome(v: unknown): v is AckOutcome {
  return typeof v === "string" && (ACK_OUTCOMES as readonly string[]).includes(v);
}

/** What `mllp-in` puts on `msg._session`. */
export interface MllpSessionRef {
  type: "mllp";
  /** The connection. */
  id: string;
  /** The message on that connection (1, 2, ...). */
  seq: number;
}

export interface ReplyRequest extends AckOptions {
  /** The code; or `outcome` instead. */
  code?: AckCode;
  outcome?: AckOutcome;
  /** The message's sequence on the connection (msg._session.seq). */
  seq?: number;
  /** Or its MSH-10 (msg.hl7.controlId), when seq is absent. */
  controlId?: string;
  /** ERR-5, application error code (e.g. the code of the error a Catch node received). */
  applicationErrorCode?: string;
}

/** What a reply wrote. */
export interface ReplyResult {
  /** The code answered (the one given, or the one configured for the outcome). */
  code: AckCode;
  /** The ACK of that code as written; "" when MSH-15/MSH-16 say not to send it. */
  ack: string;
  /**
   * Enhanced mode, an application code given before any commit code: the commit ACK written
   * before the application ACK ("" when MSH-15 says not to send it).
   */
  commit?: { code: AckCode; ack: string };
}

/** A connection that can answer the messages it delivered. */
export interface ReplyTarget {
  /** Writes the ACK(s); resolves once they are on the socket. */
  reply(request: ReplyRequest): Promise<ReplyResult>;
}

const REGISTRY_KEY = Symbol.for("@healthbridge/node-red-pms-ehr/mllp-sessions");

interface Registry {
  open: Map<string, ReplyTarget>;
  /** Recently closed connection IDs, to tell "closed" from "unknown". */
  closed: Set<string>;
}

function registry(): Registry {
  const g = globalThis as typeof globalThis & { [REGISTRY_KEY]?: Registry };
  g[REGISTRY_KEY] ??= { open: new Map(), closed: new Set() };
  return g[REGISTRY_KEY];
}

const CLOSED_REMEMBERED = 10_000;

/**
 * The process-wide register of open MLLP connections, so that an `mllp-out` in reply mode
 * reaches the connection an `mllp-in` received a message on (one place: here).
 */
export const mllpSessions = {
  register(id: string, target: ReplyTarget): void {
    registry().open.set(id, target);
  },

  unregister(id: string): void {
    const r = registry();
    if (!r.open.delete(id)) return;
    r.closed.add(id);
    if (r.closed.size > CLOSED_REMEMBERED) r.closed.delete(r.closed.values().next().value as string);
  },

  get size(): number {
    return registry().open.size;
  },

  /**
   * Answers a message on the connection it came from. MLLP_NO_SESSION when `ref` names no
   * connection, MLLP_CLOSED when that connection has closed; the target's own errors
   * (nothing awaiting an answer) pass through.
   */
  reply(ref: unknown, request: ReplyRequest): Promise<ReplyResult> {
    const r = ref as Partial<MllpSessionRef> | undefined;
    if (!r || r.type !== "mllp" || typeof r.id !== "string") {
      return Promise.reject(
        new PackError(
          CODES.MLLP_NO_SESSION,
          "msg._session does not name an MLLP connection (it comes from mllp-in)",
        ),
      );
    }
    const reg = registry();
    const target = reg.open.get(r.id);
    if (!target) {
      return Promise.reject(
        reg.closed.has(r.id)
          ? new PackError(
              CODES.MLLP_CLOSED,
              "the MLLP connection of this message has closed: the sender will resend",
              {
                session: r.id,
              },
            )
          : new PackError(CODES.MLLP_NO_SESSION, "no open MLLP connection with this msg._session id", {
              session: r.id,
            }),
      );
    }
    return target.reply({ ...request, seq: request.seq ?? (typeof r.seq === "number" ? r.seq : undefined) });
  },
};
