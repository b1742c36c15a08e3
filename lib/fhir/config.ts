import { CODES } from "../error-codes";
import { plainHttpRemote } from "../http/url";
import { FhirError } from "./errors";
import { normalizeBaseUrl } from "./request";
import { AUTH_TYPES, JWT_ALGS, type FhirServerConfig } from "./types";

export { AUTH_TYPES };

export const DEFAULTS = {
  timeout: 30_000,
  retries: 3,
  maxConcurrent: 8,
  retryBaseMs: 250,
  retryMaxMs: 30_000,
  tokenRenewSkewSeconds: 60,
  maxResponseBytes: 64 * 1024 * 1024,
} as const;

/** Token and discovery answers are small; a larger one is refused whatever maxResponseBytes says. */
export const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;

export interface Settings {
  base: URL;
  timeout: number;
  retries: number;
  maxConcurrent: number;
  retryBaseMs: number;
  retryMaxMs: number;
  tokenRenewSkewSeconds: number;
  maxResponseBytes: number;
}

function configError(message: string): FhirError {
  return new FhirError(CODES.FHIR_CONFIG, message);
}

/** Numbers may arrive as text from an editor form; empty means the default. */
function num(value: unknown, name: string, fallback: number, min: number, integer: boolean): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = typeof value === "string" ? Number(value.trim()) : value;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw configError(`${name} must be ${integer ? "a whole number" : "a number"} of at least ${min}`);
  }
  return n;
}

/** Checks a fhir-server configuration; throws FhirError FHIR_CONFIG naming the first problem. */
export function resolveSettings(config: FhirServerConfig): Settings {
  if (typeof config !== "object" || config === null)
    throw configError("the FHIR server configuration is missing");
  let base: URL;
  try {
    base = normalizeBaseUrl(config.baseUrl);
  } catch (err) {
    throw configError((err as Error).message);
  }
  if (!AUTH_TYPES.includes(config.authType)) {
    throw configError(`authType must be one of ${AUTH_TYPES.join(", ")}`);
  }
  if (config.jwtAlg !== undefined && config.jwtAlg !== ("" as never) && !JWT_ALGS.includes(config.jwtAlg)) {
    throw configError(`jwtAlg must be ${JWT_ALGS.join(" or ")}`);
  }
  const retryBaseMs = num(config.retryBaseMs, "retryBaseMs", DEFAULTS.retryBaseMs, 0, false);
  return {
    base,
    timeout: num(config.timeout, "timeout", DEFAULTS.timeout, 1, false),
    retries: num(config.retries, "retries", DEFAULTS.retries, 0, true),
    maxConcurrent: num(config.maxConcurrent, "maxConcurrent", DEFAULTS.maxConcurrent, 1, true),
    retryBaseMs,
    retryMaxMs: num(config.retryMaxMs, "retryMaxMs", DEFAULTS.retryMaxMs, 0, false),
    tokenRenewSkewSeconds: num(
      config.tokenRenewSkewSeconds,
      "tokenRenewSkewSeconds",
      DEFAULTS.tokenRenewSkewSeconds,
      0,
      false,
    ),
    maxResponseBytes: num(config.maxResponseBytes, "maxResponseBytes", DEFAULTS.maxResponseBytes, 1024, true),
  };
}

/**
 * What this configuration sends in clear over the network: one text per case (host names only),
 * for the runtime to warn about once. Loopback http (a local sandbox) is not a warning.
 */
export function plainHttpWarnings(config: FhirServerConfig): string[] {
  const out: string[] = [];
  const { base } = resolveSettings(config);
  const sendsCredentials = config.authType !== "none";
  if (sendsCredentials && plainHttpRemote(base)) {
    out.push(`${config.authType} credentials go to ${base.host} over plain http: use https`);
  }
  const tokenUrl = config.tokenUrl?.trim();
  if (tokenUrl && (config.authType === "client-credentials" || config.authType === "smart-backend")) {
    let url: URL | undefined;
    try {
      url = new URL(tokenUrl);
    } catch {
      url = undefined;
    }
    if (url && plainHttpRemote(url)) {
      out.push(`the client's credentials go to the token URL on ${url.host} over plain http: use https`);
    }
  }
  return out;
}

/**
 * A token endpoint read from the server's smart-configuration gets the client's secret or signed
 * assertion, so it must be https on the FHIR server's own host (http only when the base URL is
 * itself loopback http, as a local sandbox is). Anything else must be configured as the token URL.
 */
export function checkDiscoveredTokenUrl(discovered: string, base: URL): string | undefined {
  let url: URL;
  try {
    url = new URL(discovered);
  } catch {
    return "the discovered token_endpoint is not a valid URL";
  }
  const loopbackBase = base.protocol === "http:" && !plainHttpRemote(base);
  if (url.protocol !== "https:" && !(loopbackBase && url.protocol === "http:")) {
    return `the discovered token_endpoint is not https (${url.protocol.replace(":", "")}): set the token URL to use it`;
  }
  if (url.hostname.toLowerCase() !== base.hostname.toLowerCase()) {
    return `the discovered token_endpoint is on ${url.hostname}, not on the FHIR server's host ${base.hostname}: set the token URL if that host is trusted`;
  }
  return undefined;
}

/** Throws FhirError FHIR_CONFIG when `new FhirClient(config)` would. */
export function validateConfig(config: FhirServerConfig): void {
  resolveSettings(config);
}
