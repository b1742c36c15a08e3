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
  // The path is kept as steps and written out only for a reference found: most resources hold none.
  const steps: Array<string | number> = [];
  const pathText = (): string =>
    steps.map((step, i) => (typeof step === "number" ? `[${step}]` : i ? `.${step}` : step)).join("");
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        steps.push(i);
        walk(value[i]);
        steps.pop();
      }
      return;
    }
    if (value === null || typeof value !== "object") return;
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const child = obj[key];
      steps.push(key);
      const m = key === "reference" && typeof child === "string" ? SEARCH_URI.exec(child) : null;
      if (m) {
        found.push({
          path: pathText(),
          resourceType: m[1],
          query: m[2],
          set: (reference) => {
            obj.reference = reference;
          },
        });
      } else {
        walk(child);
      }
      steps.pop();
    }
  };
  walk(resource);
  return found;
}

/** Outside a transaction a search URI is not a reference: 400, naming where it is. */
export function assertNoConditionalReferences(resource: { resourceType: string }): void {
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
