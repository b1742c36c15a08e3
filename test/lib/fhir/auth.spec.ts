import { expect } from "chai";
import { createPrivateKey, generateKeyPairSync, getCurves } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeProtectedHeader, jwtVerify } from "jose";
import {
  ASSERTION_LIFETIME_SECONDS,
  Authenticator,
  CLIENT_ASSERTION_TYPE,
  signClientAssertion,
  type AuthContext,
} from "../../../lib/fhir/auth";
import { FhirError } from "../../../lib/fhir/errors";
import { Transport } from "../../../lib/fhir/http";
import { normalizeBaseUrl } from "../../../lib/fhir/request";
import type { FhirServerConfig } from "../../../lib/fhir/types";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  form: URLSearchParams;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function rejection(p: Promise<unknown>): Promise<FhirError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a rejection").to.be.instanceOf(FhirError);
  return err as FhirError;
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
const rsaPem = rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const ecPem = ec.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const rsaJwk = rsa.privateKey.export({ format: "jwk" });
const ecJwk = ec.privateKey.export({ format: "jwk" });

/**
 * The Authenticator against a loopback token endpoint and smart-configuration: what goes on the
 * wire (RFC 6749 client authentication, RFC 7523 assertions with SMART's claims), how token and
 * discovery failures are reported, and which failures of the exchange are retried. Waits between
 * attempts go through the context's sleep, which records them instead of waiting.
 */
describe("lib/fhir auth (loopback token endpoint)", function () {
  this.timeout(20_000);
  let server: Server;
  let origin: string;
  let handler: Handler;
  const seen: Seen[] = [];
  const transports: Transport[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      req.on("end", () => {
        seen.push({
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          form: new URLSearchParams(text),
        });
        handler(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    seen.length = 0;
    handler = (_req, res) => json(res, 404, {});
  });

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close(100)));
  });

  function authenticator(
    config: Partial<FhirServerConfig>,
    ctx: Partial<AuthContext> & { signal?: AbortSignal } = {},
  ): { auth: Authenticator; sleeps: number[]; transport: Transport } {
    const { signal, ...overrides } = ctx;
    const transport = new Transport({ connections: 2, timeoutMs: 5000 });
    transports.push(transport);
    const sleeps: number[] = [];
    const baseUrl = `${origin}/fhir`;
    const auth = new Authenticator({
      config: { baseUrl, authType: "none", ...config },
      base: normalizeBaseUrl(baseUrl),
      timeoutMs: 5000,
      retries: 2,
      retryBaseMs: 100,
      retryMaxMs: 5000,
      tokenRenewSkewSeconds: 0,
      // As the client does: its lifetime signal goes on every token and discovery request.
      send: (req) => transport.send({ ...req, signal }),
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      ...overrides,
    });
    return { auth, sleeps, transport };
  }

  const tokenRequests = () => seen.filter((s) => s.url === "/token");
  const ccConfig = (extra: Partial<FhirServerConfig> = {}): Partial<FhirServerConfig> => ({
    authType: "client-credentials",
    tokenUrl: `${origin}/token`,
    clientId: "cc-client",
    credentials: { clientSecret: "secret" },
    ...extra,
  });

  describe("static credentials", () => {
    it("sends basic auth as base64 of user:password (RFC 7617), an empty password included", async () => {
      const { auth } = authenticator({
        authType: "basic",
        credentials: { username: "alice", password: "pa:ss" },
      });
      expect(await auth.credential()).to.deep.equal({ authorization: "Basic YWxpY2U6cGE6c3M=" });
      const empty = authenticator({ authType: "basic", credentials: { username: "alice", password: "" } });
      expect(await empty.auth.credential()).to.deep.equal({ authorization: "Basic YWxpY2U6" });
    });

    it("refuses basic auth without a username or a password, and bearer auth without a token", async () => {
      const partial = [
        { username: "alice" },
        { username: "alice", password: null },
        { password: "pw" },
        { username: "", password: "pw" },
      ];
      for (const credentials of partial) {
        const { auth } = authenticator({ authType: "basic", credentials: credentials as never });
        const err = await rejection(auth.credential());
        expect(err.code, JSON.stringify(credentials)).to.equal("FHIR_AUTH");
        expect(err.message).to.equal("basic auth needs a username and a password");
      }
      const bearer = authenticator({ authType: "bearer", credentials: {} });
      const err = await rejection(bearer.auth.credential());
      expect(err.code).to.equal("FHIR_AUTH");
      expect(err.message).to.equal("bearer auth needs a token");
      const ok = authenticator({ authType: "bearer", credentials: { token: "t-1" } });
      expect(await ok.auth.credential()).to.deep.equal({ authorization: "Bearer t-1" });
      expect(await authenticator({ authType: "none" }).auth.credential()).to.deep.equal({});
    });

    it("refuses an unknown authType with FHIR_AUTH", async () => {
      const { auth } = authenticator({ authType: "magic" as never });
      const err = await rejection(auth.credential());
      expect(err.code).to.equal("FHIR_AUTH");
      expect(err.message).to.equal('unknown authType "magic"');
    });

    it("can cure a 401 with a fresh token only for the OAuth types", async () => {
      for (const authType of ["none", "basic", "bearer"] as const) {
        expect(authenticator({ authType }).auth.renewable, authType).to.equal(false);
      }
      for (const authType of ["client-credentials", "smart-backend"] as const) {
        expect(authenticator({ authType }).auth.renewable, authType).to.equal(true);
      }
      // Forgetting a refused token is harmless where there is no token to forget.
      const { auth } = authenticator({ authType: "bearer", credentials: { token: "t-1" } });
      auth.invalidate({ accessToken: "t-1" });
      expect(await auth.credential()).to.deep.equal({ authorization: "Bearer t-1" });
    });
  });

  describe("client credentials (RFC 6749 4.4)", () => {
    it("authenticates at a configured token URL with HTTP Basic of the form-encoded id and secret", async () => {
      handler = (_req, res) =>
        json(res, 200, { access_token: "tok-1", token_type: "Bearer", expires_in: 300 });
      const { auth } = authenticator(
        ccConfig({
          clientId: "my client",
          credentials: { clientSecret: "s3:cr+t/é" },
          scope: "  system/*.rs  ",
        }),
      );
      const credential = await auth.credential();
      expect(credential.authorization).to.equal("Bearer tok-1");
      expect(credential.token?.accessToken).to.equal("tok-1");
      const [req] = tokenRequests();
      expect(req!.method).to.equal("POST");
      expect(req!.headers["content-type"]).to.equal("application/x-www-form-urlencoded");
      expect(req!.headers.accept).to.equal("application/json");
      // RFC 6749 2.3.1: "my client" and "s3:cr+t/é" form-urlencoded, then joined by ":" and base64.
      const pair = Buffer.from(req!.headers.authorization!.replace(/^Basic /, ""), "base64").toString();
      expect(pair).to.equal("my+client:s3%3Acr%2Bt%2F%C3%A9");
      expect(Object.fromEntries(req!.form)).to.deep.equal({
        grant_type: "client_credentials",
        scope: "system/*.rs",
      });
      // The token is cached: a second credential sends nothing.
      await auth.credential();
      expect(tokenRequests()).to.have.length(1);
    });

    it("refuses an incomplete configuration or an unusable token URL without sending anything", async () => {
      const cases: Array<[Partial<FhirServerConfig>, string]> = [
        [ccConfig({ clientId: "  " }), "client-credentials auth needs a clientId"],
        [ccConfig({ credentials: {} }), "client-credentials auth needs a client secret"],
        [
          { authType: "smart-backend", clientId: "rs-client", tokenUrl: `${origin}/token` },
          "smart-backend auth needs a private key",
        ],
        [ccConfig({ tokenUrl: "not a url" }), "the token URL is not a valid URL"],
        [ccConfig({ tokenUrl: "ftp://127.0.0.1/token" }), "the token URL must be http or https"],
      ];
      for (const [config, message] of cases) {
        const err = await rejection(authenticator(config).auth.credential());
        expect(err.code, message).to.equal("FHIR_AUTH");
        expect(err.message).to.equal(message);
      }
      expect(seen).to.deep.equal([]);
    });

    it("reports the token endpoint's refusal with its OAuth error code, and only a well-formed one", async () => {
      const answers: Array<[number, unknown, string, string | undefined]> = [
        [
          401,
          { error: "invalid_client" },
          "the token endpoint answered HTTP 401 (invalid_client)",
          "invalid_client",
        ],
        [
          400,
          { error: "invalid_scope.v2" },
          "the token endpoint answered HTTP 400 (invalid_scope.v2)",
          "invalid_scope.v2",
        ],
        [400, { error: 42 }, "the token endpoint answered HTTP 400", undefined],
        [400, { error: "invalid client" }, "the token endpoint answered HTTP 400", undefined],
        [400, { error: "x".repeat(65) }, "the token endpoint answered HTTP 400", undefined],
        [400, { error: "<b>bad</b>" }, "the token endpoint answered HTTP 400", undefined],
        [500, "<html>Internal error</html>", "the token endpoint answered HTTP 500", undefined],
      ];
      for (const [status, body, message, code] of answers) {
        handler = (_req, res) => {
          if (typeof body === "string") {
            res.writeHead(status, { "content-type": "text/html" });
            res.end(body);
          } else json(res, status, body);
        };
        const err = await rejection(authenticator(ccConfig()).auth.credential());
        expect(err.code).to.equal("FHIR_AUTH");
        expect(err.message).to.equal(message);
        expect(err.details).to.deep.equal({ status, error: code });
      }
    });
  });

  describe("SMART discovery", () => {
    const discovered = (extra: Record<string, unknown> = {}) => ({
      token_endpoint: `${origin}/token`,
      token_endpoint_auth_methods_supported: ["client_secret_basic"],
      ...extra,
    });

    it("fetches .well-known/smart-configuration as JSON and uses its token_endpoint", async () => {
      handler = (req, res) => {
        if (req.url === "/fhir/.well-known/smart-configuration") return json(res, 200, discovered());
        json(res, 200, { access_token: "tok-2", expires_in: 300 });
      };
      const { auth } = authenticator(ccConfig({ tokenUrl: "" }));
      expect((await auth.credential()).authorization).to.equal("Bearer tok-2");
      expect(seen.map((s) => `${s.method} ${s.url}`)).to.deep.equal([
        "GET /fhir/.well-known/smart-configuration",
        "POST /token",
      ]);
      expect(seen[0]!.headers.accept).to.equal("application/json");
    });

    it("fails with FHIR_AUTH when the configuration is missing, not an object, or has no usable token_endpoint", async () => {
      const cases: Array<[number, string, string, unknown]> = [
        [
          404,
          JSON.stringify(discovered()),
          "SMART discovery failed: .well-known/smart-configuration answered HTTP 404",
          { status: 404 },
        ],
        [
          200,
          JSON.stringify([discovered()]),
          "SMART discovery failed: .well-known/smart-configuration is not a JSON object",
          undefined,
        ],
        [
          200,
          "<html>no</html>",
          "SMART discovery failed: .well-known/smart-configuration is not a JSON object",
          undefined,
        ],
        [
          200,
          JSON.stringify(discovered({ token_endpoint: "" })),
          "SMART discovery failed: smart-configuration has no token_endpoint",
          undefined,
        ],
      ];
      for (const [status, text, message, details] of cases) {
        handler = (_req, res) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(text);
        };
        const err = await rejection(authenticator(ccConfig({ tokenUrl: "" })).auth.credential());
        expect(err.code).to.equal("FHIR_AUTH");
        expect(err.message).to.equal(message);
        expect(err.details).to.deep.equal(details);
      }
      expect(tokenRequests()).to.deep.equal([]);
    });

    it("refuses a discovered token_endpoint on another host (the client secret stays home)", async () => {
      const port = (server.address() as AddressInfo).port;
      handler = (_req, res) =>
        json(res, 200, discovered({ token_endpoint: `http://localhost:${port}/token` }));
      const err = await rejection(authenticator(ccConfig({ tokenUrl: "" })).auth.credential());
      expect(err.code).to.equal("FHIR_AUTH");
      expect(err.message).to.match(/^SMART discovery: the discovered token_endpoint is on localhost/);
      expect(tokenRequests()).to.deep.equal([]);
    });

    it("tries discovery again after a failure instead of keeping it", async () => {
      let available = false;
      handler = (req, res) => {
        if (req.url === "/fhir/.well-known/smart-configuration") {
          return available ? json(res, 200, discovered()) : json(res, 404, {});
        }
        json(res, 200, { access_token: "tok-3", expires_in: 300 });
      };
      const { auth } = authenticator(ccConfig({ tokenUrl: "" }));
      await rejection(auth.smartConfiguration());
      available = true;
      expect((await auth.smartConfiguration()).token_endpoint).to.equal(`${origin}/token`);
      // A successful discovery is kept: asking again sends nothing.
      await auth.smartConfiguration();
      expect(seen.filter((s) => s.url.includes("smart-configuration"))).to.have.length(2);
    });
  });

  describe("retries of the token exchange", () => {
    it("retries 503 `retries` times, waiting the backoff, then reports the last answer", async () => {
      handler = (_req, res) => json(res, 503, {});
      const { auth, sleeps } = authenticator(ccConfig());
      const err = await rejection(auth.credential());
      expect(err.message).to.equal("the token endpoint answered HTTP 503");
      expect(tokenRequests()).to.have.length(3);
      // Full jitter with random 0.5: half of 100 then half of 200.
      expect(sleeps).to.deep.equal([50, 100]);
    });

    it("waits what a 429's Retry-After asks, up to retryMaxMs", async () => {
      let answers = 0;
      handler = (_req, res) => {
        answers++;
        if (answers === 1) return json(res, 429, {}, { "retry-after": "2" });
        if (answers === 2) return json(res, 429, {}, { "retry-after": "600" });
        json(res, 200, { access_token: "tok-4", expires_in: 300 });
      };
      const { auth, sleeps } = authenticator(ccConfig());
      expect((await auth.credential()).authorization).to.equal("Bearer tok-4");
      expect(sleeps).to.deep.equal([2000, 5000]);
    });

    it("retries a dropped connection, then fails FHIR_AUTH 'unreachable' with the network error as cause", async () => {
      handler = (req) => req.socket.destroy();
      const { auth, sleeps } = authenticator(ccConfig());
      const err = await rejection(auth.credential());
      expect(err.code).to.equal("FHIR_AUTH");
      expect(err.message).to.match(/^token endpoint unreachable: /);
      expect((err.cause as FhirError).code).to.equal("FHIR_NETWORK");
      expect(tokenRequests()).to.have.length(3);
      expect(sleeps).to.have.length(2);
    });

    it("retries a token endpoint that does not answer in time (FHIR_TIMEOUT)", async () => {
      handler = () => undefined;
      const { auth, sleeps } = authenticator(ccConfig(), { timeoutMs: 100 });
      const err = await rejection(auth.credential());
      expect(err.code).to.equal("FHIR_AUTH");
      expect((err.cause as FhirError).code).to.equal("FHIR_TIMEOUT");
      expect(tokenRequests()).to.have.length(3);
      expect(sleeps).to.have.length(2);
    });

    it("passes an abort or a close through unchanged and unretried", async () => {
      handler = (_req, res) => json(res, 200, { access_token: "never", expires_in: 300 });
      const controller = new AbortController();
      controller.abort();
      const aborted = authenticator(ccConfig(), { signal: controller.signal });
      expect((await rejection(aborted.auth.credential())).code).to.equal("FHIR_ABORTED");
      expect(aborted.sleeps).to.deep.equal([]);

      const closed = authenticator(ccConfig());
      await closed.transport.close(100);
      expect((await rejection(closed.auth.credential())).code).to.equal("FHIR_CLOSED");
      expect(closed.sleeps).to.deep.equal([]);
      expect(seen).to.deep.equal([]);
    });
  });

  describe("SMART backend services (RFC 7523 client assertion)", () => {
    it("posts a signed assertion with SMART's claims: iss = sub = client, aud = token URL, 240 s, a jti", async () => {
      handler = (_req, res) => json(res, 200, { access_token: "tok-5", expires_in: 300 });
      const { auth } = authenticator({
        authType: "smart-backend",
        tokenUrl: `${origin}/token`,
        clientId: "rs-client",
        keyId: "  rs-1  ",
        scope: "system/Patient.rs",
        credentials: { privateKey: rsaPem },
      });
      expect((await auth.credential()).authorization).to.equal("Bearer tok-5");
      const [req] = tokenRequests();
      expect(req!.headers.authorization).to.equal(undefined);
      expect(req!.form.get("grant_type")).to.equal("client_credentials");
      expect(req!.form.get("scope")).to.equal("system/Patient.rs");
      expect(req!.form.get("client_assertion_type")).to.equal(CLIENT_ASSERTION_TYPE);
      expect(req!.form.has("client_secret")).to.equal(false);
      const assertion = req!.form.get("client_assertion")!;
      expect(decodeProtectedHeader(assertion)).to.deep.equal({ alg: "RS384", kid: "rs-1", typ: "JWT" });
      const { payload } = await jwtVerify(assertion, rsa.publicKey, {
        issuer: "rs-client",
        subject: "rs-client",
        audience: `${origin}/token`,
      });
      expect(payload.exp! - payload.iat!).to.equal(ASSERTION_LIFETIME_SECONDS);
      expect(payload.jti).to.be.a("string").and.not.equal("");
    });

    it("chooses RS384 for an RSA key and ES384 for an EC key, and names no kid when none is known", async () => {
      const options = { clientId: "c", tokenUrl: "https://auth.example.org/token" };
      const fromRsa = await signClientAssertion({ ...options, privateKey: rsaPem });
      expect(decodeProtectedHeader(fromRsa)).to.deep.equal({ alg: "RS384", typ: "JWT" });
      await jwtVerify(fromRsa, rsa.publicKey, { audience: options.tokenUrl });
      const fromEc = await signClientAssertion({ ...options, privateKey: ecPem });
      expect(decodeProtectedHeader(fromEc)).to.deep.equal({ alg: "ES384", typ: "JWT" });
      await jwtVerify(fromEc, ec.publicKey, { audience: options.tokenUrl });
    });

    it("reads a JWK pasted with surrounding whitespace, and takes its kid and alg", async () => {
      const text = `\n  ${JSON.stringify({ ...ecJwk, kid: "ec-1", alg: "ES384" })}  \n`;
      const jwt = await signClientAssertion({ clientId: "c", tokenUrl: "https://a/token", privateKey: text });
      expect(decodeProtectedHeader(jwt)).to.deep.equal({ alg: "ES384", kid: "ec-1", typ: "JWT" }); // RFC 7517 4.5: a kid is a string; any other value is not taken as one.
      const numericKid = await signClientAssertion({
        clientId: "c",
        tokenUrl: "https://a/token",
        privateKey: JSON.stringify({ ...ecJwk, kid: 7 }),
      });
      expect(decodeProtectedHeader(numericKid)).to.deep.equal({ alg: "ES384", typ: "JWT" });
    });

    it("finds the private key in a JWK Set that also holds public keys and junk", async () => {
      const { n, e, kty } = rsaJwk;
      const set = {
        keys: [null, "junk", { kty, n, e, kid: "public-only" }, { ...rsaJwk, kid: "rs-private" }],
      };
      const jwt = await signClientAssertion({
        clientId: "c",
        tokenUrl: "https://a/token",
        privateKey: JSON.stringify(set),
      });
      expect(decodeProtectedHeader(jwt)).to.deep.equal({ alg: "RS384", kid: "rs-private", typ: "JWT" });
      await jwtVerify(jwt, rsa.publicKey);
    });

    it("refuses keys that cannot sign the chosen algorithm, naming the key type and never the key", async () => {
      const ed = generateKeyPairSync("ed25519")
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString();
      const { n, e, kty } = rsaJwk;
      const cases: Array<[string, string]> = [
        [JSON.stringify({ ...rsaJwk, alg: "ES384" }), "the private key is rsa, but ES384 needs an EC key"],
        [JSON.stringify({ ...ecJwk, alg: "RS384" }), "the private key is ec, but RS384 needs an RSA key"],
        [ed, "the private key is ed25519, but RS384 needs an RSA key"],
        [JSON.stringify({ keys: [{ kty, n, e }] }), "the JWK Set holds no private key"],
        [JSON.stringify({ kty, n, e }), "the JWK is a public key; smart-backend needs the private key"],
      ];
      for (const [privateKey, message] of cases) {
        const err = await rejection(
          signClientAssertion({ clientId: "c", tokenUrl: "https://a/t", privateKey }),
        );
        expect(err.code).to.equal("FHIR_AUTH");
        expect(err.message).to.equal(message);
      }
      const garbage = await rejection(
        signClientAssertion({ clientId: "c", tokenUrl: "https://a/t", privateKey: "-----BEGIN nonsense" }),
      );
      expect(garbage.message).to.equal("the private key is neither a PEM private key nor a private JWK");
      expect(garbage.cause, "the crypto error is kept as the cause").to.be.instanceOf(Error);
    });

    it("refuses a PEM key of a type Node has no name for (SM2) as a key of an unknown type", async () => {
      expect(getCurves(), "this Node's OpenSSL has SM2").to.include("SM2");
      const sm2 = generateKeyPairSync("ec", { namedCurve: "SM2" })
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString();
      // Read from PEM, OpenSSL 3 takes it for an SM2 key, which Node 20 gives no asymmetricKeyType; a
      // Node that names it is answered with the name.
      const named = createPrivateKey(sm2).asymmetricKeyType;
      const type = named === undefined ? "of an unknown type" : named;
      const cases = [
        [undefined, `the private key is ${type}, but RS384 needs an RSA key`],
        ["ES384", `the private key is ${type}, but ES384 needs an EC key`],
      ] as const;
      for (const [jwtAlg, message] of cases) {
        const err = await rejection(
          signClientAssertion({ clientId: "c", tokenUrl: "https://a/t", privateKey: sm2, jwtAlg }),
        );
        expect(err.code).to.equal("FHIR_AUTH");
        expect(err.message).to.equal(message);
      }
    });
  });
});
