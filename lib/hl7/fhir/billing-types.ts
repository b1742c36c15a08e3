import type { CodeableConcept, Coding, Identifier, Period, Reference, Resource } from "./fhir-types";

/** The FHIR R4 shapes the DFT / BAR conversions write and read (plain JSON). */

export interface Money {
  value?: number;
  currency?: string;
}

export interface BillingExtension {
  url: string;
  valueCoding?: Coding;
  valueMoney?: Money;
}

export interface ChargeItemPerformer {
  function?: CodeableConcept;
  actor: Reference;
}

export interface ChargeItem extends Resource {
  resourceType: "ChargeItem";
  extension?: BillingExtension[];
  identifier?: Identifier[];
  status: string;
  code: CodeableConcept;
  subject: Reference;
  context?: Reference;
  occurrenceDateTime?: string;
  occurrencePeriod?: Period;
  performer?: ChargeItemPerformer[];
  quantity?: { value: number };
  priceOverride?: Money;
  enteredDate?: string;
  reason?: CodeableConcept[];
  service?: Reference[];
  account?: Reference[];
  supportingInformation?: Reference[];
}

export interface Condition extends Resource {
  resourceType: "Condition";
  identifier?: Identifier[];
  category?: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  encounter?: Reference;
  onsetDateTime?: string;
  recordedDate?: string;
  asserter?: Reference;
}

export interface Procedure extends Resource {
  resourceType: "Procedure";
  identifier?: Identifier[];
  status: string;
  code: CodeableConcept;
  subject: Reference;
  encounter?: Reference;
  performedDateTime?: string;
  performer?: Array<{ function?: CodeableConcept; actor: Reference }>;
}

export interface Organization extends Resource {
  resourceType: "Organization";
  identifier?: Identifier[];
  name?: string;
}

export interface Coverage extends Resource {
  resourceType: "Coverage";
  identifier?: Identifier[];
  status: string;
  type?: CodeableConcept;
  subscriberId?: string;
  beneficiary: Reference;
  relationship?: CodeableConcept;
  period?: Period;
  payor: Reference[];
  class?: Array<{ type: CodeableConcept; value: string; name?: string }>;
  order?: number;
}
