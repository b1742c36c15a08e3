import { expect } from "chai";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  LegacyClient,
  buildUrl,
  serializeBody,
  type OutcomeNotice,
  type RetryNotice,
} from "../../../lib/legacy/client";
import { headersFromRaw, verifyPmsRequest } from "../../../lib/legacy/pms-hmac";
import type { PackError } from "../../../lib/errors";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  verified: boolean;
}

type Handler = (seen: Seen, res: ServerResponse) => void;

/** A real HTTP peer that verifies every request's pms-hmac signature and answers from a script. */
async function peer(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const verified = verifyPmsRequest({
        method: req.method ?? "",
        pathWithQuery: req.url ?? "",
        body,
        headers: headersFromRaw(req.rawHeaders),
        secrets: ["api-secret"],
        apiKey: "api-key",
      }).ok;
      const s: Seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, verified };
      seen.push(s);
      if (!verified) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"error":"unauthorized"}');
        return;
      }
      handler(s, res);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, seen, server };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));

describe("lib/legacy/client LegacyClient", () => {
  let server: Server | undefined;
  let client: LegacyClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server?.close(r));
      server = undefined;
    }
  });

  const make = (url: string, extra: Partial<ConstructorParameters<typeof LegacyClient>[0]> = {}) =>
    new LegacyClient(
      {
        baseUrl: url,
        credentials: { apiKey: "api-key", apiSecret: "api-secret" },
        retryBaseMs: 1,
        retryMaxMs: 50,
        ...extra,
      },
      () => 0.5,
    );

  it("signs path, query and body bytes exactly as sent, and parses the JSON answer", async () => {
    const p = await peer((s, res) => json(res, 201, { ok: true, echo: s.body.toString() }));
    server = p.server;
    client = make(p.url + "/");
    const body = { note: "Zoë O'Brien", n: 1 };
    const r = await client.request({
      method: "post",
      path: "charges?src=x",
      query: { a: "1 2", list: [1, 2], skip: undefined, nil: null },
      body,
      headers: {
        "X-Extra": "yes",
        "x-signature": "forged",
        "X-API-Key": "other",
        "Content-Type": "application/json; charset=utf-8",
      },
    });
    expect(p.seen[0].verified).to.equal(true);
    expect(p.seen[0].url).to.equal("/api/charges?src=x&a=1+2&list=1&list=2");
    expect(p.seen[0].body.toString()).to.equal(JSON.stringify(body));
    expect(p.seen[0].headers["x-extra"]).to.equal("yes");
    expect(p.seen[0].headers["x-api-key"]).to.equal("api-key");
    expect(p.seen[0].headers["content-type"]).to.equal("application/json; charset=utf-8");
    expect(r.status).to.equal(201);
    expect(r.body).to.deep.equal({ ok: true, echo: JSON.stringify(body) });
    expect(r.request).to.deep.include({ method: "POST", attempts: 1 });
    expect(r.request.url).to.equal(`${p.url}/charges?src=x&a=1+2&list=1&list=2`);
  });

  it("sends a string or Buffer body as is, and no body with GET", async () => {
    const p = await peer((s, res) => res.writeHead(200).end(s.body.length ? s.body : "plain text"));
    server = p.server;
    client = make(p.url);
    const a = await client.request({ method: "PUT", path: "/x", body: '{"raw":true}' });
    const b = await client.request({ method: "PATCH", path: "/x", body: Buffer.from([1, 2, 3]) });
    const c = await client.request({ method: "GET", path: "/x", body: { ignored: true } });
    expect(p.seen.map((s) => s.verified)).to.deep.equal([true, true, true]);
    expect(a.body).to.deep.equal({ raw: true });
    expect(p.seen[1].body).to.deep.equal(Buffer.from([1, 2, 3]));
    expect(b.body).to.deep.equal("\u0001\u0002\u0003");
    expect(p.seen[2].body.length).to.equal(0);
    expect(c.body).to.equal("plain text");
  });

  it("retries an idempotent request on 503 and 429 (honouring Retry-After), then succeeds", async () => {
    let n = 0;
    const p = await peer((_s, res) => {
      n++;
      if (n === 1) json(res, 503, { error: "busy" });
      else if (n === 2) json(res, 429, { error: "slow down" }, { "retry-after": "0" });
      else json(res, 200, { ok: n });
    });
    server = p.server;
    client = make(p.url);
    const retries: RetryNotice[] = [];
    const outcomes: OutcomeNotice[] = [];
    const r = await client.request(
      { method: "GET", path: "/patients" },
      { onRetry: (x) => retries.push(x), onOutcome: (x) => outcomes.push(x) },
    );
    expect(r.body).to.deep.equal({ ok: 3 });
    expect(r.request.attempts).to.equal(3);
    expect(retries.map((x) => [x.retry, x.cause, x.delayMs])).to.deep.equal([
      [1, "503", 0],
      [2, "429", 0],
    ]);
    // Each attempt is signed afresh.
    expect(p.seen.every((s) => s.verified)).to.equal(true);
    expect(outcomes).to.have.length(1);
    expect(outcomes[0].success).to.equal(true);
  });

  it("never retries POST, and codes the failure LEGACY_HTTP_<status> with the body in details", async () => {
    const p = await peer((_s, res) => json(res, 503, { error: "busy" }));
    server = p.server;
    client = make(p.url);
    const outcomes: OutcomeNotice[] = [];
    try {
      await client.request(
        { method: "POST", path: "/charges", body: {} },
        { onOutcome: (x) => outcomes.push(x) },
      );
      expect.fail("should throw");
    } catch (err) {
      const e = err as PackError;
      expect(e.code).to.equal("LEGACY_HTTP_503");
      expect(e.details).to.deep.include({ status: 503, body: { error: "busy" } });
    }
    expect(p.seen).to.have.length(1);
    expect(outcomes).to.deep.equal([
      { success: false, durationMs: outcomes[0].durationMs, error: "LEGACY_HTTP_503" },
    ]);
  });

  it("gives up after the configured retries", async () => {
    const p = await peer((_s, res) => json(res, 502, {}));
    server = p.server;
    client = make(p.url, { retries: 2 });
    try {
      await client.request({ method: "GET", path: "/x" });
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("LEGACY_HTTP_502");
    }
    expect(p.seen).to.have.length(3);
  });

  it("refuses an answer larger than maxResponseBytes, declared or streamed, without retrying it", async () => {
    const big = Buffer.alloc(300 * 1024, 0x61);
    const p = await peer((s, res) => {
      if (s.url.includes("chunked")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(big);
        res.end(big);
      } else
        res
          .writeHead(200, { "content-type": "application/json", "content-length": String(big.length) })
          .end(big);
    });
    server = p.server;
    client = make(p.url, { retries: 3, maxResponseBytes: 256 * 1024 });
    for (const path of ["/declared", "/chunked"]) {
      try {
        await client.request({ method: "GET", path });
        expect.fail("should throw");
      } catch (err) {
        expect((err as PackError).code, path).to.equal("LEGACY_RESPONSE_TOO_LARGE");
        expect((err as PackError).details).to.deep.equal({ maxResponseBytes: 256 * 1024, status: 200 });
      }
    }
    expect(p.seen.map((x) => x.url)).to.deep.equal(["/api/declared", "/api/chunked"]);
    const small = await make(p.url, { maxResponseBytes: 512 * 1024 }).request({
      method: "GET",
      path: "/declared",
    });
    expect(small.status).to.equal(200);
  });

  it("does not retry 4xx answers, nor a Retry-After beyond the cap", async () => {
    const p = await peer((s, res) =>
      s.url.includes("slow")
        ? json(res, 503, {}, { "retry-after": "3600" })
        : json(res, 404, { error: "not found" }),
    );
    server = p.server;
    client = make(p.url);
    for (const [path, code] of [
      ["/patients/none", "LEGACY_HTTP_404"],
      ["/slow", "LEGACY_HTTP_503"],
    ]) {
      try {
        await client.request({ method: "GET", path });
        expect.fail("should throw");
      } catch (err) {
        expect((err as PackError).code).to.equal(code);
      }
    }
    expect(p.seen).to.have.length(2);
  });

  it("reports a 401 from a peer that rejects the signature as LEGACY_HTTP_401", async () => {
    const p = await peer((_s, res) => json(res, 200, {}));
    server = p.server;
    client = new LegacyClient({ baseUrl: p.url, credentials: { apiKey: "api-key", apiSecret: "wrong" } });
    try {
      await client.request({ method: "GET", path: "/x" });
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("LEGACY_HTTP_401");
      expect((err as Error).message).to.not.contain("wrong");
    }
  });

  it("codes an unreachable server LEGACY_NETWORK after retrying", async () => {
    const p = await peer(() => undefined);
    const url = p.url;
    await new Promise((r) => p.server.close(r));
    client = make(url, { retries: 1 });
    const retries: RetryNotice[] = [];
    try {
      await client.request({ method: "GET", path: "/x" }, { onRetry: (x) => retries.push(x) });
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("LEGACY_NETWORK");
    }
    expect(retries.map((r) => r.cause)).to.deep.equal(["LEGACY_NETWORK"]);
  });

  it("codes a request that outlives its timeout LEGACY_TIMEOUT", async () => {
    const p = await peer(() => undefined); // never answers
    server = p.server;
    client = make(p.url, { timeout: 100, retries: 0 });
    try {
      await client.request({ method: "GET", path: "/hang" });
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("LEGACY_TIMEOUT");
    }
  });

  it("aborts in-flight requests on close with LEGACY_ABORTED", async () => {
    const p = await peer(() => undefined);
    server = p.server;
    const c = make(p.url);
    const arrived = once(p.server, "request");
    const pending = c.request({ method: "GET", path: "/hang" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await arrived; // in flight: the server has it
    await c.close();
    expect(((await pending) as PackError).code).to.equal("LEGACY_ABORTED");
  });

  it("pages until a short page and returns every item once", async () => {
    const all = Array.from({ length: 23 }, (_, i) => ({ id: i }));
    const p = await peer((s, res) => {
      const q = new URL(s.url, "http://x").searchParams;
      const page = Number(q.get("pg"));
      const size = Number(q.get("size"));
      json(res, 200, {
        items: all.slice((page - 1) * size, page * size),
        page,
        pageSize: size,
        total: all.length,
      });
    });
    server = p.server;
    client = make(p.url);
    const r = await client.paginate(
      { method: "GET", path: "/patients", query: { modifiedSince: "2025-01-01T00:00:00Z" } },
      { pageParam: "pg", pageSizeParam: "size", pageSize: 10 },
    );
    expect(r.items).to.deep.equal(all);
    expect(r.pages).to.equal(3);
    expect(p.seen.map((s) => s.url)).to.deep.equal([
      "/api/patients?modifiedSince=2025-01-01T00%3A00%3A00Z&pg=1&size=10",
      "/api/patients?modifiedSince=2025-01-01T00%3A00%3A00Z&pg=2&size=10",
      "/api/patients?modifiedSince=2025-01-01T00%3A00%3A00Z&pg=3&size=10",
    ]);
  });

  it("pages an exact multiple until the empty page, and accepts array pages", async () => {
    const all = Array.from({ length: 20 }, (_, i) => i);
    const p = await peer((s, res) => {
      const q = new URL(s.url, "http://x").searchParams;
      const page = Number(q.get("page"));
      json(res, 200, all.slice((page - 1) * 10, page * 10));
    });
    server = p.server;
    client = make(p.url);
    const r = await client.paginate({ method: "GET", path: "/x" }, { pageSize: 10 });
    expect(r.items).to.deep.equal(all);
    expect(r.pages).to.equal(3);
  });

  it("fails paging with LEGACY_PAGING when pages have no items, or never end", async () => {
    const p = await peer((s, res) =>
      s.url.startsWith("/api/odd") ? json(res, 200, { rows: [] }) : json(res, 200, { items: [1, 2] }),
    );
    server = p.server;
    client = make(p.url);
    for (const [path, opts] of [
      ["/odd", {}],
      ["/loop", { pageSize: 2, maxPages: 5 }],
    ] as const) {
      try {
        await client.paginate({ method: "GET", path }, opts);
        expect.fail("should throw");
      } catch (err) {
        expect((err as PackError).code).to.equal("LEGACY_PAGING");
      }
    }
  });

  it("fails the whole paging call when one page fails", async () => {
    const p = await peer((s, res) =>
      s.url.includes("page=2") ? json(res, 404, {}) : json(res, 200, { items: [1, 2] }),
    );
    server = p.server;
    client = make(p.url);
    try {
      await client.paginate({ method: "GET", path: "/x" }, { pageSize: 2 });
      expect.fail("should throw");
    } catch (err) {
      expect((err as PackError).code).to.equal("LEGACY_HTTP_404");
    }
  });

  it("validates its configuration with LEGACY_CONFIG", () => {
    for (const config of [
      { baseUrl: "not a url", credentials: { apiKey: "k", apiSecret: "s" } },
      { baseUrl: "ftp://x", credentials: { apiKey: "k", apiSecret: "s" } },
      { baseUrl: "http://x", credentials: { apiKey: "k" } },
      { baseUrl: "http://x", scheme: "other" as "pms-hmac", credentials: { apiKey: "k", apiSecret: "s" } },
    ]) {
      try {
        new LegacyClient(config);
        expect.fail(JSON.stringify(config));
      } catch (err) {
        expect((err as PackError).code).to.equal("LEGACY_CONFIG");
      }
    }
  });

  it("builds URLs and bodies predictably", () => {
    expect(buildUrl("http://h/api/", "/a", { q: "x y" }).href).to.equal("http://h/api/a?q=x+y");
    expect(serializeBody(undefined)).to.equal(undefined);
    expect(serializeBody(null)?.toString()).to.equal("null");
    expect(serializeBody({ a: [1] })?.toString()).to.equal('{"a":[1]}');
  });
});
