import { OperationOutcomeError, badRequest, multipleMatches } from "@medplum/core";
import type { OperationOutcome } from "@medplum/fhirtypes";

/**
 * Conditional references (FHIR R4 http.html#trules): a `Reference.reference` that is a search URI,
 * `Patient?identifier=system|value`. The spec allows them in a transaction, and only there: the
 * server replaces each with a reference to the one resource the search finds, and fails the
 * transaction when it finds none or several.
 */

/** `<Type>?<query>`: a search URI relative to the base. */
const SEARCH_URI = /^([A-Z][A-Za-z]+)\?(.+)$/s;

export interface ConditionalReference {
  /** FHIRPath-like location inside the resource, e.g. `participant[0].actor.reference`. */
  path: string;
  resourceType: string;
  query: string;
  /** Replaces the reference where it stands. */
  set(reference: string): void;
}

/** Every conditional reference in a resource (contained resources and extensions included). */
export function conditionalReferences(resource: unknown): ConditionalReference[] {
  const found: ConditionalReference[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${path}[${i}]`));
      return;
    }
    if (value === null || typeof value !== "object") return;
    const obj = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(obj)) {
      const at = path ? `${path}.${key}` : key;
      const m = key === "reference" && typeof child === "string" ? SEARCH_URI.exec(child) : null;
      if (m) {
        found.push({
          path: at,
          resourceType: m[1],
          query: m[2],
          set: (reference) => {
            obj.reference = reference;
          },
        });
      } else {
        walk(child, at);
      }
    }
  };
  walk(resource, "");
  return found;
}

/** True when conditionalReferences would find one; cheaper, as it builds no paths. */
function hasConditionalReference(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasConditionalReference);
  if (value === null || typeof value !== "object") return false;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const child = obj[key];
    if (key === "reference" && typeof child === "string" && SEARCH_URI.test(child)) return true;
    if (hasConditionalReference(child)) return true;
  }
  return false;
}

/** Outside a transaction a search URI is not a reference: 400, naming where it is. */
export function assertNoConditionalReferences(resource: { resourceType: string }): void {
  if (!hasConditionalReference(resource)) return;
  const [first] = conditionalReferences(resource);
  if (first) {
    throw new OperationOutcomeError(
      badRequest(
        "A conditional reference (a search URI) is allowed only in a transaction, where the server resolves it",
        `${resource.resourceType}.${first.path}`,
      ),
    );
  }
}

/** No match: 400 (the request refers to nothing); several: 412, as for conditional interactions. */
export function unresolvedOutcome(matches: number, expression: string): OperationOutcome {
  if (matches > 1) {
    return {
      ...multipleMatches,
      issue: [
        {
          severity: "error",
          code: "multiple-matches",
          details: { text: `The conditional reference matches ${matches} resources` },
          expression: [expression],
        },
      ],
    };
  }
  return {
    resourceType: "OperationOutcome",
    issue: [
      {
        severity: "error",
        code: "not-found",
        details: { text: "The conditional reference matches no resource" },
        expression: [expression],
      },
    ],
  };
}
