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
import { BAR_EVENTS, BillingConverter, DFT_EVENTS } from "./billing";
import { BundleBuilder } from "./bundle";
import { deterministicUuid, IdentifierSystems, type SystemOptions } from "./ids";
import {
  ADMINISTRATIVE_SEX,
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

/** Patient merges: PID is the surviving record, MRG-1 the one merged into it. */
const MERGE_EVENTS = new Set(["A34", "A40"]);

const SIU_EVENTS = new Set(Object.keys(SIU_EVENT_STATUS));

/** Identifier types tried, in order, for the business key of a Patient. */
const PATIENT_KEY_TYPES = ["MR", "PI", "PT", "PE"];

interface Group {
  pid: V2Segment;
  pv1?: V2Segment;
  mrg?: V2Segment;
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
      throw new PackError("HL7_CONFIG", `unknown time zone "${options.timezone}"`, {
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
    if (type === "ADT" && (ADT_EVENTS.has(event) || MERGE_EVENTS.has(event))) {
      this.adt(msg, event, name, ctx, out);
    } else if (type === "SIU" && SIU_EVENTS.has(event)) {
      this.siu(msg, event, name, ctx, out);
    } else if (type === "DFT" && DFT_EVENTS.has(event)) {
      new BillingConverter(this).dft(msg, event, name, ctx, out);
    } else if (type === "BAR" && BAR_EVENTS.has(event)) {
      new BillingConverter(this).bar(msg, event, name, ctx, out);
    } else {
      throw new PackError(
        "HL7_UNSUPPORTED",
        `${name || "a message without MSH-9"} is not supported: hl7-fhir converts ADT (A01-A62 with PID, ` +
          `merges A34/A40), SIU (S12-S17, S26), DFT (P03, P11) and BAR (P01, P02, P12) messages`,
        { type, event },
      );
    }
    return { bundle: out.bundle(), warnings: ctx.warnings };
  }

  // ---- ADT -------------------------------------------------------------------------------

  private adt(msg: V2Message, event: string, name: string, ctx: ConvertContext, out: BundleBuilder): void {
    const groups = groupByPid(msg.segments);
    if (groups.length === 0) throw convertError("PID", `${name} has no PID segment`);
    const merge = MERGE_EVENTS.has(event);
    for (const g of groups) {
      const patient = this.patient(g.pid, ctx);
      if (event === "A29") patient.active = false;
      const key = patientKey(patient, g.pid);
      if (merge) {
        if (!g.mrg) throw convertError(location(g.pid), `${name} has no MRG segment after this PID`);
        this.merge(g.pid, g.mrg, patient, key, ctx, out);
      } else {
        const patientUrl = out.put(patient, key, location(g.pid, 3));
        if (g.pv1) this.encounter(g.pv1, event, patientUrl, ctx, out);
      }
    }
  }

  private merge(
    pid: V2Segment,
    mrg: V2Segment,
    surviving: Patient,
    survivingKey: Identifier,
    ctx: ConvertContext,
    out: BundleBuilder,
  ): void {
    const mergedIds = cxList(mrg, ctx, 1);
    if (mergedIds.length === 0) throw convertError(location(mrg, 1), "no identifier of the merged patient");
    const merged: Patient = { resourceType: "Patient", identifier: mergedIds, active: false };
    const priorNames = [];
    for (let r = 0; r < mrg.reps(7); r++) {
      const n = nameAt(mrg, 7, r, "XPN");
      if (n) priorNames.push(n);
    }
    const names = priorNames.length ? priorNames : surviving.name;
    if (names) merged.name = names;
    if (surviving.gender) merged.gender = surviving.gender;
    if (surviving.birthDate) merged.birthDate = surviving.birthDate;
    const mergedKey = pickKey(mergedIds);
    if (mergedKey.system === survivingKey.system && mergedKey.value === survivingKey.value) {
      throw convertError(location(mrg, 1), "the merged patient has the surviving patient's identifier");
    }
    const survivingUrl = deterministicUuid("Patient", `${survivingKey.system}|${survivingKey.value}`);
    const mergedUrl = deterministicUuid("Patient", `${mergedKey.system}|${mergedKey.value}`);
    surviving.link = [{ other: { reference: mergedUrl }, type: "replaces" }];
    merged.link = [{ other: { reference: survivingUrl }, type: "replaced-by" }];
    out.put(surviving, survivingKey, location(pid, 3));
    out.put(merged, mergedKey, location(mrg, 1));
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
    const patientClass = pv1.get(2).toUpperCase();
    const visit = cxToIdentifier(pv1, ctx, 19);
    if (!visit) {
      if (patientClass !== "" && patientClass !== "N") {
        ctx.warnings.push(`${location(pv1, 19)}: no visit number, so no Encounter was written`);
      }
      return;
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
    out.put(enc, visit, location(pv1, 19));
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

  /** PL -> a Location entry (ifNoneExist by facility + point of care^room^bed). */
  locationRef(seg: V2Segment, field: number, ctx: ConvertContext, out: BundleBuilder): Reference | undefined {
    const parts = [seg.get(field, 1), seg.get(field, 2), seg.get(field, 3)];
    while (parts.length && parts[parts.length - 1] === "") parts.pop();
    const description = seg.get(field, 9);
    if (parts.length === 0) return description ? { display: description } : undefined;
    const value = parts.join("^");
    const id: Identifier = { system: ctx.systems.system(hdAt(seg, field, 4), ctx.facility), value };
    const name = description || parts.filter(Boolean).join(" ");
    const kind = parts.length === 3 ? ["bd", "Bed"] : parts.length === 2 ? ["ro", "Room"] : ["wa", "Ward"];
    const loc: Location = {
      resourceType: "Location",
      identifier: [id],
      status: "active",
      name,
      mode: "instance",
      physicalType: { coding: [{ system: SYSTEM.locationPhysicalType, code: kind[0], display: kind[1] }] },
    };
    return { reference: out.ensure(loc, id), display: name };
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
      current = { pid: seg };
      groups.push(current);
    } else if (current && seg.name === "PV1" && !current.pv1) current.pv1 = seg;
    else if (current && seg.name === "MRG" && !current.mrg) current.mrg = seg;
  }
  return groups;
}

/** The identifier a Patient is found by: the first of type MR, PI, PT, PE, else the first. */
function pickKey(ids: Identifier[]): Identifier {
  for (const type of PATIENT_KEY_TYPES) {
    const hit = ids.find((i) => i.type?.coding?.[0]?.code === type);
    if (hit) return hit;
  }
  return ids[0];
}

function patientKey(p: Patient, pid: V2Segment): Identifier {
  if (!p.identifier?.length) throw convertError(location(pid, 3), "no patient identifier");
  return pickKey(p.identifier);
}
