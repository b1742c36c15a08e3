import { createPrivateKey, randomUUID, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { CODES } from "../error-codes";
import { checkDiscoveredTokenUrl } from "./config";
import { FhirError } from "./errors";
import type { HttpRequest, HttpResponse } from "./http";
import { isRetryableStatus, parseRetryAfter, retryDelay } from "../http/retry";
import { resolveUrl } from "./request";
import { parseTokenResponse, TokenCache, type AccessToken } from "./token-cache";
import type { FhirServerConfig, JwtAlg } from "./types";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** SMART Backend Services caps the assertion's lifetime at five minutes; stay under it for clock drift. */
export const ASSERTION_LIFETIME_SECONDS = 240;

export interface SmartConfiguration {
  token_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  [key: string]: unknown;
}

export interface AuthContext {
  config: FhirServerConfig;
  base: URL;
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  tokenRenewSkewSeconds: number;
  /** Sends token and discovery requests (same TLS settings, outside the FHIR request limiter). */
  send: (req: HttpRequest) => Promise<HttpResponse>;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** What goes on a FHIR request: the Authorization header and, for OAuth, the token it came from. */
export interface Credential {
  authorization?: string;
  token?: AccessToken;
}

function authError(message: string, details?: unknown, cause?: unknown): FhirError {
  return new FhirError(CODES.FHIR_AUTH, message, details, cause === undefined ? undefined : { cause });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Imports a private key given as PEM (PKCS#8, PKCS#1, SEC1), a JWK, or a JWK Set (JSON text). */
export function importPrivateKey(
  text: string,
  keyId?: string,
): { key: KeyObject; kid?: string; alg?: string; keyType: string } {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("{")) {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      let jwk = parsed;
      if (Array.isArray(parsed.keys)) {
        const keys = parsed.keys as Record<string, unknown>[];
        const privateKeys = keys.filter((k) => typeof k === "object" && k !== null && "d" in k);
        const found = (keyId ? privateKeys.find((k) => k.kid === keyId) : undefined) ?? privateKeys[0];
        if (!found) throw authError("the JWK Set holds no private key");
        jwk = found;
      }
      if (!("d" in jwk)) throw authError("the JWK is a public key; smart-backend needs the private key");
      const key = createPrivateKey({ key: jwk as never, format: "jwk" });
      return {
        key,
        kid: typeof jwk.kid === "string" ? jwk.kid : undefined,
        alg: typeof jwk.alg === "string" ? jwk.alg : undefined,
        keyType: key.asymmetricKeyType ?? "",
      };
    }
    const key = createPrivateKey({ key: trimmed, format: "pem" });
    return { key, keyType: key.asymmetricKeyType ?? "" };
  } catch (err) {
    if (err instanceof FhirError) throw err;
    // The crypto error names the format problem only; the key text never goes into the message.
    throw authError("the private key is neither a PEM private key nor a private JWK", undefined, err);
  }
}

function chooseAlg(configured: JwtAlg | undefined, jwkAlg: string | undefined, keyType: string): JwtAlg {
  const alg =
    configured ?? (jwkAlg === "RS384" || jwkAlg === "ES384" ? jwkAlg : keyType === "ec" ? "ES384" : "RS384");
  const needs = alg === "ES384" ? "ec" : "rsa";
  if (keyType !== needs) {
    throw authError(
      `the private key is ${keyType || "of an unknown type"}, but ${alg} needs an ${needs.toUpperCase()} key`,
    );
  }
  return alg;
}

/** The signed client assertion of SMART Backend Services (RFC 7523 with SMART's claims). */
export async function signClientAssertion(options: {
  clientId: string;
  tokenUrl: string;
  privateKey: string;
  keyId?: string;
  jwtAlg?: JwtAlg;
  now?: number;
}): Promise<string> {
  const imported = importPrivateKey(options.privateKey, options.keyId);
  const alg = chooseAlg(options.jwtAlg, imported.alg, imported.keyType);
  const kid = options.keyId || imported.kid;
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  try {
    return await new SignJWT({})
      .setProtectedHeader(kid ? { alg, kid, typ: "JWT" } : { alg, typ: "JWT" })
      .setIssuer(options.clientId)
      .setSubject(options.clientId)
      .setAudience(options.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .setJti(randomUUID())
      .sign(imported.key);
  } catch (err) {
    throw authError(
      `cannot sign the client assertion with ${alg}: ${(err as Error).message}`,
      undefined,
      err,
    );
  }
}

/**
 * Authorization for one FHIR server: static headers for basic/bearer, a cached OAuth2 token for
 * client-credentials and smart-backend, with token URL discovery from smart-configuration.
 */
export class Authenticator {
  readonly tokens: TokenCache | undefined;
  private discovery: Promise<SmartConfiguration> | undefined;

  constructor(private readonly ctx: AuthContext) {
    const type = ctx.config.authType;
    this.tokens =
      type === "client-credentials" || type === "smart-backend"
        ? new TokenCache(() => this.fetchToken())
        : undefined;
  }

  /** Whether a 401 can be cured by a fresh token. */
  get renewable(): boolean {
    return this.tokens !== undefined;
  }

  async credential(): Promise<Credential> {
    const { config } = this.ctx;
    const creds = config.credentials ?? {};
    switch (config.authType) {
      case "none":
        return {};
      case "basic": {
        if (!creds.username || creds.password === undefined || creds.password === null) {
          throw authError("basic auth needs a username and a password");
        }
        const pair = Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64");
        return { authorization: `Basic ${pair}` };
      }
      case "bearer":
        if (!creds.token) throw authError("bearer auth needs a token");
        return { authorization: `Bearer ${creds.token}` };
      case "client-credentials":
      case "smart-backend": {
        const token = await this.tokens!.get();
        return { authorization: `Bearer ${token.accessToken}`, token };
      }
      default:
        throw authError(`unknown authType ${JSON.stringify(config.authType)}`);
    }
  }

  /** After a 401: forget the token that was refused (a newer one already fetched is kept). */
  invalidate(token: AccessToken | undefined): void {
    if (token) this.tokens?.invalidate(token);
  }

  /** The server's `.well-known/smart-configuration`, fetched once; throws FHIR_AUTH when unavailable. */
  smartConfiguration(): Promise<SmartConfiguration> {
    if (!this.discovery) {
      const attempt = this.fetchSmartConfiguration();
      this.discovery = attempt;
      attempt.catch(() => {
        if (this.discovery === attempt) this.discovery = undefined;
      });
    }
    return this.discovery;
  }

  private async fetchSmartConfiguration(): Promise<SmartConfiguration> {
    const url = resolveUrl(this.ctx.base, ".well-known/smart-configuration");
    const res = await this.exchange(
      { method: "GET", url, headers: { Accept: "application/json" } },
      "SMART discovery",
    );
    if (res.status < 200 || res.status >= 300) {
      throw authError(`SMART discovery failed: .well-known/smart-configuration answered HTTP ${res.status}`, {
        status: res.status,
      });
    }
    const body = parseJson(res.text);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw authError("SMART discovery failed: .well-known/smart-configuration is not a JSON object");
    }
    return body as SmartConfiguration;
  }

  private async tokenEndpoint(): Promise<{ url: string; postSecret: boolean }> {
    const configured = this.ctx.config.tokenUrl?.trim();
    if (configured) return { url: checkTokenUrl(configured), postSecret: false };
    const smart = await this.smartConfiguration();
    if (typeof smart.token_endpoint !== "string" || smart.token_endpoint === "") {
      throw authError("SMART discovery failed: smart-configuration has no token_endpoint");
    }
    const methods = Array.isArray(smart.token_endpoint_auth_methods_supported)
      ? smart.token_endpoint_auth_methods_supported
      : [];
    const postSecret = methods.includes("client_secret_post") && !methods.includes("client_secret_basic");
    const refused = checkDiscoveredTokenUrl(smart.token_endpoint, this.ctx.base);
    if (refused) throw authError(`SMART discovery: ${refused}`);
    return { url: checkTokenUrl(smart.token_endpoint), postSecret };
  }

  private async fetchToken(): Promise<AccessToken> {
    const { config } = this.ctx;
    const creds = config.credentials ?? {};
    const clientId = config.clientId?.trim();
    if (!clientId) throw authError(`${config.authType} auth needs a clientId`);
    if (config.authType === "client-credentials" && !creds.clientSecret) {
      throw authError("client-credentials auth needs a client secret");
    }
    if (config.authType === "smart-backend" && !creds.privateKey) {
      throw authError("smart-backend auth needs a private key");
    }
    const endpoint = await this.tokenEndpoint();
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (config.scope?.trim()) form.set("scope", config.scope.trim());
    const headers: Record<string, string> = {
      Accept: "application/json",
      "Content-Type": "application/x-www-form-urlencoded",
    };
    if (config.authType === "client-credentials") {
      if (endpoint.postSecret) {
        form.set("client_id", clientId);
        form.set("client_secret", creds.clientSecret!);
      } else {
        // RFC 6749 2.3.1: both parts form-urlencoded before base64.
        const pair = `${formEncode(clientId)}:${formEncode(creds.clientSecret!)}`;
        headers.Authorization = `Basic ${Buffer.from(pair, "utf8").toString("base64")}`;
      }
    } else {
      form.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
      form.set(
        "client_assertion",
        await signClientAssertion({
          clientId,
          tokenUrl: endpoint.url,
          privateKey: creds.privateKey!,
          keyId: config.keyId?.trim() || undefined,
          jwtAlg: config.jwtAlg,
        }),
      );
    }
    const res = await this.exchange(
      { method: "POST", url: endpoint.url, headers, body: form.toString() },
      "token endpoint",
    );
    const body = parseJson(res.text);
    if (res.status < 200 || res.status >= 300) {
      const error = (body as { error?: unknown } | undefined)?.error;
      const code = typeof error === "string" && /^[\w.-]{1,64}$/.test(error) ? error : undefined;
      throw authError(`the token endpoint answered HTTP ${res.status}${code ? ` (${code})` : ""}`, {
        status: res.status,
        error: code,
      });
    }
    return parseTokenResponse(body, this.ctx.tokenRenewSkewSeconds, Date.now());
  }

  /** One token/discovery exchange, retried on 429/502/503/504 and network errors; failures are FHIR_AUTH. */
  private async exchange(req: Omit<HttpRequest, "timeoutMs">, what: string): Promise<HttpResponse> {
    const { retries, retryBaseMs, retryMaxMs } = this.ctx;
    const policy = { baseMs: retryBaseMs, maxMs: retryMaxMs, longRetryAfter: "wait-cap" } as const;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse | undefined;
      try {
        res = await this.ctx.send({ ...req, timeoutMs: this.ctx.timeoutMs });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code === CODES.FHIR_NETWORK || code === CODES.FHIR_TIMEOUT) && attempt <= retries) {
          await this.ctx.sleep(retryDelay(attempt, undefined, policy, this.ctx.random));
          continue;
        }
        if (code === CODES.FHIR_CLOSED || code === CODES.FHIR_ABORTED) throw err;
        throw authError(`${what} unreachable: ${(err as Error).message}`, undefined, err);
      }
      if (isRetryableStatus(res.status) && attempt <= retries) {
        const after = parseRetryAfter(res.headers["retry-after"]);
        await this.ctx.sleep(retryDelay(attempt, after, policy, this.ctx.random));
        continue;
      }
      return res;
    }
  }
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function checkTokenUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw authError("the token URL is not a valid URL");
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw authError("the token URL must be http or https");
  }
  // Unchanged: it is also the assertion's audience, which the server compares as a string.
  return url;
}
