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
 *   flow does not answer within `replyTimeoutMs`, the listener answers AE itself (ERR 207) and
 *   goes on; a reply that comes later fails with MLLP_REPLY_TIMEOUT but still counts for
 *   de-duplication.
 * - `none`: no answer; messages are forwarded in order.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { PackError } from "../errors";
import { type AckCode, type AckOptions, buildAck, isAckCode, unknownHeader } from "./ack";
import { DedupeCache, dedupeKey, type DedupeSnapshot } from "./dedupe";
import { encodingCharacters } from "./escape";
import {
  decodeHl7,
  delimitersOf,
  type Hl7ErrorLocation,
  type Hl7Header,
  parseHeader,
  parseHl7,
  type ParsedHl7,
} from "./message";
import { MllpDecoder, encodeFrame } from "./mllp";
import { mllpSessions, type MllpSessionRef, type ReplyRequest, type ReplyTarget } from "./sessions";

export type AckMode = "auto" | "flow" | "none";

export interface ReceiverOptions {
  host: string;
  port: number;
  /** TLS server options (key, cert, ca, requestCert ...); plain TCP when absent. */
  tls?: tls.TlsOptions;
  ack: AckMode;
  /** Largest frame accepted (bytes); larger ones are answered AR and the connection closed. */
  maxBytes: number;
  /** De-duplication window in seconds; 0 = off. */
  dedupeSeconds: number;
  /** Close a connection that sent nothing for this long (ms) while nothing is pending; 0 = never. */
  idleTimeoutMs: number;
  /** Connections beyond this many are refused; 0 = no limit. */
  maxConnections: number;
  /** `flow` mode: answer AE when the flow has not answered within this many ms. */
  replyTimeoutMs: number;
  /** Frames waiting per connection (flow mode) before its socket is paused. */
  highWaterFrames?: number;
}

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
  /** Something worth a warning without a message (reply timeouts, discarded bytes). */
  warning?(code: string, text: string): void;
  connections?(open: number): void;
}

/** Best-effort header for answering a frame whose MSH did not parse. */
export function headerForAck(text: string): Hl7Header {
  const h = unknownHeader();
  const start = text.search(/MSH/);
  if (start < 0 || start > 8) return h;
  const end = text.slice(start).search(/[\r\n]/);
  const line = end < 0 ? text.slice(start) : text.slice(start, start + end);
  let d;
  try {
    d = delimitersOf(line);
  } catch {
    return h;
  }
  const parts = line.split(d.field);
  const msh = ["MSH", d.field, encodingCharacters(d), ...parts.slice(2)];
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

function enhancedCode(code: "AA" | "AE" | "AR"): AckCode {
  return code === "AA" ? "CA" : code === "AE" ? "CE" : "CR";
}

interface InFlight {
  seq: number;
  header: Hl7Header;
  started: number;
  key?: string;
  timer?: NodeJS.Timeout;
}

class Connection implements ReplyTarget {
  readonly id = randomUUID();
  private seq = 0;
  private readonly decoder: MllpDecoder;
  private readonly waiting: Buffer[] = [];
  private waitingBytes = 0;
  private inFlight?: InFlight;
  /** Answered by the reply timeout: seq -> dedupe key (undefined when de-duplication is off). */
  private readonly timedOut = new Map<number, string | undefined>();
  private busy = false;
  private paused = false;
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
    socket.on("data", (chunk: Buffer) => this.decoder.push(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
    if (r.options.idleTimeoutMs > 0) {
      socket.setTimeout(r.options.idleTimeoutMs, () => {
        if (!this.inFlight && this.waiting.length === 0 && !this.busy) socket.destroy();
        else socket.setTimeout(r.options.idleTimeoutMs); // busy, not idle: look again later
      });
    }
    mllpSessions.register(this.id, this);
  }

  private ref(seq: number): MllpSessionRef {
    return { type: "mllp", id: this.id, seq };
  }

  private onFrame(content: Buffer): void {
    if (this.closed) return;
    const arrived = performance.now();
    if (this.r.options.ack === "flow" && (this.inFlight || this.busy || this.waiting.length)) {
      this.waiting.push(content);
      this.waitingBytes += content.length;
      const high = this.r.options.highWaterFrames ?? 64;
      // Bounded in frames and in bytes: a sender cannot pile up more than about one maxBytes.
      if ((this.waiting.length >= high || this.waitingBytes >= this.r.byteLimit) && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    void this.process(content, arrived);
  }

  private next(): void {
    if (this.closed || this.inFlight || this.busy) return;
    const content = this.waiting.shift();
    if (content) this.waitingBytes -= content.length;
    if (
      this.paused &&
      this.waiting.length < (this.r.options.highWaterFrames ?? 64) / 2 &&
      this.waitingBytes < this.r.byteLimit / 2
    ) {
      this.paused = false;
      this.socket.resume();
    }
    if (content) void this.process(content, performance.now());
  }

  private async process(content: Buffer, arrived: number): Promise<void> {
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
    } catch (err) {
      this.reject(err, text, seq, arrived);
      return;
    }
    const dedupe = this.r.dedupe;
    const key = dedupe ? dedupeKey(header) : undefined;
    if (dedupe && key !== undefined) {
      const state = dedupe.check(key);
      if (state.state === "done") {
        this.answerDuplicate(header, state.code, seq, arrived);
        this.next();
        return;
      }
      if (state.state === "pending") {
        // The original is still with the flow (on another connection): answer alike, in turn.
        this.busy = true;
        const code = await state.wait;
        this.busy = false;
        this.answerDuplicate(header, code, seq, arrived);
        this.next();
        return;
      }
    }
    const delivery: Delivery = {
      text,
      header,
      parsed,
      session: this.ref(seq),
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
    };
    if (mode === "auto") {
      const code = header.acceptAckType ? enhancedCode("AA") : "AA";
      if (key !== undefined) dedupe?.settle(key, code);
      if (this.wantsAck(header, true)) this.send(buildAck(header, code));
      this.r.emitOutcome({ code, success: true, durationMs: performance.now() - arrived });
      this.r.events.message(delivery);
      return;
    }
    if (mode === "none") {
      if (key !== undefined) dedupe?.settle(key, "AA");
      this.r.emitOutcome({ code: "", success: true, durationMs: performance.now() - arrived });
      this.r.events.message(delivery);
      return;
    }
    const inFlight: InFlight = { seq, header, started: arrived, key };
    if (this.r.options.replyTimeoutMs > 0) {
      inFlight.timer = setTimeout(() => this.replyTimedOut(inFlight), this.r.options.replyTimeoutMs);
      inFlight.timer.unref?.();
    }
    this.inFlight = inFlight;
    this.r.events.message(delivery);
  }

  /** Enhanced mode (MSH-15): AL always, NE never, ER only errors, SU only successes. */
  private wantsAck(h: Hl7Header, success: boolean): boolean {
    switch (h.acceptAckType) {
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

  private answerDuplicate(header: Hl7Header, code: string, _seq: number, arrived: number): void {
    const mode = this.r.options.ack;
    if (mode !== "none" && isAckCode(code)) this.send(buildAck(header, code));
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
        : new PackError("HL7_PARSE", "HL7 parse error: the message could not be read");
    const loc = error.details as Partial<Hl7ErrorLocation> | undefined;
    let header: Hl7Header;
    let usable = true;
    try {
      header = parseHeader(text);
    } catch {
      usable = false;
      header = headerForAck(text);
    }
    const code: "AE" | "AR" = usable && loc?.segment !== "MSH" ? "AE" : "AR";
    const sent = header.acceptAckType ? enhancedCode(code) : code;
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
    this.next();
  }

  private onOversize(head: Buffer, size: number): void {
    const text = head.toString("utf8");
    let header: Hl7Header;
    try {
      header = parseHeader(text);
    } catch {
      header = headerForAck(text);
    }
    const max = this.r.options.maxBytes;
    const error = new PackError("MLLP_OVERSIZE", `MLLP frame larger than maxBytes (${max} bytes): rejected`, {
      maxBytes: max,
      receivedBytes: size,
    });
    const seq = ++this.seq;
    const arrived = performance.now();
    const ack = buildAck(header, header.acceptAckType ? "CR" : "AR", {
      text: error.message,
      errorCode: 207,
    });
    this.closed = true;
    this.socket.pause();
    this.socket.end(encodeFrame(ack));
    this.r.emitOutcome({
      code: "AR",
      success: false,
      durationMs: performance.now() - arrived,
      error: error.code,
    });
    this.r.events.rejected?.({
      error,
      header: header.controlId ? header : undefined,
      session: this.ref(seq),
    });
  }

  private write(ack: string, _seq: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed || this.socket.destroyed) {
        reject(new PackError("MLLP_CLOSED", "the MLLP connection has closed"));
        return;
      }
      this.socket.write(encodeFrame(ack), (err) =>
        err ? reject(new PackError("MLLP_CLOSED", "the MLLP connection has closed")) : resolve(),
      );
    });
  }

  private replyTimedOut(f: InFlight): void {
    if (this.inFlight !== f) return;
    const seconds = Math.round(this.r.options.replyTimeoutMs / 100) / 10;
    this.timedOut.set(f.seq, f.key);
    if (this.timedOut.size > 100) this.timedOut.delete(this.timedOut.keys().next().value as number);
    this.r.events.warning?.(
      "MLLP_REPLY_TIMEOUT",
      `no reply from the flow within ${seconds} s (MSH-10 ${f.header.controlId}): answered AE`,
    );
    void this.answer(f, "AE", {
      text: `no application acknowledgement within ${seconds} s`,
      errorCode: 207,
    }).catch(() => undefined);
  }

  private async answer(f: InFlight, code: AckCode, opts: AckOptions): Promise<string> {
    if (f.timer) clearTimeout(f.timer);
    this.inFlight = undefined;
    if (f.key !== undefined) this.r.dedupe?.settle(f.key, code);
    const ack = buildAck(f.header, code, opts);
    try {
      await this.write(ack, f.seq);
      this.r.emitOutcome({
        code,
        success: code === "AA" || code === "CA",
        durationMs: performance.now() - f.started,
        error: code === "AA" || code === "CA" ? undefined : code,
      });
      return ack;
    } catch (err) {
      this.r.emitOutcome({
        code,
        success: false,
        durationMs: performance.now() - f.started,
        error: "MLLP_CLOSED",
      });
      throw err;
    } finally {
      if (this.closed) mllpSessions.unregister(this.id);
      this.next();
    }
  }

  reply(req: ReplyRequest): Promise<string> {
    if (!isAckCode(req.code)) {
      return Promise.reject(
        new PackError("HL7_BAD_INPUT", `not an acknowledgment code: ${String(req.code)}`),
      );
    }
    const f = this.inFlight;
    const matches =
      f !== undefined &&
      (req.seq !== undefined
        ? req.seq === f.seq
        : req.controlId !== undefined && req.controlId === f.header.controlId);
    if (!f || !matches) {
      if (req.seq !== undefined && this.timedOut.has(req.seq)) {
        const key = this.timedOut.get(req.seq);
        this.timedOut.delete(req.seq);
        if (key !== undefined) this.r.dedupe?.settle(key, req.code);
        return Promise.reject(
          new PackError(
            "MLLP_REPLY_TIMEOUT",
            "the reply came after replyTimeout: the sender was already answered AE and will resend",
            { session: this.id, seq: req.seq },
          ),
        );
      }
      return Promise.reject(
        new PackError(
          this.closed ? "MLLP_CLOSED" : "MLLP_NO_SESSION",
          this.closed
            ? "the MLLP connection of this message has closed: the sender will resend"
            : "no message of this connection awaits a reply (already answered, or mllp-in is not in ack: flow mode)",
          { session: this.id, seq: req.seq },
        ),
      );
    }
    const opts: AckOptions = {
      text: req.text,
      errorCode: req.errorCode ?? (req.code === "AR" ? 207 : undefined),
      errorLocation: req.errorLocation,
      severity: req.severity,
    };
    if (req.applicationErrorCode) opts.applicationErrorCode = req.applicationErrorCode;
    return this.answer(f, req.code, opts);
  }

  private onClose(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.waitingBytes = 0;
    if (this.decoder.discarded > 0) {
      this.r.events.warning?.(
        "MLLP_DISCARDED",
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

  constructor(
    readonly options: ReceiverOptions,
    readonly events: ReceiverEvents,
  ) {
    if (options.dedupeSeconds > 0) this.dedupe = new DedupeCache(options.dedupeSeconds * 1000);
    this.byteLimit = options.maxBytes > 0 ? options.maxBytes : Number.POSITIVE_INFINITY;
  }

  get connections(): number {
    return this.open.size;
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
    if (this.options.maxConnections > 0) server.maxConnections = this.options.maxConnections;
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

  snapshotDedupe(): DedupeSnapshot | undefined {
    return this.dedupe?.snapshot();
  }

  restoreDedupe(snap: unknown): void {
    this.dedupe?.restore(snap);
  }

  /** Stops listening and closes every connection. */
  stop(): Promise<void> {
    for (const c of this.open) c.destroy();
    this.open.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
