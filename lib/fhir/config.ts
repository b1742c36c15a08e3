import { FhirError } from "./errors";
import { normalizeBaseUrl } from "./request";
import type { AuthType, FhirServerConfig } from "./types";

export const AUTH_TYPES: readonly AuthType[] = [
  "none",
  "basic",
  "bearer",
  "client-credentials",
  "smart-backend",
];

export const DEFAULTS = {
  timeout: 30_000,
  retries: 3,
  maxConcurrent: 8,
  retryBaseMs: 250,
  retryMaxMs: 30_000,
  tokenRenewSkewSeconds: 60,
} as const;

export interface Settings {
  base: URL;
  timeout: number;
  retries: number;
  maxConcurrent: number;
  retryBaseMs: number;
  retryMaxMs: number;
  tokenRenewSkewSeconds: number;
}

function configError(message: string): FhirError {
  return new FhirError("FHIR_CONFIG", message);
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
  if (
    config.jwtAlg !== undefined &&
    config.jwtAlg !== ("" as never) &&
    !["RS384", "ES384"].includes(config.jwtAlg)
  ) {
    throw configError("jwtAlg must be RS384 or ES384");
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
  };
}

/** Throws FhirError FHIR_CONFIG when `new FhirClient(config)` would. */
export function validateConfig(config: FhirServerConfig): void {
  resolveSettings(config);
}
