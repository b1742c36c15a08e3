/* eslint-disable @typescript-eslint/no-explicit-any -- Node-RED messages are dynamic */
import net from "node:net";
import helper from "node-red-node-test-helper";
import { type AckInfo, encodeFrame, MllpDecoder, readAck } from "../../lib/hl7";

export type Msg = Record<string, any>;

/** An ADT^A01 with the given control ID (and optional extra segments / MSH-15). */
export function adt(
  controlId: string,
  opts: { extra?: string[]; msh15?: string; version?: string } = {},
): string {
  const msh = `MSH|^~\\&|PMS|CLINIC|EHR|HB|20240301091500||ADT^A01^ADT_A01|${controlId}|P|${opts.version ?? "2.5.1"}`;
  const segs = [
    opts.msh15 === undefined ? msh : `${msh}|||${opts.msh15}|NE`,
    "EVN|A01|20240301091500",
    `PID|1||${controlId}^^^CLINIC^MR||Test^Patient||19800101|F`,
    ...(opts.extra ?? []),
  ];
  return `${segs.join("\r")}\r`;
}

/** A raw MLLP peer on a plain socket: writes what it is told, collects every ACK frame. */
export class RawPeer {
  readonly acks: string[] = [];
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];
  readonly decoder: MllpDecoder;

  private constructor(readonly socket: net.Socket) {
    this.decoder = new MllpDecoder({
      frame: (b) => {
        this.acks.push(b.toString("utf8"));
        for (const w of this.waiters.splice(0)) w();
      },
    });
    socket.on("data", (d: Buffer) => this.decoder.push(d));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.closed.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /**
   * Connects; with `retryMs`, keeps trying that long (a listener that is still starting). With
   * `allowHalfOpen`, the peer keeps its side open when the listener ends the connection, so
   * that it sees a close only when the listener destroys it (once it writes again).
   */
  static async connect(port: number, retryMs = 0, allowHalfOpen = false): Promise<RawPeer> {
    const deadline = Date.now() + retryMs;
    for (;;) {
      try {
        return await new Promise<RawPeer>((resolve, reject) => {
          const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen }, () => resolve(new RawPeer(s)));
          s.once("error", reject);
        });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  send(text: string | Buffer): void {
    this.socket.write(encodeFrame(text));
  }

  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Writes a byte every 50 ms until the connection is closed, as a sender that will not let go. */
  keepWriting(): void {
    const t = setInterval(() => (this.socket.destroyed ? clearInterval(t) : this.write("x")), 50);
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  /** Resolves when `n` ACKs have come (rejects after `ms`). */
  async waitAcks(n: number, ms = 15_000): Promise<AckInfo[]> {
    const deadline = Date.now() + ms;
    while (this.acks.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.acks.length} of ${n} ACKs within ${ms} ms`);
      if (this.isClosed && this.acks.length < n)
        throw new Error(`connection closed after ${this.acks.length} ACKs`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.acks.map((a) => readAck(a));
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves with what a helper node receives, `n` messages (rejects after `ms`). */
export function receive(id: string, n = 1, ms = 15_000): Promise<Msg[]> {
  const node = helper.getNode(id);
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    const timer = setTimeout(() => {
      node.removeListener("input", on);
      reject(new Error(`${id}: ${got.length} of ${n} messages within ${ms} ms`));
    }, ms);
    function on(msg: Msg): void {
      got.push(msg);
      if (got.length === n) {
        clearTimeout(timer);
        node.removeListener("input", on);
        resolve(got);
      }
    }
    node.on("input", on);
  });
}

/** Collects everything a helper node receives. */
export function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on("input", (m: Msg) => got.push(m));
  return got;
}

export async function portOf(id: string): Promise<number> {
  return (helper.getNode(id) as unknown as { listening: Promise<number> }).listening;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` is true (rejects after `ms`). */
export async function until(check: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
