import { createHmac, timingSafeEqual, type KeyObject } from "node:crypto";

/**
 * The `pms-hmac` scheme, in one place for the client that signs requests, the simulator that
 * verifies them, and the webhook verifier:
 *
 *   signature = HMAC-SHA256(secret, METHOD + pathWithQuery + timestamp + body)
 *
 * with no separators, METHOD upper case, pathWithQuery exactly as on the request line, the
 * timestamp exactly as sent in the timestamp header (ISO-8601), and body the bytes sent
 * (nothing when there is no body).
 */

export type SignatureEncoding = "hex" | "base64";

export interface PmsHeaderNames {
  apiKey: string;
  timestamp: string;
  signature: string;
}

export const PMS_DEFAULT_HEADERS: Readonly<PmsHeaderNames> = Object.freeze({
  apiKey: "X-API-Key",
  timestamp: "X-Timestamp",
  signature: "X-Signature",
});

/** Seconds a request timestamp may differ from the verifier's clock, either way. */
export const PMS_DEFAULT_TOLERANCE_SECONDS = 300;

const SHA256_BYTES = 32;

export function toBytes(body: Buffer | Uint8Array | string | undefined | null): Buffer {
  if (body == null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * A canonical string as the parts an HMAC is fed in turn (strings as UTF-8), so that the body
 * is never copied; `joinCanonical` gives the bytes.
 */
export type Canonical = ReadonlyArray<string | Buffer>;

export function joinCanonical(parts: Canonical): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part)));
}

export function pmsHmacParts(
  method: string,
  pathWithQuery: string,
  timestamp: string,
  body?: Buffer | Uint8Array | string | null,
): Canonical {
  return [method.toUpperCase() + pathWithQuery + timestamp, toBytes(body)];
}

export function pmsHmacCanonical(
  method: string,
  pathWithQuery: string,
  timestamp: string,
  body?: Buffer | Uint8Array | string | null,
): Buffer {
  return joinCanonical(pmsHmacParts(method, pathWithQuery, timestamp, body));
}

export function hmacSha256(key: Buffer | string | KeyObject, data: Buffer | string | Canonical): Buffer {
  const hmac = createHmac("sha256", key);
  if (typeof data === "string" || Buffer.isBuffer(data)) hmac.update(data);
  else for (const part of data) hmac.update(part);
  return hmac.digest();
}

export function encodeDigest(digest: Buffer, encoding: SignatureEncoding): string {
  return digest.toString(encoding);
}

/**
 * A received SHA-256 signature in hex or base64 (standard or URL alphabet) as its 32 bytes;
 * undefined for anything else, so that a malformed header never reaches the comparison.
 */
export function decodeDigest(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    return bytes.length === SHA256_BYTES ? bytes : undefined;
  }
  return undefined;
}

/** Constant-time for equal lengths; unequal lengths (public: both are digests) are unequal. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of two strings of any length (e.g. an API key). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = hmacSha256("secretsEqual", a);
  const hb = hmacSha256("secretsEqual", b);
  return timingSafeEqual(ha, hb);
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an ISO-8601 date-time with a zone, or undefined. */
export function parseIsoTimestamp(text: string): number | undefined {
  if (!ISO_8601.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export type TimestampCheck = "ok" | "stale" | "future";

export function checkTimestamp(timestampMs: number, nowMs: number, toleranceSeconds: number): TimestampCheck {
  const tolerance = toleranceSeconds * 1000;
  if (nowMs - timestampMs > tolerance) return "stale";
  if (timestampMs - nowMs > tolerance) return "future";
  return "ok";
}

export interface PmsSignInput {
  apiKey?: string;
  apiSecret: string;
  method: string;
  /** Path and query exactly as they go on the request line. */
  pathWithQuery: string;
  body?: Buffer | Uint8Array | string | null;
  timestamp?: Date;
  encoding?: SignatureEncoding;
  headerNames?: Partial<PmsHeaderNames>;
}

/** The authentication headers of one request (the API key header only when a key is given). */
export function signPmsRequest(input: PmsSignInput): Record<string, string> {
  const names = { ...PMS_DEFAULT_HEADERS, ...input.headerNames };
  const timestamp = (input.timestamp ?? new Date()).toISOString();
  const digest = hmacSha256(
    input.apiSecret,
    pmsHmacParts(input.method, input.pathWithQuery, timestamp, input.body),
  );
  const headers: Record<string, string> = {};
  if (input.apiKey !== undefined) headers[names.apiKey] = input.apiKey;
  headers[names.timestamp] = timestamp;
  headers[names.signature] = encodeDigest(digest, input.encoding ?? "hex");
  return headers;
}

/** All values of a header, looked up case-insensitively (more than one when it was repeated). */
export type HeaderValues = (name: string) => string[];

/** From Node's `rawHeaders` (name, value, name, value ...), which keeps repeated headers apart. */
export function headersFromRaw(rawHeaders: readonly string[]): HeaderValues {
  return (name) => {
    const wanted = name.toLowerCase();
    const values: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const raw = rawHeaders[i];
      if (raw.length === wanted.length && raw.toLowerCase() === wanted) values.push(rawHeaders[i + 1]);
    }
    return values;
  };
}

/** From a plain header object (values joined by Node when repeated cannot be told apart). */
export function headersFromObject(headers: Record<string, string | string[] | undefined>): HeaderValues {
  const map = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    map.set(name.toLowerCase(), Array.isArray(value) ? value : [value]);
  }
  return (name) => map.get(name.toLowerCase()) ?? [];
}

export type PmsRejectReason =
  "missing-headers" | "malformed" | "unknown-key" | "stale" | "future" | "signature";

export type PmsVerifyResult =
  { ok: true; timestampMs: number; digest: Buffer } | { ok: false; reason: PmsRejectReason };

export interface PmsVerifyInput {
  method: string;
  pathWithQuery: string;
  body?: Buffer | Uint8Array | string | null;
  headers: HeaderValues;
  /** Any one of these signs validly (key rotation). */
  secrets: readonly (string | Buffer)[];
  /** When set, the API key header must carry this value. */
  apiKey?: string;
  toleranceSeconds?: number;
  nowMs?: number;
  headerNames?: Partial<PmsHeaderNames>;
}

/** Verifies a `pms-hmac` signed request: API key (when expected), timestamp window, signature. */
export function verifyPmsRequest(input: PmsVerifyInput): PmsVerifyResult {
  const names = { ...PMS_DEFAULT_HEADERS, ...input.headerNames };
  const timestamps = input.headers(names.timestamp);
  const signatures = input.headers(names.signature);
  const keys = input.apiKey === undefined ? [] : input.headers(names.apiKey);
  if (
    timestamps.length === 0 ||
    signatures.length === 0 ||
    (input.apiKey !== undefined && keys.length === 0)
  ) {
    return { ok: false, reason: "missing-headers" };
  }
  if (timestamps.length > 1 || signatures.length > 1 || keys.length > 1)
    return { ok: false, reason: "malformed" };
  const timestampMs = parseIsoTimestamp(timestamps[0]);
  const received = decodeDigest(signatures[0]);
  if (timestampMs === undefined || received === undefined) return { ok: false, reason: "malformed" };
  if (input.apiKey !== undefined && !secretsEqual(keys[0], input.apiKey))
    return { ok: false, reason: "unknown-key" };
  const window = checkTimestamp(
    timestampMs,
    input.nowMs ?? Date.now(),
    input.toleranceSeconds ?? PMS_DEFAULT_TOLERANCE_SECONDS,
  );
  if (window !== "ok") return { ok: false, reason: window };
  const canonical = pmsHmacParts(input.method, input.pathWithQuery, timestamps[0], input.body);
  let matched: Buffer | undefined;
  for (const secret of input.secrets) {
    const expected = hmacSha256(secret, canonical);
    // Every secret is tried, so the time taken does not say which one matched.
    if (digestsEqual(expected, received) && matched === undefined) matched = expected;
  }
  return matched ? { ok: true, timestampMs, digest: matched } : { ok: false, reason: "signature" };
}
