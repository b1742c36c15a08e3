import { parseHeader } from "../../lib/hl7/message";
import { MllpClient } from "../../lib/hl7/client";
import type { PackError } from "../../lib/errors";
import { generatePmsData, type GenerateOptions, type PmsData } from "../pms/data";
import { dftFromPms, messagesFromPms, type MessageOptions } from "./messages";

/**
 * The sandbox's HL7 sender: an interface engine that sends ADT, SIU (or DFT) messages over MLLP,
 * one every `intervalMs`, and records each answer. By default its messages tell the story of
 * the seeded PMS visits (sandbox/hl7/messages.ts), over and over; with `only: "DFT"`, the charges
 * of the completed ones.
 */

export interface Hl7SenderOptions {
  host?: string;
  port: number;
  /** Time between two messages (default 5000 ms); 0 sends nothing by itself (use send()). */
  intervalMs?: number;
  /** The messages to send in turn (default: messagesFromPms of the seeded PMS data). */
  messages?: string[];
  /** The seeded data the default messages are made from (default seed 1, 20 patients, 30 visits). */
  data?: GenerateOptions;
  /**
   * Instead of `data`: the records the default messages tell the story of, read afresh at each
   * round (e.g. a running PMS simulator's live data, so that HL7 and the PMS API speak of the
   * same patients and visits).
   */
  source?: () => PmsData;
  /** Only this family of the default messages (ADT or SIU), e.g. one sender per listener port; DFT: the charges of completed visits. */
  only?: "ADT" | "SIU" | "DFT";
  /** MSH-3..6 of the default messages. */
  parties?: Omit<MessageOptions, "controlId" | "timestamp">;
  /** ACK wait per attempt (default 10000 ms) and resends after the first (default 3). */
  ackTimeoutMs?: number;
  retries?: number;
}

export interface Hl7AckRecord {
  controlId: string;
  /** MSH-9, e.g. ADT^A04. */
  type: string;
  /** MSA-1 (AA, AE, AR ...), or the error code when no ACK came (MLLP_TIMEOUT, MLLP_CONNECT ...). */
  code: string;
  /** MSA-3 */
  text?: string;
  /** ERR-5 / ERR-3 of a negative ACK. */
  error?: string;
}

export interface Hl7Sender {
  /** Messages sent so far (answered or not). */
  readonly sent: number;
  /** Every answer, in order. */
  readonly acks: Hl7AckRecord[];
  /** Sends one message now (in order with the timer's) and resolves with its answer. */
  send(message: string): Promise<Hl7AckRecord>;
  stop(): Promise<void>;
}

export async function startHl7Sender(options: Hl7SenderOptions): Promise<Hl7Sender> {
  // The default story is made afresh for each round: new control IDs and times, as a real sender's.
  let seeded: PmsData | undefined;
  const source =
    options.source ??
    (() => (seeded ??= generatePmsData({ seed: 1, patients: 20, appointments: 30, ...options.data })));
  const round = (): string[] =>
    options.messages ??
    (options.only === "DFT"
      ? dftFromPms(source(), { ...options.parties })
      : messagesFromPms(source(), { ...options.parties }).filter(
          (m) => !options.only || m.type === options.only,
        )
    ).map((m) => m.text);
  let messages = round();
  if (messages.length === 0 && (options.intervalMs ?? 5000) > 0) {
    throw new RangeError("the HL7 sender has no messages to send");
  }
  const client = new MllpClient({
    host: options.host ?? "127.0.0.1",
    port: options.port,
    timeoutMs: options.ackTimeoutMs ?? 10_000,
    retries: options.retries ?? 3,
    queueSize: 1000,
    backoffInitialMs: 100,
    backoffMaxMs: 2000,
  });
  const acks: Hl7AckRecord[] = [];
  let sent = 0;
  let next = 0;
  let stopped = false;

  async function send(message: string): Promise<Hl7AckRecord> {
    const header = parseHeader(message);
    const type = [header.type, header.event].filter(Boolean).join("^");
    sent++;
    let record: Hl7AckRecord;
    try {
      const result = await client.send(message, header.controlId);
      record = {
        controlId: header.controlId,
        type,
        code: result.ack.code,
        text: result.ack.text || undefined,
      };
    } catch (err) {
      const e = err as PackError & { details?: { code?: string; text?: string; error?: { code?: string } } };
      record =
        e.code === "MLLP_NAK"
          ? {
              controlId: header.controlId,
              type,
              code: e.details?.code ?? "AE",
              text: e.details?.text || undefined,
              error: e.details?.error?.code || undefined,
            }
          : { controlId: header.controlId, type, code: e.code ?? "ERROR" };
    }
    acks.push(record);
    return record;
  }

  const intervalMs = options.intervalMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    if (stopped) return;
    const message = messages[next];
    next = (next + 1) % messages.length;
    if (next === 0) messages = round();
    void send(message).finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  if (intervalMs > 0) timer = setTimeout(tick, intervalMs);

  return {
    get sent() {
      return sent;
    },
    acks,
    send,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await client.close();
    },
  };
}
