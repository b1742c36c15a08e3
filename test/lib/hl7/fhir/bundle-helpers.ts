import { expect } from "chai";
import type { Bundle, BundleEntry, Resource } from "../../../../lib/hl7/fhir/fhir-types";

/** The Bundle's entries of one resource type. */
export function entries(bundle: Bundle, type: string): BundleEntry[] {
  return (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type);
}

/** The one resource of this type in the Bundle (fails when there are none or several). */
export function only<T extends Resource>(bundle: Bundle, type: string): T {
  const list = entries(bundle, type);
  expect(list, `${type} entries`).to.have.length(1);
  return list[0].resource as T;
}

/** The code, message and details of the error `fn` throws (fails when it throws none). */
export function codeOf(fn: () => unknown): { code: string; message: string; details: unknown } {
  try {
    fn();
  } catch (err) {
    const e = err as { code: string; message: string; details: unknown };
    return { code: e.code, message: e.message, details: e.details };
  }
  throw new Error("expected an error");
}
