import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { SIGNING_ALGORITHMS } from "./capability";
import type { SandboxClient } from "./server";

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** SMART Backend Services: an assertion's exp may be at most five minutes ahead. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Leeway for an assertion's exp already past (clocks and rounding). */
const CLOCK_TOLERANCE_SECONDS = 5;

export interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export type BearerCheck =
  { ok: true; clientId?: string } | { ok: false; reason: string; hadCredentials: boolean };

interface Grant {
  clientId: string;
  scope: string;
  expiresAt: number;
}

interface RegisteredClient {
  client: SandboxClient;
  keys?: JWTVerifyGetKey;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly basicChallenge = false,
  ) {
    super(description);
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

function words(text: string | undefined | null): string[] {
  return (text ?? "").split(/\s+/).filter(Boolean);
}

/**
 * The OAuth2 side of the sandbox: client registry, the token endpoint (client_credentials with
 * client_secret_basic, client_secret_post or private_key_jwt per SMART Backend Services), and the
 * bearer token check the FHIR routes use.
 */
export class TokenService {
  lifetimeSeconds: number;
  issued = 0;
  private readonly clients = new Map<string, RegisteredClient>();
  private readonly grants = new Map<string, Grant>();
  private readonly seenJti = new Map<string, number>();
  private readonly staticTokens: Set<string>;
  private readonly basicUsers: Record<string, string>;

  constructor(options: {
    lifetimeSeconds: number;
    clients?: SandboxClient[];
    staticTokens?: string[];
    basicUsers?: Record<string, string>;
  }) {
    this.lifetimeSeconds = options.lifetimeSeconds;
    this.staticTokens = new Set(options.staticTokens ?? []);
    this.basicUsers = { ...(options.basicUsers ?? {}) };
    for (const client of options.clients ?? []) this.register(client);
  }

  register(client: SandboxClient): void {
    if (!client || typeof client.clientId !== "string" || client.clientId === "") {
      throw new TypeError("a client needs a clientId");
    }
    if (client.clientSecret === undefined && client.jwks === undefined) {
      throw new TypeError(`client ${client.clientId} needs a clientSecret or a jwks`);
    }
    let keys: JWTVerifyGetKey | undefined;
    if (client.jwks !== undefined) {
      if (!Array.isArray(client.jwks?.keys))
        throw new TypeError(`client ${client.clientId}: jwks.keys must be an array`);
      keys = createLocalJWKSet(client.jwks as JSONWebKeySet);
    }
    this.clients.set(client.clientId, { client: { ...client }, keys });
  }

  /** Every token issued so far stops working now; static tokens and Basic users are unaffected. */
  expireAll(): void {
    for (const grant of this.grants.values()) grant.expiresAt = 0;
  }

  /** Checks an Authorization header on a FHIR request. */
  check(authorization: string | undefined): BearerCheck {
    if (!authorization) return { ok: false, reason: "No access token", hadCredentials: false };
    const space = authorization.indexOf(" ");
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const value = space < 0 ? "" : authorization.slice(space + 1).trim();
    if (scheme === "bearer") {
      if (this.staticTokens.has(value)) return { ok: true };
      const grant = this.grants.get(value);
      if (!grant) return { ok: false, reason: "Unknown access token", hadCredentials: true };
      if (grant.expiresAt <= Date.now()) {
        this.grants.delete(value);
        return { ok: false, reason: "Access token expired", hadCredentials: true };
      }
      return { ok: true, clientId: grant.clientId };
    }
    if (scheme === "basic" && Object.keys(this.basicUsers).length > 0) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const password = colon < 0 ? "" : decoded.slice(colon + 1);
      const expected = Object.prototype.hasOwnProperty.call(this.basicUsers, user)
        ? this.basicUsers[user]
        : undefined;
      if (expected !== undefined && sameSecret(password, expected)) return { ok: true };
      return { ok: false, reason: "Bad user name or password", hadCredentials: true };
    }
    return { ok: false, reason: `Unsupported authorization scheme ${scheme}`, hadCredentials: true };
  }

  /**
   * Handles a token request. `audiences` are the URLs this endpoint answers to (a client
   * assertion's aud must be one of them).
   */
  async token(headers: IncomingHttpHeaders, body: string, audiences: string[]): Promise<TokenResponse> {
    try {
      return await this.issue(headers, body, audiences);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      const out: Record<string, string> = { "Cache-Control": "no-store", Pragma: "no-cache" };
      if (err.basicChallenge) out["WWW-Authenticate"] = 'Basic realm="fhir-sandbox"';
      return {
        status: err.status,
        headers: out,
        body: { error: err.error, error_description: err.description },
      };
    }
  }

  private async issue(
    headers: IncomingHttpHeaders,
    body: string,
    audiences: string[],
  ): Promise<TokenResponse> {
    const type = (headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      throw new OAuthError(400, "invalid_request", "The body must be application/x-www-form-urlencoded");
    }
    const form = new URLSearchParams(body);
    for (const key of new Set(form.keys())) {
      if (form.getAll(key).length > 1)
        throw new OAuthError(400, "invalid_request", `Parameter ${key} is repeated`);
    }
    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError(400, "invalid_request", "grant_type is missing");
    if (grantType !== "client_credentials") {
      throw new OAuthError(400, "unsupported_grant_type", `grant_type ${grantType} is not supported`);
    }

    const authorization = headers.authorization;
    const usesBasic = typeof authorization === "string" && /^basic /i.test(authorization);
    const usesPost = form.has("client_secret");
    const usesJwt = form.has("client_assertion") || form.has("client_assertion_type");
    const methods = [usesBasic, usesPost, usesJwt].filter(Boolean).length;
    if (methods > 1)
      throw new OAuthError(400, "invalid_request", "Use exactly one client authentication method");

    let clientId: string;
    if (usesBasic) {
      clientId = this.authenticateBasic(authorization as string);
    } else if (usesPost) {
      clientId = this.authenticateSecret(form.get("client_id") ?? "", form.get("client_secret") ?? "", false);
    } else if (usesJwt) {
      clientId = await this.authenticateAssertion(form, audiences);
    } else {
      throw new OAuthError(401, "invalid_client", "No client authentication was given");
    }

    const registered = this.clients.get(clientId) as RegisteredClient;
    const requested = words(form.get("scope"));
    const allowed = registered.client.scope !== undefined ? words(registered.client.scope) : undefined;
    let granted: string[];
    if (!allowed) granted = requested.length ? requested : ["system/*.*"];
    else if (!requested.length) granted = allowed;
    else {
      granted = requested.filter((s) => allowed.includes(s));
      if (!granted.length) {
        throw new OAuthError(400, "invalid_scope", `None of the requested scopes is allowed for ${clientId}`);
      }
    }

    const accessToken = randomBytes(32).toString("base64url");
    this.grants.set(accessToken, {
      clientId,
      scope: granted.join(" "),
      expiresAt: Date.now() + this.lifetimeSeconds * 1000,
    });
    this.issued++;
    if (this.grants.size > 1024 && this.issued % 256 === 0) this.prune();
    return {
      status: 200,
      headers: { "Cache-Control": "no-store", Pragma: "no-cache" },
      body: {
        access_token: accessToken,
        token_type: "bearer",
        expires_in: this.lifetimeSeconds,
        scope: granted.join(" "),
      },
    };
  }

  private authenticateBasic(authorization: string): string {
    const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new OAuthError(401, "invalid_client", "Malformed Basic credentials", true);
    return this.authenticateSecret(
      formDecode(decoded.slice(0, colon)),
      formDecode(decoded.slice(colon + 1)),
      true,
    );
  }

  private authenticateSecret(clientId: string, secret: string, basic: boolean): string {
    const registered = this.clients.get(clientId);
    const expected = registered?.client.clientSecret;
    // Compare even for an unknown client, so that timing does not tell which ids exist.
    const ok = sameSecret(secret, expected ?? "\u0000no-secret") && expected !== undefined;
    if (!ok) throw new OAuthError(401, "invalid_client", "Client authentication failed", basic);
    return clientId;
  }

  private async authenticateAssertion(form: URLSearchParams, audiences: string[]): Promise<string> {
    if (form.get("client_assertion_type") !== JWT_BEARER) {
      throw new OAuthError(400, "invalid_request", `client_assertion_type must be ${JWT_BEARER}`);
    }
    const assertion = form.get("client_assertion");
    if (!assertion) throw new OAuthError(400, "invalid_request", "client_assertion is missing");
    let iss: unknown;
    try {
      iss = decodeJwt(assertion).iss;
    } catch {
      throw new OAuthError(401, "invalid_client", "client_assertion is not a JWT");
    }
    if (typeof iss !== "string") throw new OAuthError(401, "invalid_client", "client_assertion has no iss");
    const bodyClientId = form.get("client_id");
    if (bodyClientId !== null && bodyClientId !== iss) {
      throw new OAuthError(401, "invalid_client", "client_id differs from the assertion's iss");
    }
    const registered = this.clients.get(iss);
    if (!registered?.keys)
      throw new OAuthError(401, "invalid_client", "Unknown client or no registered keys");

    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, registered.keys, {
        algorithms: [...SIGNING_ALGORITHMS],
        issuer: iss,
        subject: iss,
        audience: audiences,
        requiredClaims: ["iss", "sub", "aud", "exp", "jti"],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (err) {
      throw new OAuthError(401, "invalid_client", `client_assertion rejected: ${(err as Error).message}`);
    }
    const now = Date.now() / 1000;
    const exp = payload.exp as number;
    if (exp > Math.ceil(now) + MAX_ASSERTION_LIFETIME_SECONDS) {
      throw new OAuthError(401, "invalid_client", "client_assertion exp is more than 5 minutes ahead");
    }
    const jti = payload.jti as string;
    const key = `${iss}\u0000${jti}`;
    const seen = this.seenJti.get(key);
    if (seen !== undefined && seen + CLOCK_TOLERANCE_SECONDS >= now) {
      throw new OAuthError(401, "invalid_client", "client_assertion jti was already used");
    }
    this.seenJti.set(key, exp);
    if (this.seenJti.size % 256 === 0) this.prune();
    return iss;
  }

  private prune(): void {
    const now = Date.now();
    for (const [token, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(token);
    for (const [key, exp] of this.seenJti)
      if ((exp + CLOCK_TOLERANCE_SECONDS) * 1000 < now) this.seenJti.delete(key);
  }
}
