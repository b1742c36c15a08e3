import { CODES } from "../../error-codes";
import { PackError } from "../../errors";
import {
  addressAt,
  convertError,
  cweAt,
  cxList,
  cxToIdentifier,
  dateTimeAt,
  eiToIdentifier,
  hdAt,
  identifierType,
  nameAt,
  telecomAt,
  type ConvertContext,
} from "./datatypes";
import { addMinutes, fhirInstant, parseV2DateTime, TimeZone, toFhirDate, toFhirDateTime } from "./datetime";
import type {
  Account,
  Appointment,
  AppointmentParticipant,
  Bundle,
  CodeableConcept,
  Encounter,
  EncounterParticipant,
  Identifier,
  Location,
  Patient,
  Practitioner,
  Reference,
} from "./fhir-types";
import { accountFrom } from "./account";
import { BAR_EVENTS, BillingConverter, DFT_EVENTS } from "./billing";
import { BundleBuilder } from "./bundle";
import { patientKey, pickKey } from "./patient-key";
import { deterministicUuid, IdentifierSystems, type SystemOptions } from "./ids";
import {
  ADMINISTRATIVE_SEX,
  codes,
  DURATION_UNIT_MINUTES,
  EVENT_ENCOUNTER_STATUS,
  FILLER_STATUS,
  FILLER_TO_PARTICIPANT_STATUS,
  MARITAL_STATUS,
  PATIENT_CLASS,
  PATIENT_CLASS_STATUS,
  PV1_PARTICIPANTS,
  SIU_EVENT_STATUS,
  SYSTEM,
} from "./tables";
import { locationPath, PL_LEVELS } from "./location";
import { location, type V2Message, type V2Segment } from "./view";

export interface ToFhirOptions extends SystemOptions {
  /** Zone of v2 times that carry no offset: "" (the runtime's), "Z", "+hh:mm" or an IANA name. */
  timezone?: string;
}

export interface ToFhirResult {
  bundle: Bundle;
  /** Facts the converter could not write (never PHI): e.g. a PV1 without visit number. */
  warnings: string[];
}

/** ADT triggers converted as a plain snapshot of PID (+ PV1); the merge family is apart. */
const ADT_EVENTS = new Set([
  "A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A10", "A11", "A12", "A13", "A14",
  "A15", "A16", "A17", "A21", "A22", "A23", "A25", "A26", "A27", "A28", "A29", "A31", "A32", "A33",
  "A38", "A52", "A53", "A54", "A55", "A60", "A61", "A62",
]); // prettier-ignore

/**
 * The merge, move, change and link events, by what they act on. PID is the surviving (or target)
 * record; MRG names the prior one: MRG-1 prior patient identifiers, MRG-2 prior alternate patient
 * ID, MRG-3 prior account number, MRG-4 prior patient ID (before 2.7), MRG-5 prior visit number,
 * MRG-6 prior alternate visit ID.
 */
type MergeKind =
  | "merge-patient"
  | "merge-patient-account"
  | "merge-account"
  | "merge-visit"
  | "move-patient"
  | "move-account"
  | "move-visit"
  | "change-patient-id"
  | "change-alternate-id"
  | "change-account"
  | "change-visit"
  | "change-alternate-visit"
  | "link"
  | "unlink";

const MERGE_EVENTS: Readonly<Record<string, MergeKind>> = codes({
  A24: "link",
  A30: "merge-patient",
  A34: "merge-patient",
  A35: "merge-account",
  A36: "merge-patient-account",
  A37: "unlink",
  A39: "merge-patient",
  A40: "merge-patient",
  A41: "merge-account",
  A42: "merge-visit",
  A43: "move-patient",
  A44: "move-account",
  A45: "move-visit",
  A46: "change-patient-id",
  A47: "change-patient-id",
  A48: "change-alternate-id",
  A49: "change-account",
  A50: "change-visit",
  A51: "change-alternate-visit",
});

/** Events whose MRG-3 prior account must be given (A41 may carry none: a warning, as FHIR-Converter's sample). */
const ACCOUNT_REQUIRED = new Set(["A35", "A36"]);

const SIU_EVENTS = new Set(Object.keys(SIU_EVENT_STATUS));

/** A PID and what follows it up to the next PID: MRG/PV1 pairs (A45 and A50 may carry several). */
interface Group {
  pid: V2Segment;
  pairs: Array<{ mrg?: V2Segment; pv1?: V2Segment }>;
}

/** Resources one message writes more than once: an Account several PIDs name gains each as subject. */
interface AdtState {
  accounts: Map<string, Account>;
}

/** Converts ADT and SIU messages to idempotent FHIR transaction Bundles. */
export class V2ToFhir {
  private readonly systems: IdentifierSystems;
  private readonly zone: TimeZone;

  constructor(options: ToFhirOptions = {}) {
    this.systems = new IdentifierSystems(options);
    try {
      this.zone = new TimeZone(options.timezone ?? "");
    } catch {
      throw new PackError(CODES.HL7_CONFIG, `unknown time zone "${options.timezone}"`, {
        timezone: options.timezone,
      });
    }
  }

  convert(msg: V2Message): ToFhirResult {
    const { type, event } = msg.header;
    const name = event ? `${type}^${event}` : type;
    const ctx: ConvertContext = {
      systems: this.systems,
      zone: this.zone,
      // MSH-4.1: the header fact joins all HD components
      facility: msg.segments[0]?.name === "MSH" ? msg.segments[0].get(4) : (msg.header.sendingFacility ?? ""),
      warnings: [],
    };
    const out = new BundleBuilder();
    if (type === "ADT" && (ADT_EVENTS.has(event) || MERGE_EVENTS[event] !== undefined)) {
      this.adt(msg, event, name, ctx, out);
    } else if (type === "SIU" && SIU_EVENTS.has(event)) {
      this.siu(msg, event, name, ctx, out);
    } else if (type === "DFT" && DFT_EVENTS.has(event)) {
      new BillingConverter(this).dft(msg, event, name, ctx, out);
    } else if (type === "BAR" && BAR_EVENTS.has(event)) {
      new BillingConverter(this).bar(msg, event, name, ctx, out);
    } else {
      throw new PackError(
        CODES.HL7_UNSUPPORTED,
        `${name || "a message without MSH-9"} is not supported: hl7-fhir converts ADT (A01-A62 with PID: ` +
          `registration, visit, merge, move, change and link events), SIU (S12-S17, S26), DFT (P03, P11) ` +
          `and BAR (P01, P02, P12) messages`,
        { type, event },
      );
    }
    return { bundle: out.bundle(), warnings: ctx.warnings };
  }

  // ---- ADT -------------------------------------------------------------------------------

  private adt(msg: V2Message, event: string, name: string, ctx: ConvertContext, out: BundleBuilder): void {
    const groups = groupByPid(msg.segments);
    if (groups.length === 0) throw convertError("PID", `${name} has no PID segment`);
    const kind = MERGE_EVENTS[event];
    if (kind === "link" || kind === "unlink") {
      this.link(groups, kind === "link", name, ctx, out);
      return;
    }
    const state: AdtState = { accounts: new Map() };
    for (const g of groups) {
      if (kind) {
        this.mergeGroup(kind, event, name, g, ctx, out, state);
        continue;
      }
      const patient = this.patient(g.pid, ctx);
      if (event === "A29") patient.active = false;
      const patientUrl = out.put(patient, patientKey(patient, g.pid), location(g.pid, 3));
      const pv1 = g.pairs[0]?.pv1;
      if (pv1) this.encounter(pv1, event, patientUrl, ctx, out);
    }
  }

  /** One PID group of a merge, move or change event. */
  private mergeGroup(
    kind: MergeKind,
    event: string,
    name: string,
    g: Group,
    ctx: ConvertContext,
    out: BundleBuilder,
    state: AdtState,
  ): void {
    const mrgs = g.pairs.filter((p) => p.mrg).map((p) => p.mrg!);
    if (mrgs.length === 0) throw convertError(location(g.pid), `${name} has no MRG segment after this PID`);
    const patient = this.patient(g.pid, ctx);
    const key = patientKey(patient, g.pid);
    switch (kind) {
      case "merge-patient":
      case "merge-patient-account": {
        const fields = event === "A30" || event === "A39" ? [1, 4] : [1];
        const patientUrl = this.merge(g.pid, mrgs, patient, key, fields, ctx, out);
        if (kind === "merge-patient-account")
          this.mergeAccounts(g.pid, mrgs, patientUrl, true, ctx, out, state);
        return;
      }
      case "merge-account": {
        const patientUrl = out.put(patient, key, location(g.pid, 3));
        this.mergeAccounts(g.pid, mrgs, patientUrl, ACCOUNT_REQUIRED.has(event), ctx, out, state);
        return;
      }
      case "move-patient": {
        // one level of identifiers: the moved ones are those PID-3 now lists for the target patient
        for (const mrg of mrgs) {
          if (cxList(mrg, ctx, 1).length === 0) {
            throw convertError(location(mrg, 1), "no prior patient identifier");
          }
        }
        out.put(patient, key, location(g.pid, 3));
        return;
      }
      case "change-patient-id": {
        const fields = event === "A46" ? [1, 4] : [1];
        const priors: Identifier[] = [];
        for (const mrg of mrgs) {
          const ids = priorIds(mrg, ctx, fields);
          if (ids.length === 0) throw convertError(location(mrg, 1), "no prior patient identifier");
          priors.push(pickKey(ids));
        }
        addOld(patient, priors);
        // found by the prior identifier (kept, use old) or the new one: a resend finds the same Patient,
        // and a Patient with each would be two patients (412 multiple matches: a merge, not a change)
        out.put(patient, priors[0], location(mrgs[0], 1), sameId(priors[0], key) ? [] : [key]);
        return;
      }
      case "change-alternate-id": {
        const priors: Identifier[] = [];
        for (const mrg of mrgs) {
          const ids = cxList(mrg, ctx, 2);
          if (ids.length === 0) throw convertError(location(mrg, 2), "no prior alternate patient ID");
          priors.push(...ids);
        }
        addOld(patient, priors);
        out.put(patient, key, location(g.pid, 3));
        return;
      }
      case "move-account":
      case "change-account": {
        const patientUrl = out.put(patient, key, location(g.pid, 3));
        for (const mrg of mrgs)
          this.changeAccount(g.pid, mrg, patientUrl, kind === "change-account", ctx, out);
        return;
      }
      case "merge-visit":
      case "move-visit":
      case "change-visit":
      case "change-alternate-visit": {
        const patientUrl = out.put(patient, key, location(g.pid, 3));
        const account = accountFrom(g.pid, ctx, patientUrl);
        const accountRef = account ? { reference: out.ensure(account.account, account.key) } : undefined;
        for (const p of g.pairs) {
          if (!p.mrg) continue;
          if (!p.pv1) throw convertError(location(p.mrg), `${name} has no PV1 segment after this MRG`);
          this.changeVisit(kind, event, p.mrg, p.pv1, patientUrl, accountRef, ctx, out);
        }
        return;
      }
    }
  }

  /** Patient merge: the surviving Patient `replaces` each merged one, which is inactive and `replaced-by` it. */
  private merge(
    pid: V2Segment,
    mrgs: V2Segment[],
    surviving: Patient,
    survivingKey: Identifier,
    fields: number[],
    ctx: ConvertContext,
    out: BundleBuilder,
  ): string {
    const survivingUrl = deterministicUuid("Patient", `${survivingKey.system}|${survivingKey.value}`);
    const merged: Array<{ patient: Patient; key: Identifier; where: string }> = [];
    surviving.link = [];
    for (const mrg of mrgs) {
      const mergedIds = priorIds(mrg, ctx, fields);
      if (mergedIds.length === 0) throw convertError(location(mrg, 1), "no identifier of the merged patient");
      const patient: Patient = { resourceType: "Patient", identifier: mergedIds, active: false };
      const priorNames = [];
      for (let r = 0; r < mrg.reps(7); r++) {
        const n = nameAt(mrg, 7, r, "XPN");
        if (n) priorNames.push(n);
      }
      const names = priorNames.length ? priorNames : surviving.name;
      if (names) patient.name = names;
      if (surviving.gender) patient.gender = surviving.gender;
      if (surviving.birthDate) patient.birthDate = surviving.birthDate;
      const key = pickKey(mergedIds);
      if (key.system === survivingKey.system && key.value === survivingKey.value) {
        throw convertError(location(mrg, 1), "the merged patient has the surviving patient's identifier");
      }
      const mergedUrl = deterministicUuid("Patient", `${key.system}|${key.value}`);
      surviving.link.push({ other: { reference: mergedUrl }, type: "replaces" });
      patient.link = [{ other: { reference: survivingUrl }, type: "replaced-by" }];
      merged.push({ patient, key, where: location(mrg, 1) });
    }
    out.put(surviving, survivingKey, location(pid, 3));
    for (const m of merged) out.put(m.patient, m.key, m.where);
    return survivingUrl;
  }

  /**
   * Account merge: the surviving Account (PID-18) and each prior one (MRG-3), written inactive
   * with `partOf` the surviving Account. Without `required`, a group with no MRG-3 merges nothing
   * (a warning).
   */
  private mergeAccounts(
    pid: V2Segment,
    mrgs: V2Segment[],
    patientUrl: string,
    required: boolean,
    ctx: ConvertContext,
    out: BundleBuilder,
    state: AdtState,
  ): void {
    const surviving = accountFrom(pid, ctx, patientUrl);
    if (!surviving) throw convertError(location(pid, 18), "no patient account number");
    const survivingUrl = this.putAccount(surviving.account, surviving.key, location(pid, 18), out, state);
    for (const mrg of mrgs) {
      const prior = accountFrom(mrg, ctx, patientUrl, 3);
      if (!prior) {
        if (required) throw convertError(location(mrg, 3), "no prior patient account number");
        ctx.warnings.push(`${location(mrg, 3)}: no prior account number, so no account was merged`);
        continue;
      }
      if (sameId(prior.key, surviving.key)) {
        throw convertError(location(mrg, 3), "the prior account is the surviving account");
      }
      prior.account.status = "inactive";
      prior.account.partOf = { reference: survivingUrl };
      this.putAccount(prior.account, prior.key, location(mrg, 3), out, state);
    }
  }

  /** An Account entry once per message; a second PID naming it is added to its subjects. */
  private putAccount(
    account: Account,
    key: Identifier,
    where: string,
    out: BundleBuilder,
    state: AdtState,
  ): string {
    const url = deterministicUuid("Account", `${key.system}|${key.value}`);
    const known = state.accounts.get(url);
    if (!known) {
      state.accounts.set(url, account);
      return out.put(account, key, where);
    }
    if (known.status !== account.status) throw convertError(where, "an account both merged and surviving");
    for (const s of account.subject ?? []) {
      if (!known.subject?.some((k) => k.reference === s.reference)) (known.subject ??= []).push(s);
    }
    return url;
  }

  /**
   * Account move (A44) or number change (A49): the Account found by its prior number MRG-3 now has
   * the patient of PID as subject and PID-18 as its number, keeping the prior one (use old).
   */
  private changeAccount(
    pid: V2Segment,
    mrg: V2Segment,
    patientUrl: string,
    numberRequired: boolean,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    const prior = accountFrom(mrg, ctx, patientUrl, 3);
    if (!prior) throw convertError(location(mrg, 3), "no prior patient account number");
    const current = accountFrom(pid, ctx, patientUrl);
    if (!current && numberRequired) throw convertError(location(pid, 18), "no patient account number");
    const account = current?.account ?? prior.account;
    const changed = current !== undefined && !sameId(current.key, prior.key);
    if (changed) account.identifier = [current.key, { ...prior.key, use: "old" }];
    out.put(account, prior.key, location(mrg, 3), changed ? [current.key] : []);
  }

  /**
   * Visit merge (A42), move (A45), number change (A50) and alternate ID change (A51): the
   * Encounter of PV1, for the patient of PID.
   */
  private changeVisit(
    kind: "merge-visit" | "move-visit" | "change-visit" | "change-alternate-visit",
    event: string,
    mrg: V2Segment,
    pv1: V2Segment,
    patientUrl: string,
    account: Reference | undefined,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    const built = this.encounterResource(pv1, event, patientUrl, ctx, out);
    if (!built) throw convertError(location(pv1, 19), "no visit number");
    const { enc, visit } = built;
    if (account) enc.account = [account];
    if (kind === "change-alternate-visit") {
      const prior = cxToIdentifier(mrg, ctx, 6);
      if (!prior) throw convertError(location(mrg, 6), "no prior alternate visit ID");
      const alternate = cxToIdentifier(pv1, ctx, 50);
      if (alternate && !sameId(alternate, visit)) enc.identifier!.push(alternate);
      if (!enc.identifier!.some((i) => sameId(i, prior))) enc.identifier!.push({ ...prior, use: "old" });
      out.put(enc, visit, location(pv1, 19));
      return;
    }
    const prior = cxToIdentifier(mrg, ctx, 5);
    if (!prior) throw convertError(location(mrg, 5), "no prior visit number");
    prior.type = identifierType("VN");
    if (kind === "merge-visit") {
      if (sameId(prior, visit))
        throw convertError(location(mrg, 5), "the prior visit is the surviving visit");
      const survivingUrl = out.put(enc, visit, location(pv1, 19));
      const merged: Encounter = {
        resourceType: "Encounter",
        identifier: [prior],
        status: "entered-in-error",
        class: enc.class,
        subject: { reference: patientUrl },
        partOf: { reference: survivingUrl },
      };
      out.put(merged, prior, location(mrg, 5));
      return;
    }
    // found by the prior visit number (kept, use old) or the new one: a resend finds the same Encounter
    const changed = !sameId(prior, visit);
    if (changed) enc.identifier!.push({ ...prior, use: "old" });
    out.put(enc, prior, location(mrg, 5), changed ? [visit] : []);
  }

  /** A24 links two patients (`seealso` both ways); A37 writes them again without the link. */
  private link(
    groups: Group[],
    linked: boolean,
    name: string,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    if (groups.length !== 2) {
      throw convertError(
        groups.length < 2 ? "PID" : location(groups[2].pid),
        `${name} needs exactly two PID segments`,
      );
    }
    const patients = groups.map((g) => {
      const patient = this.patient(g.pid, ctx);
      const key = patientKey(patient, g.pid);
      return { patient, key, url: deterministicUuid("Patient", `${key.system}|${key.value}`) };
    });
    if (sameId(patients[0].key, patients[1].key)) {
      throw convertError(location(groups[1].pid, 3), "both PID segments name the same patient");
    }
    patients.forEach((p, i) => {
      if (linked) p.patient.link = [{ other: { reference: patients[1 - i].url }, type: "seealso" }];
      out.put(p.patient, p.key, location(groups[i].pid, 3));
    });
  }

  /** PID -> Patient (segment map PID[Patient]). */
  patient(pid: V2Segment, ctx: ConvertContext): Patient {
    const p: Patient = { resourceType: "Patient" };
    // PID-3 first: its first identifier is the business key; PID-2 and PID-4 (older versions) follow
    const ids: Identifier[] = [];
    const seen = new Set<string>();
    for (const field of [3, 2, 4]) {
      for (const id of cxList(pid, ctx, field)) {
        const k = `${id.system}|${id.value}`;
        if (seen.has(k)) continue;
        seen.add(k);
        ids.push(id);
      }
    }
    if (ids.length === 0) throw convertError(location(pid, 3), "no patient identifier");
    p.identifier = ids;
    const names = [];
    for (let r = 0; r < pid.reps(5); r++) {
      const n = nameAt(pid, 5, r, "XPN");
      if (n) names.push(n);
    }
    if (names.length) p.name = names;
    const telecom = [];
    for (const [field, use] of [
      [13, "home"],
      [14, "work"],
    ] as const) {
      for (let r = 0; r < pid.reps(field); r++) {
        const t = telecomAt(pid, field, r, use);
        if (t) telecom.push(t);
      }
    }
    if (telecom.length) p.telecom = telecom;
    const sex = pid.get(8);
    if (sex !== "") {
      const gender = ADMINISTRATIVE_SEX[sex.toUpperCase()];
      if (gender) p.gender = gender;
      else ctx.warnings.push(`${location(pid, 8)}: code not in table 0001, gender left empty`);
    }
    const birth = pid.get(7);
    if (birth !== "") {
      const v = parseV2DateTime(birth);
      if (!v) throw convertError(location(pid, 7), "not a valid HL7 date/time");
      p.birthDate = toFhirDate(v);
      if (v.hour !== undefined) {
        p._birthDate = { extension: [{ url: SYSTEM.birthTime, valueDateTime: toFhirDateTime(v, ctx.zone) }] };
      }
    }
    const deathTime = dateTimeAt(pid, ctx, 29);
    const deathFlag = pid.get(30).toUpperCase();
    if (deathTime) p.deceasedDateTime = deathTime;
    else if (deathFlag === "Y") p.deceasedBoolean = true;
    else if (deathFlag === "N") p.deceasedBoolean = false;
    const addresses = [];
    for (let r = 0; r < pid.reps(11); r++) {
      const a = addressAt(pid, 11, r);
      if (a) addresses.push(a);
    }
    if (addresses.length) p.address = addresses;
    const marital = pid.get(16).toUpperCase();
    if (marital !== "") {
      const mapped = MARITAL_STATUS[marital];
      p.maritalStatus = {
        coding: [mapped ? { ...mapped } : { system: SYSTEM.v2_0002, code: marital }],
      };
      const text = pid.get(16, 2);
      if (text !== "") p.maritalStatus.text = text;
    }
    const order = pid.get(25);
    const multiple = pid.get(24).toUpperCase();
    if (/^\d+$/.test(order) && Number(order) > 0) p.multipleBirthInteger = Number(order);
    else if (multiple === "Y") p.multipleBirthBoolean = true;
    else if (multiple === "N") p.multipleBirthBoolean = false;
    const maiden = pid.get(6);
    if (maiden !== "") p.extension = [{ url: SYSTEM.mothersMaidenName, valueString: maiden }];
    return p;
  }

  /** PV1 -> Encounter (segment map PV1[Encounter]); written only when PV1-19 names the visit. */
  encounter(
    pv1: V2Segment,
    event: string,
    patientUrl: string,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    const built = this.encounterResource(pv1, event, patientUrl, ctx, out);
    if (built) out.put(built.enc, built.visit, location(pv1, 19));
  }

  /** The Encounter of a PV1 and its visit number (PV1-19); undefined without a visit number. */
  private encounterResource(
    pv1: V2Segment,
    event: string,
    patientUrl: string,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): { enc: Encounter; visit: Identifier } | undefined {
    const patientClass = pv1.get(2).toUpperCase();
    const visit = cxToIdentifier(pv1, ctx, 19);
    if (!visit) {
      if (patientClass !== "" && patientClass !== "N") {
        ctx.warnings.push(`${location(pv1, 19)}: no visit number, so no Encounter was written`);
      }
      return undefined;
    }
    visit.type = identifierType("VN");
    const enc: Encounter = {
      resourceType: "Encounter",
      identifier: [visit],
      status: "unknown",
      class: PATIENT_CLASS[patientClass || "U"] ?? { system: SYSTEM.v2_0004, code: patientClass },
    };
    const admitted = dateTimeAt(pv1, ctx, 44);
    const discharged = dateTimeAt(pv1, ctx, 45);
    enc.status =
      EVENT_ENCOUNTER_STATUS[event] ??
      (discharged ? "finished" : (PATIENT_CLASS_STATUS[patientClass] ?? "unknown"));
    const admissionType = cweAt(pv1, 4, 0, SYSTEM.v2_0007);
    if (admissionType) enc.type = [admissionType];
    const service = cweAt(pv1, 10, 0, SYSTEM.v2_0069);
    if (service) enc.serviceType = service;
    enc.subject = { reference: patientUrl };
    const participants: EncounterParticipant[] = [];
    for (const role of PV1_PARTICIPANTS) {
      for (let r = 0; r < pv1.reps(role.field); r++) {
        const individual = this.practitionerRef(pv1, role.field, r, ctx, out);
        if (!individual) continue;
        participants.push({
          type: [{ coding: [{ system: SYSTEM.participationType, code: role.code, display: role.display }] }],
          individual,
        });
      }
    }
    if (participants.length) enc.participant = participants;
    if (admitted || discharged) {
      enc.period = {};
      if (admitted) enc.period.start = admitted;
      if (discharged) enc.period.end = discharged;
    }
    const preAdmit = cxToIdentifier(pv1, ctx, 5);
    const admitSource = cweAt(pv1, 14, 0, SYSTEM.v2_0023);
    const disposition = cweAt(pv1, 36, 0, SYSTEM.v2_0112);
    if (preAdmit || admitSource || disposition) {
      enc.hospitalization = {};
      if (preAdmit) enc.hospitalization.preAdmissionIdentifier = preAdmit;
      if (admitSource) enc.hospitalization.admitSource = admitSource;
      if (disposition) enc.hospitalization.dischargeDisposition = disposition;
    }
    const place = this.locationRef(pv1, 3, ctx, out);
    if (place) enc.location = [{ location: place, status: patientClass === "P" ? "planned" : "active" }];
    return { enc, visit };
  }

  /** XCN -> a Practitioner entry (ifNoneExist by identifier); name-only XCNs stay a display. */
  practitionerRef(
    seg: V2Segment,
    field: number,
    repetition: number,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): Reference | undefined {
    const idValue = seg.get(field, 1, 1, repetition);
    const name = nameAt(seg, field, repetition, "XCN");
    if (idValue === "" && !name) return undefined;
    const display = name
      ? [name.prefix?.[0], ...(name.given ?? []), name.family].filter(Boolean).join(" ")
      : idValue;
    if (idValue === "") return { display };
    const id: Identifier = {
      system: ctx.systems.system(hdAt(seg, field, 9, repetition), ctx.facility),
      value: idValue,
    };
    const type = seg.get(field, 13, 1, repetition);
    if (type !== "") id.type = identifierType(type);
    const pr: Practitioner = { resourceType: "Practitioner", identifier: [id] };
    if (name) pr.name = [name];
    const ref: Reference = { reference: out.ensure(pr, id) };
    if (display) ref.display = display;
    return ref;
  }

  /**
   * PL -> one Location entry per valued level (point of care, room, bed; see location.ts), each
   * ensured (ifNoneExist by facility + path) and `partOf` the level above; the reference is to the
   * most specific one. PL-9 (description) is that Location's description and the display.
   */
  locationRef(seg: V2Segment, field: number, ctx: ConvertContext, out: BundleBuilder): Reference | undefined {
    const parts = PL_LEVELS.map((_, i) => seg.get(field, i + 1));
    while (parts.length && parts[parts.length - 1] === "") parts.pop();
    const description = seg.get(field, 9);
    if (parts.length === 0) return description ? { display: description } : undefined;
    const system = ctx.systems.system(hdAt(seg, field, 4), ctx.facility);
    let parent: string | undefined;
    parts.forEach((name, level) => {
      if (name === "") return;
      const id: Identifier = { system, value: locationPath(parts.slice(0, level + 1)) };
      const kind = PL_LEVELS[level];
      const loc: Location = {
        resourceType: "Location",
        identifier: [id],
        status: "active",
        name,
        mode: "instance",
        physicalType: {
          coding: [{ system: SYSTEM.locationPhysicalType, code: kind.code, display: kind.display }],
        },
      };
      if (level === parts.length - 1 && description) loc.description = description;
      if (parent) loc.partOf = { reference: parent };
      parent = out.ensure(loc, id);
    });
    return { reference: parent!, display: description || parts.filter(Boolean).join(" ") };
  }

  // ---- SIU -------------------------------------------------------------------------------

  private siu(msg: V2Message, event: string, name: string, ctx: ConvertContext, out: BundleBuilder): void {
    const segs = msg.segments;
    const sch = segs.find((s) => s.name === "SCH");
    if (!sch) throw convertError("SCH", `${name} has no SCH segment`);
    const tq1 = segs.find((s) => s.name === "TQ1");
    const pid = segs.find((s) => s.name === "PID");

    const placer = eiToIdentifier(sch, ctx, 1, "PLAC");
    const filler = eiToIdentifier(sch, ctx, 2, "FILL");
    const key = filler ?? placer;
    if (!key) throw convertError(location(sch, 1), "no placer (SCH-1) or filler (SCH-2) appointment ID");

    const fillerStatus = sch.get(25).toUpperCase();
    const status = FILLER_STATUS[fillerStatus] ?? SIU_EVENT_STATUS[event];
    const appt = {
      resourceType: "Appointment",
      identifier: [placer, filler].filter((i): i is Identifier => i !== undefined),
      status,
    } as Appointment;
    const participants: AppointmentParticipant[] = [];

    const services: CodeableConcept[] = [];
    const ais = segs.filter((s) => s.name === "AIS" && s.get(2).toUpperCase() !== "D");
    for (const s of ais) {
      const cc = cweAt(s, 3);
      if (cc) services.push(cc);
    }
    if (services.length) appt.serviceType = services;
    const apptType = cweAt(sch, 8, 0, SYSTEM.v2_0277);
    if (apptType) appt.appointmentType = apptType;
    const reason = cweAt(sch, 7, 0, SYSTEM.v2_0276);
    if (reason) appt.reasonCode = [reason];

    this.timing(appt, sch, tq1, ais, ctx);

    const defaultStatus =
      status === "cancelled" || status === "noshow" || status === "entered-in-error"
        ? "declined"
        : status === "proposed" || status === "pending" || status === "waitlist"
          ? "needs-action"
          : "accepted";
    const participantStatus = (seg: V2Segment, field: number): string =>
      FILLER_TO_PARTICIPANT_STATUS[seg.get(field).toUpperCase()] ?? defaultStatus;

    if (pid) {
      // ADT owns the demographics: an SIU only makes sure its patient exists
      const patient = this.patient(pid, ctx);
      const url = out.ensure(patient, patientKey(patient, pid));
      participants.push({ actor: { reference: url }, required: "required", status: defaultStatus });
    }
    for (const seg of segs) {
      if (seg.name !== "AIG" && seg.name !== "AIL" && seg.name !== "AIP") continue;
      if (seg.get(2).toUpperCase() === "D") continue;
      let p: AppointmentParticipant | undefined;
      if (seg.name === "AIG") {
        const label = seg.get(3, 2) || seg.get(3, 1);
        const type = cweAt(seg, 4);
        if (!label && !type) continue;
        p = { status: participantStatus(seg, 14) };
        if (type) p.type = [type];
        if (label) p.actor = { display: label };
      } else if (seg.name === "AIL") {
        const actor = this.locationRef(seg, 3, ctx, out);
        if (!actor) continue;
        p = { actor, status: participantStatus(seg, 12) };
        const type = cweAt(seg, 4);
        if (type) p.type = [type];
      } else if (seg.name === "AIP") {
        const actor = this.practitionerRef(seg, 3, 0, ctx, out);
        if (!actor) continue;
        p = { actor, status: participantStatus(seg, 12) };
        const role = cweAt(seg, 4, 0, SYSTEM.v2_0443);
        if (role) p.type = [role];
      }
      if (p) {
        p.required = "required";
        participants.push(reorder(p));
      }
    }
    appt.participant = participants;
    if (participants.length === 0) {
      throw convertError("PID", `${name} has neither a PID nor a resource segment (AIG/AIL/AIP)`);
    }
    out.put(appt, key, location(sch, filler ? 2 : 1));
  }

  /** start/end/minutesDuration from TQ1 (2.5+), SCH-11 (TQ, older), SCH-9/10 and AIS-4/7/8. */
  private timing(
    appt: Appointment,
    sch: V2Segment,
    tq1: V2Segment | undefined,
    ais: V2Segment[],
    ctx: ConvertContext,
  ): void {
    const firstAis = ais.find((s) => s.get(4) !== "");
    const start =
      (tq1 && dateTimeAt(tq1, ctx, 7)) ||
      dateTimeAt(sch, ctx, 11, 4) ||
      (firstAis ? dateTimeAt(firstAis, ctx, 4) : undefined);
    let end = (tq1 && dateTimeAt(tq1, ctx, 8)) || dateTimeAt(sch, ctx, 11, 5);
    let minutes =
      duration(sch, 9, sch.get(10)) ??
      (tq1 ? duration(tq1, 6, tq1.get(6, 2)) : undefined) ??
      ais.map((s) => duration(s, 7, s.get(8))).find((m) => m !== undefined);
    if (start && !end && minutes !== undefined) end = addMinutes(start, minutes);
    if (start && end && minutes === undefined) {
      const a = fhirInstant(start);
      const b = fhirInstant(end);
      if (a !== undefined && b !== undefined && b > a) minutes = Math.round((b - a) / 60000);
    }
    const open = appt.status === "proposed" || appt.status === "cancelled" || appt.status === "waitlist";
    if (!open && !(start && end)) {
      throw convertError(
        tq1 ? location(tq1, 7) : location(sch, 11),
        `an appointment in status ${appt.status} needs a start and an end (or a duration)`,
      );
    }
    if (start && end) {
      appt.start = start;
      appt.end = end;
    }
    if (minutes !== undefined && minutes > 0) appt.minutesDuration = minutes;
  }
}

function reorder(p: AppointmentParticipant): AppointmentParticipant {
  const out: AppointmentParticipant = {} as AppointmentParticipant;
  if (p.type) out.type = p.type;
  if (p.actor) out.actor = p.actor;
  if (p.required) out.required = p.required;
  out.status = p.status;
  return out;
}

/** A duration field in its units (SCH-10 / AIS-8 / TQ1-6.2 code) as whole minutes. */
function duration(seg: V2Segment, field: number, unitCode: string): number | undefined {
  const raw = seg.get(field);
  if (raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw convertError(location(seg, field), "not a number");
  const unit = unitCode === "" ? 1 : DURATION_UNIT_MINUTES[unitCode.toUpperCase()];
  if (unit === undefined) throw convertError(location(seg, field + 1), "unknown duration unit");
  return Math.round(n * unit);
}

function groupByPid(segments: readonly V2Segment[]): Group[] {
  const groups: Group[] = [];
  let current: Group | undefined;
  for (const seg of segments) {
    if (seg.name === "PID") {
      current = { pid: seg, pairs: [] };
      groups.push(current);
    } else if (current && (seg.name === "MRG" || seg.name === "PV1")) {
      const slot = seg.name === "MRG" ? "mrg" : "pv1";
      const last = current.pairs[current.pairs.length - 1];
      if (last && !last[slot]) last[slot] = seg;
      else current.pairs.push({ [slot]: seg });
    }
  }
  return groups;
}

/** Prior patient identifiers of an MRG: MRG-1, and MRG-4 where `fields` names it. */
function priorIds(mrg: V2Segment, ctx: ConvertContext, fields: number[]): Identifier[] {
  const out: Identifier[] = [];
  for (const field of fields) {
    for (const id of cxList(mrg, ctx, field)) if (!out.some((o) => sameId(o, id))) out.push(id);
  }
  return out;
}

/** Adds prior identifiers the Patient no longer lists, marked use old. */
function addOld(patient: Patient, priors: Identifier[]): void {
  const ids = (patient.identifier ??= []);
  for (const prior of priors) if (!ids.some((i) => sameId(i, prior))) ids.push({ ...prior, use: "old" });
}

function sameId(a: Identifier, b: Identifier): boolean {
  return a.system === b.system && a.value === b.value;
}
