/**
 * The contract between the FHIR client (lib/fhir) and the fhir-server / fhir-request nodes.
 * Plain data in, plain data out: nothing here knows about Node-RED.
 */

export type AuthType = "none" | "basic" | "bearer" | "client-credentials" | "smart-backend";

/** A FHIR resource type name as requests and Bundles carry it ("Patient", "ChargeItem"). */
export const RESOURCE_TYPE_NAME = /^[A-Z][A-Za-z0-9]{0,63}$/;
export type JwtAlg = "RS384" | "ES384";

export const AUTH_TYPES: readonly AuthType[] = [
  "none",
  "basic",
  "bearer",
  "client-credentials",
  "smart-backend",
];
export const JWT_ALGS: readonly JwtAlg[] = ["RS384", "ES384"];

export interface FhirCredentials {
  username?: string;
  password?: string;
  token?: string;
  clientSecret?: string;
  /** PEM (PKCS#8) or a private JWK as JSON text. */
  privateKey?: string;
}

/** TLS options as core `tls-config` produces them (`addTLSOptions`). */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface FhirServerConfig {
  /** Service base URL, e.g. https://ehr.example.org/fhir/R4 (a trailing slash is ignored). */
  baseUrl: string;
  /** "4.0.1" unless set. */
  fhirVersion?: string;
  authType: AuthType;
  /** OAuth2 token endpoint; when empty it is discovered from `.well-known/smart-configuration`. */
  tokenUrl?: string;
  scope?: string;
  clientId?: string;
  jwtAlg?: JwtAlg;
  keyId?: string;
  /** Per-request timeout in ms (default 30000). */
  timeout?: number;
  /** Retries after the first attempt for retry-safe requests (default 3). */
  retries?: number;
  /** Requests in flight at once (default 8); the rest wait in a FIFO queue. */
  maxConcurrent?: number;
  /** First backoff step in ms (default 250) and the cap (default 30000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Renew a cached token this many seconds before it expires (default 60). */
  tokenRenewSkewSeconds?: number;
  /** Largest response body read, bytes (default 64 MiB): a larger one is FHIR_RESPONSE_TOO_LARGE. */
  maxResponseBytes?: number;
  credentials?: FhirCredentials;
  tls?: TlsOptions;
}

export type FhirOperation =
  | "read"
  | "vread"
  | "search"
  | "search-all"
  | "create"
  | "update"
  | "upsert"
  | "patch"
  | "delete"
  | "transaction"
  | "batch"
  | "history"
  | "capabilities"
  | "operation";

export const FHIR_OPERATIONS: readonly FhirOperation[] = [
  "read",
  "vread",
  "search",
  "search-all",
  "create",
  "update",
  "upsert",
  "patch",
  "delete",
  "transaction",
  "batch",
  "history",
  "capabilities",
  "operation",
];

export type FhirParams = Record<string, string | number | boolean | Array<string | number | boolean>>;

/** What a write may answer with: the values of the Prefer header's return=. */
export const FHIR_PREFER = ["representation", "minimal", "OperationOutcome"] as const;
export type FhirPrefer = (typeof FHIR_PREFER)[number];

/** One FHIR interaction, as fhir-request builds it from node config and msg overrides. */
export interface InteractionInput {
  operation: FhirOperation;
  resourceType?: string;
  id?: string;
  versionId?: string;
  /** Search or operation parameters: an object or a query string (with or without "?"). */
  params?: FhirParams | string;
  /** Resource, Bundle, Parameters or JSON Patch array. */
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  /**
   * What a write answers with (the Prefer header's return=): the resource (the default for
   * create, update, upsert and patch), nothing (minimal), or an OperationOutcome. For a batch or
   * transaction it applies to every entry; without it the server chooses.
   */
  prefer?: FhirPrefer;
  /** For upsert: "system|value" or {system, value}; default: the body's first identifier. */
  identifier?: string | { system?: string; value?: string };
  /** For operation: "$everything", "$validate", ... */
  operationName?: string;
  /** For search-all (default 100). */
  maxPages?: number;
}

/** What msg.fhir holds after an interaction (also attached to errors). */
export interface FhirMeta {
  status: number;
  location?: string;
  etag?: string;
  versionId?: string;
  lastModified?: string;
  durationMs: number;
  request: { method: string; url: string };
  outcome?: unknown;
  /** search-all: pages fetched. */
  pages?: number;
  /** Attempts made, 1 when the first one answered. */
  attempts?: number;
  /** search-all: true when maxPages was reached while the server still offered a next page. */
  truncated?: boolean;
  /** On a failure: the wait the server asked for with Retry-After (ms), which a durable queue honours. */
  retryAfterMs?: number;
  /** upsert in bundles: Bundles sent (lookups included). */
  bundles?: number;
  /** upsert in bundles: the records written, in the order of their answers. */
  written?: WrittenEntry[];
  /** upsert in bundles: the records the server refused for good (or whose reference found no one). */
  refused?: RefusedEntry[];
}

/** How an upsert of many resources is sent: batch (entries stand alone) or transaction (all or nothing). */
export const FHIR_BUNDLE_MODES = ["batch", "transaction"] as const;
export type BundleMode = (typeof FHIR_BUNDLE_MODES)[number];

/** Many conditional upserts (PUT Type?identifier=system|value), sent as Bundles. */
export interface UpsertManyInput {
  /** One resource or an array of them, each with an identifier that has a system and a value. */
  resources: unknown;
  bundle: BundleMode;
  /** Upserts per Bundle (default 100, at most 1000). */
  bundleSize?: number | string;
  /** When set, every resource must be of this type. */
  resourceType?: string;
  /** Default "minimal": the answers carry status and location only. */
  prefer?: FhirPrefer;
  /**
   * Resource types created when no resource has the identifier and otherwise left as they are
   * (POST with If-None-Exist), never updated: e.g. Task, whose status the EHR's users change.
   */
  createOnly?: string[];
  /**
   * Conditional reference ("Patient?identifier=system|value") -> literal reference
   * ("Patient/123") of records written before; extended in place with this call's writes.
   */
  references?: Record<string, string>;
}

export interface WrittenEntry {
  /** Position in the payload. */
  index: number;
  /** The identifier value the record was upserted by. */
  id: string;
  status: number;
  location?: string;
}

export interface RefusedEntry {
  index: number;
  id: string;
  /** FHIR_HTTP_<status>, SYNC_REFERENCE_NOT_FOUND or SYNC_REFERENCE_AMBIGUOUS. */
  code: string;
  /** The outcome's issue code and expression, or "<path>: not-found": never the outcome's text. */
  message: string;
}

export interface UpsertManyResult {
  written: WrittenEntry[];
  refused: RefusedEntry[];
  /** The references given, with this call's writes added (the same object when one was given). */
  references: Record<string, string>;
  meta: FhirMeta;
}

export interface InteractionResult {
  /** Parsed response body (resource, Bundle, summary for capabilities); undefined on 204. */
  body: unknown;
  meta: FhirMeta;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  /** "429", "503", "network", "timeout" ... */
  reason: string;
}

export interface InteractionHooks {
  onRetry?: (info: RetryInfo) => void;
  signal?: AbortSignal;
}

export interface CapabilitySummary {
  fhirVersion?: string;
  software?: { name?: string; version?: string };
  formats: string[];
  resources: Record<
    string,
    { interactions: string[]; searchParams: string[]; operations: string[]; conditional: string[] }
  >;
  interactions: string[];
  operations: string[];
  security: {
    smart: boolean;
    services: string[];
    tokenUrl?: string;
    authorizeUrl?: string;
    cors?: boolean;
    /** From the smart-configuration, when the server has one. */
    capabilities?: string[];
    tokenEndpointAuthMethods?: string[];
    scopesSupported?: string[];
  };
  bulkData: boolean;
  /** Where $export is offered: "$export", "Patient/$export", "Group/$export". */
  bulkExport?: string[];
  subscriptions: {
    supported: boolean;
    channelTypes: string[];
    /** SubscriptionTopic canonicals (R4 backport). */
    topics?: string[];
    backport?: boolean;
  };
  instantiates?: string[];
  smartConfiguration?: unknown;
  statement: unknown;
}

export interface ClientStats {
  /** TCP connections opened since the client was created. */
  connectionsOpened: number;
  /** Connections open now, and the most open at one time (never above maxConcurrent). */
  connectionsOpen?: number;
  connectionsPeak?: number;
  inFlight: number;
  queued: number;
  tokenFetches: number;
  /** HTTP requests sent to the FHIR server (every attempt and page). */
  requests?: number;
  /** Attempts repeated after a retryable failure. */
  retries?: number;
}
