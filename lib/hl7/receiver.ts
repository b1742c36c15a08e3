/**
 * The MLLP listener behind `mllp-in`: connections, framing, acknowledgement modes,
 * de-duplication, ordering. No Node-RED here: the node wires the callbacks to send/status.
 *
 * Acknowledgement modes:
 * - `auto`: the message is parsed fully; AA when it parses, AR when its MSH is unusable, AE
 *   (with ERR: location and table 0357 code) when a later segment is not. A message whose
 *   MSH-15 asks for enhanced mode gets the commit codes CA/CE/CR, and none at all when MSH-15
 *   says NE, or ER/SU and the outcome is the other one. The ACK is written before the message
 *   is forwarded.
 * - `flow`: the header is read (AR when it is unusable: the flow cannot answer what it never
 *   sees) and the message is forwarded; an `mllp-out` in reply mode answers. One message per
 *   connection is with the flow at a time, so messages of one connection are stored in the
 *   order they were sent; later frames wait (the socket is paused when many wait). When the
 *   flow does not answer within `replyTimeoutMs`, the listener answers itself with the failed
 *   code (AE by default; ERR 207) and goes on; a reply that comes later fails with
 *   MLLP_REPLY_TIMEOUT but still counts for de-duplication.
 * - `none`: no answer; messages are forwarded in order.
 *
 * Enhanced mode (HL7 v2.5.1 2.9.3), when MSH-15 or MSH-16 is not empty (each counts as AL
 * when empty; another value than AL/NE/ER/SU is refused, HL7_ACK_TYPE): the commit ACK
 * (CA/CE/CR) says the message was taken, the application ACK (AA/AE/AR) what became of it, as
 * a second message on the same connection. MSH-15 decides which commit ACKs are sent, MSH-16
 * which application ACKs (NE never, ER only errors, SU only successes). In `flow` mode the
 * flow gives both: a commit code frees the connection for its next message and the
 * application code follows later (from a durable-queue's delivery, say); an application code
 * given first sends the commit ACK it implies (CA for AA, CE for AE, CR for AR) and then the
 * application ACK. In `auto` mode the listener sends the commit ACK and a flow may send the
 * application ACK. Up to `MAX_AWAITING` committed messages per connection wait for theirs.
 *
 * Outcome codes: a reply may name an outcome (filtered, invalid, failed) instead of a code;
 * the listener answers with the code configured for it. `auto` mode answers a message whose
 * later segments do not parse with the invalid code, a reply timeout gets the failed code.
 *
 * Limits (each refusal is counted, see `RefusalReason`): a frame larger than `maxBytes`, a
 * frame not complete within `frameTimeoutMs` of its start byte, and a connection whose bytes
 * would go over the shared `FrameBudget` are answered AR (CR in enhanced mode; nothing in
 * `none` mode) with the reason in MSA-3/ERR, and the connection is closed: ended, then
 * destroyed after `closeGraceMs` at the latest. Connections beyond `maxConnections` are
 * closed at once; a connection silent for `idleTimeoutMs` while nothing is pending is
 * destroyed.
 *
 * Backpressure: a connection's socket is paused while `highWaterFrames` frames or
 * `highWaterBytes` bytes wait on it (in `flow` mode behind the message with the flow, in the
 * other modes behind a repeat waiting for its original) or while its ACKs are not read (the
 * socket's write buffer is full); the frame deadline does not run while the listener itself
 * is not reading. Messages are handed to the flow as they are read (`auto`, `none`): Node-RED
 * delivers them asynchronously and tells no one when a flow has finished with one, so what
 * the flow does with them is bounded by the flow, not here.
 */
import { CODES } from "../error-codes";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { PackError } from "../errors";
import { isRetryable } from "../store/policy";
import { type AckCode, type AckOptions, buildAck, isAckCode, unknownHeader } from "./ack";
import { type FrameBudget, sharedFrameBudget } from "./budget";
import {
  contentDigest,
  DedupeCache,
  dedupeKey,
  sharedEntry,
  type DedupeSnapshot,
  type SharedEntry,
} from "./dedupe";
import {
  decodeHl7,
  type Hl7ErrorLocation,
  type Hl7Header,
  mshFieldsOf,
  parseHeader,
  parseHl7,
  type ParsedHl7,
} from "./message";
import { encodeFrame, MllpDecoder, OVERSIZE_HEAD_BYTES } from "./mllp";
import {
  type AckOutcome,
  isAckOutcome,
  mllpSessions,
  type MllpSessionRef,
  type ReplyRequest,
  type ReplyResult,
  type ReplyTarget,
} from "./sessions";

export type AckMode = "auto" | "flow" | "none";

/** The application code answered per outcome (the commit code follows from it in enhanced mode). */
export interface OutcomeCodes {
  filtered: "AA" | "AE" | "AR";
  invalid: "AE" | "AR";
  failed: "AE" | "AR";
}

/** What the listener answered before these were configurable. */
export const DEFAULT_OUTCOME_CODES: Readonly<OutcomeCodes> = { filtered: "AR", invalid: "AE", failed: "AE" };

/** Committed messages per connection that wait for their application ACK; the oldest go first. */
export const MAX_AWAITING = 1000;

const ACK_CONDITIONS = new Set(["", "AL", "NE", "ER", "SU"]);

/** Enhanced mode: MSH-15 or MSH-16 not empty. */
export function isEnhanced(h: Hl7Header): boolean {
  return h.acceptAckType !== "" || h.applicationAckType !== "";
}

/** Whether an acknowledgment condition (HL7 table 0155; empty counts as AL) asks for an ACK of this outcome. */
export function ackWanted(condition: string, success: boolean): boolean {
  switch (condition) {
    case "NE":
      return false;
    case "ER":
      return !success;
    case "SU":
      return success;
    default:
      return true;
  }
}

/** HL7_ACK_TYPE when MSH-15 or MSH-16 holds a value outside table 0155. */
export function checkAckConditions(h: Hl7Header): void {
  for (const [field, value] of [
    [15, h.acceptAckType],
    [16, h.applicationAckType],
  ] as const) {
    if (ACK_CONDITIONS.has(value)) continue;
    const name = field === 15 ? "accept" : "application";
    const reason = `MSH-${field} (${name} acknowledgment type) must be AL, NE, ER or SU (HL7 table 0155)`;
    throw new PackError(CODES.HL7_ACK_TYPE, `HL7 ${reason}`, {
      segment: "MSH",
      position: 1,
      field,
      hl7ErrorCode: 103,
      reason,
    });
  }
}

/** The code for an outcome, answering `h`; `error` is invalid or failed by the error code. */
export function outcomeCode(
  codes: OutcomeCodes,
  outcome: AckOutcome,
  h: Hl7Header,
  errorCode?: string,
): AckCode {
  if (outcome === "accepted") return isEnhanced(h) ? "CA" : "AA";
  if (outcome === "error") return isRetryable(errorCode) ? codes.failed : codes.invalid;
  return codes[outcome];
}

export interface ReceiverOptions {
  host: string;
  port: number;
  /** TLS server options (key, cert, ca, requestCert ...); plain TCP when absent. */
  tls?: tls.TlsOptions;
  ack: AckMode;
  /** Largest frame accepted (bytes); larger ones are answered AR and the connection closed. 0 = no limit. */
  maxBytes: number;
  /** De-duplication window in seconds; 0 = off. */
  dedupeSeconds: number;
  /** Close a connection that sent nothing for this long (ms) while nothing is pending; 0 = never. */
  idleTimeoutMs: number;
  /** Connections beyond this many are refused; 0 = no limit. */
  maxConnections: number;
  /** A frame must end within this many ms of its start byte (default 30 s); 0 = no deadline. */
  frameTimeoutMs?: number;
  /** `flow` mode: answer AE when the flow has not answered within this many ms. */
  replyTimeoutMs: number;
  /** The code per outcome (default DEFAULT_OUTCOME_CODES). */
  outcomeCodes?: OutcomeCodes;
  /**
   * De-duplication entries shared with other instances (a message-store's expiring state): a message
   * this listener does not know is looked up there first, and each accepted one is written there.
   */
  sharedDedupe?: SharedDedupeStore;
  /** Frames waiting per connection before its socket is paused (default 64). */
  highWaterFrames?: number;
  /** Bytes of frames waiting per connection before its socket is paused (default 1 MiB). */
  highWaterBytes?: number;
  /** The byte budget for frames held and not yet handed on (default: the one of the process). */
  budget?: FrameBudget;
  /** A refused connection is destroyed this many ms after its AR at the latest (default 1000). */
  closeGraceMs?: number;
  /** Refusals reported one by one (`rejected`, warnings) per 10 s at most; the rest are counted (default 10). */
  reportsPer10s?: number;
}

/** A store of values that expire, shared by the instances running one listener. */
export interface SharedDedupeStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, expiresAt: number): Promise<void>;
}

export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;
export const DEFAULT_HIGH_WATER_FRAMES = 64;
export const DEFAULT_HIGH_WATER_BYTES = 1024 * 1024;

/** Why the listener refused a connection or a frame, or flagged a message. */
export type RefusalReason =
  "oversize" | "frame_timeout" | "idle_timeout" | "connection_limit" | "budget" | "dedupe_conflict";

export interface Delivery {
  /** The message text as received (decoded per MSH-18), framing removed. */
  text: string;
  header: Hl7Header;
  /** The full parse (auto mode); shared with downstream parses of the same text. */
  parsed?: ParsedHl7;
  session: MllpSessionRef;
  remoteAddress: string;
  remotePort: number;
}

export interface Outcome {
  /** ACK code sent (or the one a flow-mode reply gave), "" when none was sent. */
  code: string;
  success: boolean;
  /** From the frame's arrival to the ACK on the socket (or to forwarding, without ACK). */
  durationMs: number;
  /** An error code, when not a success. */
  error?: string;
  duplicate?: boolean;
}

export interface Rejection {
  error: PackError;
  text?: string;
  header?: Hl7Header;
  session: MllpSessionRef;
}

export interface ReceiverEvents {
  message(d: Delivery): void;
  outcome?(o: Outcome): void;
  /** A frame that was answered with an error by the listener itself (for Catch nodes). */
  rejected?(r: Rejection): void;
  /** Something worth a warning without a message (reply timeouts, discarded bytes, conflicts). */
  warning?(code: string, text: string): void;
  connections?(open: number): void;
  /** Every refusal (and de-duplication conflict), reported or not: for counters. */
  refused?(reason: RefusalReason): void;
}

/** A value from a sender for a log line: control characters out, at most 64 characters. */
export function shown(value: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the control characters
  const v = value.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return v.length > 64 ? `${v.slice(0, 63)}…` : v;
}

/**
 * Lets `max` reports through per window; counts the others and hands their number to
 * `suppressed` when the window ends.
 */
class ReportLimit {
  private windowEnd = 0;
  private count = 0;
  private dropped = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly suppressed: (n: number) => void,
  ) {}

  allow(): boolean {
    const now = performance.now();
    if (now >= this.windowEnd) {
      this.windowEnd = now + this.windowMs;
      this.count = 0;
    }
    if (this.count < this.max) {
      this.count++;
      return true;
    }
    this.dropped++;
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowEnd - now);
      this.timer.unref?.();
    }
    return false;
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const n = this.dropped;
    this.dropped = 0;
    if (n > 0) this.suppressed(n);
  }
}

/** Best-effort header for answering a frame whose MSH did not parse. */
export function headerForAck(text: string): Hl7Header {
  const h = unknownHeader();
  // Bounded: a frame refused for its header may be a 10 MiB MSH of empty fields.
  const found = mshFieldsOf(text);
  if (!found) return h;
  const { delimiters: d, msh } = found;
  const version = (msh[12] ?? "").split(d.component)[0];
  const valid = /^\d+\.\d+(\.\d+)*$/.test(version);
  const fields = msh.map((v) => (v.length > 200 ? "" : v));
  if (!valid) fields[12] = h.version;
  return {
    ...h,
    delimiters: d,
    msh: fields,
    event: (msh[9] ?? "").split(d.component)[1] ?? "",
    version: valid ? version : h.version,
  };
}

/** The header to answer a refused frame with, from its first bytes; no field longer than 200 characters. */
function refusalHeader(head: Buffer): Hl7Header {
  const text = head.toString("utf8");
  try {
    const h = parseHeader(text);
    if (h.msh.every((f) => f.length <= 200)) return h;
  } catch {
    // read what can be read below
  }
  return headerForAck(text);
}

/** The commit code an application code implies (a commit code stays as it is). */
function commitCodeOf(code: AckCode): AckCode {
  return code === "AA" ? "CA" : code === "AE" ? "CE" : code === "AR" ? "CR" : code;
}

function isCommitCode(code: AckCode): boolean {
  return code === "CA" || code === "CE" || code === "CR";
}

interface InFlight {
  seq: number;
  header: Hl7Header;
  started: number;
  /** Bytes of the frame (counted against the budget until answered). */
  bytes: number;
  key?: string;
  content?: string;
  timer?: NodeJS.Timeout;
}

interface Committed {
  seq: number;
  header: Hl7Header;
  key?: string;
  content?: string;
}

interface Waiting {
  content: Buffer;
  arrived: number;
}

class Connection implements ReplyTarget {
  readonly id = randomUUID();
  private seq = 0;
  private readonly decoder: MllpDecoder;
  private readonly waiting: Waiting[] = [];
  private waitingBytes = 0;
  private inFlight?: InFlight;
  /** Enhanced mode: committed messages whose application ACK may still come, by seq (oldest first). */
  private readonly awaiting = new Map<number, Committed>();
  /** Answered by the reply timeout: seq -> [dedupe key, content digest] (undefined when de-duplication is off). */
  private readonly timedOut = new Map<number, [string, string] | undefined>();
  /** A repeat waits for its original (on another connection). */
  private busy = false;
  private paused = false;
  private pausedAt = 0;
  /** Bytes taken from the budget. */
  private charged = 0;
  /** The frame the deadline runs for (decoder.started), -1 for none. */
  private frameOf = -1;
  private frameStart = 0;
  private frameTimer?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  /** No frame is taken any more: refused, or the socket has closed. */
  closed = false;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(
    private readonly socket: net.Socket,
    private readonly r: MllpReceiver,
  ) {
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.decoder = new MllpDecoder(
      {
        frame: (content) => this.onFrame(content),
        oversize: (head, size) => this.onOversize(head, size),
      },
      r.byteLimit,
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.flowControl());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
    if (r.options.idleTimeoutMs > 0) socket.setTimeout(r.options.idleTimeoutMs, () => this.onIdle());
    mllpSessions.register(this.id, this);
  }

  /** For MllpReceiver.stats(). */
  get figures(): { paused: boolean; held: number; unsent: number } {
    return { paused: this.paused, held: this.charged, unsent: this.socket.writableLength };
  }

  private ref(seq: number): MllpSessionRef {
    return { type: "mllp", id: this.id, seq };
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return; // refused: whatever is still read is dropped
    this.decoder.push(chunk);
    if (this.closed) return;
    if (!this.account()) {
      this.refuseBudget();
      return;
    }
    this.watchFrame();
    this.flowControl();
  }

  /** Brings the budget in line with the bytes held; false when the growth does not fit. */
  private account(): boolean {
    const held = this.closed ? 0 : this.decoder.heldBytes + this.waitingBytes + (this.inFlight?.bytes ?? 0);
    const delta = held - this.charged;
    if (delta > 0) {
      if (!this.r.budget.take(delta)) return false;
    } else this.r.budget.give(-delta);
    this.charged = held;
    return true;
  }

  /** Idle: nothing received for idleTimeout, and nothing to do but wait for the sender (or it reads no ACKs). */
  private onIdle(): void {
    if (this.closed) return;
    const stuck = this.socket.writableNeedDrain;
    if (!stuck && (this.inFlight || this.busy || this.waiting.length > 0)) {
      this.socket.setTimeout(this.r.options.idleTimeoutMs); // busy, not idle: look again later
      return;
    }
    this.r.refused("idle_timeout");
    this.socket.destroy();
  }

  private onFrame(content: Buffer): void {
    if (this.closed) return;
    this.waiting.push({ content, arrived: performance.now() });
    this.waitingBytes += content.length;
    this.pump();
  }

  /** Hands waiting frames on, in order, as far as the mode allows. */
  private pump(): void {
    while (!this.closed && !this.inFlight && !this.busy && this.waiting.length > 0) {
      const w = this.waiting.shift() as Waiting;
      this.waitingBytes -= w.content.length;
      this.process(w.content, w.arrived);
    }
    this.account();
    this.flowControl();
  }

  /** Pauses reading while too much waits or the ACKs are not read; resumes at half. */
  private flowControl(): void {
    if (this.closed) return;
    const frames = this.r.options.highWaterFrames ?? DEFAULT_HIGH_WATER_FRAMES;
    const bytes = this.r.options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    const drain = this.socket.writableNeedDrain;
    if (!this.paused) {
      if (drain || this.waiting.length >= frames || this.waitingBytes >= bytes) {
        this.paused = true;
        this.pausedAt = performance.now();
        this.stopFrameTimer();
        this.socket.pause();
      }
    } else if (!drain && this.waiting.length <= frames / 2 && this.waitingBytes <= bytes / 2) {
      this.paused = false;
      // The deadline of a frame in progress does not run while the listener is not reading.
      if (this.frameOf >= 0) this.frameStart += performance.now() - this.pausedAt;
      this.socket.resume();
      this.watchFrame();
    }
  }

  /** Runs the deadline of the frame in progress. */
  private watchFrame(): void {
    const limit = this.r.frameTimeoutMs;
    if (limit <= 0 || this.closed) return;
    if (!this.decoder.pending) {
      this.stopFrameTimer();
      this.frameOf = -1;
      return;
    }
    if (this.decoder.started !== this.frameOf) {
      this.stopFrameTimer();
      this.frameOf = this.decoder.started;
      this.frameStart = performance.now();
    }
    if (this.paused || this.frameTimer) return;
    const left = Math.max(0, this.frameStart + limit - performance.now());
    this.frameTimer = setTimeout(() => this.onFrameLate(), left);
    this.frameTimer.unref?.();
  }

  private stopFrameTimer(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
  }

  private onFrameLate(): void {
    this.frameTimer = undefined;
    if (this.closed || !this.decoder.pending || this.paused) return;
    const seconds = Math.round(this.r.frameTimeoutMs / 100) / 10;
    this.refuse(
      "frame_timeout",
      new PackError(
        CODES.MLLP_FRAME_TIMEOUT,
        `MLLP frame not complete within ${seconds} s of its start: rejected`,
        { frameTimeoutSeconds: seconds, receivedBytes: this.decoder.pendingBytes },
      ),
      this.decoder.head(),
    );
  }

  private onOversize(head: Buffer, size: number): void {
    const max = this.r.options.maxBytes;
    this.refuse(
      "oversize",
      new PackError(CODES.MLLP_OVERSIZE, `MLLP frame larger than maxBytes (${max} bytes): rejected`, {
        maxBytes: max,
        receivedBytes: size,
      }),
      head,
    );
  }

  private refuseBudget(): void {
    const budget = this.r.budget;
    // The frame that went over: the one in progress, else the last one read.
    const last = this.waiting[this.waiting.length - 1]?.content;
    const head = this.decoder.pending ? this.decoder.head() : (last ?? Buffer.alloc(0));
    const size =
      budget.limit >= 1048576
        ? `${Math.round((budget.limit / 1048576) * 10) / 10} MiB`
        : `${budget.limit} bytes`;
    this.refuse(
      "budget",
      new PackError(
        CODES.MLLP_BUDGET,
        `MLLP listeners hold their byte budget (${size}) of frames not yet handed on: rejected, resend later`,
        { budgetBytes: budget.limit, usedBytes: budget.used },
      ),
      head.subarray(0, OVERSIZE_HEAD_BYTES),
    );
  }

  /**
   * Answers the frame `head` begins AR (CR in enhanced mode; nothing in `none` mode or when
   * MSH-15 says so) and closes the connection: ended now, destroyed after the grace time at
   * the latest. Whatever it holds is dropped, whatever it still sends is not read.
   */
  private refuse(reason: RefusalReason, error: PackError, head: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    const arrived = performance.now();
    this.stopFrameTimer();
    this.decoder.stop();
    this.waiting.length = 0;
    this.waitingBytes = 0;
    // A message with the flow keeps its reply timeout: its answer settles de-duplication.
    this.account();
    const header = refusalHeader(head);
    const code = isEnhanced(header) ? "CR" : "AR";
    const answer =
      this.r.options.ack !== "none" && this.wantsAck(header, false)
        ? encodeFrame(buildAck(header, code, { text: error.message, errorCode: 207 }))
        : undefined;
    // Nothing more is read: what the sender goes on sending costs no work. The AR leaves now;
    // the reset that destroying a connection with unread bytes sends comes the grace time later.
    this.socket.pause();
    if (answer) this.socket.end(answer);
    else this.socket.end();
    this.graceTimer = setTimeout(() => this.socket.destroy(), this.r.closeGraceMs);
    this.graceTimer.unref?.();
    this.r.refused(reason);
    this.r.emitOutcome({
      code: answer ? code : "",
      success: false,
      durationMs: performance.now() - arrived,
      error: error.code,
    });
    if (this.r.reportRefusal()) {
      this.r.events.rejected?.({
        error,
        header: header.controlId ? header : undefined,
        session: this.ref(++this.seq),
      });
    }
  }

  /** The synchronous part of handling one frame; a repeat of a message with the flow waits (busy). */
  private process(content: Buffer, arrived: number): void {
    const seq = ++this.seq;
    const mode = this.r.options.ack;
    const text = decodeHl7(content);
    let header: Hl7Header;
    let parsed: ParsedHl7 | undefined;
    try {
      if (mode === "auto") {
        parsed = parseHl7(text);
        header = parsed.header;
      } else header = parseHeader(text);
      if (mode !== "none") checkAckConditions(header);
    } catch (err) {
      this.reject(err, text, seq, arrived);
      return;
    }
    const dedupe = this.r.dedupe;
    let key: string | undefined;
    let digest: string | undefined;
    if (dedupe) {
      key = dedupeKey(header);
      digest = contentDigest(text, header);
      const state = dedupe.check(key, digest);
      if (state.state === "done") {
        this.answerDuplicate(header, state.code, state.acks, arrived);
        return;
      }
      if (state.state === "pending") {
        // The original is still with the flow (on another connection): answer alike, in turn.
        this.busy = true;
        void state.wait.then((code) => {
          this.busy = false;
          if (this.closed) return;
          this.answerDuplicate(header, code, key && digest ? dedupe.acksOf(key, digest) : [], arrived);
          this.pump();
        });
        return;
      }
      if (this.r.options.sharedDedupe) {
        // Another instance (or this one before a restart) may have accepted it: ask the shared store.
        const [k, d] = [key, digest];
        this.busy = true;
        void this.r.sharedEntryOf(k).then((entry) => {
          this.busy = false;
          if (entry?.d === d) {
            dedupe.adopt(k, entry);
            this.answerDuplicate(header, entry.c, entry.a, arrived);
          } else if (this.closed) {
            // Never handed on nor answered: the sender resends it, and a repeat waiting for it is answered alike.
            dedupe.settle(k, d, isEnhanced(header) ? "CE" : "AE");
          } else {
            if (state.conflict || entry) this.r.conflict(header);
            this.deliver(seq, text, header, parsed, content.length, arrived, k, d);
          }
          this.pump();
        });
        return;
      }
      if (state.conflict) this.r.conflict(header);
    }
    this.deliver(seq, text, header, parsed, content.length, arrived, key, digest);
  }

  /** Hands a new message on (answering it first in `auto` mode). */
  private deliver(
    seq: number,
    text: string,
    header: Hl7Header,
    parsed: ParsedHl7 | undefined,
    bytes: number,
    arrived: number,
    key: string | undefined,
    digest: string | undefined,
  ): void {
    const mode = this.r.options.ack;
    const dedupe = this.r.dedupe;
    const delivery: Delivery = {
      text,
      header,
      parsed,
      session: this.ref(seq),
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
    };
    if (mode === "auto") {
      const enhanced = isEnhanced(header);
      const code = enhanced ? "CA" : "AA";
      const ack = this.wantsAck(header, true) ? buildAck(header, code) : undefined;
      if (key !== undefined && digest !== undefined) dedupe?.settle(key, digest, code, ack);
      if (ack) this.send(ack);
      if (enhanced) this.remember({ seq, header, key, content: digest });
      this.r.emitOutcome({ code, success: true, durationMs: performance.now() - arrived });
      this.r.events.message(delivery);
      return;
    }
    if (mode === "none") {
      if (key !== undefined && digest !== undefined) dedupe?.settle(key, digest, "AA");
      this.r.emitOutcome({ code: "", success: true, durationMs: performance.now() - arrived });
      this.r.events.message(delivery);
      return;
    }
    const inFlight: InFlight = { seq, header, started: arrived, bytes, key, content: digest };
    if (this.r.options.replyTimeoutMs > 0) {
      inFlight.timer = setTimeout(() => this.replyTimedOut(inFlight), this.r.options.replyTimeoutMs);
      inFlight.timer.unref?.();
    }
    this.inFlight = inFlight;
    this.r.events.message(delivery);
  }

  /** Whether the ACK (or in enhanced mode the commit ACK) of this outcome is sent: MSH-15. */
  private wantsAck(h: Hl7Header, success: boolean): boolean {
    return ackWanted(h.acceptAckType, success);
  }

  /** A committed message whose application ACK may follow; the oldest is forgotten beyond MAX_AWAITING. */
  private remember(c: Committed): void {
    if (this.awaiting.size >= MAX_AWAITING) this.awaiting.delete(this.awaiting.keys().next().value as number);
    this.awaiting.set(c.seq, c);
  }

  /**
   * A repeat: the ACKs sent the first time, byte for byte; when none were kept (a window saved
   * by an earlier version), a new ACK with the code kept, as MSH-15 allows.
   */
  private answerDuplicate(
    header: Hl7Header,
    code: string,
    acks: string[] | undefined,
    arrived: number,
  ): void {
    const mode = this.r.options.ack;
    if (mode !== "none") {
      if (acks && acks.length > 0) for (const a of acks) this.send(a);
      else if (isAckCode(code) && this.wantsAck(header, code === "AA" || code === "CA"))
        this.send(buildAck(header, code));
    }
    this.r.emitOutcome({
      code: mode === "none" ? "" : code,
      success: true,
      durationMs: performance.now() - arrived,
      duplicate: true,
    });
  }

  /** Writes without waiting (writes keep their order); a closed socket just drops it. */
  private send(ack: string): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(encodeFrame(ack));
  }

  private reject(err: unknown, text: string, seq: number, arrived: number): void {
    const error =
      err instanceof PackError
        ? err
        : new PackError(CODES.HL7_PARSE, "HL7 parse error: the message could not be read");
    const loc = error.details as Partial<Hl7ErrorLocation> | undefined;
    let header: Hl7Header;
    let usable = true;
    try {
      header = parseHeader(text);
    } catch {
      usable = false;
      header = headerForAck(text);
    }
    const code: AckCode = usable && loc?.segment !== "MSH" ? this.r.outcomeCodes.invalid : "AR";
    const sent = isEnhanced(header) ? commitCodeOf(code) : code;
    const opts: AckOptions = {
      text: error.message,
      errorCode: loc?.hl7ErrorCode ?? 207,
      errorLocation: loc?.segment
        ? {
            segment: loc.segment,
            sequence: 1,
            field: loc.field,
            repetition: loc.repetition,
            component: loc.component,
            subcomponent: loc.subcomponent,
          }
        : undefined,
    };
    if (this.r.options.ack !== "none" && this.wantsAck(header, false))
      this.send(buildAck(header, sent, opts));
    this.r.emitOutcome({
      code: this.r.options.ack === "none" ? "" : sent,
      success: false,
      durationMs: performance.now() - arrived,
      error: error.code,
    });
    this.r.events.rejected?.({ error, text, header: usable ? header : undefined, session: this.ref(seq) });
  }

  private write(ack: string, _seq: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed || this.socket.destroyed) {
        reject(new PackError(CODES.MLLP_CLOSED, "the MLLP connection has closed"));
        return;
      }
      this.socket.write(encodeFrame(ack), (err) =>
        err ? reject(new PackError(CODES.MLLP_CLOSED, "the MLLP connection has closed")) : resolve(),
      );
    });
  }

  private replyTimedOut(f: InFlight): void {
    if (this.inFlight !== f) return;
    const seconds = Math.round(this.r.options.replyTimeoutMs / 100) / 10;
    this.timedOut.set(f.seq, f.key !== undefined && f.content !== undefined ? [f.key, f.content] : undefined);
    if (this.timedOut.size > 100) this.timedOut.delete(this.timedOut.keys().next().value as number);
    const failed = this.r.outcomeCodes.failed;
    const code = isEnhanced(f.header) ? commitCodeOf(failed) : failed;
    this.r.warn(
      CODES.MLLP_REPLY_TIMEOUT,
      `no reply from the flow within ${seconds} s (MSH-10 ${shown(f.header.controlId)}): answered ${code}`,
    );
    void this.answer(f, code, {
      text: `no application acknowledgement within ${seconds} s`,
      errorCode: 207,
    }).catch(() => undefined);
  }

  private async answer(f: InFlight, code: AckCode, opts: AckOptions): Promise<ReplyResult> {
    if (f.timer) clearTimeout(f.timer);
    this.inFlight = undefined;
    const h = f.header;
    const dedupe = f.key !== undefined && f.content !== undefined ? this.r.dedupe : undefined;
    let result: ReplyResult;
    let commitCode = code;
    if (!isEnhanced(h)) {
      const ack = buildAck(h, code, opts);
      dedupe?.settle(f.key!, f.content!, code, ack);
      result = { code, ack };
    } else {
      // A commit code, or the commit an application code implies followed by that code.
      commitCode = commitCodeOf(code);
      const taken = commitCode === "CA";
      const commitOnly = isCommitCode(code);
      const commitAck = this.wantsAck(h, taken)
        ? buildAck(h, commitCode, commitOnly || !taken ? opts : {})
        : "";
      const appAck =
        !commitOnly && ackWanted(h.applicationAckType, code === "AA") ? buildAck(h, code, opts) : "";
      dedupe?.settle(f.key!, f.content!, commitCode, commitAck || undefined);
      if (taken && appAck) dedupe?.addAck(f.key!, f.content!, appAck);
      if (taken && commitOnly) this.remember({ seq: f.seq, header: h, key: f.key, content: f.content });
      result = commitOnly
        ? { code, ack: commitAck }
        : { code, ack: appAck, commit: { code: commitCode, ack: commitAck } };
    }
    const success = commitCode === "AA" || commitCode === "CA";
    try {
      if (result.commit?.ack) await this.write(result.commit.ack, f.seq);
      if (result.ack) await this.write(result.ack, f.seq);
      this.r.emitOutcome({
        code: commitCode,
        success,
        durationMs: performance.now() - f.started,
        error: success ? undefined : commitCode,
      });
      return result;
    } catch (err) {
      this.r.emitOutcome({
        code: commitCode,
        success: false,
        durationMs: performance.now() - f.started,
        error: CODES.MLLP_CLOSED,
      });
      throw err;
    } finally {
      if (this.closed) mllpSessions.unregister(this.id);
      this.pump();
    }
  }

  /** Enhanced mode: the application ACK of a committed message, as MSH-16 asks. */
  private async answerApplication(c: Committed, code: AckCode, opts: AckOptions): Promise<ReplyResult> {
    if (isCommitCode(code)) {
      throw new PackError(
        CODES.MLLP_NO_SESSION,
        `this message was already committed (CA): only an application code (AA, AE, AR) may follow, not ${code}`,
        { session: this.id, seq: c.seq },
      );
    }
    this.awaiting.delete(c.seq);
    const ack = ackWanted(c.header.applicationAckType, code === "AA") ? buildAck(c.header, code, opts) : "";
    if (ack && c.key !== undefined && c.content !== undefined) this.r.dedupe?.addAck(c.key, c.content, ack);
    if (ack) await this.write(ack, c.seq);
    return { code, ack };
  }

  /** The message a reply is for: the one with the flow, or a committed one awaiting its application ACK. */
  private target(req: ReplyRequest): InFlight | Committed | undefined {
    const f = this.inFlight;
    if (
      f !== undefined &&
      (req.seq !== undefined
        ? req.seq === f.seq
        : req.controlId !== undefined && req.controlId === f.header.controlId)
    )
      return f;
    return req.seq !== undefined
      ? this.awaiting.get(req.seq)
      : [...this.awaiting.values()].find((a) => a.header.controlId === req.controlId);
  }

  reply(req: ReplyRequest): Promise<ReplyResult> {
    let code: AckCode;
    const target = this.target(req);
    if (req.code !== undefined) {
      if (!isAckCode(req.code)) {
        return Promise.reject(
          new PackError(CODES.HL7_BAD_INPUT, `not an acknowledgment code: ${String(req.code)}`),
        );
      }
      code = req.code;
    } else if (isAckOutcome(req.outcome)) {
      // Answering nothing (no such message): any code will do, the errors below say why.
      const h = target?.header ?? unknownHeader();
      code = outcomeCode(this.r.outcomeCodes, req.outcome, h, req.applicationErrorCode);
    } else {
      return Promise.reject(
        new PackError(
          CODES.HL7_BAD_INPUT,
          `a reply needs an ACK code or an outcome (filtered, invalid, failed, error), got ${String(req.outcome)}`,
        ),
      );
    }
    const f = target && "started" in target ? target : undefined;
    if (!f) {
      const c = target;
      if (c && !this.closed) {
        const opts: AckOptions = {
          text: req.text,
          errorCode: req.errorCode ?? (code === "AR" ? 207 : undefined),
          errorLocation: req.errorLocation,
          severity: req.severity,
        };
        if (req.applicationErrorCode && code !== "AA") opts.applicationErrorCode = req.applicationErrorCode;
        return this.answerApplication(c, code, opts);
      }
      if (req.seq !== undefined && this.timedOut.has(req.seq)) {
        const key = this.timedOut.get(req.seq);
        this.timedOut.delete(req.seq);
        if (key !== undefined) this.r.dedupe?.settle(key[0], key[1], code);
        return Promise.reject(
          new PackError(
            CODES.MLLP_REPLY_TIMEOUT,
            "the reply came after replyTimeout: the sender was already answered AE and will resend",
            { session: this.id, seq: req.seq },
          ),
        );
      }
      return Promise.reject(
        new PackError(
          this.closed ? CODES.MLLP_CLOSED : CODES.MLLP_NO_SESSION,
          this.closed
            ? "the MLLP connection of this message has closed: the sender will resend"
            : "no message of this connection awaits a reply (already answered, or mllp-in is not in ack: flow mode)",
          { session: this.id, seq: req.seq },
        ),
      );
    }
    const opts: AckOptions = {
      text: req.text,
      errorCode: req.errorCode ?? (code === "AR" || code === "CR" ? 207 : undefined),
      errorLocation: req.errorLocation,
      severity: req.severity,
    };
    if (req.applicationErrorCode && code !== "AA" && code !== "CA")
      opts.applicationErrorCode = req.applicationErrorCode;
    return this.answer(f, code, opts);
  }

  private onClose(): void {
    this.closed = true;
    this.awaiting.clear();
    this.stopFrameTimer();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.waiting.length = 0;
    this.waitingBytes = 0;
    this.decoder.stop();
    this.account();
    if (this.decoder.discarded > 0) {
      this.r.warn(
        CODES.MLLP_DISCARDED,
        `${this.decoder.discarded} bytes outside MLLP frames discarded on a connection from ${this.remoteAddress}`,
      );
    }
    this.r.discarded += this.decoder.discarded;
    this.r.closed(this);
    if (!this.inFlight) mllpSessions.unregister(this.id);
  }

  destroy(): void {
    if (this.inFlight?.timer) clearTimeout(this.inFlight.timer);
    this.inFlight = undefined;
    this.socket.destroy();
    mllpSessions.unregister(this.id);
  }
}

export class MllpReceiver {
  private server?: net.Server;
  private readonly open = new Set<Connection>();
  readonly dedupe?: DedupeCache;
  /** Bytes outside frames over closed connections. */
  discarded = 0;
  /** maxBytes, or no limit when it is not positive. */
  readonly byteLimit: number;
  readonly frameTimeoutMs: number;
  readonly closeGraceMs: number;
  readonly budget: FrameBudget;
  readonly outcomeCodes: Readonly<OutcomeCodes>;
  /** Refusals (and de-duplication conflicts) since the start, by reason. */
  readonly refusals: Record<RefusalReason, number> = {
    oversize: 0,
    frame_timeout: 0,
    idle_timeout: 0,
    connection_limit: 0,
    budget: 0,
    dedupe_conflict: 0,
  };
  /** Writes to the shared de-duplication store in progress, the last one per identity. */
  private readonly sharing = new Map<string, Promise<void>>();
  private readonly refusalReports: ReportLimit;
  private readonly warnings: ReportLimit;

  constructor(
    readonly options: ReceiverOptions,
    readonly events: ReceiverEvents,
  ) {
    if (options.dedupeSeconds > 0) {
      this.dedupe = new DedupeCache(options.dedupeSeconds * 1000);
      if (options.sharedDedupe) {
        this.dedupe.onAccepted = (key, entry, expires) => this.share(key, entry, expires);
      }
    }
    this.byteLimit = options.maxBytes > 0 ? options.maxBytes : Number.POSITIVE_INFINITY;
    this.frameTimeoutMs = options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;
    this.closeGraceMs = options.closeGraceMs ?? 1000;
    this.budget = options.budget ?? sharedFrameBudget();
    this.outcomeCodes = { ...DEFAULT_OUTCOME_CODES, ...options.outcomeCodes };
    const max = options.reportsPer10s ?? 10;
    this.refusalReports = new ReportLimit(max, 10_000, (n) =>
      events.warning?.(
        CODES.MLLP_REFUSED,
        `${n} further refusals in the last 10 s not reported one by one (counted by reason for health-monitor)`,
      ),
    );
    this.warnings = new ReportLimit(max, 10_000, (n) =>
      events.warning?.(CODES.MLLP_WARNINGS, `${n} further warnings in the last 10 s not shown`),
    );
  }

  get connections(): number {
    return this.open.size;
  }

  /**
   * Now: open connections, those paused (backpressure), bytes of frames held and not yet
   * handed on (as counted against the budget), bytes of ACKs written and not yet taken by the
   * operating system.
   */
  stats(): { connections: number; paused: number; heldBytes: number; unsentBytes: number } {
    let paused = 0;
    let heldBytes = 0;
    let unsentBytes = 0;
    for (const c of this.open) {
      const f = c.figures;
      if (f.paused) paused++;
      heldBytes += f.held;
      unsentBytes += f.unsent;
    }
    return { connections: this.open.size, paused, heldBytes, unsentBytes };
  }

  /** The bound address (after start). */
  address(): net.AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a : undefined;
  }

  start(): Promise<net.AddressInfo> {
    const onSocket = (socket: net.Socket): void => {
      const c = new Connection(socket, this);
      this.open.add(c);
      this.events.connections?.(this.open.size);
    };
    const server = this.options.tls
      ? tls.createServer(this.options.tls, onSocket)
      : net.createServer(onSocket);
    if (this.options.maxConnections > 0) {
      server.maxConnections = this.options.maxConnections;
      server.on("drop", (data?: { remoteAddress?: string }) => {
        this.refused("connection_limit");
        this.warn(
          CODES.MLLP_CONNECTION_LIMIT,
          `a connection from ${data?.remoteAddress ?? "?"} refused: ${this.options.maxConnections} connections open (maxConnections)`,
        );
      });
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", reject);
        resolve(this.address() as net.AddressInfo);
      });
    });
  }

  /** @internal */
  closed(c: Connection): void {
    this.open.delete(c);
    this.events.connections?.(this.open.size);
  }

  /** @internal */
  emitOutcome(o: Outcome): void {
    this.events.outcome?.(o);
  }

  /** @internal Counts a refusal. */
  refused(reason: RefusalReason): void {
    this.refusals[reason]++;
    this.events.refused?.(reason);
  }

  /** @internal A warning, unless 10 (reportsPer10s) were given in the last 10 s. */
  warn(code: string, text: string): void {
    if (this.warnings.allow()) this.events.warning?.(code, text);
  }

  /** @internal Whether this refusal may be reported one by one. */
  reportRefusal(): boolean {
    return this.refusalReports.allow();
  }

  /** @internal A message whose identity was seen with other content: processed, counted and flagged. */
  conflict(h: Hl7Header): void {
    this.refused("dedupe_conflict");
    this.warn(
      CODES.MLLP_DEDUPE_CONFLICT,
      `MSH-10 ${shown(h.controlId)} from ${shown(h.sendingApplication)}/${shown(h.sendingFacility)} ` +
        "was seen in the de-duplication window with other content: processed as a new message",
    );
  }

  /** @internal What the shared store holds for this identity; undefined when nothing, or when it cannot be read. */
  async sharedEntryOf(key: string): Promise<SharedEntry | undefined> {
    try {
      return sharedEntry(await this.options.sharedDedupe!.get(key));
    } catch (err) {
      this.warn(
        CODES.MLLP_DEDUPE_STORE,
        `the shared de-duplication store could not be read (${(err as Error).message}): a message was processed as new`,
      );
      return undefined;
    }
  }

  /** Writes an accepted entry to the shared store, after the writes of its identity before it. */
  private share(key: string, entry: SharedEntry, expires: number): void {
    const store = this.options.sharedDedupe!;
    const write = (this.sharing.get(key) ?? Promise.resolve())
      .then(() => store.set(key, entry, expires))
      .catch((err: Error) =>
        this.warn(
          CODES.MLLP_DEDUPE_STORE,
          `the shared de-duplication store could not be written (${err.message}): other instances will not know an accepted message`,
        ),
      );
    this.sharing.set(key, write);
    void write.then(() => {
      if (this.sharing.get(key) === write) this.sharing.delete(key);
    });
  }

  /** Settles when every write to the shared store asked for so far has. */
  async sharedWritten(): Promise<void> {
    await Promise.all([...this.sharing.values()]);
  }

  snapshotDedupe(): DedupeSnapshot | undefined {
    return this.dedupe?.snapshot();
  }

  restoreDedupe(snap: unknown): void {
    this.dedupe?.restore(snap);
  }

  /** Stops listening and closes every connection. */
  stop(): Promise<void> {
    this.refusalReports.flush();
    this.warnings.flush();
    for (const c of this.open) c.destroy();
    this.open.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
