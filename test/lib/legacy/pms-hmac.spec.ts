import { expect } from "chai";
import { createHmac } from "node:crypto";
import {
  checkTimestamp,
  decodeDigest,
  digestsEqual,
  headersFromObject,
  headersFromRaw,
  hmacSha256,
  parseIsoTimestamp,
  pmsHmacCanonical,
  secretsEqual,
  signPmsRequest,
  verifyPmsRequest,
} from "../../../lib/legacy/pms-hmac";

const SECRET = "s3cr3t-for-tests";
const NOW = Date.parse("2025-01-06T08:00:00.000Z");

function signed(
  overrides: { body?: string; path?: string; method?: string; at?: number; secret?: string } = {},
) {
  const headers = signPmsRequest({
    apiKey: "key-1",
    apiSecret: overrides.secret ?? SECRET,
    method: overrides.method ?? "POST",
    pathWithQuery: overrides.path ?? "/appointments?x=1",
    body: overrides.body ?? '{"a":1}',
    timestamp: new Date(overrides.at ?? NOW),
  });
  return headers;
}

describe("lib/legacy/pms-hmac", () => {
  it("builds the canonical string as METHOD + path with query + timestamp + body bytes", () => {
    const c = pmsHmacCanonical(
      "post",
      "/charges?x=1",
      "2025-01-06T08:00:00.000Z",
      Buffer.from([0x7b, 0xff, 0x7d]),
    );
    expect(
      c.equals(
        Buffer.concat([
          Buffer.from("POST/charges?x=12025-01-06T08:00:00.000Z"),
          Buffer.from([0x7b, 0xff, 0x7d]),
        ]),
      ),
    ).to.equal(true);
    expect(pmsHmacCanonical("GET", "/patients", "T", undefined).toString()).to.equal("GET/patientsT");
  });

  it("signs with HMAC-SHA256 over that string, hex by default, base64 on request", () => {
    const ts = "2025-01-06T08:00:00.000Z";
    const expected = createHmac("sha256", SECRET).update(`GET/patients/pat-00001${ts}`).digest();
    const hex = signPmsRequest({
      apiKey: "k",
      apiSecret: SECRET,
      method: "GET",
      pathWithQuery: "/patients/pat-00001",
      timestamp: new Date(ts),
    });
    expect(hex).to.deep.equal({
      "X-API-Key": "k",
      "X-Timestamp": ts,
      "X-Signature": expected.toString("hex"),
    });
    const b64 = signPmsRequest({
      apiSecret: SECRET,
      method: "GET",
      pathWithQuery: "/patients/pat-00001",
      timestamp: new Date(ts),
      encoding: "base64",
      headerNames: { signature: "X-Sig" },
    });
    expect(b64).to.deep.equal({ "X-Timestamp": ts, "X-Sig": expected.toString("base64") });
  });

  it("reproduces the worked examples of docs/legacy-webhooks.md (computed there with openssl dgst -hmac)", () => {
    const at = new Date("2025-01-06T08:00:00.000Z");
    const get = signPmsRequest({
      apiKey: "demo-key",
      apiSecret: "demo-secret",
      method: "GET",
      pathWithQuery: "/patients?modifiedSince=2025-01-06T08%3A00%3A00Z&page=1&pageSize=100",
      timestamp: at,
    });
    expect(get["X-Signature"]).to.equal("92909197271db623c7d3be573f069de9c3cf912f065f1bc51e45e451a7c9392a");
    const post = signPmsRequest({
      apiKey: "demo-key",
      apiSecret: "demo-secret",
      method: "POST",
      pathWithQuery: "/charges",
      body: '{"patientId":"pat-00001","code":"99213","amount":125}',
      timestamp: at,
    });
    expect(post["X-Signature"]).to.equal("7c6c262361dbafeb6bad8d9a585bbd6b19b1f73c4e9d01be4ab5e61303a2a0cb");
  });

  it("verifies a request it signed, with the expected API key", () => {
    const r = verifyPmsRequest({
      method: "POST",
      pathWithQuery: "/appointments?x=1",
      body: '{"a":1}',
      headers: headersFromObject(signed()),
      secrets: [SECRET],
      apiKey: "key-1",
      nowMs: NOW + 1000,
    });
    expect(r.ok).to.equal(true);
  });

  it("accepts any one of several secrets (rotation)", () => {
    const r = verifyPmsRequest({
      method: "POST",
      pathWithQuery: "/appointments?x=1",
      body: '{"a":1}',
      headers: headersFromObject(signed({ secret: "new-secret" })),
      secrets: [SECRET, "new-secret"],
      nowMs: NOW,
    });
    expect(r.ok).to.equal(true);
  });

  const cases: Array<[string, Partial<Parameters<typeof verifyPmsRequest>[0]>, string]> = [
    ["a tampered body", { body: '{"a":2}' }, "signature"],
    ["a tampered path", { pathWithQuery: "/appointments?x=2" }, "signature"],
    ["a tampered method", { method: "PUT" }, "signature"],
    ["a wrong secret", { secrets: ["other"] }, "signature"],
    ["a wrong API key", { apiKey: "key-2" }, "unknown-key"],
    ["a timestamp 5 min + 1 s old", { nowMs: NOW + 301_000 }, "stale"],
    ["a timestamp 5 min + 1 s ahead", { nowMs: NOW - 301_000 }, "future"],
  ];
  for (const [name, change, reason] of cases) {
    it(`rejects ${name} as ${reason}`, () => {
      const r = verifyPmsRequest({
        method: "POST",
        pathWithQuery: "/appointments?x=1",
        body: '{"a":1}',
        headers: headersFromObject(signed()),
        secrets: [SECRET],
        apiKey: "key-1",
        nowMs: NOW,
        ...change,
      });
      expect(r).to.deep.equal({ ok: false, reason });
    });
  }

  it("accepts timestamps exactly at the edges of the window", () => {
    expect(checkTimestamp(NOW, NOW + 300_000, 300)).to.equal("ok");
    expect(checkTimestamp(NOW, NOW - 300_000, 300)).to.equal("ok");
  });

  it("rejects missing, repeated or malformed headers before any HMAC", () => {
    const good = signed();
    const base = {
      method: "POST",
      pathWithQuery: "/appointments?x=1",
      body: '{"a":1}',
      secrets: [SECRET],
      nowMs: NOW,
    };
    const without = { ...good } as Record<string, string>;
    delete without["X-Signature"];
    expect(verifyPmsRequest({ ...base, headers: headersFromObject(without) })).to.deep.equal({
      ok: false,
      reason: "missing-headers",
    });
    expect(
      verifyPmsRequest({ ...base, apiKey: "key-1", headers: headersFromObject({ ...good, "X-API-Key": "" }) })
        .ok,
    ).to.equal(false);
    const raw = [
      "X-Timestamp",
      good["X-Timestamp"],
      "X-Signature",
      good["X-Signature"],
      "x-signature",
      good["X-Signature"],
    ];
    expect(verifyPmsRequest({ ...base, headers: headersFromRaw(raw) })).to.deep.equal({
      ok: false,
      reason: "malformed",
    });
    for (const bad of [
      { ...good, "X-Timestamp": "1736150400" },
      { ...good, "X-Timestamp": "2025-01-06 08:00:00" },
      { ...good, "X-Signature": "abc" },
      { ...good, "X-Signature": "zz".repeat(32) },
    ]) {
      expect(
        verifyPmsRequest({ ...base, headers: headersFromObject(bad) }),
        JSON.stringify(bad),
      ).to.deep.equal({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("decodes hex and base64 digests and nothing else", () => {
    const d = createHmac("sha256", "k").update("x").digest();
    expect(decodeDigest(d.toString("hex"))?.equals(d)).to.equal(true);
    expect(decodeDigest(d.toString("hex").toUpperCase())?.equals(d)).to.equal(true);
    expect(decodeDigest(d.toString("base64"))?.equals(d)).to.equal(true);
    expect(decodeDigest(d.toString("base64url"))?.equals(d)).to.equal(true);
    expect(decodeDigest(d.toString("hex").slice(2))).to.equal(undefined);
    expect(decodeDigest("")).to.equal(undefined);
  });

  it("parses only ISO-8601 date-times with a zone", () => {
    expect(parseIsoTimestamp("2025-01-06T08:00:00.000Z")).to.equal(NOW);
    expect(parseIsoTimestamp("2025-01-06T03:00:00-05:00")).to.equal(NOW);
    expect(parseIsoTimestamp("2025-01-06T08:00:00")).to.equal(undefined);
    expect(parseIsoTimestamp("2025-13-06T08:00:00Z")).to.equal(undefined);
  });

  it("compares secrets of any length", () => {
    expect(secretsEqual("abc", "abc")).to.equal(true);
    expect(secretsEqual("abc", "abcd")).to.equal(false);
    expect(secretsEqual("", "")).to.equal(true);
  });

  it("hashes a string, a Buffer and a list of parts to the same HMAC-SHA256 as node:crypto", () => {
    const want = createHmac("sha256", "k").update("GET/x2025é").digest();
    expect(hmacSha256("k", "GET/x2025é").equals(want)).to.equal(true);
    expect(hmacSha256("k", Buffer.from("GET/x2025é", "utf8")).equals(want)).to.equal(true);
    expect(hmacSha256("k", ["GET/x", Buffer.from("2025é", "utf8")]).equals(want)).to.equal(true);
  });

  it("decodes a digest with whitespace around it, but nothing before or after it", () => {
    const d = createHmac("sha256", "k").update("x").digest();
    const hex = d.toString("hex");
    const b64 = d.toString("base64");
    expect(decodeDigest(` ${hex}\t`)?.equals(d)).to.equal(true);
    expect(decodeDigest(` ${b64} `)?.equals(d)).to.equal(true);
    for (const bad of [`x${hex}`, `${hex}x`, `!${b64}`, `${b64}!`, `${b64.slice(0, 20)}*${b64.slice(20)}`]) {
      expect(decodeDigest(bad), bad).to.equal(undefined);
    }
  });

  it("calls digests of different lengths unequal instead of throwing", () => {
    const d = createHmac("sha256", "k").update("x").digest();
    expect(digestsEqual(d, Buffer.from(d))).to.equal(true);
    expect(digestsEqual(d, d.subarray(0, 31))).to.equal(false);
    expect(digestsEqual(d.subarray(0, 31), d)).to.equal(false);
  });

  it("takes a header's values by exact name from raw pairs, and never a name as a value", () => {
    const raw = ["X-A", "1", "X-AB", "2", "x-a", "3", "X-B"];
    expect(headersFromRaw(raw)("x-a")).to.deep.equal(["1", "3"]);
    expect(headersFromRaw(raw)("X-AB")).to.deep.equal(["2"]);
    expect(headersFromRaw(raw)("x-b")).to.deep.equal([]);
  });

  it("treats an undefined header value as an absent header", () => {
    const good = signed();
    const headers = headersFromObject({ ...good, "X-Timestamp": undefined });
    expect(headers("x-timestamp")).to.deep.equal([]);
    const result = verifyPmsRequest({
      method: "POST",
      pathWithQuery: "/appointments?x=1",
      body: '{"a":1}',
      secrets: [SECRET],
      nowMs: NOW,
      headers,
    });
    expect(result).to.deep.equal({ ok: false, reason: "missing-headers" });
  });

  it("names each missing or repeated header: timestamp, signature, expected API key", () => {
    const good = signed();
    const base = {
      method: "POST",
      pathWithQuery: "/appointments?x=1",
      body: '{"a":1}',
      secrets: [SECRET],
      nowMs: NOW,
    };
    const pairs = Object.entries(good).flat();
    const drop = (name: string) => {
      const out: string[] = [];
      for (let i = 0; i < pairs.length; i += 2) if (pairs[i] !== name) out.push(pairs[i], pairs[i + 1]);
      return out;
    };
    const repeat = (name: string) => [...pairs, name, good[name]];
    expect(verifyPmsRequest({ ...base, apiKey: "key-1", headers: headersFromRaw(pairs) }).ok).to.equal(true);
    for (const name of ["X-Timestamp", "X-Signature", "X-API-Key"]) {
      expect(
        verifyPmsRequest({ ...base, apiKey: "key-1", headers: headersFromRaw(drop(name)) }),
        name,
      ).to.deep.equal({ ok: false, reason: "missing-headers" });
      expect(
        verifyPmsRequest({ ...base, apiKey: "key-1", headers: headersFromRaw(repeat(name)) }),
        name,
      ).to.deep.equal({ ok: false, reason: "malformed" });
    }
    // With no API key expected, the key header is not looked at: absent or repeated, it is ignored.
    expect(verifyPmsRequest({ ...base, headers: headersFromRaw(drop("X-API-Key")) }).ok).to.equal(true);
    expect(verifyPmsRequest({ ...base, headers: headersFromRaw(repeat("X-API-Key")) }).ok).to.equal(true);
  });

  it("rejects an expanded-year timestamp, which Date.parse would take", () => {
    expect(Date.parse("+002025-01-06T08:00:00Z")).to.equal(NOW);
    expect(parseIsoTimestamp("+002025-01-06T08:00:00Z")).to.equal(undefined);
  });
});
