import type { MappingRule } from "../mapping/types";

/**
 * FHIR ChargeItem -> PMS charge (POST /charges body, without patientId and appointmentId,
 * which the pipelines take from the PMS appointment). The pms-fhir-map nodes named
 * "ChargeItem → charge" in examples/pipelines/ehr-to-pms.json and examples/pipelines/care-coordination.json carry these
 * rules as custom rules (a flow file cannot import them); test/flows/shipped-flows.spec.ts
 * fails when a copy differs from this definition.
 *
 * `priceOverride` is the charge's total (FHIR R4: "Total price of the charge overriding the
 * list price associated with the code"); a ChargeItem without one cannot be posted.
 */
export const CHARGE_ITEM_RULES: readonly MappingRule[] = Object.freeze([
  { fhir: "resourceType", default: "ChargeItem" },
  { pms: "code", fhir: "code.coding[0].code", transform: "string", required: true, label: "code" },
  { pms: "description", fhir: "code.text", transform: "string", label: "description" },
  { pms: "amount", fhir: "priceOverride.value", transform: "number", required: true, label: "amount" },
  {
    pms: "currency",
    fhir: "priceOverride.currency",
    transform: "string",
    validate: "regex:^[A-Z]{3}$",
    label: "currency",
  },
] satisfies MappingRule[]);

/** The name the pipelines give their ChargeItem mapper node. */
export const CHARGE_MAPPER_NAME = "ChargeItem → charge";
