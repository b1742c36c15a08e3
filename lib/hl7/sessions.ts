import { PackError } from "../errors";
import type { AckCode, AckOptions } from "./ack";

/** What `mllp-in` puts on `msg._session`. */
export interface MllpSessionRef {
  type: "mllp";
  /** The connection. */
  id: string;
  /** The message on that connection (1, 2, ...). */
  seq: number;
}

export interface ReplyRequest extends AckOptions {
  code: AckCode;
  /** The message's sequence on the connection (msg._session.seq). */
  seq?: number;
  /** Or its MSH-10 (msg.hl7.controlId), when seq is absent. */
  controlId?: string;
  /** ERR-5, application error code (e.g. the code of the error a Catch node received). */
  applicationErrorCode?: string;
}

/** A connection that can answer the messages it delivered. */
export interface ReplyTarget {
  /** Writes the ACK; resolves with the ACK text once it is on the socket. */
  reply(request: ReplyRequest): Promise<string>;
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
  reply(ref: unknown, request: ReplyRequest): Promise<string> {
    const r = ref as Partial<MllpSessionRef> | undefined;
    if (!r || r.type !== "mllp" || typeof r.id !== "string") {
      return Promise.reject(
        new PackError(
          "MLLP_NO_SESSION",
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
              "MLLP_CLOSED",
              "the MLLP connection of this message has closed: the sender will resend",
              {
                session: r.id,
              },
            )
          : new PackError("MLLP_NO_SESSION", "no open MLLP connection with this msg._session id", {
              session: r.id,
            }),
      );
    }
    return target.reply({ ...request, seq: request.seq ?? (typeof r.seq === "number" ? r.seq : undefined) });
  },
};
