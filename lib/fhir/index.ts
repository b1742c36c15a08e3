export { FhirClient } from "./client";
export { FhirError } from "./errors";
export { validateInteraction } from "./request";
export { summarizeCapabilities } from "./capabilities";
export { validateConfig, plainHttpWarnings, DEFAULTS as FHIR_CLIENT_DEFAULTS } from "./config";
export * from "./types";
