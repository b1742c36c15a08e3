/**
 * MLLP framing (HL7 v2 Transport Specification: MLLP, release 2): a message travels as
 * `0x0B <message bytes> 0x1C 0x0D`.
 *
 * The decoder takes TCP reads as they come: a frame may be split at any byte, one read may
 * hold several frames, bytes outside frames are discarded and counted, a frame longer than
 * `maxBytes` is reported once (with its first bytes, to read the MSH from) and skipped up
 * to its end. A 0x1C not followed by 0x0D still ends the frame (senders that omit the CR);
 * a 0x0B inside a frame means the sender started over: the partial frame is dropped and
 * counted as discarded. `stop()` drops the frame in progress and ends decoding (a refused
 * connection).
 */

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

/** Bytes of an oversized frame kept for reading its header. */
export const OVERSIZE_HEAD_BYTES = 4096;

export interface MllpDecoderEvents {
  /** A complete frame's content (without the framing bytes). */
  frame(content: Buffer): void;
  /** A frame grew past maxBytes; `head` holds its first bytes. Called once per frame. */
  oversize?(head: Buffer, size: number): void;
}

export class MllpDecoder {
  private chunks: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private oversized = false;
  private afterFs = false;
  private stopped = false;
  /** Bytes seen outside any frame (or in abandoned partial frames). */
  discarded = 0;
  /** Frames completed (oversized ones not counted). */
  frames = 0;
  /** Start bytes seen: a new value while `pending` means a new frame has begun. */
  started = 0;

  constructor(
    private readonly events: MllpDecoderEvents,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** True while a frame has started and not ended. */
  get pending(): boolean {
    return this.inFrame;
  }

  /** Bytes of the frame in progress, including those skipped past maxBytes. */
  get pendingBytes(): number {
    return this.size;
  }

  /** Bytes the decoder keeps in memory for the frame in progress (0 while it skips an oversized one). */
  get heldBytes(): number {
    return this.oversized ? 0 : this.size;
  }

  /** The first bytes (at most `max`) of the frame in progress, to read its MSH from. */
  head(max = OVERSIZE_HEAD_BYTES): Buffer {
    if (!this.inFrame || this.oversized || this.size === 0) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    let n = 0;
    for (const c of this.chunks) {
      if (n >= max) break;
      parts.push(c);
      n += c.length;
    }
    return Buffer.concat(parts, Math.min(n, max));
  }

  /** Drops the frame in progress and ignores whatever is pushed from now on. */
  stop(): void {
    this.stopped = true;
    this.reset();
  }

  push(data: Buffer): void {
    if (this.stopped) return;
    let i = 0;
    const n = data.length;
    if (this.afterFs && n > 0) {
      this.afterFs = false;
      if (data[0] === CR) i = 1;
    }
    while (i < n && !this.stopped) {
      if (!this.inFrame) {
        const start = data.indexOf(VT, i);
        if (start < 0) {
          this.discarded += n - i;
          return;
        }
        this.discarded += start - i;
        this.started++;
        this.inFrame = true;
        this.oversized = false;
        this.size = 0;
        this.chunks = [];
        i = start + 1;
        continue;
      }
      const end = data.indexOf(FS, i);
      const restart = data.indexOf(VT, i);
      if (restart >= 0 && (end < 0 || restart < end)) {
        // A new start byte before the end: the sender abandoned the frame in progress.
        this.discarded += this.size + (restart - i) + 1;
        this.reset();
        i = restart;
        continue;
      }
      const stop = end < 0 ? n : end;
      this.take(data, i, stop);
      if (end < 0 || this.stopped) return;
      this.finish();
      i = end + 1;
      if (i >= n) {
        this.afterFs = true;
        return;
      }
      if (data[i] === CR) i++;
    }
  }

  private take(data: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const len = to - from;
    if (this.oversized) {
      this.size += len;
      return;
    }
    if (this.size + len > this.maxBytes) {
      const head = Buffer.concat([...this.chunks, data.subarray(from, to)]).subarray(0, OVERSIZE_HEAD_BYTES);
      this.oversized = true;
      this.chunks = [];
      this.size += len;
      this.events.oversize?.(Buffer.from(head), this.size);
      return;
    }
    // A socket hands each read over in a buffer of its own: most of one is kept as it is (no
    // second copy of a large frame), a small part is copied so as not to hold the whole read.
    // What is held is then at most twice what heldBytes says.
    const part = data.subarray(from, to);
    this.chunks.push(len * 2 >= data.buffer.byteLength ? part : Buffer.from(part));
    this.size += len;
  }

  private finish(): void {
    const oversized = this.oversized;
    const content = oversized
      ? undefined
      : this.chunks.length === 1
        ? this.chunks[0]
        : Buffer.concat(this.chunks, this.size);
    this.reset();
    if (content) {
      this.frames++;
      this.events.frame(content);
    }
  }

  private reset(): void {
    this.chunks = [];
    this.size = 0;
    this.inFrame = false;
    this.oversized = false;
  }
}

/** One message as an MLLP frame. */
export function encodeFrame(message: string | Buffer): Buffer {
  const body = typeof message === "string" ? Buffer.from(message, "utf8") : message;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}
