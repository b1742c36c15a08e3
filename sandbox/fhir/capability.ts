import type { CapabilityStatement, CapabilityStatementRestResource } from "@medplum/fhirtypes";
import { knownResourceTypes, searchParametersOf } from "./schema";

export const SIGNING_ALGORITHMS = ["RS384", "ES384"] as const;
export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"] as const;
export const SCOPES_SUPPORTED = [
  "system/*.read",
  "system/*.write",
  "system/*.*",
  "system/*.rs",
  "system/*.cruds",
];

const SEARCHABLE = new Set(["string", "token", "reference", "date", "uri"]);
const TYPE_INTERACTIONS = [
  "read",
  "vread",
  "update",
  "patch",
  "delete",
  "history-instance",
  "history-type",
  "create",
  "search-type",
] as const;

let resourceEntries: CapabilityStatementRestResource[] | undefined;

function resources(): CapabilityStatementRestResource[] {
  resourceEntries ??= knownResourceTypes().map((type) => ({
    type: type as CapabilityStatementRestResource["type"],
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: "versioned-update",
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: "full-support",
    conditionalUpdate: true,
    conditionalDelete: "single",
    searchParam: Object.values(searchParametersOf(type))
      .filter((p) => SEARCHABLE.has(p.type ?? ""))
      .map((p) => ({
        name: p.code ?? "",
        type: p.type ?? "string",
        ...(p.url ? { definition: p.url } : {}),
      })),
  })) as CapabilityStatementRestResource[];
  return resourceEntries;
}

/** The CapabilityStatement served at `[base]/metadata`; `tokenUrl` goes into the SMART oauth-uris extension. */
export function capabilityStatement(
  baseUrl: string,
  tokenUrl: string,
  authRequired: boolean,
): CapabilityStatement {
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: new Date().toISOString(),
    publisher: "HealthBridge",
    kind: "instance",
    software: { name: "HealthBridge FHIR sandbox (Medplum fhir-router)" },
    implementation: { description: "In-memory FHIR R4 sandbox for tests", url: baseUrl },
    fhirVersion: "4.0.1",
    format: ["application/fhir+json", "json"],
    patchFormat: ["application/json-patch+json"],
    rest: [
      {
        mode: "server",
        documentation: authRequired
          ? "Every interaction except metadata needs a bearer token from the token endpoint."
          : "Authentication is optional: the token endpoint works, but requests without a token are accepted.",
        security: {
          cors: false,
          service: [
            {
              coding: [
                {
                  system: "http://terminology.hl7.org/CodeSystem/restful-security-service",
                  code: "SMART-on-FHIR",
                },
              ],
              text: "OAuth2 client credentials (SMART Backend Services)",
            },
          ],
          extension: [
            {
              url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
              extension: [{ url: "token", valueUri: tokenUrl }],
            },
          ],
        },
        resource: resources(),
        interaction: [
          { code: "transaction" },
          { code: "batch" },
          { code: "search-system" },
          { code: "history-system" },
        ],
      },
    ],
  };
}

/** The SMART configuration served at `/.well-known/smart-configuration` (and under the base). */
export function smartConfiguration(tokenUrl: string): Record<string, unknown> {
  return {
    token_endpoint: tokenUrl,
    token_endpoint_auth_methods_supported: [...AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
    grant_types_supported: ["client_credentials"],
    scopes_supported: SCOPES_SUPPORTED,
    response_types_supported: ["token"],
    capabilities: [
      "client-confidential-symmetric",
      "client-confidential-asymmetric",
      "permission-v1",
      "permission-v2",
    ],
  };
}
