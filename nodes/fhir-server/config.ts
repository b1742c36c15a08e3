import {
  AUTH_TYPES,
  JWT_ALGS,
  type AuthType,
  type FhirCredentials,
  type FhirServerConfig,
  type JwtAlg,
  type TlsOptions,
} from "../../lib/fhir/types";
import { CODES } from "../../lib/error-codes";
import { numberProp, propText } from "../shared/props";

/** The fhir-server properties as they are stored in the flow (editor values are strings). */
export interface FhirServerProps {
  baseUrl?: string;
  fhirVersion?: string;
  authType?: string;
  tokenUrl?: string;
  scope?: string;
  clientId?: string;
  jwtAlg?: string;
  keyId?: string;
  timeout?: string | number;
  retries?: string | number;
  maxConcurrent?: string | number;
  /** Largest response body read, MiB (default 64). */
  maxResponseMB?: string | number;
  tls?: string;
}

export { AUTH_TYPES, JWT_ALGS };

export const DEFAULTS = {
  fhirVersion: "4.0.1",
  timeout: 30000,
  retries: 3,
  maxConcurrent: 8,
  maxResponseMB: 64,
} as const;

/** A configuration mistake found before any request: reported once by the config node. */
export class ServerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServerConfigError";
  }
}

const text = propText;

/** Empty means the default; anything else must be an integer >= min. */
function integer(name: string, value: unknown, fallback: number, min: number): number {
  try {
    return numberProp(value, fallback, { name, code: CODES.FHIR_CONFIG, min });
  } catch (err) {
    throw new ServerConfigError((err as Error).message);
  }
}

function optional(value: unknown): string | undefined {
  const t = text(value);
  return t === "" ? undefined : t;
}

/** Only the secrets the chosen auth type uses, so that an unused stale secret is never sent. */
function pickCredentials(authType: AuthType, creds: FhirCredentials | undefined): FhirCredentials {
  const c = creds ?? {};
  const keep = (v: string | undefined): string | undefined =>
    typeof v === "string" && v !== "" ? v : undefined;
  switch (authType) {
    case "basic":
      return { username: keep(c.username), password: keep(c.password) };
    case "bearer":
      return { token: keep(c.token) };
    case "client-credentials":
      return { clientSecret: keep(c.clientSecret) };
    case "smart-backend":
      return { privateKey: keep(c.privateKey) };
    default:
      return {};
  }
}

/**
 * The client configuration from the node's properties and credentials. Throws ServerConfigError
 * (whose message never holds a secret) when a property is out of range or a needed one is missing.
 */
export function buildServerConfig(
  props: FhirServerProps,
  credentials: FhirCredentials | undefined,
  tls?: TlsOptions,
): FhirServerConfig {
  const baseUrl = text(props.baseUrl);
  if (baseUrl === "") throw new ServerConfigError("baseUrl is empty");
  if (baseUrl.startsWith("${")) {
    throw new ServerConfigError(`baseUrl: environment variable ${baseUrl} is not set`);
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ServerConfigError("baseUrl is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ServerConfigError(`baseUrl must be http or https, got ${url.protocol}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ServerConfigError("baseUrl must not hold a user or password; use the credentials");
  }
  const authType = (text(props.authType) || "none") as AuthType;
  if (!AUTH_TYPES.includes(authType)) {
    throw new ServerConfigError(`authType must be one of ${AUTH_TYPES.join(", ")}, got "${authType}"`);
  }
  const jwtAlg = (text(props.jwtAlg) || "RS384") as JwtAlg;
  if (!JWT_ALGS.includes(jwtAlg)) {
    throw new ServerConfigError(`jwtAlg must be RS384 or ES384, got "${jwtAlg}"`);
  }
  const creds = pickCredentials(authType, credentials);
  const clientId = optional(props.clientId);
  switch (authType) {
    case "basic":
      if (!creds.username) throw new ServerConfigError("basic auth needs a username");
      break;
    case "bearer":
      if (!creds.token) throw new ServerConfigError("bearer auth needs a token");
      break;
    case "client-credentials":
      if (!clientId) throw new ServerConfigError("client-credentials auth needs a client id");
      if (!creds.clientSecret) throw new ServerConfigError("client-credentials auth needs a client secret");
      break;
    case "smart-backend":
      if (!clientId) throw new ServerConfigError("smart-backend auth needs a client id");
      if (!creds.privateKey) throw new ServerConfigError("smart-backend auth needs a private key");
      break;
  }
  const tokenUrl = optional(props.tokenUrl);
  if (tokenUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(tokenUrl);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      throw new ServerConfigError("tokenUrl is not an http(s) URL");
    }
  }
  const config: FhirServerConfig = {
    baseUrl,
    fhirVersion: optional(props.fhirVersion) ?? DEFAULTS.fhirVersion,
    authType,
    timeout: integer("timeout", props.timeout, DEFAULTS.timeout, 1),
    retries: integer("retries", props.retries, DEFAULTS.retries, 0),
    maxConcurrent: integer("maxConcurrent", props.maxConcurrent, DEFAULTS.maxConcurrent, 1),
    maxResponseBytes: integer("maxResponseMB", props.maxResponseMB, DEFAULTS.maxResponseMB, 1) * 1024 * 1024,
    credentials: creds,
  };
  if (authType === "client-credentials" || authType === "smart-backend") {
    config.tokenUrl = tokenUrl;
    config.scope = optional(props.scope);
    config.clientId = clientId;
  }
  if (authType === "smart-backend") {
    config.jwtAlg = jwtAlg;
    config.keyId = optional(props.keyId);
  }
  if (tls) config.tls = tls;
  return config;
}
