import { CODES, type PackErrorCode } from "../error-codes";
import { PackError } from "../errors";
import type { FhirMeta } from "./types";

/**
 * Codes: FHIR_BAD_INPUT, FHIR_CONFIG, FHIR_HTTP_<status>, FHIR_NETWORK, FHIR_TIMEOUT, FHIR_AUTH,
 * FHIR_BAD_RESPONSE, FHIR_PAGING, FHIR_ABORTED, FHIR_CLOSED, and FHIR_ERROR for anything unforeseen.
 */
export class FhirError extends PackError {
  meta?: FhirMeta;

  constructor(
    code: PackErrorCode,
    message: string,
    details?: unknown,
    options?: { cause?: unknown; meta?: FhirMeta },
  ) {
    super(code, message, details, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FhirError";
    if (options?.meta) this.meta = options.meta;
  }
}

export function badInput(message: string): FhirError {
  return new FhirError(CODES.FHIR_BAD_INPUT, message);
}

export interface OperationOutcomeIssue {
  severity: string;
  code: string;
  diagnostics?: string;
  details?: { text?: string };
}

export interface OperationOutcome {
  resourceType: "OperationOutcome";
  issue: OperationOutcomeIssue[];
}

export function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === "OperationOutcome" &&
    Array.isArray((value as { issue?: unknown }).issue)
  );
}

/** The IssueType code that best fits an HTTP status, for outcomes the client has to make up. */
export function issueCodeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "invalid";
    case 401:
      return "login";
    case 403:
      return "forbidden";
    case 404:
    case 410:
      return "not-found";
    case 409:
    case 412:
      return "conflict";
    case 422:
      return "processing";
    case 429:
      return "throttled";
    case 408:
    case 504:
      return "timeout";
    case 501:
      return "not-supported";
    case 502:
    case 503:
      return "transient";
    default:
      return status >= 500 ? "exception" : "processing";
  }
}

export function synthesizeOutcome(code: string, diagnostics: string): OperationOutcome {
  return { resourceType: "OperationOutcome", issue: [{ severity: "error", code, diagnostics }] };
}

/**
 * The OperationOutcome of a failed response: the body when it is one, the first
 * OperationOutcome found in a response Bundle (entry.response.outcome or entry.resource),
 * otherwise one made up from the status. The body text itself is never copied (it may hold PHI).
 */
export function outcomeFor(status: number, statusText: string, body: unknown): OperationOutcome {
  if (isOperationOutcome(body)) return body;
  if (typeof body === "object" && body !== null && Array.isArray((body as { entry?: unknown }).entry)) {
    for (const entry of (body as { entry: unknown[] }).entry) {
      const e = entry as { response?: { outcome?: unknown }; resource?: unknown } | null;
      if (e && isOperationOutcome(e.response?.outcome)) return e.response.outcome as OperationOutcome;
      if (e && isOperationOutcome(e.resource)) return e.resource;
    }
  }
  const text = statusText ? `HTTP ${status} ${statusText}` : `HTTP ${status}`;
  return synthesizeOutcome(issueCodeForStatus(status), text);
}

/** Issue codes only: diagnostics can quote resource content, and messages end up in logs. */
export function outcomeSummary(outcome: OperationOutcome): string {
  const codes = outcome.issue.map((i) => i.code).filter((c) => typeof c === "string" && c !== "");
  return [...new Set(codes)].join(", ");
}
