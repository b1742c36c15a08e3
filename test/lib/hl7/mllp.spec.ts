import { expect } from "chai";
import { encodeFrame, MllpDecoder, OVERSIZE_HEAD_BYTES } from "../../../lib/hl7";
import { fixture } from "./fixtures";

function collector(maxBytes?: number) {
  const frames: string[] = [];
  const oversize: Array<{ head: string; size: number }> = [];
  const decoder = new MllpDecoder(
    {
      frame: (b) => frames.push(b.toString("utf8")),
      oversize: (head, size) => oversize.push({ head: head.toString("utf8"), size }),
    },
    maxBytes,
  );
  return { frames, oversize, decoder };
}

describe("lib/hl7 MLLP framing", () => {
  const message = fixture("adt-a01-v2.5.1.hl7");
  const frame = encodeFrame(message);

  it("frames as 0x0B message 0x1C 0x0D", () => {
    expect(frame[0]).to.equal(0x0b);
    expect(frame.subarray(1, -2).toString("utf8")).to.equal(message);
    expect([...frame.subarray(-2)]).to.deep.equal([0x1c, 0x0d]);
  });

  it("survives a frame split at every byte position", () => {
    for (let at = 0; at <= frame.length; at++) {
      const { frames, decoder } = collector();
      decoder.push(frame.subarray(0, at));
      decoder.push(frame.subarray(at));
      expect(frames, `split at ${at}`).to.deep.equal([message]);
      expect(decoder.discarded).to.equal(0);
      expect(decoder.pending).to.equal(false);
    }
  });

  it("survives two splits at every pair of positions around the end bytes, and one byte at a time", () => {
    const n = frame.length;
    for (let a = n - 6; a <= n; a++) {
      for (let b = a; b <= n; b++) {
        const { frames, decoder } = collector();
        decoder.push(frame.subarray(0, a));
        decoder.push(frame.subarray(a, b));
        decoder.push(frame.subarray(b));
        expect(frames, `${a}/${b}`).to.deep.equal([message]);
      }
    }
    const { frames, decoder } = collector();
    for (const byte of Buffer.concat([frame, frame])) decoder.push(Buffer.from([byte]));
    expect(frames).to.deep.equal([message, message]);
    expect(decoder.discarded).to.equal(0);
  });

  it("takes several frames in one read, in order", () => {
    const { frames, decoder } = collector();
    decoder.push(Buffer.concat([encodeFrame("MSH|1"), encodeFrame("MSH|2"), encodeFrame("MSH|3")]));
    expect(frames).to.deep.equal(["MSH|1", "MSH|2", "MSH|3"]);
  });

  it("discards and counts bytes outside frames", () => {
    const { frames, decoder } = collector();
    decoder.push(
      Buffer.concat([
        Buffer.from("junk\r\n"),
        encodeFrame("MSH|1"),
        Buffer.from("\n\nxx"),
        encodeFrame("MSH|2"),
      ]),
    );
    decoder.push(Buffer.from("tail"));
    expect(frames).to.deep.equal(["MSH|1", "MSH|2"]);
    expect(decoder.discarded).to.equal(6 + 4 + 4);
  });

  it("ends a frame on 0x1C without the 0x0D", () => {
    const { frames, decoder } = collector();
    decoder.push(Buffer.from("\u000bMSH|1\u001c\u000bMSH|2\u001c\r"));
    expect(frames).to.deep.equal(["MSH|1", "MSH|2"]);
    expect(decoder.discarded).to.equal(0);
  });

  it("drops a frame the sender abandoned (a new 0x0B before the end)", () => {
    const { frames, decoder } = collector();
    decoder.push(Buffer.from("\u000bMSH|partial"));
    decoder.push(encodeFrame("MSH|2"));
    expect(frames).to.deep.equal(["MSH|2"]);
    expect(decoder.discarded).to.equal("MSH|partial".length + 1);
  });

  it("reports an oversized frame once, with its head, skips it and goes on", () => {
    const big = `MSH|^~\\&|A|B|C|D|1||ADT^A01|BIG-1|P|2.5\r${"X".repeat(10_000)}`;
    const { frames, oversize, decoder } = collector(5000);
    const bytes = Buffer.concat([encodeFrame(big), encodeFrame("MSH|after")]);
    for (let i = 0; i < bytes.length; i += 777) decoder.push(bytes.subarray(i, i + 777));
    expect(frames).to.deep.equal(["MSH|after"]);
    expect(oversize).to.have.length(1);
    expect(oversize[0].size).to.be.greaterThan(5000);
    expect(oversize[0].head.length).to.equal(OVERSIZE_HEAD_BYTES);
    expect(oversize[0].head.startsWith("MSH|^~\\&|A|B|C|D|1||ADT^A01|BIG-1")).to.equal(true);
  });

  it("passes a 5 MB frame through whole", () => {
    const body = `MSH|^~\\&|A|B|C|D|1||ORU^R01|BIG|P|2.5\rOBX|1|ED|PDF||${"A".repeat(5 * 1024 * 1024)}\r`;
    const { frames, decoder } = collector(6 * 1024 * 1024);
    const bytes = encodeFrame(body);
    for (let i = 0; i < bytes.length; i += 65536) decoder.push(bytes.subarray(i, i + 65536));
    expect(frames).to.have.length(1);
    expect(frames[0].length).to.equal(body.length);
    expect(frames[0] === body).to.equal(true);
  });

  it("tells how many frames started, what it holds of the one in progress, and its head", () => {
    const { frames, decoder } = collector(100);
    expect([decoder.started, decoder.heldBytes, decoder.head().length]).to.deep.equal([0, 0, 0]);
    decoder.push(Buffer.from("junk\u000bMSH|^~\\&|A"));
    expect(decoder.started).to.equal(1);
    expect(decoder.heldBytes).to.equal(10);
    decoder.push(Buffer.from("|B"));
    expect(decoder.head(10).toString()).to.equal("MSH|^~\\&|A");
    expect(decoder.head().toString()).to.equal("MSH|^~\\&|A|B");
    // the end of this frame and the start of the next in one read: a second frame has begun
    decoder.push(Buffer.from("\u001c\r\u000bMSH|2"));
    expect(frames).to.deep.equal(["MSH|^~\\&|A|B"]);
    expect([decoder.started, decoder.heldBytes, decoder.pending]).to.deep.equal([2, 5, true]);
    // past maxBytes nothing more is held, though the frame is still in progress
    decoder.push(Buffer.from("x".repeat(200)));
    expect([decoder.heldBytes, decoder.pendingBytes, decoder.pending]).to.deep.equal([0, 205, true]);
    expect(decoder.head().length).to.equal(0);
  });

  it("stops: drops the frame in progress and takes nothing more, not even frames later in the same read", () => {
    const frames: string[] = [];
    const decoder: MllpDecoder = new MllpDecoder({
      frame: (b) => {
        frames.push(b.toString("utf8"));
        decoder.stop();
      },
    });
    decoder.push(Buffer.concat([encodeFrame("MSH|1"), encodeFrame("MSH|2"), Buffer.from("\u000bMSH|3")]));
    expect(frames).to.deep.equal(["MSH|1"]);
    expect([decoder.pending, decoder.heldBytes]).to.deep.equal([false, 0]);
    decoder.push(encodeFrame("MSH|4"));
    expect(frames).to.deep.equal(["MSH|1"]);
  });

  it("emits no frame for an oversized one whose report stopped the decoder", () => {
    const frames: string[] = [];
    const decoder: MllpDecoder = new MllpDecoder(
      { frame: (b) => frames.push(b.toString("utf8")), oversize: () => decoder.stop() },
      10,
    );
    decoder.push(Buffer.concat([encodeFrame("MSH|".padEnd(50, "x")), encodeFrame("MSH|next")]));
    expect(frames).to.deep.equal([]);
    expect(decoder.frames).to.equal(0);
  });

  it("keeps most of a read as it is and copies a small part, so that it holds at most twice what it counts", () => {
    const kept: Buffer[] = [];
    const d = new MllpDecoder({ frame: (b) => kept.push(b) });
    // Buffers of their own, as a socket's reads are (small Buffer.from()s share a pool).
    const own = (text: string): Buffer => {
      const b = Buffer.alloc(Buffer.byteLength(text));
      b.write(text);
      return b;
    };
    const whole = own(`\u000b${"A".repeat(998)}\u001c\r`);
    d.push(whole);
    expect(kept[0].buffer).to.equal(whole.buffer); // most of the read: no copy
    const tail = own(`${"x".repeat(990)}\u000bMSH|1`);
    d.push(tail);
    d.push(own("\u001c\r"));
    expect(kept[1].toString()).to.equal("MSH|1");
    expect(kept[1].buffer).to.not.equal(tail.buffer); // a small part of the read: copied
    expect(d.discarded).to.equal(990);
  });

  describe("framing details", () => {
    it("a frame of exactly maxBytes passes; one byte more is oversized", () => {
      const fits = collector(5);
      fits.decoder.push(encodeFrame("MSH|1"));
      expect([fits.frames, fits.oversize]).to.deep.equal([["MSH|1"], []]);
      const over = collector(5);
      over.decoder.push(encodeFrame("MSH|12"));
      expect(over.frames).to.deep.equal([]);
      expect(over.oversize).to.deep.equal([{ head: "MSH|12", size: 6 }]);
    });

    it("counts an oversized frame's bytes as they come, and skips it without an oversize handler", () => {
      const { oversize, decoder } = collector(4);
      decoder.push(Buffer.from("\u000bMSH|12"));
      decoder.push(Buffer.from("345"));
      decoder.push(Buffer.from("67"));
      expect(decoder.pendingBytes).to.equal(11);
      expect(oversize).to.deep.equal([{ head: "MSH|12", size: 6 }]);
      const frames: string[] = [];
      const bare = new MllpDecoder({ frame: (b) => frames.push(b.toString()) }, 4);
      bare.push(Buffer.concat([encodeFrame("MSH|toolong"), encodeFrame("MSH")]));
      expect(frames).to.deep.equal(["MSH"]);
      expect([bare.frames, bare.started]).to.deep.equal([1, 2]);
    });

    it("counts completed frames", () => {
      const { decoder } = collector();
      decoder.push(Buffer.concat([encodeFrame("MSH|1"), encodeFrame("MSH|2")]));
      expect(decoder.frames).to.equal(2);
    });

    it("skips the 0x0D after 0x1C when it comes in the next read, and only that", () => {
      const a = collector();
      a.decoder.push(Buffer.from("\u000bMSH|1\u001c"));
      a.decoder.push(Buffer.alloc(0));
      a.decoder.push(Buffer.from("\r"));
      expect(a.frames).to.deep.equal(["MSH|1"]);
      expect(a.decoder.discarded).to.equal(0);
      const b = collector();
      b.decoder.push(Buffer.from("\u000bMSH|1\u001c"));
      b.decoder.push(Buffer.from("\u000bMSH|2\u001c\r"));
      expect(b.frames).to.deep.equal(["MSH|1", "MSH|2"]);
      const c = collector();
      c.decoder.push(Buffer.from("\rjunk"));
      expect(c.decoder.discarded).to.equal(5);
    });

    it("counts bytes after the last frame of a read as discarded", () => {
      const { frames, decoder } = collector();
      decoder.push(Buffer.concat([encodeFrame("MSH|1"), Buffer.from("tail")]));
      expect(frames).to.deep.equal(["MSH|1"]);
      expect(decoder.discarded).to.equal(4);
    });

    it("an abandoned frame is dropped when the new start byte comes in a later read, before any end byte", () => {
      const { frames, decoder } = collector();
      decoder.push(Buffer.from("\u000bMSH|partial"));
      decoder.push(Buffer.from("\u000bMSH|2"));
      decoder.push(Buffer.from("\u001c\r"));
      expect(frames).to.deep.equal(["MSH|2"]);
      expect(decoder.discarded).to.equal("MSH|partial".length + 1);
    });

    it("counts an abandoned frame's bytes, its start byte included, however the reads fall", () => {
      const { frames, decoder } = collector();
      decoder.push(Buffer.from("\u000bAB"));
      decoder.push(Buffer.from("CD\u000bEF\u000bMSH|2\u001c\r"));
      expect(frames).to.deep.equal(["MSH|2"]);
      expect(decoder.discarded).to.equal(5 + 3);
    });
  });
});

describe("lib/hl7 MLLP framing: state between frames", () => {
  it("a new decoder is outside any frame: bytes before the start byte are discarded", () => {
    const { frames, decoder } = collector();
    expect(decoder.pending).to.equal(false);
    decoder.push(Buffer.from("abc\x0bX\x1c\r"));
    expect(frames).to.deep.equal(["X"]);
    expect(decoder.discarded).to.equal(3);
  });

  it("after a complete frame the decoder is outside a frame again until the next start byte", () => {
    const { frames, decoder } = collector();
    decoder.push(Buffer.from("\x0bA\x1c\r"));
    expect(decoder.pending).to.equal(false);
    decoder.push(Buffer.from("junk\x0bB\x1c\r"));
    expect(frames).to.deep.equal(["A", "B"]);
    expect(decoder.discarded).to.equal(4);
  });

  it("head() gives the first bytes of the frame in progress, across reads, at most max", () => {
    const { decoder } = collector();
    expect(decoder.head().length).to.equal(0);
    decoder.push(Buffer.from("\x0bMSH|^~"));
    decoder.push(Buffer.from("\\&|A"));
    expect(decoder.head().toString()).to.equal("MSH|^~\\&|A");
    expect(decoder.head(3).toString()).to.equal("MSH");
    expect(decoder.head(7).toString()).to.equal("MSH|^~\\");
  });

  it("keeps a part of at least half a read without a copy, and copies a smaller part", () => {
    const seen: Buffer[] = [];
    const decoder = new MllpDecoder({ frame: (b) => seen.push(b) });
    const half = Buffer.alloc(10, 0x41);
    half[0] = 0x0b; // content: bytes 1..5 of 10
    decoder.push(half.subarray(0, 6));
    half[1] = 0x42;
    decoder.push(Buffer.from([0x1c, 0x0d]));
    expect(seen[0].toString()).to.equal("BAAAA");
    const small = Buffer.alloc(10, 0x41);
    small[0] = 0x0b; // content: bytes 1..4 of 10
    decoder.push(small.subarray(0, 5));
    small[1] = 0x42;
    decoder.push(Buffer.from([0x1c, 0x0d]));
    expect(seen[1].toString()).to.equal("AAAA");
  });
});
