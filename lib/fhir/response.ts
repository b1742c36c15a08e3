import { CODES } from "../error-codes";
import { FhirError } from "./errors";
import { header, type HttpResponse } from "./http";

/** W/"3" -> 3, "3" -> 3. */
export function versionFromEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim());
  const v = m ? m[1] : etag.trim();
  return v === "" ? undefined : v;
}

/** .../Patient/1/_history/3 -> 3. */
export function versionFromLocation(location: string | undefined): string | undefined {
  if (!location) return undefined;
  const m = /\/_history\/([^/?#]+)/.exec(location);
  return m ? m[1] : undefined;
}

/**
 * The response body: parsed JSON, undefined when empty, the text itself for non-JSON content.
 * A body that says it is JSON and is not throws FHIR_BAD_RESPONSE (only for success statuses;
 * an error page is replaced by a synthesized OperationOutcome instead).
 */
export function parseBody(res: HttpResponse): unknown {
  if (res.text.trim() === "") return undefined;
  const type = header(res, "content-type") ?? "";
  try {
    return JSON.parse(res.text) as unknown;
  } catch (err) {
    if (res.status >= 400) return undefined;
    if (/json/i.test(type) || type === "") {
      throw new FhirError(
        CODES.FHIR_BAD_RESPONSE,
        `the server answered HTTP ${res.status} with malformed JSON`,
        undefined,
        {
          cause: err,
        },
      );
    }
    return res.text;
  }
}

export interface ResponseFacts {
  location?: string;
  etag?: string;
  versionId?: string;
  lastModified?: string;
}

export function responseFacts(res: HttpResponse, body: unknown): ResponseFacts {
  const location = header(res, "location") ?? header(res, "content-location");
  const etag = header(res, "etag");
  const meta = (body as { meta?: { versionId?: unknown; lastUpdated?: unknown } } | null | undefined)?.meta;
  const bodyVersion = typeof meta?.versionId === "string" ? meta.versionId : undefined;
  const bodyUpdated = typeof meta?.lastUpdated === "string" ? meta.lastUpdated : undefined;
  const facts: ResponseFacts = {};
  if (location) facts.location = location;
  if (etag) facts.etag = etag;
  const versionId = versionFromEtag(etag) ?? bodyVersion ?? versionFromLocation(location);
  if (versionId) facts.versionId = versionId;
  const lastModified = header(res, "last-modified") ?? bodyUpdated;
  if (lastModified) facts.lastModified = lastModified;
  return facts;
}
