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
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { PackError } from "../errors";
import { type AckInfo, isPositiveAck, readAck } from "./ack";
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
  /** First and largest reconnect delay (ms). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export type ClientState = "connecting" | "connected" | "disconnected" | "sending" | "retrying" | "idle";

export interface SendResult {
  ack: AckInfo;
  /** The ACK as received. */
  ackText: string;
  attempts: number;
  /** From the first write to the ACK. */
  durationMs: number;
}

interface Job {
  frame: Buffer;
  controlId: string;
  resolve(r: SendResult): void;
  reject(e: Error): void;
}

type Waiter = (r: { ack?: AckInfo; text?: string; closed?: boolean }) => void;

export class MllpClient {
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly queue: Job[] = [];
  private current?: Job;
  private waiter?: { controlId: string; fn: Waiter };
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

  /** Sends one message (its MSH-10 is `controlId`) and resolves with its positive ACK. */
  send(message: string | Buffer, controlId: string): Promise<SendResult> {
    if (this.closedByUser) return Promise.reject(new PackError("MLLP_CLOSED", "the MLLP sender is closed"));
    if (this.current && this.queue.length >= this.options.queueSize) {
      return Promise.reject(
        new PackError("MLLP_QUEUE_FULL", `the MLLP send queue is full (${this.options.queueSize} waiting)`, {
          queueSize: this.options.queueSize,
        }),
      );
    }
    return new Promise<SendResult>((resolve, reject) => {
      this.queue.push({ frame: encodeFrame(message), controlId, resolve, reject });
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
      if (this.closedByUser) throw new PackError("MLLP_CLOSED", "the MLLP sender was closed");
      if (attempt > 1) this.onState("retrying", `${attempt}/${attempts}`);
      let socket: net.Socket;
      try {
        socket = await this.connect();
      } catch (err) {
        last = err instanceof PackError ? err : new PackError("MLLP_CONNECT", String(err));
        continue;
      }
      this.onState("sending");
      firstWrite ??= performance.now();
      const result = await this.exchange(socket, job);
      if (result.ack && result.text !== undefined) {
        const ack = result.ack;
        if (isPositiveAck(ack.code)) {
          return { ack, ackText: result.text, attempts: attempt, durationMs: performance.now() - firstWrite };
        }
        throw new PackError(
          "MLLP_NAK",
          // The receiver's text may quote the message (a name, a date): it stays in the details,
          // out of the error message, which Node-RED logs.
          `the receiver answered ${ack.code}${/^[\w.-]{1,16}$/.test(ack.error?.code ?? "") ? ` (error ${ack.error!.code})` : ""}`,
          {
            code: ack.code,
            controlId: ack.controlId,
            text: ack.text,
            error: ack.error,
            ack: result.text,
          },
        );
      }
      last = result.closed
        ? new PackError("MLLP_CLOSED", "the MLLP connection closed before the ACK came", {
            attempts: attempt,
          })
        : new PackError("MLLP_TIMEOUT", `no ACK within ${this.options.timeoutMs} ms`, { attempts: attempt });
    }
    if (last?.code === "MLLP_TIMEOUT") this.drop();
    const final = last ?? new PackError("MLLP_TIMEOUT", "no ACK");
    throw new PackError(
      final.code,
      `${final.message} (after ${attempts} attempt${attempts > 1 ? "s" : ""})`,
      { ...(final.details as object), attempts, host: this.options.host, port: this.options.port },
    );
  }

  private exchange(
    socket: net.Socket,
    job: Job,
  ): Promise<{ ack?: AckInfo; text?: string; closed?: boolean }> {
    return new Promise((resolve) => {
      if (socket.destroyed) {
        resolve({ closed: true });
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({});
      }, this.options.timeoutMs);
      this.waiter = {
        controlId: job.controlId,
        fn: (r) => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve(r);
        },
      };
      socket.write(job.frame);
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
    if (this.closedByUser) throw new PackError("MLLP_CLOSED", "the MLLP sender was closed");
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
            "MLLP_CONNECT",
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
          new PackError("MLLP_CONNECT", `could not connect to ${host}:${port}: ${err.code ?? err.message}`, {
            errno: err.code,
          }),
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
    let ack: AckInfo;
    try {
      ack = readAck(text);
    } catch {
      this.stray++;
      return;
    }
    const w = this.waiter;
    if (!w || ack.controlId !== w.controlId) {
      this.stray++;
      return;
    }
    w.fn({ ack, text });
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Fails what waits with MLLP_CLOSED and closes the connection. */
  async close(): Promise<void> {
    this.closedByUser = true;
    for (const job of this.queue.splice(0)) {
      job.reject(new PackError("MLLP_CLOSED", "the MLLP sender was closed before this message was sent"));
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
