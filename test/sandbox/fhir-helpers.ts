import type { Bundle, OperationOutcome, Resource } from "@medplum/fhirtypes";

export const FHIR_JSON = "application/fhir+json";

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** fetch + body parse; the body is JSON when there is one. */
export async function call<T = Resource & Bundle & OperationOutcome>(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<Reply<T>> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    if (!headers.has("content-type")) headers.set("content-type", FHIR_JSON);
  }
  const res = await fetch(url, { ...init, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** POSTs a batch or transaction Bundle of `entry` (anything, to test what the server refuses) to the server's base. */
export function postBundle(
  base: string,
  type: "batch" | "transaction",
  entry: unknown[],
  headers?: Record<string, string>,
): Promise<Reply<Bundle>> {
  return call<Bundle>(base, { method: "POST", headers, json: { resourceType: "Bundle", type, entry } });
}

export function patient(system: string, value: string, family = "Test"): Resource {
  return {
    resourceType: "Patient",
    identifier: [{ system, value }],
    name: [{ family, given: ["Pat"] }],
  };
}

export function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === "next")?.url;
}
