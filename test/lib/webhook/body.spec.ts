import { expect } from "chai";
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { PackError } from "../../../lib/errors";
import { BODY_DEFAULTS, BODY_ERROR_STATUS, declaredLength, readBody } from "../../../lib/webhook/body";
import { VERIFIER_DEFAULTS } from "../../../lib/webhook/verifier";

/** What readBody made of one request. */
interface Result {
  body?: Buffer;
  error?: PackError;
}

/**
 * A loopback HTTP server that reads each request with readBody and hands the outcome to the
 * test; refused requests get their socket destroyed, as webhook-in does.
 */
class BodyServer extends EventEmitter {
  private readonly results: Result[] = [];
  private waiters: Array<(r: Result) => void> = [];
  limits = { maxBytes: 1024, timeoutMs: 2000 };
  server: Server = createServer((req: IncomingMessage, res) => {
    this.emit("request");
    readBody(req, this.limits).then(
      (body) => {
        this.push({ body });
        res.end("ok");
      },
      (error: PackError) => {
        this.push({ error });
        req.socket.destroy();
      },
    );
  });
  port = 0;

  private push(r: Result): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(r);
    else this.results.push(r);
  }

  next(): Promise<Result> {
    const r = this.results.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("readBody settled no request within 5 s")), 5000);
      this.waiters.push((got) => {
        clearTimeout(timer);
        resolve(got);
      });
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }
}

/** A raw connection with a request head written; the body is up to the test. */
async function open(port: number, headers: Record<string, string>): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  socket.on("error", () => undefined);
  const lines = Object.entries({ host: "127.0.0.1", ...headers }).map(([k, v]) => `${k}: ${v}`);
  socket.write(`POST /hook HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
  return socket;
}

/** One chunk of a chunked body. */
function chunk(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]);
}
const LAST_CHUNK = "0\r\n\r\n";

describe("lib/webhook/body readBody", function () {
  const srv = new BodyServer();

  before(() => srv.start());
  after(() => srv.stop());
  beforeEach(() => {
    srv.limits = { maxBytes: 1024, timeoutMs: 2000 };
  });

  it("takes its default size limit from webhook-verify's, and answers 413 and 408", function () {
    expect(BODY_DEFAULTS).to.deep.equal({ maxBytes: VERIFIER_DEFAULTS.maxBytes, timeoutMs: 30000 });
    expect(BODY_ERROR_STATUS).to.deep.equal({
      WEBHOOK_TOO_LARGE: 413,
      WEBHOOK_BODY_TIMEOUT: 408,
      WEBHOOK_ABORTED: undefined,
    });
  });

  it("reads a body with a Content-Length, a chunked one, and an empty one, byte for byte", async function () {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, ...Buffer.from('{"a":"é"}')]);
    const s1 = await open(srv.port, { "content-length": String(bytes.length) });
    s1.write(bytes);
    expect((await srv.next()).body).to.deep.equal(bytes);
    s1.destroy();

    const s2 = await open(srv.port, { "transfer-encoding": "chunked" });
    s2.write(chunk(bytes.subarray(0, 3)));
    s2.write(chunk(bytes.subarray(3)));
    s2.write(LAST_CHUNK);
    expect((await srv.next()).body).to.deep.equal(bytes);
    s2.destroy();

    const s3 = await open(srv.port, { "content-length": "0" });
    expect((await srv.next()).body).to.deep.equal(Buffer.alloc(0));
    s3.destroy();
  });

  it("accepts a body of exactly maxBytes, chunked or not", async function () {
    const exact = Buffer.alloc(1024, 0x61);
    const s1 = await open(srv.port, { "content-length": "1024" });
    s1.write(exact);
    expect((await srv.next()).body?.length).to.equal(1024);
    s1.destroy();
    const s2 = await open(srv.port, { "transfer-encoding": "chunked" });
    s2.write(chunk(exact));
    s2.write(LAST_CHUNK);
    expect((await srv.next()).body?.length).to.equal(1024);
    s2.destroy();
  });

  it("refuses a declared Content-Length over maxBytes before reading a byte", async function () {
    const socket = await open(srv.port, { "content-length": String(256 * 1024 * 1024) });
    const result = await srv.next();
    expect(result.error?.code).to.equal("WEBHOOK_TOO_LARGE");
    expect(result.error?.details).to.deep.equal({ received: 0, maxBytes: 1024, timeoutMs: 2000 });
    socket.destroy();
  });

  it("refuses a chunked body as soon as the bytes received pass maxBytes", async function () {
    const socket = await open(srv.port, { "transfer-encoding": "chunked" });
    socket.write(chunk(Buffer.alloc(1000, 0x62)));
    socket.write(chunk(Buffer.alloc(100, 0x62)));
    const result = await srv.next();
    expect(result.error?.code).to.equal("WEBHOOK_TOO_LARGE");
    expect((result.error?.details as { received: number }).received).to.equal(1100);
    socket.destroy();
  });

  it("refuses a body that has not ended timeoutMs after reading began", async function () {
    srv.limits = { maxBytes: 1024, timeoutMs: 300 };
    const socket = await open(srv.port, { "content-length": "100" });
    socket.write("only part of it");
    const started = Date.now();
    const result = await srv.next();
    expect(result.error?.code).to.equal("WEBHOOK_BODY_TIMEOUT");
    expect((result.error?.details as { received: number }).received).to.equal(15);
    expect(Date.now() - started).to.be.below(2000);
    socket.destroy();
  });

  it("reports a sender that closes the connection mid-body as aborted", async function () {
    const started = once(srv, "request");
    const socket = await open(srv.port, { "content-length": "100" });
    socket.write("0123456789");
    await started;
    socket.destroy();
    expect((await srv.next()).error?.code).to.equal("WEBHOOK_ABORTED");
  });

  it("reads the declared length only from a well-formed Content-Length", function () {
    expect(declaredLength({ "content-length": "42" })).to.equal(42);
    expect(declaredLength({ "content-length": " 7 " })).to.equal(7);
    expect(declaredLength({})).to.equal(undefined);
    expect(declaredLength({ "content-length": "-1" })).to.equal(undefined);
    expect(declaredLength({ "content-length": "1e9" })).to.equal(undefined);
  });
});
