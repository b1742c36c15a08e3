import type { AckCode } from "../../lib/hl7/ack";
import type { Hl7Header } from "../../lib/hl7/message";
import { MllpReceiver } from "../../lib/hl7/receiver";
import { mllpSessions } from "../../lib/hl7/sessions";

/**
 * The sandbox's downstream HL7 system: an MLLP listener that records every message it gets and
 * answers each one, AA unless `answer` says otherwise (to show what a sender does with AE/AR).
 */

export interface ReceivedMessage {
  text: string;
  header: Hl7Header;
  /** The code it was answered with. */
  code: AckCode;
}

export interface Hl7ReceiverOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The ACK code for a message (default AA for every one). */
  answer?: (text: string, header: Hl7Header) => AckCode;
}

export interface Hl7Receiver {
  host: string;
  port: number;
  readonly messages: ReceivedMessage[];
  /** Resolves once `count` messages have been received (rejects after the timeout). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  stop(): Promise<void>;
}

export async function startHl7Receiver(options: Hl7ReceiverOptions = {}): Promise<Hl7Receiver> {
  const host = options.host ?? "127.0.0.1";
  const messages: ReceivedMessage[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const receiver = new MllpReceiver(
    {
      host,
      port: options.port ?? 0,
      ack: "flow",
      maxBytes: 10 * 1024 * 1024,
      dedupeSeconds: 0,
      idleTimeoutMs: 0,
      maxConnections: 0,
      replyTimeoutMs: 10_000,
    },
    {
      message(d) {
        const code = options.answer?.(d.text, d.header) ?? "AA";
        messages.push({ text: d.text, header: d.header, code });
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (messages.length >= waiters[i].count) waiters.splice(i, 1)[0].resolve();
        }
        void mllpSessions
          .reply(d.session, {
            code,
            seq: d.session.seq,
            text: code === "AA" ? undefined : "refused by the sandbox receiver",
          })
          .catch(() => undefined);
      },
    },
  );
  const address = await receiver.start();
  return {
    host,
    port: address.port,
    messages,
    waitFor(count, timeoutMs = 15000) {
      if (messages.length >= count) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the HL7 receiver got ${messages.length} of ${count} messages`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
    stop: () => receiver.stop(),
  };
}
