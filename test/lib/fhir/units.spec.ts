import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { FhirError, validateConfig } from "../../../lib/fhir";
import { ASSERTION_LIFETIME_SECONDS, importPrivateKey, signClientAssertion } from "../../../lib/fhir/auth";
import { outcomeFor, outcomeSummary, type OperationOutcome } from "../../../lib/fhir/errors";
import type { HttpResponse } from "../../../lib/fhir/http";
import { nextLink, PageMerger } from "../../../lib/fhir/paging";
import { parseBody, responseFacts, versionFromEtag, versionFromLocation } from "../../../lib/fhir/response";
import { parseTokenResponse, TokenCache, type AccessToken } from "../../../lib/fhir/token-cache";

function response(status: number, headers: Record<string, string>, text: string): HttpResponse {
  return { status, statusText: "", headers, text };
}

describe("lib/fhir token cache", () => {
  it("computes the renewal time with the skew, halfway for short-lived tokens", () => {
    const now = 1_000_000;
    expect(parseTokenResponse({ access_token: "t", expires_in: 3600 }, 60, now)).to.deep.equal({
      accessToken: "t",
      renewAt: now + 3540_000,
      expiresAt: now + 3600_000,
    });
    expect(parseTokenResponse({ access_token: "t", expires_in: "2" }, 60, now).renewAt).to.equal(now + 1000);
    expect(parseTokenResponse({ access_token: "t", token_type: "bearer" }, 60, now)).to.deep.equal({
      accessToken: "t",
    });
  });

  it("rejects unusable token responses without echoing them", () => {
    for (const body of [
      undefined,
      {},
      { access_token: "" },
      { access_token: "secret-xyz", token_type: "mac" },
    ]) {
      let err: unknown;
      try {
        parseTokenResponse(body, 60, 0);
      } catch (e) {
        err = e;
      }
      expect((err as FhirError).code).to.equal("FHIR_AUTH");
      expect((err as FhirError).message).to.not.include("secret-xyz");
    }
  });

  it("shares one in-flight fetch between concurrent callers and caches the result", async () => {
    let now = 0;
    let fetches = 0;
    let release!: () => void;
    const cache = new TokenCache(
      () =>
        new Promise<AccessToken>((resolve) => {
          fetches++;
          release = () => resolve({ accessToken: `t${fetches}`, renewAt: now + 1000 });
        }),
      () => now,
    );
    const callers = Array.from({ length: 20 }, () => cache.get());
    expect(fetches).to.equal(1);
    release();
    const tokens = await Promise.all(callers);
    expect(new Set(tokens.map((t) => t.accessToken))).to.deep.equal(new Set(["t1"]));
    expect((await cache.get()).accessToken).to.equal("t1");
    expect(cache.fetches).to.equal(1);
    now = 1000;
    const renewed = cache.get();
    release();
    expect((await renewed).accessToken).to.equal("t2");
    expect(cache.fetches).to.equal(2);
  });

  it("drops only the token that was refused, and does not cache failures", async () => {
    let n = 0;
    let fail = true;
    const cache = new TokenCache(async () => {
      n++;
      if (fail) throw new FhirError("FHIR_AUTH", "down");
      return { accessToken: `t${n}` };
    });
    const err = await cache.get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as FhirError).code).to.equal("FHIR_AUTH");
    fail = false;
    const t2 = await cache.get();
    expect(t2.accessToken).to.equal("t2");
    const stale: AccessToken = { accessToken: "old" };
    cache.invalidate(stale);
    expect(await cache.get()).to.equal(t2);
    cache.invalidate(t2);
    expect((await cache.get()).accessToken).to.equal("t3");
  });
});

describe("lib/fhir SMART client assertion", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const rsaPem = rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const ecJwk = JSON.stringify({ ...ec.privateKey.export({ format: "jwk" }), kid: "ec-key", alg: "ES384" });

  it("signs RS384 with SMART's claims from a PKCS#8 PEM key", async () => {
    const now = Date.now();
    const jwt = await signClientAssertion({
      clientId: "backend-1",
      tokenUrl: "https://auth.example.org/token",
      privateKey: rsaPem,
      keyId: "kid-1",
      now,
    });
    expect(decodeProtectedHeader(jwt)).to.deep.equal({ alg: "RS384", kid: "kid-1", typ: "JWT" });
    const { payload } = await jwtVerify(jwt, rsa.publicKey, {
      issuer: "backend-1",
      subject: "backend-1",
      audience: "https://auth.example.org/token",
      algorithms: ["RS384"],
    });
    expect(payload.exp! - payload.iat!).to.equal(ASSERTION_LIFETIME_SECONDS);
    expect(ASSERTION_LIFETIME_SECONDS).to.be.at.most(300);
    expect(payload.jti).to.be.a("string").with.length.above(20);
    const again = await signClientAssertion({
      clientId: "backend-1",
      tokenUrl: "https://t",
      privateKey: rsaPem,
    });
    const { payload: p2 } = await jwtVerify(again, rsa.publicKey);
    expect(p2.jti).to.not.equal(payload.jti);
  });

  it("signs ES384 from a JWK, taking kid and alg from it", async () => {
    const jwt = await signClientAssertion({ clientId: "c", tokenUrl: "https://t", privateKey: ecJwk });
    expect(decodeProtectedHeader(jwt)).to.deep.equal({ alg: "ES384", kid: "ec-key", typ: "JWT" });
    await jwtVerify(jwt, ec.publicKey, { algorithms: ["ES384"] });
  });

  it("picks the key with keyId from a JWK Set", () => {
    const set = JSON.stringify({
      keys: [
        { ...rsa.publicKey.export({ format: "jwk" }), kid: "pub" },
        { ...ec.privateKey.export({ format: "jwk" }), kid: "a" },
        { ...rsa.privateKey.export({ format: "jwk" }), kid: "b" },
      ],
    });
    expect(importPrivateKey(set, "b").keyType).to.equal("rsa");
    expect(importPrivateKey(set).keyType).to.equal("ec");
  });

  it("fails with FHIR_AUTH, never quoting the key, for unusable keys", async () => {
    const cases: Array<[string, "RS384" | "ES384" | undefined, RegExp]> = [
      ["-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----", undefined, /neither a PEM/],
      [JSON.stringify(rsa.publicKey.export({ format: "jwk" })), undefined, /public key/],
      [rsaPem, "ES384", /ES384 needs an EC key/],
      [ec.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "RS384", /RS384 needs an RSA key/],
      [ec256.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "ES384", /cannot sign/],
    ];
    for (const [key, jwtAlg, message] of cases) {
      const err = await signClientAssertion({
        clientId: "c",
        tokenUrl: "https://t",
        privateKey: key,
        jwtAlg,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, String(message)).to.be.instanceOf(FhirError);
      expect((err as FhirError).code).to.equal("FHIR_AUTH");
      expect((err as FhirError).message).to.match(message);
      expect((err as FhirError).message).to.not.include("PRIVATE KEY");
      expect((err as FhirError).message).to.not.include('"d"');
    }
  });
});

describe("lib/fhir responses, outcomes, paging, config", () => {
  it("reads the version from ETag, body meta or Location", () => {
    expect(versionFromEtag('W/"3"')).to.equal("3");
    expect(versionFromEtag('"abc"')).to.equal("abc");
    expect(versionFromEtag(undefined)).to.equal(undefined);
    expect(versionFromLocation("http://x/fhir/Patient/1/_history/7")).to.equal("7");
    expect(versionFromLocation("http://x/fhir/Patient/1")).to.equal(undefined);
    const fromLocation = responseFacts(
      response(201, { location: "http://x/Patient/1/_history/2" }, ""),
      undefined,
    );
    expect(fromLocation).to.deep.equal({ location: "http://x/Patient/1/_history/2", versionId: "2" });
    const fromBody = responseFacts(response(200, {}, ""), {
      meta: { versionId: "5", lastUpdated: "2024-01-01T00:00:00Z" },
    });
    expect(fromBody).to.deep.equal({ versionId: "5", lastModified: "2024-01-01T00:00:00Z" });
    const fromHeaders = responseFacts(
      response(200, { etag: 'W/"9"', "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT" }, ""),
      {
        meta: { versionId: "5" },
      },
    );
    expect(fromHeaders).to.deep.include({ versionId: "9", lastModified: "Mon, 01 Jan 2024 00:00:00 GMT" });
  });

  it("parses bodies: JSON, empty, non-JSON text, and malformed JSON", () => {
    expect(parseBody(response(200, { "content-type": "application/fhir+json" }, '{"a":1}'))).to.deep.equal({
      a: 1,
    });
    expect(parseBody(response(204, {}, ""))).to.equal(undefined);
    expect(parseBody(response(200, { "content-type": "text/plain" }, "hello"))).to.equal("hello");
    expect(parseBody(response(502, { "content-type": "text/html" }, "<html>"))).to.equal(undefined);
    expect(() => parseBody(response(200, { "content-type": "application/json" }, "{oops")))
      .to.throw(FhirError)
      .with.property("code", "FHIR_BAD_RESPONSE");
  });

  it("takes the OperationOutcome from the body or a Bundle, or synthesises one", () => {
    const oo: OperationOutcome = {
      resourceType: "OperationOutcome",
      issue: [{ severity: "error", code: "conflict", diagnostics: "x" }],
    };
    expect(outcomeFor(412, "Precondition Failed", oo)).to.equal(oo);
    expect(
      outcomeFor(400, "", { resourceType: "Bundle", entry: [{ response: { status: "400", outcome: oo } }] }),
    ).to.equal(oo);
    const made = outcomeFor(503, "Service Unavailable", "<html>PHI?</html>");
    expect(made).to.deep.equal({
      resourceType: "OperationOutcome",
      issue: [{ severity: "error", code: "transient", diagnostics: "HTTP 503 Service Unavailable" }],
    });
    expect(outcomeFor(404, "Not Found", undefined).issue[0]!.code).to.equal("not-found");
    expect(outcomeSummary(oo)).to.equal("conflict");
  });

  it("follows next links and merges pages without duplicates", () => {
    expect(
      nextLink({
        link: [
          { relation: "self", url: "a" },
          { relation: "next", url: "b" },
        ],
      }),
    ).to.equal("b");
    expect(nextLink({ link: [{ relation: "self", url: "a" }] })).to.equal(undefined);
    expect(nextLink(undefined)).to.equal(undefined);
    const merger = new PageMerger();
    merger.add({
      entry: [
        { fullUrl: "u/1", resource: { resourceType: "Patient", id: "1" } },
        { resource: { resourceType: "Patient", id: "2" } },
      ],
    });
    merger.add({
      entry: [
        { resource: { resourceType: "Patient", id: "1" } },
        { fullUrl: "u/2" },
        { fullUrl: "u/3", resource: { resourceType: "Patient", id: "3" } },
      ],
    });
    merger.add({});
    expect(merger.pages).to.equal(3);
    expect(merger.count).to.equal(4);
    const bundle = merger.bundle("http://x/Patient");
    expect(bundle).to.deep.include({ resourceType: "Bundle", type: "searchset", total: 4 });
    expect(bundle.link).to.deep.equal([{ relation: "self", url: "http://x/Patient" }]);
  });

  it("validates the server configuration with FHIR_CONFIG", () => {
    expect(() => validateConfig({ baseUrl: "http://x/fhir", authType: "none" })).to.not.throw();
    expect(() =>
      validateConfig({ baseUrl: "http://x/fhir", authType: "none", timeout: "5000" as never }),
    ).to.not.throw();
    const bad: Array<[object, RegExp]> = [
      [{ baseUrl: "nope", authType: "none" }, /valid URL/],
      [{ baseUrl: "http://x", authType: "digest" }, /authType/],
      [{ baseUrl: "http://x", authType: "none", maxConcurrent: 0 }, /maxConcurrent/],
      [{ baseUrl: "http://x", authType: "none", retries: 1.5 }, /retries/],
      [{ baseUrl: "http://x", authType: "none", timeout: "soon" }, /timeout/],
      [{ baseUrl: "http://x", authType: "smart-backend", jwtAlg: "HS256" }, /jwtAlg/],
    ];
    for (const [config, message] of bad) {
      expect(() => validateConfig(config as never))
        .to.throw(FhirError, message)
        .with.property("code", "FHIR_CONFIG");
    }
  });
});
