/**
 * The MLLP sender behind `mllp-out` (send mode): one persistent connection, one message in
 * flight on it (so order is kept), a bounded queue behind it.
 *
 * For each message: connect when there is no connection (after a failed connect, the next
 * one waits with exponential backoff and jitter), write the frame, wait for the ACK whose
 * MSA-2 equals the message's MSH-10 (ACKs for other control IDs, e.g. late answers to an
 * earlier message, are ignored). No ACK within `timeoutMs`, or the connection lost or not
 * made: try again (the same frame, same MSH-10) up to `retries` more times, then fail with
 * MLLP_TIMEOUT / MLLP_CLOSED / MLLP_CONNECT (the connection is dropped after a final
 * timeout, so the next message starts on a fresh one). AA/CA resolve; AE/AR/CE/CR reject
 * with MLLP_NAK at once (a NAK is an answer: resending the same message would get the same).
 * A frame that is no ACK (no MSH or MSA, or an MSA-1 outside the six codes) while an ACK is
 * awaited rejects with MLLP_BAD_ACK at once: a peer that answers so will answer so again.
 *
 * Enhanced mode (HL7 v2.5.1 2.9.3): when the message asks for an application ACK (`appAck`,
 * from its MSH-16) and the first ACK is a CA, the client keeps reading the same connection
 * for the application ACK (AA/AE/AR with the same MSA-2) up to `appAckTimeoutMs` and reports
 * both. None in time: MLLP_APP_ACK_TIMEOUT (not resent: the receiver has committed it), or
 * for MSH-16 ER (an application ACK only on error) a success with the commit ACK alone.
 */
import { CODES } from "../error-codes";
import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { PackError } from "../errors";
import { type AckInfo, isAckCode, isPositiveAck, readAck } from "./ack";
import { MllpDecoder, encodeFrame } from "./mllp";

export interface ClientOptions {
  host: string;
  port: number;
  /** TLS connection options (ca, cert, key, rejectUnauthorized, servername); plain TCP when absent. */
  tls?: tls.ConnectionOptions;
  /** Wait for the ACK this long per attempt (ms). */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** Messages that may wait behind the one in flight; more fail with MLLP_QUEUE_FULL. */
  queueSize: number;
  /** Largest ACK frame read (bytes). */
  maxAckBytes?: number;
  /** After a CA, wait this long (ms) for the application ACK the message asked for (default 30 s; 0: do not wait). */
  appAckTimeoutMs?: number;
  /** First and largest reconnect delay (ms). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export type ClientState = "connecting" | "connected" | "disconnected" | "sending" | "retrying" | "idle";

export const DEFAULT_APP_ACK_TIMEOUT_MS = 30_000;

/** The application ACKs a message asks for (MSH-16 in enhanced mode; an empty one counts as AL). */
export type AppAckCondition = "AL" | "ER" | "SU";

export interface SendResult {
  /** The application ACK, or the only ACK (the CA alone: no application ACK was asked for or came under ER). */
  ack: AckInfo;
  /** The ACK as received. */
  ackText: string;
  /** Enhanced mode: the commit ACK (CA) that came before the application ACK. */
  commit?: AckInfo;
  commitText?: string;
  attempts: number;
  /** From the first write to the ACK. */
  durationMs: number;
}

interface Job {
  frame: Buffer;
  controlId: string;
  appAck?: AppAckCondition;
  resolve(r: SendResult): void;
  reject(e: Error): void;
}

interface Received {
  ack?: AckInfo;
  text?: string;
  closed?: boolean;
  /** Why the frame read is no ACK. */
  bad?: string;
}

type Waiter = (r: Received) => unknown;

const SHOWN_ACK_CHARS = 4096;

export class MllpClient {
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly queue: Job[] = [];
  private current?: Job;
  private waiter?: { controlId: string; fn: Waiter };
  /**
   * Frames for the message in flight read while nothing waited (a CA and its application ACK
   * in one TCP read, say): the next wait takes them first. A few at most.
   */
  private early: Received[] = [];
  private failures = 0;
  private closedByUser = false;
  /** Frames ignored: unreadable, or acknowledging another control ID. */
  stray = 0;

  constructor(
    readonly options: ClientOptions,
    private readonly onState: (s: ClientState, detail?: string) => void = () => undefined,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get connected(): boolean {
    return !!this.socket && !this.socket.destroyed;
  }

  /**
   * Sends one message (its MSH-10 is `controlId`) and resolves with its positive ACK; with
   * `appAck` (enhanced mode), a CA is followed by the wait for the application ACK.
   */
  send(message: string | Buffer, controlId: string, appAck?: AppAckCondition): Promise<SendResult> {
    if (this.closedByUser)
      return Promise.reject(new PackError(CODES.MLLP_CLOSED, "the MLLP sender is closed"));
    if (this.current && this.queue.length >= this.options.queueSize) {
      return Promise.reject(
        new PackError(
          CODES.MLLP_QUEUE_FULL,
          `the MLLP send queue is full (${this.options.queueSize} waiting)`,
          {
            queueSize: this.options.queueSize,
          },
        ),
      );
    }
    return new Promise<SendResult>((resolve, reject) => {
      this.queue.push({ frame: encodeFrame(message), controlId, appAck, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.current || this.closedByUser) return;
    const job = this.queue.shift();
    if (!job) {
      this.onState(this.connected ? "idle" : "disconnected");
      return;
    }
    this.current = job;
    this.run(job)
      .then(job.resolve, job.reject)
      .finally(() => {
        this.current = undefined;
        this.early = [];
        this.pump();
      });
  }

  private backoff(): number {
    if (this.failures === 0) return 0;
    const initial = this.options.backoffInitialMs ?? 250;
    const max = this.options.backoffMaxMs ?? 30_000;
    const d = Math.min(max, initial * 2 ** (this.failures - 1));
    return d / 2 + Math.random() * (d / 2);
  }

  private async run(job: Job): Promise<SendResult> {
    const attempts = this.options.retries + 1;
    let last: PackError | undefined;
    let firstWrite: number | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.closedByUser) throw new PackError(CODES.MLLP_CLOSED, "the MLLP sender was closed");
      if (attempt > 1) this.onState("retrying", `${attempt}/${attempts}`);
      let socket: net.Socket;
      try {
        socket = await this.connect();
      } catch (err) {
        last = err instanceof PackError ? err : new PackError(CODES.MLLP_CONNECT, String(err));
        continue;
      }
      this.onState("sending");
      firstWrite ??= performance.now();
      const result = await this.exchange(socket, job);
      if (result.bad !== undefined) throw badAck(result.bad, result.text);
      if (result.ack && result.text !== undefined) {
        const ack = result.ack;
        const wait = this.options.appAckTimeoutMs ?? DEFAULT_APP_ACK_TIMEOUT_MS;
        if (ack.code === "CA" && job.appAck && wait > 0) {
          return this.application(socket, job, { ack, text: result.text }, attempt, firstWrite, wait);
        }
        if (isPositiveAck(ack.code)) {
          return { ack, ackText: result.text, attempts: attempt, durationMs: performance.now() - firstWrite };
        }
        throw nak(ack, result.text);
      }
      last = result.closed
        ? new PackError(CODES.MLLP_CLOSED, "the MLLP connection closed before the ACK came", {
            attempts: attempt,
          })
        : new PackError(CODES.MLLP_TIMEOUT, `no ACK within ${this.options.timeoutMs} ms`, {
            attempts: attempt,
          });
    }
    if (last?.code === CODES.MLLP_TIMEOUT) this.drop();
    const final = last ?? new PackError(CODES.MLLP_TIMEOUT, "no ACK");
    throw new PackError(
      final.code,
      `${final.message} (after ${attempts} attempt${attempts > 1 ? "s" : ""})`,
      { ...(final.details as object), attempts, host: this.options.host, port: this.options.port },
    );
  }

  /** After the CA: the application ACK, on the same connection; never resent. */
  private async application(
    socket: net.Socket,
    job: Job,
    commit: { ack: AckInfo; text: string },
    attempts: number,
    firstWrite: number,
    waitMs: number,
  ): Promise<SendResult> {
    this.onState("sending", "application ACK");
    // A repeated CA is not the answer awaited.
    const r = await this.wait(socket, job.controlId, waitMs, (a) => a.code !== "CA");
    const base = { commit: commit.ack, commitText: commit.text, attempts };
    if (r.bad !== undefined) throw badAck(r.bad, r.text, commit);
    if (r.ack && r.text !== undefined) {
      if (r.ack.code === "AA") {
        return { ack: r.ack, ackText: r.text, ...base, durationMs: performance.now() - firstWrite };
      }
      throw nak(r.ack, r.text, commit);
    }
    if (job.appAck === "ER" && !r.closed) {
      // No application ACK under "errors only" is the success it stands for.
      return { ack: commit.ack, ackText: commit.text, attempts, durationMs: performance.now() - firstWrite };
    }
    const details = {
      attempts,
      commitCode: "CA",
      commit: commit.text,
      host: this.options.host,
      port: this.options.port,
    };
    throw r.closed
      ? new PackError(
          CODES.MLLP_CLOSED,
          "the MLLP connection closed after the commit ACK (CA), before the application ACK: the receiver has the message, so it is not resent",
          details,
        )
      : new PackError(
          CODES.MLLP_APP_ACK_TIMEOUT,
          `commit ACK (CA) received, but no application ACK within ${waitMs} ms: the receiver has the message, so it is not resent`,
          { ...details, appAckTimeoutMs: waitMs },
        );
  }

  private exchange(socket: net.Socket, job: Job): Promise<Received> {
    if (socket.destroyed) return Promise.resolve({ closed: true });
    const answered = this.wait(socket, job.controlId, this.options.timeoutMs, () => true);
    socket.write(job.frame);
    return answered;
  }

  /** The next ACK for `controlId` that `accept` takes, a bad frame, the close, or {} after `ms`. */
  private wait(
    socket: net.Socket,
    controlId: string,
    ms: number,
    accept: (ack: AckInfo) => boolean,
  ): Promise<Received> {
    return new Promise((resolve) => {
      if (socket.destroyed) {
        resolve({ closed: true });
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({});
      }, ms);
      const fn = (r: Received): boolean => {
        if (r.ack && !accept(r.ack)) {
          this.stray++;
          return false;
        }
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(r);
        return true;
      };
      this.waiter = { controlId, fn };
      while (this.early.length > 0) if (fn(this.early.shift() as Received)) return;
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<net.Socket> {
    const wait = this.backoff();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (this.closedByUser) throw new PackError(CODES.MLLP_CLOSED, "the MLLP sender was closed");
    this.onState("connecting");
    const { host, port } = this.options;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = this.options.tls
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...this.options.tls })
        : net.connect({ host, port });
      const ready = this.options.tls ? "secureConnect" : "connect";
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new PackError(
            CODES.MLLP_CONNECT,
            `could not connect to ${host}:${port} within ${this.options.timeoutMs} ms`,
          ),
        );
      }, this.options.timeoutMs);
      s.once(ready, () => {
        clearTimeout(timer);
        s.removeAllListeners("error");
        resolve(s);
      });
      s.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        s.destroy();
        reject(
          new PackError(
            CODES.MLLP_CONNECT,
            `could not connect to ${host}:${port}: ${err.code ?? err.message}`,
            {
              errno: err.code,
            },
          ),
        );
      });
    }).catch((err: unknown) => {
      this.failures++;
      this.onState("disconnected", (err as Error).message);
      throw err;
    });
    this.failures = 0;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const decoder = new MllpDecoder({ frame: (b) => this.onFrame(b) }, this.options.maxAckBytes ?? 1 << 20);
    socket.on("data", (chunk: Buffer) => decoder.push(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      if (this.socket === socket) this.socket = undefined;
      this.waiter?.fn({ closed: true });
      if (!this.closedByUser) this.onState("disconnected");
    });
    this.socket = socket;
    this.onState("connected");
    return socket;
  }

  private onFrame(content: Buffer): void {
    const text = content.toString("utf8");
    const w = this.waiter;
    const controlId = w?.controlId ?? this.current?.controlId;
    let r: Received;
    try {
      const ack = readAck(text);
      if (controlId === undefined || ack.controlId !== controlId) {
        this.stray++;
        return;
      }
      r = isAckCode(ack.code)
        ? { ack, text }
        : { bad: "MSA-1 is not an acknowledgment code (AA, AE, AR, CA, CE, CR)", text };
    } catch (err) {
      if (controlId === undefined) {
        this.stray++;
        return;
      }
      r = { bad: (err as Error).message, text };
    }
    if (w) w.fn(r);
    else if (this.early.length < 4) this.early.push(r);
    else this.stray++;
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Fails what waits with MLLP_CLOSED and closes the connection. */
  async close(): Promise<void> {
    this.closedByUser = true;
    for (const job of this.queue.splice(0)) {
      job.reject(new PackError(CODES.MLLP_CLOSED, "the MLLP sender was closed before this message was sent"));
    }
    this.waiter?.fn({ closed: true });
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once("close", () => resolve());
        s.end();
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000).unref();
      });
    }
  }
}

/** MLLP_NAK for a negative ACK; the receiver's texts stay in the details (they may quote the message). */
function nak(ack: AckInfo, text: string, commit?: { ack: AckInfo; text: string }): PackError {
  return new PackError(
    CODES.MLLP_NAK,
    `the receiver answered ${ack.code}${/^[\w.-]{1,16}$/.test(ack.error?.code ?? "") ? ` (error ${ack.error!.code})` : ""}${commit ? " after its commit ACK (CA)" : ""}`,
    {
      code: ack.code,
      controlId: ack.controlId,
      text: ack.text,
      error: ack.error,
      ack: text,
      ...(commit ? { commitCode: commit.ack.code, commit: commit.text } : {}),
    },
  );
}

/** MLLP_BAD_ACK: the peer's answer is no ACK; not resent (it would answer alike). */
function badAck(reason: string, text?: string, commit?: { ack: AckInfo; text: string }): PackError {
  return new PackError(CODES.MLLP_BAD_ACK, "the receiver's answer is not a readable ACK", {
    reason,
    ack: text === undefined ? undefined : text.slice(0, SHOWN_ACK_CHARS),
    ...(commit ? { commitCode: commit.ack.code, commit: commit.text } : {}),
  });
}
