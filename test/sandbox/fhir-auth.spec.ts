import type { CapabilityStatement, OperationOutcome, Patient } from "@medplum/fhirtypes";
import { expect } from "chai";
import type { CryptoKey, JWK } from "jose";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { randomUUID } from "node:crypto";
import type { FhirSandbox } from "../../sandbox/fhir/server";
import { startFhirSandbox } from "../../sandbox/fhir/server";
import { call, patient } from "./fhir-helpers";

interface TokenBody {
  access_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  error?: string;
  error_description?: string;
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

describe("sandbox/fhir server: metadata, SMART configuration, OAuth2 token endpoint, bearer auth", function () {
  let sandbox: FhirSandbox;
  let rsKey: CryptoKey;
  let esKey: CryptoKey;
  let otherKey: CryptoKey;
  let rs256Key: CryptoKey;
  let rsJwk: JWK;
  let esJwk: JWK;

  before(async function () {
    this.timeout(20000);
    const rs = await generateKeyPair("RS384", { extractable: true });
    const es = await generateKeyPair("ES384", { extractable: true });
    const other = await generateKeyPair("RS384", { extractable: true });
    const rs256 = await generateKeyPair("RS256", { extractable: true });
    rs256Key = rs256.privateKey;
    const rs256Jwk = { ...(await exportJWK(rs256.publicKey)), kid: "rs256" };
    rsKey = rs.privateKey;
    esKey = es.privateKey;
    otherKey = other.privateKey;
    rsJwk = { ...(await exportJWK(rs.publicKey)), kid: "rs-1", alg: "RS384", use: "sig" };
    esJwk = { ...(await exportJWK(es.publicKey)), kid: "es-1", alg: "ES384", use: "sig" };
    sandbox = await startFhirSandbox({
      auth: true,
      tokenLifetimeSeconds: 120,
      clients: [
        { clientId: "secret-client", clientSecret: "s3cret:with/odd chars" },
        { clientId: "jwt-client", jwks: { keys: [rsJwk, esJwk, rs256Jwk] } },
        {
          clientId: "narrow-client",
          clientSecret: "narrow",
          scope: "system/Patient.read system/Observation.read",
        },
      ],
      staticTokens: ["forever-token"],
      basicUsers: { alice: "wonderland" },
    });
  });
  after(async () => {
    await sandbox.close();
  });

  function assertion(
    key: CryptoKey,
    alg: "RS384" | "ES384",
    kid: string,
    claims: { iss?: string; sub?: string; aud?: string; expIn?: number; jti?: string | null } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .setIssuer(claims.iss ?? "jwt-client")
      .setSubject(claims.sub ?? "jwt-client")
      .setAudience(claims.aud ?? sandbox.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + (claims.expIn ?? 240));
    if (claims.jti !== null) jwt.setJti(claims.jti ?? randomUUID());
    return jwt.sign(key);
  }

  async function tokenRequest(form: Record<string, string>, headers: Record<string, string> = {}) {
    return call<TokenBody>(sandbox.tokenUrl, {
      method: "POST",
      headers: { ...FORM, ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }

  async function jwtToken(jwt: string) {
    return tokenRequest({
      grant_type: "client_credentials",
      scope: "system/*.read",
      client_assertion_type: JWT_BEARER,
      client_assertion: jwt,
    });
  }

  async function readWith(token: string) {
    return call(`${sandbox.url}/Patient?_count=1`, { headers: { Authorization: `Bearer ${token}` } });
  }

  describe("discovery", () => {
    it("serves a CapabilityStatement without a token: R4, server mode, resources, SMART security", async () => {
      const r = await call<CapabilityStatement>(`${sandbox.url}/metadata`);
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.match(/^application\/fhir\+json/);
      const cs = r.body;
      expect(cs.resourceType).to.equal("CapabilityStatement");
      expect(cs.fhirVersion).to.equal("4.0.1");
      expect(cs.kind).to.equal("instance");
      const rest = cs.rest?.[0];
      expect(rest?.mode).to.equal("server");
      expect(rest?.interaction?.map((i) => i.code)).to.include.members(["transaction", "batch"]);
      const patientResource = rest?.resource?.find((res) => res.type === "Patient");
      expect(patientResource?.interaction?.map((i) => i.code)).to.include.members([
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
      ]);
      expect(patientResource?.conditionalCreate).to.equal(true);
      expect(patientResource?.conditionalUpdate).to.equal(true);
      expect(patientResource?.conditionalDelete).to.equal("single");
      expect(patientResource?.versioning).to.equal("versioned-update");
      expect(patientResource?.searchParam?.map((p) => p.name)).to.include.members([
        "identifier",
        "family",
        "_id",
      ]);
      expect(rest?.resource?.length).to.be.greaterThan(100);
      expect(rest?.security?.service?.[0].coding?.[0]).to.deep.equal({
        system: "http://terminology.hl7.org/CodeSystem/restful-security-service",
        code: "SMART-on-FHIR",
      });
      const oauth = rest?.security?.extension?.find(
        (e) => e.url === "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
      );
      expect(oauth?.extension?.find((e) => e.url === "token")?.valueUri).to.equal(sandbox.tokenUrl);
    });

    it("serves .well-known/smart-configuration at the base and at the root", async () => {
      for (const url of [
        `${sandbox.url}/.well-known/smart-configuration`,
        `${sandbox.url.replace("/fhir/R4", "")}/.well-known/smart-configuration`,
      ]) {
        const r = await call<Record<string, unknown>>(url);
        expect(r.status).to.equal(200);
        expect(r.headers.get("content-type")).to.match(/^application\/json/);
        expect(r.body.token_endpoint).to.equal(sandbox.tokenUrl);
        expect(r.body.token_endpoint_auth_methods_supported).to.have.members([
          "client_secret_basic",
          "client_secret_post",
          "private_key_jwt",
        ]);
        expect(r.body.token_endpoint_auth_signing_alg_values_supported).to.have.members(["RS384", "ES384"]);
        expect(r.body.grant_types_supported).to.deep.equal(["client_credentials"]);
        expect(r.body.scopes_supported).to.include("system/*.read");
        expect(r.body.capabilities).to.include("client-confidential-asymmetric");
      }
    });
  });

  describe("bearer auth on FHIR routes", () => {
    it("answers 401 with WWW-Authenticate: Bearer and an OperationOutcome without a token", async () => {
      const r = await call<OperationOutcome>(`${sandbox.url}/Patient`);
      expect(r.status).to.equal(401);
      expect(r.headers.get("www-authenticate")).to.match(/^Bearer /);
      expect(r.body.resourceType).to.equal("OperationOutcome");
    });

    it("answers 401 with error=invalid_token for an unknown token", async () => {
      const r = await readWith("made-up");
      expect(r.status).to.equal(401);
      expect(r.headers.get("www-authenticate")).to.match(/^Bearer .*error="invalid_token"/);
    });

    it("accepts configured static tokens and Basic users", async () => {
      expect((await readWith("forever-token")).status).to.equal(200);
      const ok = await call(`${sandbox.url}/Patient`, {
        headers: { Authorization: basic("alice", "wonderland") },
      });
      expect(ok.status).to.equal(200);
      const bad = await call(`${sandbox.url}/Patient`, {
        headers: { Authorization: basic("alice", "nope") },
      });
      expect(bad.status).to.equal(401);
    });

    it("rejects every issued token after expireTokens(), and a new token works", async () => {
      const first = await tokenRequest(
        { grant_type: "client_credentials" },
        {
          Authorization: basic("secret-client", "s3cret:with/odd chars"),
        },
      );
      const token = first.body.access_token as string;
      expect((await readWith(token)).status).to.equal(200);
      sandbox.expireTokens();
      const expired = await readWith(token);
      expect(expired.status).to.equal(401);
      expect(expired.headers.get("www-authenticate")).to.match(/invalid_token/);
      expect((await readWith("forever-token")).status).to.equal(200);
      const renewed = await tokenRequest(
        { grant_type: "client_credentials" },
        {
          Authorization: basic("secret-client", "s3cret:with/odd chars"),
        },
      );
      expect((await readWith(renewed.body.access_token as string)).status).to.equal(200);
    });

    it("lets a token lapse after its configured lifetime", async function () {
      this.timeout(10000);
      // 2 s: time enough to use the token under a loaded machine, then wait out the rest of it.
      const short = await startFhirSandbox({
        auth: true,
        tokenLifetimeSeconds: 2,
        clients: [{ clientId: "c", clientSecret: "s" }],
      });
      try {
        const asked = Date.now();
        const t = await call<TokenBody>(short.tokenUrl, {
          method: "POST",
          headers: FORM,
          body: "grant_type=client_credentials&client_id=c&client_secret=s",
        });
        expect(t.body.expires_in).to.equal(2);
        const headers = { Authorization: `Bearer ${t.body.access_token}` };
        expect((await call(`${short.url}/Patient`, { headers })).status).to.equal(200);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, asked + 2100 - Date.now())));
        expect((await call(`${short.url}/Patient`, { headers })).status).to.equal(401);
      } finally {
        await short.close();
      }
    });

    it("lets a token write, and the write is readable", async () => {
      const t = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "secret-client",
        client_secret: "s3cret:with/odd chars",
      });
      const headers = { Authorization: `Bearer ${t.body.access_token}` };
      const created = await call<Patient>(`${sandbox.url}/Patient`, {
        method: "POST",
        headers,
        json: patient("urn:auth", "1"),
      });
      expect(created.status).to.equal(201);
      expect((await call(`${sandbox.url}/Patient/${created.body.id}`, { headers })).status).to.equal(200);
    });
  });

  describe("client_secret_basic and client_secret_post", () => {
    it("issues a bearer token for client_secret_basic (form-encoded credentials)", async () => {
      const r = await tokenRequest(
        { grant_type: "client_credentials", scope: "system/*.read" },
        { Authorization: basic("secret-client", "s3cret:with/odd chars") },
      );
      expect(r.status).to.equal(200);
      expect(r.headers.get("cache-control")).to.equal("no-store");
      expect(r.body.token_type).to.equal("bearer");
      expect(r.body.expires_in).to.equal(120);
      expect(r.body.scope).to.equal("system/*.read");
      expect(r.body.access_token).to.be.a("string").with.length.greaterThan(20);
    });

    it("answers a bad secret with 401 invalid_client (and a Basic challenge for Basic)", async () => {
      const r = await tokenRequest(
        { grant_type: "client_credentials" },
        { Authorization: basic("secret-client", "wrong") },
      );
      expect(r.status).to.equal(401);
      expect(r.body.error).to.equal("invalid_client");
      expect(r.headers.get("www-authenticate")).to.match(/^Basic /);
      const post = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "secret-client",
        client_secret: "wrong",
      });
      expect(post.status).to.equal(401);
      expect(post.body.error).to.equal("invalid_client");
      const unknown = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "who",
        client_secret: "x",
      });
      expect(unknown.status).to.equal(401);
    });

    it("issues a token for client_secret_post", async () => {
      const r = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "secret-client",
        client_secret: "s3cret:with/odd chars",
      });
      expect(r.status).to.equal(200);
      expect(r.body.token_type).to.equal("bearer");
      expect(sandbox.stats().tokensIssued).to.be.greaterThan(0);
    });

    it("follows RFC 6749 for bad requests: grant type, content type, two methods, no client", async () => {
      const unsupported = await tokenRequest({ grant_type: "password", client_id: "secret-client" });
      expect(unsupported.status).to.equal(400);
      expect(unsupported.body.error).to.equal("unsupported_grant_type");
      const missing = await tokenRequest({ client_id: "secret-client", client_secret: "x" });
      expect(missing.status).to.equal(400);
      expect(missing.body.error).to.equal("invalid_request");
      const json = await call<TokenBody>(sandbox.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ grant_type: "client_credentials" }),
      });
      expect(json.status).to.equal(400);
      expect(json.body.error).to.equal("invalid_request");
      const two = await tokenRequest(
        {
          grant_type: "client_credentials",
          client_id: "secret-client",
          client_secret: "s3cret:with/odd chars",
        },
        { Authorization: basic("secret-client", "s3cret:with/odd chars") },
      );
      expect(two.status).to.equal(400);
      const none = await tokenRequest({ grant_type: "client_credentials" });
      expect(none.status).to.equal(401);
      expect(none.body.error).to.equal("invalid_client");
    });

    it("grants only a client's registered scopes, and refuses a request for none of them", async () => {
      const some = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "narrow-client",
        client_secret: "narrow",
        scope: "system/Patient.read system/*.write",
      });
      expect(some.status).to.equal(200);
      expect(some.body.scope).to.equal("system/Patient.read");
      const none = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "narrow-client",
        client_secret: "narrow",
        scope: "system/*.write",
      });
      expect(none.status).to.equal(400);
      expect(none.body.error).to.equal("invalid_scope");
    });
  });

  describe("private_key_jwt (SMART Backend Services)", () => {
    it("issues a token for an RS384 assertion, and for an ES384 one", async () => {
      const rs = await jwtToken(await assertion(rsKey, "RS384", "rs-1"));
      expect(rs.status, rs.text).to.equal(200);
      expect(rs.body.token_type).to.equal("bearer");
      expect((await readWith(rs.body.access_token as string)).status).to.equal(200);
      const es = await jwtToken(await assertion(esKey, "ES384", "es-1"));
      expect(es.status, es.text).to.equal(200);
    });

    it("rejects a wrong aud", async () => {
      const r = await jwtToken(await assertion(rsKey, "RS384", "rs-1", { aud: "http://elsewhere/token" }));
      expect(r.status).to.equal(401);
      expect(r.body.error).to.equal("invalid_client");
      expect(r.body.error_description).to.match(/aud/);
    });

    it("rejects an exp more than five minutes ahead, and an expired one", async () => {
      const far = await jwtToken(await assertion(rsKey, "RS384", "rs-1", { expIn: 600 }));
      expect(far.status).to.equal(401);
      expect(far.body.error_description).to.match(/5 minutes/);
      const past = await jwtToken(await assertion(rsKey, "RS384", "rs-1", { expIn: -60 }));
      expect(past.status).to.equal(401);
      expect(past.body.error_description).to.match(/exp/);
    });

    it("rejects a replayed jti and a missing jti", async () => {
      const jwt = await assertion(esKey, "ES384", "es-1", { jti: "once-only" });
      expect((await jwtToken(jwt)).status).to.equal(200);
      const replay = await jwtToken(jwt);
      expect(replay.status).to.equal(401);
      expect(replay.body.error_description).to.match(/jti/);
      const noJti = await jwtToken(await assertion(esKey, "ES384", "es-1", { jti: null }));
      expect(noJti.status).to.equal(401);
      expect(noJti.body.error_description).to.match(/jti/);
    });

    it("rejects iss != sub, an unknown client, a foreign key and a disallowed alg", async () => {
      const sub = await jwtToken(await assertion(rsKey, "RS384", "rs-1", { sub: "someone-else" }));
      expect(sub.status).to.equal(401);
      const unknown = await jwtToken(
        await assertion(rsKey, "RS384", "rs-1", { iss: "nobody", sub: "nobody" }),
      );
      expect(unknown.status).to.equal(401);
      const foreign = await jwtToken(await assertion(otherKey, "RS384", "rs-1"));
      expect(foreign.status).to.equal(401);
      const rs256 = await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", kid: "rs256" })
        .setIssuer("jwt-client")
        .setSubject("jwt-client")
        .setAudience(sandbox.tokenUrl)
        .setExpirationTime("2m")
        .setJti(randomUUID())
        .sign(rs256Key);
      const wrongAlg = await jwtToken(rs256);
      expect(wrongAlg.status).to.equal(401);
      expect(wrongAlg.body.error_description).to.match(/alg/i);
      const garbage = await jwtToken("not-a-jwt");
      expect(garbage.status).to.equal(401);
    });

    it("registers clients at run time, in process and over HTTP", async () => {
      const key = await generateKeyPair("ES384", { extractable: true });
      const jwk = { ...(await exportJWK(key.publicKey)), kid: "late" };
      const res = await fetch(`${sandbox.url.replace("/fhir/R4", "")}/$sandbox/clients`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ clientId: "late-client", jwks: { keys: [jwk] } }),
      });
      expect(res.status).to.equal(204);
      const jwt = await assertion(key.privateKey, "ES384", "late", {
        iss: "late-client",
        sub: "late-client",
      });
      expect((await jwtToken(jwt)).status).to.equal(200);
      sandbox.registerClient({ clientId: "in-process", clientSecret: "p" });
      const r = await tokenRequest({
        grant_type: "client_credentials",
        client_id: "in-process",
        client_secret: "p",
      });
      expect(r.status).to.equal(200);
      const bad = await fetch(`${sandbox.url.replace("/fhir/R4", "")}/$sandbox/clients`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ clientId: "no-credentials" }),
      });
      expect(bad.status).to.equal(400);
    });
  });
});
