import type { KeyObject } from "node:crypto";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import { WEBHOOK_SCHEMES, type WebhookScheme } from "./scheme-names";
import type { Canonical, HeaderValues, SignatureEncoding } from "../legacy/pms-hmac";
import {
  checkTimestamp,
  decodeDigest,
  digestsEqual,
  encodeDigest,
  hmacSha256,
  joinCanonical,
  parseIsoTimestamp,
  pmsHmacCanonical,
  pmsHmacParts,
  PMS_DEFAULT_HEADERS,
  toBytes,
} from "../legacy/pms-hmac";

/**
 * The four webhook signature schemes: one canonical-string function each, used both by the
 * signer (the PMS simulator's emitter) and by the verifier (webhook-verify).
 */

export { WEBHOOK_SCHEMES, type WebhookScheme };

export function isWebhookScheme(value: unknown): value is WebhookScheme {
  return typeof value === "string" && (WEBHOOK_SCHEMES as readonly string[]).includes(value);
}

export { pmsHmacCanonical, pmsHmacParts };

/** Standard Webhooks: `${webhook-id}.${webhook-timestamp}.${body}`. */
export function standardWebhooksParts(id: string, timestamp: string, body: Buffer | string): Canonical {
  return [`${id}.${timestamp}.`, toBytes(body)];
}

/** Stripe: `${t}.${body}`. */
export function stripeParts(timestamp: string, body: Buffer | string): Canonical {
  return [`${timestamp}.`, toBytes(body)];
}

/** GitHub: the body alone. */
export function githubParts(body: Buffer | string): Canonical {
  return [toBytes(body)];
}

export function standardWebhooksCanonical(id: string, timestamp: string, body: Buffer | string): Buffer {
  return joinCanonical(standardWebhooksParts(id, timestamp, body));
}

export function stripeCanonical(timestamp: string, body: Buffer | string): Buffer {
  return joinCanonical(stripeParts(timestamp, body));
}

export function githubCanonical(body: Buffer | string): Buffer {
  return joinCanonical(githubParts(body));
}

export const HEADERS = {
  pms: { timestamp: PMS_DEFAULT_HEADERS.timestamp, signature: PMS_DEFAULT_HEADERS.signature },
  standard: { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" },
  stripe: { signature: "Stripe-Signature" },
  github: { delivery: "X-GitHub-Delivery", event: "X-GitHub-Event", signature: "X-Hub-Signature-256" },
} as const;

const WHSEC_PREFIX = "whsec_";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key of one configured secret. Standard Webhooks secrets are base64 (optionally
 * prefixed `whsec_`) and the key is the decoded bytes; the other schemes use the text's UTF-8
 * bytes (Stripe's `whsec_...` included, prefix and all, as Stripe's libraries do).
 */
export function schemeKey(scheme: WebhookScheme, secret: string): Buffer {
  if (secret === "") throw new PackError(CODES.WEBHOOK_CONFIG, "empty webhook secret");
  if (scheme !== "standard-webhooks") return Buffer.from(secret, "utf8");
  const encoded = secret.startsWith(WHSEC_PREFIX) ? secret.slice(WHSEC_PREFIX.length) : secret;
  if (encoded === "" || !BASE64.test(encoded)) {
    throw new PackError(
      CODES.WEBHOOK_CONFIG,
      "a standard-webhooks secret must be base64, usually written whsec_<base64>",
    );
  }
  return Buffer.from(encoded, "base64");
}

/** The keys of a credential holding one secret per line (blank lines ignored). */
export function parseSecrets(scheme: WebhookScheme, text: string | undefined): Buffer[] {
  const lines = (text ?? "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
  if (lines.length === 0) throw new PackError(CODES.WEBHOOK_CONFIG, "no webhook secret configured");
  return lines.map((line, index) => {
    try {
      return schemeKey(scheme, line);
    } catch (err) {
      // The line number, never the secret.
      throw new PackError(CODES.WEBHOOK_CONFIG, `secret on line ${index + 1}: ${(err as Error).message}`);
    }
  });
}

export interface WebhookSignInput {
  scheme: WebhookScheme;
  secret: string;
  body: Buffer | string;
  /** Standard Webhooks' webhook-id and GitHub's delivery id. */
  id?: string;
  timestamp?: Date;
  /** pms-hmac only: the request's method and path with query. */
  method?: string;
  pathWithQuery?: string;
  /** GitHub's X-GitHub-Event. */
  eventType?: string;
  /** pms-hmac only (default hex). */
  encoding?: SignatureEncoding;
}

/** The headers a sender adds to deliver `body` signed in `scheme`. */
export function signWebhook(input: WebhookSignInput): Record<string, string> {
  const key = schemeKey(input.scheme, input.secret);
  const when = input.timestamp ?? new Date();
  const seconds = String(Math.floor(when.getTime() / 1000));
  switch (input.scheme) {
    case "pms-hmac": {
      const timestamp = when.toISOString();
      const canonical = pmsHmacParts(
        input.method ?? "POST",
        input.pathWithQuery ?? "/",
        timestamp,
        input.body,
      );
      return {
        [HEADERS.pms.timestamp]: timestamp,
        [HEADERS.pms.signature]: encodeDigest(hmacSha256(key, canonical), input.encoding ?? "hex"),
      };
    }
    case "standard-webhooks": {
      const id = requireId(input.id);
      const digest = hmacSha256(key, standardWebhooksParts(id, seconds, input.body));
      return {
        [HEADERS.standard.id]: id,
        [HEADERS.standard.timestamp]: seconds,
        [HEADERS.standard.signature]: `v1,${digest.toString("base64")}`,
      };
    }
    case "stripe": {
      const digest = hmacSha256(key, stripeParts(seconds, input.body));
      return { [HEADERS.stripe.signature]: `t=${seconds},v1=${digest.toString("hex")}` };
    }
    case "github": {
      const headers: Record<string, string> = {
        [HEADERS.github.delivery]: requireId(input.id),
        [HEADERS.github.signature]: `sha256=${hmacSha256(key, githubParts(input.body)).toString("hex")}`,
      };
      if (input.eventType) headers[HEADERS.github.event] = input.eventType;
      return headers;
    }
  }
}

function requireId(id: string | undefined): string {
  if (!id) throw new PackError(CODES.WEBHOOK_CONFIG, "this scheme needs a delivery id");
  return id;
}

export type RejectReason =
  "missing-headers" | "malformed" | "signature" | "stale" | "future" | "too-large" | "duplicate";

export const REJECT_STATUS: Readonly<Record<RejectReason, number>> = {
  "missing-headers": 400,
  malformed: 400,
  signature: 401,
  stale: 401,
  future: 401,
  "too-large": 413,
  duplicate: 202,
};

export const REJECT_CODE: Readonly<Record<RejectReason, string>> = {
  "missing-headers": CODES.WEBHOOK_MALFORMED,
  malformed: CODES.WEBHOOK_MALFORMED,
  signature: CODES.WEBHOOK_SIGNATURE,
  stale: CODES.WEBHOOK_TIMESTAMP,
  future: CODES.WEBHOOK_TIMESTAMP,
  "too-large": CODES.WEBHOOK_TOO_LARGE,
  duplicate: CODES.WEBHOOK_DUPLICATE,
};

export interface WebhookRequest {
  method: string;
  /** The request's original path and query (pms-hmac signs it). */
  pathWithQuery: string;
  headers: HeaderValues;
  body: Buffer;
}

export interface VerifyOptions {
  toleranceSeconds: number;
  nowMs?: number;
}

export interface Verified {
  ok: true;
  /** webhook-id, GitHub's delivery id, or `sig:<hex>` of the matching signature. */
  id: string;
  /** Signed timestamp (epoch ms); absent for GitHub, which signs none. */
  timestampMs?: number;
  /** Keys under which the delivery is remembered for replay protection (any one seen = duplicate). */
  dedupeKeys: string[];
  /** Until when (epoch ms) a replay of this very request could still pass the timestamp check. */
  replayableUntilMs: number;
  /** GitHub's X-GitHub-Event; the other schemes carry the type in the body. */
  headerEventType?: string;
}

export interface Rejected {
  ok: false;
  reason: RejectReason;
}

export type VerifyResult = Verified | Rejected;

interface Parsed {
  id?: string;
  /** The id is covered by the signature (Standard Webhooks), so it alone identifies a replay. */
  idSigned?: boolean;
  timestampMs?: number;
  canonical: Canonical;
  signatures: Buffer[];
  headerEventType?: string;
}

type ParseResult = Parsed | Rejected;

/** The one value of a header that must appear once: undefined when absent, null when repeated. */
function single(headers: HeaderValues, name: string): string | undefined | null {
  const values = headers(name);
  if (values.length === 0) return undefined;
  return values.length > 1 ? null : values[0];
}

const reject = (reason: RejectReason): Rejected => ({ ok: false, reason });

function parsePms(req: WebhookRequest): ParseResult {
  const timestamp = single(req.headers, HEADERS.pms.timestamp);
  const signature = single(req.headers, HEADERS.pms.signature);
  if (timestamp === undefined || signature === undefined) return reject("missing-headers");
  if (timestamp === null || signature === null) return reject("malformed");
  const timestampMs = parseIsoTimestamp(timestamp);
  const digest = decodeDigest(signature);
  if (timestampMs === undefined || digest === undefined) return reject("malformed");
  return {
    timestampMs,
    canonical: pmsHmacParts(req.method, req.pathWithQuery, timestamp, req.body),
    signatures: [digest],
  };
}

const SIGNATURE_ENTRY = /^v[0-9a-z]+,\S*$/;

function parseStandard(req: WebhookRequest): ParseResult {
  const id = single(req.headers, HEADERS.standard.id);
  const timestamp = single(req.headers, HEADERS.standard.timestamp);
  const signature = single(req.headers, HEADERS.standard.signature);
  if (id === undefined || timestamp === undefined || signature === undefined)
    return reject("missing-headers");
  if (!id || timestamp === null || signature === null || !/^\d{1,15}$/.test(timestamp))
    return reject("malformed");
  let wellFormed = false;
  const signatures: Buffer[] = [];
  for (const entry of signature.split(" ")) {
    if (!SIGNATURE_ENTRY.test(entry)) continue;
    wellFormed = true;
    if (!entry.startsWith("v1,")) continue;
    const value = entry.slice(3);
    if (value !== "" && BASE64.test(value)) signatures.push(Buffer.from(value, "base64"));
  }
  if (!wellFormed) return reject("malformed");
  return {
    id,
    idSigned: true,
    timestampMs: Number(timestamp) * 1000,
    canonical: standardWebhooksParts(id, timestamp, req.body),
    signatures,
  };
}

function parseStripe(req: WebhookRequest): ParseResult {
  const header = single(req.headers, HEADERS.stripe.signature);
  if (header === undefined) return reject("missing-headers");
  if (header === null) return reject("malformed");
  const stamps: string[] = [];
  const signatures: Buffer[] = [];
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq < 0) continue;
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (name === "t") stamps.push(value);
    // Only v1: v0 (test mode) and any other scheme are ignored, so no downgrade is possible.
    else if (name === "v1" && /^[0-9a-fA-F]{64}$/.test(value)) signatures.push(Buffer.from(value, "hex"));
  }
  if (stamps.length !== 1 || !/^\d{1,15}$/.test(stamps[0]) || signatures.length === 0)
    return reject("malformed");
  return {
    timestampMs: Number(stamps[0]) * 1000,
    canonical: stripeParts(stamps[0], req.body),
    signatures,
  };
}

function parseGithub(req: WebhookRequest): ParseResult {
  const signature = single(req.headers, HEADERS.github.signature);
  const delivery = single(req.headers, HEADERS.github.delivery);
  const event = single(req.headers, HEADERS.github.event);
  if (signature === undefined) return reject("missing-headers");
  if (signature === null || delivery === null || event === null) return reject("malformed");
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
  if (!match) return reject("malformed");
  return {
    id: delivery || undefined,
    canonical: githubParts(req.body),
    signatures: [Buffer.from(match[1], "hex")],
    headerEventType: event || undefined,
  };
}

const PARSERS: Record<WebhookScheme, (req: WebhookRequest) => ParseResult> = {
  "pms-hmac": parsePms,
  "standard-webhooks": parseStandard,
  stripe: parseStripe,
  github: parseGithub,
};

/** Without a signed timestamp (GitHub) a delivery is remembered until evicted by count. */
export const NO_EXPIRY = Number.MAX_SAFE_INTEGER;

/**
 * Verifies one delivery: headers present once and well formed (else 400), timestamp within
 * `toleranceSeconds` either way and a signature matching one of `keys` (else 401). Every key
 * is compared against every received signature in constant time.
 */
export function verifyWebhook(
  scheme: WebhookScheme,
  keys: readonly (Buffer | KeyObject)[],
  req: WebhookRequest,
  options: VerifyOptions,
): VerifyResult {
  const parsed = PARSERS[scheme](req);
  if ("ok" in parsed) return parsed;
  const nowMs = options.nowMs ?? Date.now();
  if (parsed.timestampMs !== undefined) {
    const window = checkTimestamp(parsed.timestampMs, nowMs, options.toleranceSeconds);
    if (window !== "ok") return reject(window);
  }
  let matched: Buffer | undefined;
  for (const key of keys) {
    const expected = hmacSha256(key, parsed.canonical);
    for (const received of parsed.signatures) {
      if (digestsEqual(expected, received) && matched === undefined) matched = expected;
    }
  }
  if (!matched) return reject("signature");
  let id: string;
  let dedupeKeys: string[];
  if (parsed.id && parsed.idSigned) {
    id = parsed.id;
    dedupeKeys = [`id:${id}`];
  } else {
    const sigKey = `sig:${matched.toString("hex")}`;
    id = parsed.id ?? sigKey;
    // An unsigned id (GitHub's delivery header) could be changed on a replay: the signature counts too.
    dedupeKeys = parsed.id ? [`id:${parsed.id}`, sigKey] : [sigKey];
  }
  return {
    ok: true,
    id,
    timestampMs: parsed.timestampMs,
    dedupeKeys,
    replayableUntilMs:
      parsed.timestampMs === undefined
        ? NO_EXPIRY
        : Math.max(nowMs, parsed.timestampMs) + options.toleranceSeconds * 1000,
    headerEventType: parsed.headerEventType,
  };
}

/** The event type of a verified delivery: GitHub's header, else the body's `eventType` or `type`. */
export function eventTypeOf(verified: Verified, payload: unknown): string | undefined {
  if (verified.headerEventType) return verified.headerEventType;
  if (payload && typeof payload === "object" && !Array.isArray(payload)) {
    const body = payload as Record<string, unknown>;
    for (const name of ["eventType", "type"]) {
      if (typeof body[name] === "string" && body[name] !== "") return body[name] as string;
    }
  }
  return undefined;
}
