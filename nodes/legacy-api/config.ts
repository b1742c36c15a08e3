import { CODES } from "../../lib/error-codes";
import type { LegacyApiConfig, LegacyCredentials } from "../../lib/legacy/client";
import type { SignatureEncoding } from "../../lib/legacy/pms-hmac";
import { PMS_DEFAULT_HEADERS } from "../../lib/legacy/pms-hmac";
import { PackError } from "../../lib/errors";
import { HEADER_NAME } from "../../lib/http/header-name";
import { numberProp, propText } from "../shared/props";

/** The legacy-api properties as stored in the flow (editor values are strings). */
export interface LegacyApiProps {
  baseUrl?: string;
  scheme?: string;
  apiKeyHeader?: string;
  timestampHeader?: string;
  signatureHeader?: string;
  encoding?: string;
  timeout?: string | number;
  retries?: string | number;
  /** Largest answer read, MiB (default 64). */
  maxResponseMB?: string | number;
}

export const LEGACY_DEFAULTS = { timeout: 30000, retries: 3, maxResponseMB: 64 } as const;

const text = propText;

function integer(name: string, value: unknown, fallback: number, min: number): number {
  return numberProp(value, fallback, { name, code: CODES.LEGACY_CONFIG, min });
}

function headerName(label: string, value: unknown, fallback: string): string {
  const raw = text(value);
  if (raw === "") return fallback;
  if (!HEADER_NAME.test(raw))
    throw new PackError(CODES.LEGACY_CONFIG, `${label} header name "${raw}" is not valid`);
  return raw;
}

/** hostname[:port] of the base URL, for labels; "" when it does not parse. */
export function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return "";
  }
}

export function buildLegacyConfig(
  props: LegacyApiProps,
  credentials: LegacyCredentials | undefined,
): LegacyApiConfig {
  const encoding = text(props.encoding) || "hex";
  if (encoding !== "hex" && encoding !== "base64") {
    throw new PackError(CODES.LEGACY_CONFIG, `encoding must be hex or base64, got "${encoding}"`);
  }
  const scheme = text(props.scheme) || "pms-hmac";
  if (scheme !== "pms-hmac")
    throw new PackError(CODES.LEGACY_CONFIG, `unsupported signature scheme "${scheme}"`);
  const names = {
    apiKey: headerName("API key", props.apiKeyHeader, PMS_DEFAULT_HEADERS.apiKey),
    timestamp: headerName("timestamp", props.timestampHeader, PMS_DEFAULT_HEADERS.timestamp),
    signature: headerName("signature", props.signatureHeader, PMS_DEFAULT_HEADERS.signature),
  };
  if (new Set(Object.values(names).map((n) => n.toLowerCase())).size !== 3) {
    throw new PackError(CODES.LEGACY_CONFIG, "the API key, timestamp and signature headers must differ");
  }
  return {
    baseUrl: text(props.baseUrl),
    scheme,
    headerNames: names,
    encoding: encoding as SignatureEncoding,
    timeout: integer("timeout", props.timeout, LEGACY_DEFAULTS.timeout, 1),
    retries: integer("retries", props.retries, LEGACY_DEFAULTS.retries, 0),
    maxResponseBytes:
      integer("maxResponseMB", props.maxResponseMB, LEGACY_DEFAULTS.maxResponseMB, 1) * 1024 * 1024,
    credentials: { apiKey: credentials?.apiKey, apiSecret: credentials?.apiSecret },
  };
}
