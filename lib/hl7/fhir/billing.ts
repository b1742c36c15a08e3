import { sha1Hex } from "./ids";
import { accountFrom } from "./account";
import type {
  ChargeItem,
  ChargeItemPerformer,
  Condition,
  Coverage,
  Money,
  Organization,
  Procedure,
} from "./billing-types";
import { BundleBuilder } from "./bundle";
import { patientKey } from "./patient-key";
import {
  convertError,
  cweAt,
  cxToIdentifier,
  dateAt,
  dateTimeAt,
  eiToIdentifier,
  identifierType,
  type ConvertContext,
} from "./datatypes";
import type { Account, CodeableConcept, Identifier, Patient, Reference, Resource } from "./fhir-types";
import { codes } from "./tables";
import { location, type V2Message, type V2Segment } from "./view";

/**
 * DFT^P03/P11 (charges) and BAR^P01/P02/P12 (accounts) -> FHIR. What each message owns is written by
 * conditional update on its business identifier; what it only refers to is created when missing:
 *
 * | resource  | DFT            | BAR P01            | BAR P02          | BAR P12 |
 * |-----------|----------------|--------------------|------------------|---------|
 * | Patient   | ensure         | ensure             | ensure           | ensure  |
 * | Encounter | ensure         | ensure             | -                | ensure  |
 * | Account   | ensure         | update (active)    | update (inactive)| ensure  |
 * | ChargeItem| update         | -                  | -                | -       |
 * | Condition | update         | update             | -                | update  |
 * | Procedure | update (FT1-25)| update (PR1)       | -                | update  |
 * | Coverage  | update         | update             | -                | -       |
 */

export const DFT_EVENTS: ReadonlySet<string> = new Set(["P03", "P11"]);
export const BAR_EVENTS: ReadonlySet<string> = new Set(["P01", "P02", "P12"]);

/** The parts of the ADT conversion the billing messages reuse (V2ToFhir provides them). */
export interface BillingHost {
  patient(pid: V2Segment, ctx: ConvertContext): Patient;
  encounter(pv1: V2Segment, event: string, patientUrl: string, ctx: ConvertContext, out: BundleBuilder): void;
  practitionerRef(
    seg: V2Segment,
    field: number,
    repetition: number,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): Reference | undefined;
}

export const BILLING_SYSTEM = {
  v2_0017: "http://terminology.hl7.org/CodeSystem/v2-0017",
  v2_0086: "http://terminology.hl7.org/CodeSystem/v2-0086",
  v2_0912: "http://terminology.hl7.org/CodeSystem/v2-0912",
  conditionCategory: "http://terminology.hl7.org/CodeSystem/condition-category",
  coverageClass: "http://terminology.hl7.org/CodeSystem/coverage-class",
  subscriberRelationship: "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
  /** ChargeItem extension: FT1-6 transaction type when it is not CG (charge). */
  transactionType: "urn:healthbridge:fhir:StructureDefinition:ft1-transaction-type",
  /** ChargeItem extension: FT1-12 unit cost. */
  unitPrice: "urn:healthbridge:fhir:StructureDefinition:ft1-unit-cost",
} as const;

/** Table 0017 transaction types written as ChargeItems; PY/CO (payments) are not charges. */
const CHARGE_TYPES: ReadonlySet<string> = new Set(["CG", "CD", "AJ"]);

/** Table 0063 relationship -> subscriber-relationship (the IN1-17 rows the guide maps). */
const SUBSCRIBER_RELATIONSHIP: Readonly<Record<string, string>> = codes({
  SEL: "self",
  SPO: "spouse",
  DOM: "common",
  CHD: "child",
  PAR: "parent",
  EME: "injured",
});

/** The identifier type (v2-0203) the charge transaction ID is written with. */
export const TRANSACTION_ID_TYPE = "TID";

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function numberAt(seg: V2Segment, field: number, component = 1, subcomponent = 1): number | undefined {
  const raw = seg.get(field, component, subcomponent).trim();
  if (raw === "") return undefined;
  if (!NUMBER.test(raw)) {
    throw convertError(location(seg, field, component > 1 ? component : undefined), "not a number");
  }
  return Number(raw);
}

/** CP (MO.1 quantity & MO.2 denomination in CP.1) -> Money. */
function moneyAt(seg: V2Segment, field: number): Money | undefined {
  const value = numberAt(seg, field, 1, 1);
  if (value === undefined) return undefined;
  const m: Money = { value };
  const currency = seg.get(field, 1, 2).trim().toUpperCase();
  if (currency !== "") {
    if (!/^[A-Z]{3}$/.test(currency)) throw convertError(location(seg, field, 1), "not an ISO 4217 currency");
    m.currency = currency;
  }
  return m;
}

/** 32 hex digits of SHA-1 over the parts: derived keys are opaque, never the facts they come from. */
function hash(parts: readonly string[]): string {
  return sha1Hex(parts.join("\u001f")).slice(0, 32);
}

/** The system of identifiers the sender assigns without naming an authority. */
function senderSystem(ctx: ConvertContext): string {
  return ctx.systems.system({ namespace: "", universalId: "", universalIdType: "" }, ctx.facility);
}

function keyOf(key: Identifier): string {
  return `${key.system}|${key.value}`;
}

function codeKey(cc: CodeableConcept): string {
  const c = cc.coding?.[0];
  return c ? `${c.system ?? ""}|${c.code ?? ""}` : `|${cc.text ?? ""}`;
}

/**
 * The builder the ADT conversion writes the visit into from a billing message: what it would own
 * (the Encounter) is only created when missing, as what it refers to.
 */
class EnsureOnly extends BundleBuilder {
  /** fullUrl of the last resource of each type the ADT conversion meant to own. */
  readonly owned = new Map<string, string>();

  constructor(private readonly target: BundleBuilder) {
    super();
  }

  override ensure(resource: Resource, identifier: Identifier): string {
    return this.target.ensure(resource, identifier);
  }

  override put(resource: Resource, identifier: Identifier): string {
    const fullUrl = this.target.ensure(resource, identifier);
    this.owned.set(resource.resourceType, fullUrl);
    return fullUrl;
  }
}

interface Visit {
  pid: V2Segment;
  pv1?: V2Segment;
  /** Segments after PID up to the next PID. */
  segments: V2Segment[];
}

function visits(segments: readonly V2Segment[]): Visit[] {
  const out: Visit[] = [];
  let current: Visit | undefined;
  for (const seg of segments) {
    if (seg.name === "PID") {
      current = { pid: seg, segments: [] };
      out.push(current);
    } else if (current) {
      if (seg.name === "PV1" && !current.pv1) current.pv1 = seg;
      current.segments.push(seg);
    }
  }
  return out;
}

/** What a visit's resources refer to: patient, encounter, account, and the key charges derive from. */
interface Scope {
  patientUrl: string;
  encounterUrl?: string;
  /** PID-18's Account, and its fullUrl once written. */
  account?: { account: Account; key: Identifier };
  accountUrl?: string;
  /** Visit number, else account number, else patient identifier: the anchor of derived keys. */
  anchor: string;
}

export class BillingConverter {
  constructor(private readonly host: BillingHost) {}

  // ---- DFT^P03 / P11 ---------------------------------------------------------------------

  dft(msg: V2Message, event: string, name: string, ctx: ConvertContext, out: BundleBuilder): void {
    const [visit] = visits(msg.segments);
    if (!visit) throw convertError("PID", `${name} has no PID segment`);
    const ft1s = visit.segments.filter((s) => s.name === "FT1");
    if (ft1s.length === 0) throw convertError("FT1", `${name} has no FT1 segment`);
    const scope = this.scope(visit, event, ctx, out);
    const coverages = this.coverages(visit, scope, ctx, out);
    this.linkCoverages(visit, scope, coverages, out, "ensure");
    const conditions = this.conditions(visit, scope, ctx, out);
    const sender = [msg.header.sendingApplication ?? "", ctx.facility];
    for (const ft1 of ft1s) this.charge(ft1, scope, conditions, sender, ctx, out);
  }

  /** FT1 -> ChargeItem (segment map FT1[ChargeItem]); FT1-25 -> a Procedure it names as service. */
  private charge(
    ft1: V2Segment,
    scope: Scope,
    conditions: Array<{ code: CodeableConcept; url: string }>,
    sender: string[],
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    const type = ft1.get(6).toUpperCase();
    if (type !== "" && !CHARGE_TYPES.has(type)) {
      ctx.warnings.push(`${location(ft1, 6)}: not a charge (table 0017), no ChargeItem was written`);
      return;
    }
    const code = cweAt(ft1, 7);
    if (!code) throw convertError(location(ft1, 7), "no transaction code");
    const start = dateTimeAt(ft1, ctx, 4, 1);
    const end = dateTimeAt(ft1, ctx, 4, 2);
    if (!start) throw convertError(location(ft1, 4), "no transaction (service) date");
    const quantity = numberAt(ft1, 10);
    const extended = moneyAt(ft1, 11);
    const unit = moneyAt(ft1, 12);
    const entered = dateTimeAt(ft1, ctx, 5);

    const txId = ft1.get(2).trim();
    const system = senderSystem(ctx);
    const key: Identifier = txId
      ? { system, value: txId }
      : {
          system,
          value: `FT1-${hash([
            ...sender,
            scope.anchor,
            ft1.get(1),
            start,
            codeKey(code),
            quantity === undefined ? "" : String(quantity),
            extended?.value === undefined ? "" : String(extended.value),
            unit?.value === undefined ? "" : String(unit.value),
          ])}`,
        };
    key.type = identifierType(TRANSACTION_ID_TYPE);
    const identifiers: Identifier[] = [key];
    const batch = ft1.get(3).trim();
    if (batch) identifiers.push({ use: "secondary", type: { text: "FT1-3 batch ID" }, value: batch });

    const item: ChargeItem = {
      resourceType: "ChargeItem",
      identifier: identifiers,
      status: "billable",
      code,
      subject: { reference: scope.patientUrl },
    };
    if (type !== "" && type !== "CG") {
      item.extension = [
        { url: BILLING_SYSTEM.transactionType, valueCoding: { system: BILLING_SYSTEM.v2_0017, code: type } },
      ];
    }
    if (unit) (item.extension ??= []).push({ url: BILLING_SYSTEM.unitPrice, valueMoney: unit });
    if (scope.encounterUrl) item.context = { reference: scope.encounterUrl };
    if (end) item.occurrencePeriod = { start, end };
    else item.occurrenceDateTime = start;
    const performers: ChargeItemPerformer[] = [];
    for (const [field, role, display] of [
      [20, "PP", "Primary performer"],
      [21, "OP", "Ordering Provider"],
    ] as const) {
      for (let r = 0; r < ft1.reps(field); r++) {
        const actor = this.host.practitionerRef(ft1, field, r, ctx, out);
        if (!actor) continue;
        performers.push({
          function: { coding: [{ system: BILLING_SYSTEM.v2_0912, code: role, display }] },
          actor,
        });
      }
    }
    if (performers.length) item.performer = performers;
    if (quantity !== undefined) item.quantity = { value: quantity };
    if (extended) item.priceOverride = extended;
    else if (unit) {
      item.priceOverride = { ...unit, value: roundMoney(unit.value! * (quantity ?? 1)) };
    }
    if (entered) item.enteredDate = entered;
    const reasons: CodeableConcept[] = [];
    for (let r = 0; r < ft1.reps(19); r++) {
      const cc = cweAt(ft1, 19, r);
      if (cc) reasons.push(cc);
    }
    if (reasons.length) item.reason = reasons;
    const procedureCode = cweAt(ft1, 25);
    if (procedureCode) {
      const pkey: Identifier = { system: key.system, value: `${key.value}/FT1-25` };
      const proc: Procedure = {
        resourceType: "Procedure",
        identifier: [pkey],
        status: "completed",
        code: procedureCode,
        subject: { reference: scope.patientUrl },
      };
      if (scope.encounterUrl) proc.encounter = { reference: scope.encounterUrl };
      proc.performedDateTime = start;
      item.service = [{ reference: out.put(proc, pkey, location(ft1, 25)) }];
    }
    if (scope.accountUrl) item.account = [{ reference: scope.accountUrl }];
    const wanted = new Set(reasons.map(codeKey));
    const linked = conditions.filter((c) => wanted.size === 0 || wanted.has(codeKey(c.code)));
    if (linked.length) item.supportingInformation = linked.map((c) => ({ reference: c.url }));
    out.put(item, key, location(ft1, 2));
  }

  // ---- BAR^P01 / P02 / P12 ---------------------------------------------------------------

  bar(msg: V2Message, event: string, name: string, ctx: ConvertContext, out: BundleBuilder): void {
    const groups = visits(msg.segments);
    if (groups.length === 0) throw convertError("PID", `${name} has no PID segment`);
    const purged = new Set<string>();
    for (const visit of groups) {
      if (event === "P02") {
        const patient = this.host.patient(visit.pid, ctx);
        const patientUrl = out.ensure(patient, patientKey(patient, visit.pid));
        const acc = accountFrom(visit.pid, ctx, patientUrl);
        if (!acc) throw convertError(location(visit.pid, 18), `${name} needs the account number to purge`);
        acc.account.status = "inactive";
        // several patients may name one account: it is purged once, with the first as subject
        if (!purged.has(keyOf(acc.key))) out.put(acc.account, acc.key, location(visit.pid, 18));
        purged.add(keyOf(acc.key));
        continue;
      }
      if (event === "P12" && !visit.segments.some((s) => s.name === "DG1" || s.name === "PR1")) {
        throw convertError(location(visit.pid), `${name} has no DG1 or PR1 after this PID`);
      }
      if (event === "P01" && visit.pid.get(18, 1) === "") {
        throw convertError(location(visit.pid, 18), `${name} needs the account number to add`);
      }
      const scope = this.scope(visit, event, ctx, out);
      if (event === "P01") {
        const coverages = this.coverages(visit, scope, ctx, out);
        this.linkCoverages(visit, scope, coverages, out, "put");
      } else {
        this.linkCoverages(visit, scope, [], out, "ensure");
      }
      this.conditions(visit, scope, ctx, out);
      this.procedures(visit, scope, ctx, out);
    }
  }

  // ---- shared ----------------------------------------------------------------------------

  /** Patient and Encounter, created when missing (ADT owns them), and the Account's fullUrl. */
  private scope(visit: Visit, event: string, ctx: ConvertContext, out: BundleBuilder): Scope {
    const patient = this.host.patient(visit.pid, ctx);
    const pkey = patientKey(patient, visit.pid);
    const patientUrl = out.ensure(patient, pkey);
    const scope: Scope = { patientUrl, anchor: `PID|${pkey.system}|${pkey.value}` };
    const acc = accountFrom(visit.pid, ctx, patientUrl);
    if (acc) {
      scope.account = acc;
      scope.anchor = `PID-18|${keyOf(acc.key)}`;
    }
    if (visit.pv1) {
      const visitOnly = new EnsureOnly(out);
      this.host.encounter(visit.pv1, event, patientUrl, ctx, visitOnly);
      const encounterUrl = visitOnly.owned.get("Encounter");
      const vkey = encounterUrl ? cxToIdentifier(visit.pv1, ctx, 19) : undefined;
      if (encounterUrl && vkey) {
        scope.encounterUrl = encounterUrl;
        scope.anchor = `PV1-19|${keyOf(vkey)}`;
      }
    }
    return scope;
  }

  /** The Account (PID-18) with the coverages, written as `mode` says. */
  private linkCoverages(
    visit: Visit,
    scope: Scope,
    coverages: string[],
    out: BundleBuilder,
    mode: "ensure" | "put",
  ): void {
    const acc = scope.account;
    if (!acc) return;
    if (coverages.length) {
      acc.account.coverage = coverages.map((reference, i) => ({ coverage: { reference }, priority: i + 1 }));
    }
    scope.accountUrl =
      mode === "put"
        ? out.put(acc.account, acc.key, location(visit.pid, 18))
        : out.ensure(acc.account, acc.key);
  }

  /** IN1 -> Coverage (segment map IN1[Coverage]), in IN1 order. */
  private coverages(visit: Visit, scope: Scope, ctx: ConvertContext, out: BundleBuilder): string[] {
    const urls: string[] = [];
    const seen = new Set<string>();
    for (const in1 of visit.segments.filter((s) => s.name === "IN1")) {
      const payorId = cxToIdentifier(in1, ctx, 3);
      const payorName = in1.get(4, 1);
      let payor: Reference;
      if (payorId) {
        const org: Organization = { resourceType: "Organization", identifier: [payorId] };
        if (payorName) org.name = payorName;
        payor = { reference: out.ensure(org, payorId) };
        if (payorName) payor.display = payorName;
      } else if (payorName) {
        payor = { display: payorName };
      } else {
        throw convertError(location(in1, 3), "no insurance company ID (IN1-3) or name (IN1-4)");
      }
      const plan = cweAt(in1, 2);
      const group = in1.get(8).trim();
      const policy = in1.get(36).trim();
      const member = cxToIdentifier(in1, ctx, 49);
      const identifiers: Identifier[] = [];
      if (policy)
        identifiers.push({ system: senderSystem(ctx), value: policy, type: { text: "policy number" } });
      if (member) {
        if (!member.type) member.type = identifierType("MB");
        identifiers.push(member);
      }
      const key: Identifier = identifiers[0] ?? {
        system: senderSystem(ctx),
        value: `IN1-${hash([
          scope.anchor,
          payorId ? `${payorId.system}|${payorId.value}` : payorName,
          plan ? codeKey(plan) : "",
          group,
        ])}`,
      };
      if (identifiers.length === 0) identifiers.push(key);
      const cov: Coverage = {
        resourceType: "Coverage",
        identifier: identifiers,
        status: "active",
        beneficiary: { reference: scope.patientUrl },
        payor: [payor],
      };
      const type = cweAt(in1, 15, 0, BILLING_SYSTEM.v2_0086);
      if (type) cov.type = type;
      const subscriber = in1.get(49, 1).trim();
      if (subscriber) cov.subscriberId = subscriber;
      const rel = in1.get(17, 1).toUpperCase();
      if (rel) {
        const mapped = SUBSCRIBER_RELATIONSHIP[rel];
        cov.relationship = {
          coding: [{ system: BILLING_SYSTEM.subscriberRelationship, code: mapped ?? "other" }],
        };
      }
      const start = dateAt(in1, 12);
      const end = dateAt(in1, 13);
      if (start || end) {
        cov.period = {};
        if (start) cov.period.start = start;
        if (end) cov.period.end = end;
      }
      const classes: NonNullable<Coverage["class"]> = [];
      const planValue = in1.get(2, 1).trim();
      if (planValue) {
        const c: NonNullable<Coverage["class"]>[number] = {
          type: { coding: [{ system: BILLING_SYSTEM.coverageClass, code: "plan", display: "Plan" }] },
          value: planValue,
        };
        const planName = in1.get(2, 2).trim();
        if (planName) c.name = planName;
        classes.push(c);
      }
      if (group) {
        const c: NonNullable<Coverage["class"]>[number] = {
          type: { coding: [{ system: BILLING_SYSTEM.coverageClass, code: "group", display: "Group" }] },
          value: group,
        };
        const groupName = in1.get(9, 1).trim();
        if (groupName) c.name = groupName;
        classes.push(c);
      }
      if (classes.length) cov.class = classes;
      const setId = in1.get(1).trim();
      if (/^\d+$/.test(setId) && Number(setId) > 0) cov.order = Number(setId);
      if (!seen.has(keyOf(key))) {
        seen.add(keyOf(key));
        urls.push(out.put(cov, key, location(in1, 36)));
      }
    }
    return urls;
  }

  /** DG1 -> Condition (segment map DG1[Condition]), one per diagnosis code of the visit. */
  private conditions(
    visit: Visit,
    scope: Scope,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): Array<{ code: CodeableConcept; url: string }> {
    const found: Array<{ code: CodeableConcept; url: string }> = [];
    const seen = new Set<string>();
    for (const dg1 of visit.segments.filter((s) => s.name === "DG1")) {
      const text = dg1.get(4).trim();
      const code = cweAt(dg1, 3) ?? (text ? { text } : undefined);
      if (!code) throw convertError(location(dg1, 3), "no diagnosis code (DG1-3) or description (DG1-4)");
      const explicit = eiToIdentifier(dg1, ctx, 20);
      const key: Identifier = explicit ?? {
        system: senderSystem(ctx),
        value: `DG1-${hash([scope.anchor, codeKey(code)])}`,
      };
      if (seen.has(keyOf(key))) continue;
      seen.add(keyOf(key));
      const cond: Condition = {
        resourceType: "Condition",
        identifier: [key],
        category: [
          {
            coding: [
              {
                system: BILLING_SYSTEM.conditionCategory,
                code: "encounter-diagnosis",
                display: "Encounter Diagnosis",
              },
            ],
          },
        ],
        code,
        subject: { reference: scope.patientUrl },
      };
      if (scope.encounterUrl) cond.encounter = { reference: scope.encounterUrl };
      const onset = dateTimeAt(dg1, ctx, 5);
      if (onset) cond.onsetDateTime = onset;
      const recorded = dateTimeAt(dg1, ctx, 19);
      if (recorded) cond.recordedDate = recorded;
      const asserter = this.host.practitionerRef(dg1, 16, 0, ctx, out);
      if (asserter) cond.asserter = asserter;
      found.push({ code, url: out.put(cond, key, location(dg1, explicit ? 20 : 3)) });
    }
    return found;
  }

  /** PR1 -> Procedure (segment map PR1[Procedure]). */
  private procedures(visit: Visit, scope: Scope, ctx: ConvertContext, out: BundleBuilder): void {
    const seen = new Set<string>();
    for (const pr1 of visit.segments.filter((s) => s.name === "PR1")) {
      const code = cweAt(pr1, 3);
      if (!code) throw convertError(location(pr1, 3), "no procedure code");
      const performed = dateTimeAt(pr1, ctx, 5);
      const explicit = eiToIdentifier(pr1, ctx, 19);
      const key: Identifier = explicit ?? {
        system: senderSystem(ctx),
        value: `PR1-${hash([scope.anchor, codeKey(code), performed ?? ""])}`,
      };
      if (seen.has(keyOf(key))) continue;
      seen.add(keyOf(key));
      const proc: Procedure = {
        resourceType: "Procedure",
        identifier: [key],
        status: "completed",
        code,
        subject: { reference: scope.patientUrl },
      };
      if (scope.encounterUrl) proc.encounter = { reference: scope.encounterUrl };
      if (performed) proc.performedDateTime = performed;
      const performers: NonNullable<Procedure["performer"]> = [];
      for (const field of [11, 12]) {
        for (let r = 0; r < pr1.reps(field); r++) {
          const actor = this.host.practitionerRef(pr1, field, r, ctx, out);
          if (actor) performers.push({ actor });
        }
      }
      if (performers.length) proc.performer = performers;
      out.put(proc, key, location(pr1, explicit ? 19 : 3));
    }
  }
}

function roundMoney(n: number): number {
  return Math.round(n * 10000) / 10000;
}
