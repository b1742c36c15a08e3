import type { Node } from "node-red";
import type { FhirClient } from "../../lib/fhir";
import type { FhirCredentials } from "../../lib/fhir/types";

/** What fhir-request reads from its fhir-server config node. */
export interface FhirServerNode extends Node<FhirCredentials> {
  client?: FhirClient;
  /** Why there is no client: a configuration mistake, never a secret. */
  configError?: string;
}
