import { CODES } from "../../error-codes";
import { PackError } from "../../errors";
import { fhirToV2DateTime } from "./datetime";
import type {
  Address,
  Appointment,
  AppointmentParticipant,
  Bundle,
  CodeableConcept,
  ContactPoint,
  HumanName,
  Identifier,
  Location,
  Patient,
  Practitioner,
  Reference,
  Resource,
} from "./fhir-types";
import { IdentifierSystems, type Hd, type SystemOptions } from "./ids";
import { locationLevel, parseLocationPath, PL_LEVELS } from "./location";
import { chargeMessages, type DftHost } from "./to-hl7-billing";
import type { ChargeItem } from "./billing-types";
import {
  ADDRESS_USE_TO_V2,
  APPOINTMENT_STATUS_TO_FILLER,
  CONTACT_SYSTEM_TO_V2,
  CONTACT_USE_TO_V2,
  GENDER_TO_SEX,
  MARITAL_STATUS_TO_V2,
  NAME_USE_TO_V2,
  PARTICIPANT_STATUS_TO_FILLER,
  SYSTEM,
} from "./tables";

/**
 * FHIR -> v2: Patient -> ADT^A28 / ADT^A31, Appointment -> SIU^S12 / S14 / S15 (S17, S26).
 * Segments are built as values (never as text), then serialised with every value escaped.
 */

/** A component: its text, or its subcomponents. */
export type Component = string | string[];
/** One repetition of a field: its components. */
export type Repetition = Component[];

export class SegmentBuilder {
  readonly fields: Repetition[][] = [];
  constructor(readonly name: string) {}

  /** Sets field `n` to one repetition (a plain string is one component). */
  set(n: number, value: string | Repetition | undefined): this {
    if (value === undefined || value === "") return this;
    this.fields[n] = [typeof value === "string" ? [value] : value];
    return this;
  }

  /** Sets field `n` to several repetitions (empty ones dropped). */
  setReps(n: number, reps: Repetition[]): this {
    const kept = reps.filter((r) =>
      r.some((c) => (typeof c === "string" ? c !== "" : c.some((s) => s !== ""))),
    );
    if (kept.length) this.fields[n] = kept;
    return this;
  }
}

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_DELIMITERS: Delimiters = {
  field: "|",
  component: "^",
  repetition: "~",
  escape: "\\",
  subcomponent: "&",
};

function trimEnd<T>(list: T[], empty: (t: T) => boolean): T[] {
  let n = list.length;
  while (n > 0 && empty(list[n - 1])) n--;
  return n === list.length ? list : list.slice(0, n);
}

/** Serialises a (non-MSH) segment; `escape` escapes the delimiters inside one value. */
export function serializeSegment(
  seg: SegmentBuilder,
  escape: (s: string) => string,
  d = DEFAULT_DELIMITERS,
): string {
  const fields: string[] = [seg.name];
  for (let i = 1; i < seg.fields.length; i++) {
    const reps = seg.fields[i];
    if (!reps) {
      fields.push("");
      continue;
    }
    const text = reps
      .map((rep) =>
        trimEnd(
          rep.map((c) =>
            typeof c === "string" ? escape(c) : trimEnd(c.map(escape), (s) => s === "").join(d.subcomponent),
          ),
          (s) => s === "",
        ).join(d.component),
      )
      .join(d.repetition);
    fields.push(text);
  }
  return trimEnd(fields, (s) => s === "").join(d.field);
}

export interface MshFields {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-9 components: type, event, structure. */
  messageType: [string, string, string?];
  controlId: string;
  version: string;
  /** MSH-7 */
  timestamp: string;
}

export interface Hl7Writer {
  /** The MSH segment text (delimiters, escaped values). */
  msh(fields: MshFields): string;
  /** Escapes one value for the default delimiters. */
  escape(value: string): string;
  /** A fresh MSH-10. */
  controlId(): string;
  /** MSH-7 / EVN-2 for this instant. */
  timestamp(now: Date): string;
  /** Segment separator of the output. */
  segmentSeparator?: string;
}

export interface ToHl7Options extends SystemOptions {
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /** MSH-12; default "2.5.1". */
  version?: string;
}

export interface Hl7Output {
  /** The message text, segments ended by CR. */
  text: string;
  header: {
    type: string;
    event: string;
    structure?: string;
    controlId: string;
    version: string;
    sendingApplication: string;
    sendingFacility: string;
    receivingApplication: string;
    receivingFacility: string;
    timestamp: string;
  };
}

const SUPPORTED_VERSIONS = /^2\.(3|3\.1|4|5|5\.1|6|7|7\.1|8|8\.1|8\.2|9)$/;

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [, a, b] = /^(\d+)\.(\d+)/.exec(version) ?? [];
  const x = Number(a);
  const y = Number(b);
  return x > major || (x === major && y >= minor);
}

function numericVersion(resource: Resource): number {
  const v = resource.meta?.versionId;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 0;
}

const text = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");

function hdComponent(hd: Hd): Component {
  if (hd.universalId === "") return hd.namespace;
  return [hd.namespace, hd.universalId, hd.universalIdType];
}

function codingSystemName(system: string | undefined): string {
  if (!system) return "";
  const m = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/v2-(\d{4})$/.exec(system);
  if (m) return `HL7${m[1]}`;
  switch (system) {
    case "http://loinc.org":
      return "LN";
    case "http://snomed.info/sct":
      return "SCT";
    case "http://hl7.org/fhir/sid/icd-10":
      return "I10";
    case "http://hl7.org/fhir/sid/icd-9-cm":
      return "I9C";
    case "http://www.ama-assn.org/go/cpt":
      return "C4";
    case "http://unitsofmeasure.org":
      return "UCUM";
    default:
      return "";
  }
}

/** CodeableConcept -> CWE (first coding; text as CWE.2 when the coding has no display). */
export function cwe(cc: CodeableConcept | undefined): Repetition | undefined {
  if (!cc) return undefined;
  const c = cc.coding?.[0];
  if (!c?.code) return cc.text ? ["", cc.text] : undefined;
  return [c.code, c.display ?? cc.text ?? "", codingSystemName(c.system)];
}

export class Resolver {
  private readonly byUrl = new Map<string, Resource>();

  constructor(bundle: Bundle | undefined, root: Resource) {
    for (const e of bundle?.entry ?? []) {
      const r = e.resource;
      if (!r?.resourceType) continue;
      if (e.fullUrl) this.byUrl.set(e.fullUrl, r);
      if (r.id) this.byUrl.set(`${r.resourceType}/${r.id}`, r);
    }
    const contained = (root as { contained?: Resource[] }).contained ?? [];
    for (const r of contained) if (r.id) this.byUrl.set(`#${r.id}`, r);
  }

  resolve(ref: Reference | undefined): Resource | undefined {
    if (!ref?.reference) return undefined;
    const direct = this.byUrl.get(ref.reference);
    if (direct) return direct;
    // absolute URL of a resource on a server: match on its Type/id tail
    const m = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(ref.reference);
    return m ? this.byUrl.get(m[1]) : undefined;
  }
}

export function refType(ref: Reference | undefined, resolved: Resource | undefined): string {
  if (resolved) return resolved.resourceType;
  const type = (ref as { type?: string } | undefined)?.type;
  if (type) return type;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[^/]+$/.exec(ref?.reference ?? "");
  return m ? m[1] : "";
}

export class FhirToV2 {
  private readonly systems: IdentifierSystems;
  private readonly version: string;
  private readonly options: ToHl7Options;

  constructor(
    options: ToHl7Options,
    private readonly writer: Hl7Writer,
  ) {
    this.options = options;
    this.systems = new IdentifierSystems(options);
    this.version = options.version || "2.5.1";
    if (!SUPPORTED_VERSIONS.test(this.version)) {
      throw new PackError(CODES.HL7_CONFIG, `HL7 version "${this.version}" is not one of 2.3 to 2.9`, {
        version: this.version,
      });
    }
  }

  /**
   * Converts a Patient, an Appointment, a ChargeItem, a Bundle or a list holding them: each
   * Appointment of a Bundle becomes one SIU message; else its ChargeItems DFT^P03 messages (one per
   * patient, visit and account); else each Patient one ADT message.
   */
  convert(payload: unknown, options: { event?: string; now?: Date } = {}): Hl7Output[] {
    if (Array.isArray(payload) && payload.length > 0) {
      // a list of resources: ChargeItems with the resources they refer to
      const bundle: Bundle = {
        resourceType: "Bundle",
        type: "collection",
        entry: payload.map((r) => ({ resource: r as Resource })),
      };
      const charges = payload.filter((r) => (r as Resource | null)?.resourceType === "ChargeItem");
      if (charges.length === 0) {
        throw new PackError(
          CODES.HL7_UNSUPPORTED,
          "a list in msg.payload must hold ChargeItems (-> DFT^P03)",
          {
            resourceType: null,
          },
        );
      }
      return chargeMessages(this.dftHost(), charges as ChargeItem[], bundle, options.now ?? new Date());
    }
    if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
      throw new PackError(CODES.HL7_UNSUPPORTED, "to-hl7 needs a FHIR resource (object) in msg.payload", {
        resourceType: null,
      });
    }
    const resource = payload as Resource;
    const now = options.now ?? new Date();
    switch (resource.resourceType) {
      case "Patient":
        return [this.patientMessage(resource as Patient, options.event, now)];
      case "Appointment":
        return [this.appointmentMessage(resource as Appointment, undefined, now)];
      case "ChargeItem":
        return chargeMessages(this.dftHost(), [resource as ChargeItem], undefined, now);
      case "Bundle": {
        const bundle = resource as Bundle;
        const all = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
        const appointments = all.filter((r) => r.resourceType === "Appointment") as Appointment[];
        if (appointments.length) return appointments.map((a) => this.appointmentMessage(a, bundle, now));
        const charges = all.filter((r) => r.resourceType === "ChargeItem") as ChargeItem[];
        if (charges.length) return chargeMessages(this.dftHost(), charges, bundle, now);
        const patients = all.filter((r) => r.resourceType === "Patient") as Patient[];
        if (patients.length) return patients.map((p) => this.patientMessage(p, options.event, now));
        throw new PackError(
          CODES.HL7_UNSUPPORTED,
          "the Bundle holds no Patient, Appointment or ChargeItem to convert",
          {
            resourceType: "Bundle",
          },
        );
      }
      default:
        throw new PackError(
          CODES.HL7_UNSUPPORTED,
          `${text(resource.resourceType) || "a payload without resourceType"} is not supported: ` +
            "to-hl7 converts Patient (ADT^A28/A31), Appointment (SIU^S12/S14/S15) and ChargeItem (DFT^P03)",
          { resourceType: resource.resourceType ?? null },
        );
    }
  }

  private dftHost(): DftHost {
    return {
      version: this.version,
      pid: (p) => this.pid(p),
      cx: (i) => this.cx(i),
      xcn: (pr, ref) => this.xcn(pr, ref),
      pl: (loc, ref, refs) => this.pl(loc, ref, refs),
      dtm: (value, where) => this.dtm(value, where),
      message: (type, event, structure, segments, now) => this.message(type, event, structure, segments, now),
      timestamp: (now) => this.writer.timestamp(now),
    };
  }

  message(type: string, event: string, structure: string, segments: SegmentBuilder[], now: Date): Hl7Output {
    const o = this.options;
    const timestamp = this.writer.timestamp(now);
    const controlId = this.writer.controlId();
    const withStructure = versionAtLeast(this.version, 2, 4);
    const header: Hl7Output["header"] = {
      type,
      event,
      controlId,
      version: this.version,
      sendingApplication: o.sendingApplication ?? "",
      sendingFacility: o.sendingFacility ?? "",
      receivingApplication: o.receivingApplication ?? "",
      receivingFacility: o.receivingFacility ?? "",
      timestamp,
    };
    if (withStructure) header.structure = structure;
    const msh = this.writer.msh({
      sendingApplication: header.sendingApplication,
      sendingFacility: header.sendingFacility,
      receivingApplication: header.receivingApplication,
      receivingFacility: header.receivingFacility,
      messageType: withStructure ? [type, event, structure] : [type, event],
      controlId,
      version: this.version,
      timestamp,
    });
    const esc = (s: string): string => this.writer.escape(s);
    const sep = this.writer.segmentSeparator ?? "\r";
    const body = segments.map((s) => serializeSegment(s, esc));
    return { text: [msh, ...body].join(sep) + sep, header };
  }

  // ---- Patient -> ADT^A28 / A31 ----------------------------------------------------------

  private patientMessage(patient: Patient, requested: string | undefined, now: Date): Hl7Output {
    const event = requested === "A31" || numericVersion(patient) > 1 ? "A31" : "A28";
    const evn = new SegmentBuilder("EVN");
    if (!versionAtLeast(this.version, 2, 6)) evn.set(1, event);
    evn.set(2, this.writer.timestamp(now));
    const pid = this.pid(patient);
    const pv1 = new SegmentBuilder("PV1").set(1, "1").set(2, "N");
    return this.message("ADT", event, "ADT_A05", [evn, pid, pv1], now);
  }

  pid(patient: Patient): SegmentBuilder {
    const pid = new SegmentBuilder("PID").set(1, "1");
    const ids = (patient.identifier ?? []).filter((i) => i.value);
    if (ids.length === 0) {
      throw new PackError(CODES.HL7_CONVERT, "Patient.identifier: a Patient needs an identifier for PID-3", {
        location: "Patient.identifier",
      });
    }
    pid.setReps(
      3,
      ids.map((i) => this.cx(i)),
    );
    pid.setReps(
      5,
      (patient.name ?? []).map((n) => this.xpn(n)),
    );
    const maiden = patient.extension?.find((e) => e.url === SYSTEM.mothersMaidenName)?.valueString;
    if (maiden) pid.set(6, [maiden]);
    const birthTime = patient._birthDate?.extension?.find((e) => e.url === SYSTEM.birthTime)?.valueDateTime;
    const birth = birthTime ?? patient.birthDate;
    if (birth) pid.set(7, this.dtm(birth, "Patient.birthDate"));
    if (patient.gender) pid.set(8, GENDER_TO_SEX[patient.gender] ?? "U");
    pid.setReps(
      11,
      (patient.address ?? []).map((a) => this.xad(a)),
    );
    const telecom = patient.telecom ?? [];
    pid.setReps(
      13,
      telecom.filter((t) => t.use !== "work").map((t) => this.xtn(t, "PRN")),
    );
    pid.setReps(
      14,
      telecom.filter((t) => t.use === "work").map((t) => this.xtn(t, "WPN")),
    );
    const marital = patient.maritalStatus?.coding?.find((c) => c.code);
    if (marital?.code) {
      const code =
        marital.system === SYSTEM.v2_0002 ? marital.code : (MARITAL_STATUS_TO_V2[marital.code] ?? "");
      if (code) pid.set(16, [code, marital.display ?? ""]);
    }
    if (patient.multipleBirthInteger !== undefined) {
      pid.set(24, "Y");
      pid.set(25, String(patient.multipleBirthInteger));
    } else if (patient.multipleBirthBoolean !== undefined) {
      pid.set(24, patient.multipleBirthBoolean ? "Y" : "N");
    }
    if (patient.deceasedDateTime) {
      pid.set(29, this.dtm(patient.deceasedDateTime, "Patient.deceasedDateTime"));
      pid.set(30, "Y");
    } else if (patient.deceasedBoolean !== undefined) {
      pid.set(30, patient.deceasedBoolean ? "Y" : "N");
    }
    return pid;
  }

  dtm(value: string, where: string): string {
    const v = fhirToV2DateTime(value);
    if (v === undefined) {
      throw new PackError(CODES.HL7_CONVERT, `${where}: not a FHIR date/dateTime`, { location: where });
    }
    return v;
  }

  cx(id: Identifier): Repetition {
    const type = id.type?.coding?.find((c) => c.system === SYSTEM.v2_0203)?.code ?? "";
    return [id.value ?? "", "", "", hdComponent(this.systems.authority(id.system)), type];
  }

  private xpn(n: HumanName): Repetition {
    const given = n.given ?? [];
    const rep: Repetition = [
      n.family ?? "",
      given[0] ?? "",
      given.slice(1).join(" "),
      n.suffix?.[0] ?? "",
      n.prefix?.[0] ?? "",
      n.suffix?.[1] ?? "",
      n.use ? (NAME_USE_TO_V2[n.use] ?? "") : "",
    ];
    if (n.period && versionAtLeast(this.version, 2, 5)) {
      while (rep.length < 13) rep.push("");
      rep[11] = n.period.start ? this.dtm(n.period.start, "HumanName.period.start") : "";
      rep[12] = n.period.end ? this.dtm(n.period.end, "HumanName.period.end") : "";
    }
    return rep;
  }

  private xad(a: Address): Repetition {
    const kind = a.use ? (ADDRESS_USE_TO_V2[a.use] ?? "") : a.type === "postal" ? "M" : "";
    const rep: Repetition = [
      a.line?.[0] ?? "",
      a.line?.slice(1).join(", ") ?? "",
      a.city ?? "",
      a.state ?? "",
      a.postalCode ?? "",
      a.country ?? "",
      kind,
      "",
      a.district ?? "",
    ];
    if (a.period && versionAtLeast(this.version, 2, 5)) {
      while (rep.length < 14) rep.push("");
      rep[12] = a.period.start ? this.dtm(a.period.start, "Address.period.start") : "";
      rep[13] = a.period.end ? this.dtm(a.period.end, "Address.period.end") : "";
    }
    return rep;
  }

  private xtn(t: ContactPoint, defaultUse: string): Repetition {
    const value = t.value ?? "";
    if (t.system === "email") return ["", "NET", "Internet", value];
    const use = t.use === "mobile" ? "PRN" : t.use ? (CONTACT_USE_TO_V2[t.use] ?? defaultUse) : defaultUse;
    const equipment = t.use === "mobile" ? "CP" : (CONTACT_SYSTEM_TO_V2[t.system ?? "phone"] ?? "PH");
    if (versionAtLeast(this.version, 2, 7)) {
      return ["", use, equipment, "", "", "", "", "", "", "", "", value];
    }
    return [value, use, equipment];
  }

  // ---- Appointment -> SIU ----------------------------------------------------------------

  private appointmentMessage(appt: Appointment, bundle: Bundle | undefined, now: Date): Hl7Output {
    const status = appt.status;
    const event =
      status === "cancelled"
        ? "S15"
        : status === "noshow"
          ? "S26"
          : status === "entered-in-error"
            ? "S17"
            : numericVersion(appt) > 1
              ? "S14"
              : "S12";
    const refs = new Resolver(bundle, appt);
    const ids = (appt.identifier ?? []).filter((i) => i.value);
    const typeOf = (i: Identifier): string => i.type?.coding?.find((c) => c.code)?.code ?? "";
    const placer = ids.find((i) => typeOf(i) === "PLAC");
    const filler = ids.find((i) => typeOf(i) === "FILL") ?? ids.find((i) => i !== placer);
    if (!placer && !filler) {
      throw new PackError(
        CODES.HL7_CONVERT,
        "Appointment.identifier: an Appointment needs an identifier for SCH-1/SCH-2",
        {
          location: "Appointment.identifier",
        },
      );
    }
    const start = appt.start ? this.dtm(appt.start, "Appointment.start") : "";
    const end = appt.end ? this.dtm(appt.end, "Appointment.end") : "";
    const modern = versionAtLeast(this.version, 2, 5);

    const sch = new SegmentBuilder("SCH");
    if (placer) sch.set(1, this.ei(placer));
    if (filler) sch.set(2, this.ei(filler));
    sch.set(7, cwe(appt.reasonCode?.[0]));
    sch.set(8, cwe(appt.appointmentType));
    if (appt.minutesDuration !== undefined) {
      sch.set(9, String(appt.minutesDuration));
      sch.set(10, ["min", "minutes", "UCUM"]);
    }
    if (!modern && (start || end)) sch.set(11, ["", "", "", start, end]);
    sch.set(25, APPOINTMENT_STATUS_TO_FILLER[status] ?? "");
    const segments: SegmentBuilder[] = [sch];
    if (modern && (start || end))
      segments.push(new SegmentBuilder("TQ1").set(1, "1").set(7, start).set(8, end));

    const others: Array<{ p: AppointmentParticipant; resource?: Resource; type: string }> = [];
    let patient: Patient | undefined;
    for (const p of appt.participant ?? []) {
      const resource = refs.resolve(p.actor);
      const type = refType(p.actor, resource);
      if (type === "Patient" && !patient) {
        patient = resource as Patient | undefined;
        if (!patient && p.actor?.identifier?.value) {
          patient = { resourceType: "Patient", identifier: [p.actor.identifier] };
        }
        if (patient) continue;
      }
      others.push({ p, resource, type });
    }
    if (patient) segments.push(this.pid(patient));
    segments.push(new SegmentBuilder("RGS").set(1, "1").set(2, "A"));
    const filler25 = (p: AppointmentParticipant): string => PARTICIPANT_STATUS_TO_FILLER[p.status] ?? "";
    let ais = 0;
    for (const service of appt.serviceType ?? []) {
      const s = new SegmentBuilder("AIS")
        .set(1, String(++ais))
        .set(2, "A")
        .set(3, cwe(service))
        .set(4, start);
      if (appt.minutesDuration !== undefined) s.set(7, String(appt.minutesDuration)).set(8, "min");
      s.set(10, APPOINTMENT_STATUS_TO_FILLER[status] ?? "");
      segments.push(s);
    }
    let aig = 0;
    let ail = 0;
    let aip = 0;
    for (const { p, resource, type } of others) {
      if (type === "Practitioner" || type === "PractitionerRole") {
        const s = new SegmentBuilder("AIP").set(1, String(++aip)).set(2, "A");
        s.set(3, this.xcn(resource as Practitioner | undefined, p.actor));
        s.set(4, cwe(p.type?.[0]));
        s.set(12, filler25(p));
        segments.push(s);
      } else if (type === "Location") {
        const s = new SegmentBuilder("AIL").set(1, String(++ail)).set(2, "A");
        s.set(3, this.pl(resource as Location | undefined, p.actor, refs));
        s.set(4, cwe(p.type?.[0]));
        s.set(12, filler25(p));
        segments.push(s);
      } else {
        const label = p.actor?.display ?? "";
        const code = p.actor?.identifier?.value ?? "";
        const s = new SegmentBuilder("AIG").set(1, String(++aig)).set(2, "A");
        if (code || label) s.set(3, [code, label]);
        s.set(4, cwe(p.type?.[0]));
        s.set(14, filler25(p));
        segments.push(s);
      }
    }
    return this.message("SIU", event, "SIU_S12", segments, now);
  }

  private ei(id: Identifier): Repetition {
    const hd = this.systems.authority(id.system);
    return [id.value ?? "", hd.namespace, hd.universalId, hd.universalIdType];
  }

  xcn(pr: Practitioner | undefined, ref: Reference | undefined): Repetition {
    const id = pr?.identifier?.find((i) => i.value) ?? ref?.identifier;
    const name = pr?.name?.[0];
    const rep: Repetition = [id?.value ?? ""];
    if (name) {
      const given = name.given ?? [];
      rep.push(name.family ?? "", given[0] ?? "", given.slice(1).join(" "), name.suffix?.[0] ?? "");
      rep.push(name.prefix?.[0] ?? "", name.suffix?.[1] ?? "");
    } else if (ref?.display) {
      rep.push(ref.display);
    }
    if (id?.value) {
      while (rep.length < 13) rep.push("");
      rep[8] = hdComponent(this.systems.authority(id.system));
      rep[12] = id.type?.coding?.find((c) => c.system === SYSTEM.v2_0203)?.code ?? "";
    }
    return rep;
  }

  /**
   * Location -> PL (AIL-3, PV1-3): point of care, room and bed from the Location's path identifier
   * (location.ts) when its depth is the Location's level; else, for a Location of an earlier
   * version ("poc^room^bed") or without a level, from its identifier value; else from the names of
   * the Location and of those it is `partOf` in the Bundle, each at its level. PL-4 is the
   * identifier system's authority, PL-9 the description.
   */
  pl(loc: Location | undefined, ref: Reference | undefined, refs: Resolver): Repetition {
    const id = loc?.identifier?.find((i) => i.value) ?? ref?.identifier;
    const level = locationLevel(loc);
    const path = id?.value !== undefined ? parseLocationPath(id.value) : undefined;
    let parts: string[] = [];
    let named = false;
    if (level !== undefined && path?.length === level + 1) {
      parts = path;
    } else if (id?.value && (level === undefined || id.value.includes("^"))) {
      parts = id.value.split("^").slice(0, PL_LEVELS.length);
      named = true;
    } else if (level !== undefined) {
      const seen = new Set<Location>();
      for (let at: Location | undefined = loc; at && !seen.has(at);) {
        seen.add(at);
        const l = locationLevel(at);
        const name = at.name ?? at.identifier?.find((i) => i.value)?.value ?? "";
        if (l !== undefined && (parts[l] ?? "") === "") {
          while (parts.length <= l) parts.push("");
          parts[l] = name;
        }
        const up = refs.resolve(at.partOf);
        at = up?.resourceType === "Location" ? (up as Location) : undefined;
      }
    }
    // PL-9: the description; a Location of an earlier version, or a reference alone, kept it as the name
    const description = loc?.description ?? (named || !loc ? (loc?.name ?? ref?.display) : undefined) ?? "";
    if (!parts.some(Boolean)) return ["", "", "", "", "", "", "", "", description || loc?.name || ""];
    const rep: Repetition = [parts[0] ?? "", parts[1] ?? "", parts[2] ?? ""];
    rep.push(id?.value ? hdComponent(this.systems.authority(id.system)) : "");
    if (description && description !== parts.filter(Boolean).join(" ")) rep.push("", "", "", "", description);
    return rep;
  }
}
