import type {
  PmsAddress,
  PmsAppointment,
  PmsAppointmentStatus,
  PmsPatient,
  PmsProvider,
} from "../../lib/mapping/records";

export interface GenerateOptions {
  /** Same seed, same data (default 1). */
  seed?: number;
  /** Default 200. */
  patients?: number;
  /** Default 500. */
  appointments?: number;
  /** Default 12. */
  providers?: number;
  /**
   * ISO instant: the first `updatedAt` of each list and the first day of the schedule
   * (default `2025-01-06T08:00:00.000Z`, a Monday). Never the wall clock, so a seed is enough.
   */
  start?: string;
}

export interface PmsData {
  patients: PmsPatient[];
  appointments: PmsAppointment[];
  providers: PmsProvider[];
}

export const DEFAULT_START = "2025-01-06T08:00:00.000Z";

/** Every multiple of this index sits inside a run of records sharing one `updatedAt`. */
export const TIE_BOUNDARY = 50;

/** mulberry32: small, fast, and the same sequence on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST_NAMES = [
  "James",
  "Mary",
  "Robert",
  "Patricia",
  "John",
  "Jennifer",
  "Michael",
  "Linda",
  "David",
  "Elizabeth",
  "William",
  "Barbara",
  "José",
  "Zoë",
  "Chloé",
  "Renée",
  "Siobhán",
  "Mary-Kate",
  "Jean-Luc",
  "Anh",
  "Thảo",
  "Søren",
  "Björn",
  "Aaliyah",
  "DeShawn",
  "Priya",
  "Wei",
  "Fatima",
  "Oluwaseun",
  "Ana María",
  "Noël",
  "Łucja",
];

const LAST_NAMES = [
  "Smith",
  "Johnson",
  "Williams",
  "Brown",
  "Jones",
  "Miller",
  "Davis",
  "Wilson",
  "Anderson",
  "Taylor",
  "O'Brien",
  "D'Angelo",
  "O'Neil",
  "García",
  "Martínez",
  "Nguyễn",
  "Trần",
  "Müller",
  "Smith-Jones",
  "Lopez-Garcia",
  "van der Berg",
  "MacDonald",
  "St. Clair",
  "Kowalczyk",
  "Øberg",
  "Papadopoulos",
  "Okafor",
  "Chen",
];

const PROVIDER_LAST_NAMES = ["Patel", "Kim", "Rivera", "Cohen", "Adeyemi", "Larsen", "Haddad", "Brennan"];

const STREETS = [
  "Main St",
  "Oak Ave",
  "Maple Dr",
  "O'Connell Blvd",
  "Elm St Apt 4B",
  "Washington Ave Unit 12",
  "Cedar Ln",
  "Peachtree Rd NE",
  "Martin Luther King Jr Way",
  "Calle Ocho",
];

const CITIES: Array<[city: string, state: string, zip: string]> = [
  ["Boston", "MA", "02118"],
  ["Springfield", "IL", "62701"],
  ["Austin", "TX", "78701"],
  ["Seattle", "WA", "98101"],
  ["Miami", "FL", "33135"],
  ["Coeur d'Alene", "ID", "83814"],
  ["Española", "NM", "87532"],
  ["Atlanta", "GA", "30309"],
  ["Honolulu", "HI", "96813"],
  ["Anchorage", "AK", "99501"],
];

const AREA_CODES = ["212", "305", "415", "503", "617", "702", "808", "907", "404", "512"];

/** Weighted: the messy spellings a PMS accumulates; `undefined` means the field is absent. */
const GENDERS: Array<[value: string | undefined, weight: number]> = [
  ["M", 20],
  ["male", 10],
  ["F", 20],
  ["female", 10],
  ["f", 4],
  ["m", 3],
  ["Male", 2],
  ["FEMALE", 2],
  ["other", 3],
  ["O", 2],
  ["unknown", 3],
  ["U", 2],
  ["", 3],
  [undefined, 3],
];

const STATUSES: Array<[PmsAppointmentStatus, number]> = [
  ["scheduled", 30],
  ["confirmed", 20],
  ["completed", 20],
  ["cancelled", 10],
  ["no_show", 6],
  ["arrived", 7],
  ["checked_in", 7],
];

const DURATIONS = [15, 20, 30, 45, 60];

const REASONS = [
  "Annual physical",
  "Follow-up visit",
  "Flu symptoms",
  "Blood pressure check",
  "Diabetes management",
  "Knee pain (left)",
  "Prescription refill",
  "Well-child visit, 2 yrs",
  "Lab results review",
  "Consulta de seguimiento",
];

class Picker {
  constructor(readonly next: () => number) {}

  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  one<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  weighted<T>(items: ReadonlyArray<[T, number]>): T {
    const total = items.reduce((sum, [, w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [value, w] of items) {
      r -= w;
      if (r < 0) return value;
    }
    return items[items.length - 1][0];
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Plain ASCII for e-mail local parts: José O'Brien -> jose.obrien. */
function emailPart(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/ł/gi, "l")
    .replace(/ø/gi, "o")
    .toLowerCase()
    .replace(/['.]/g, "")
    .replace(/[^a-z0-9-]+/g, "-");
}

function phoneNumber(p: Picker): string {
  const area = p.one(AREA_CODES);
  const exchange = pad(p.int(200, 999), 3);
  const line = pad(p.int(0, 9999), 4);
  switch (p.int(0, 6)) {
    case 0:
      return `(${area}) ${exchange}-${line}`;
    case 1:
      return `${area}-${exchange}-${line}`;
    case 2:
      return `${area}.${exchange}.${line}`;
    case 3:
      return `${area}${exchange}${line}`;
    case 4:
      return `+1 ${area} ${exchange} ${line}`;
    case 5:
      return `+1-${area}-${exchange}-${line}`;
    default:
      return `1 (${area}) ${exchange}-${line}`;
  }
}

function birthDate(p: Picker): string {
  if (p.chance(0.01)) {
    const leap = [1940, 1952, 1968, 1984, 1996, 2000, 2012, 2020];
    return `${p.one(leap)}-02-29`;
  }
  const year = p.int(1930, 2023);
  const month = p.int(1, 12);
  const day = p.int(1, daysInMonth(year, month));
  return `${year}-${pad(month, 2)}-${pad(day, 2)}`;
}

function address(p: Picker): PmsAddress | undefined {
  if (p.chance(0.06)) return undefined;
  const [city, state, zip] = p.one(CITIES);
  const out: PmsAddress = {};
  if (!p.chance(0.07)) out.street = `${p.int(1, 9999)} ${p.one(STREETS)}`;
  if (!p.chance(0.07)) out.city = city;
  if (!p.chance(0.07)) out.state = state;
  if (!p.chance(0.07)) out.zipCode = p.chance(0.2) ? `${zip}-${pad(p.int(0, 9999), 4)}` : zip;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Non-decreasing `updatedAt` instants from `startMs`: random gaps, random ties with the
 * previous record, and a run of five records sharing one instant around every multiple of
 * TIE_BOUNDARY (indexes 48..52, 98..102, ...) so that page boundaries fall inside a tie.
 */
function updatedAtSeries(p: Picker, count: number, startMs: number): string[] {
  const out: string[] = [];
  let t = startMs;
  for (let i = 0; i < count; i++) {
    const m = (i + 2) % TIE_BOUNDARY;
    const inBoundaryRun = i >= TIE_BOUNDARY - 2 && m >= 1 && m <= 4;
    if (i > 0 && !inBoundaryRun && !p.chance(0.12)) {
      t += p.int(1, 900) * 1000 + p.int(0, 999);
    }
    out.push(new Date(t).toISOString());
  }
  return out;
}

/** UTC offset of US Eastern time on a calendar day (the sandbox clinic is in New York). */
function easternOffsetMinutes(year: number, month: number, day: number): number {
  const secondSundayOfMarch = 8 + ((7 - new Date(Date.UTC(year, 2, 8)).getUTCDay()) % 7);
  const firstSundayOfNovember = 1 + ((7 - new Date(Date.UTC(year, 10, 1)).getUTCDay()) % 7);
  const key = month * 100 + day;
  const dst = key >= 300 + secondSundayOfMarch && key < 1100 + firstSundayOfNovember;
  return dst ? -240 : -300;
}

function formatLocal(utcMs: number, offsetMinutes: number): string {
  const local = new Date(utcMs + offsetMinutes * 60000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
    `T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:00` +
    `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
  );
}

/**
 * Seeded sandbox PMS data with the mess a real practice system has: mixed gender spellings,
 * absent optional fields, names with apostrophes, accents and hyphens, varied US phone
 * formats, leap-day birth dates, ties in `updatedAt`. The same options give the same data.
 */
export function generatePmsData(options: GenerateOptions = {}): PmsData {
  const seed = options.seed ?? 1;
  const patientCount = options.patients ?? 200;
  const appointmentCount = options.appointments ?? 500;
  const providerCount = options.providers ?? 12;
  const startMs = Date.parse(options.start ?? DEFAULT_START);
  if (!Number.isFinite(startMs)) throw new RangeError(`start is not an ISO instant: ${options.start}`);
  for (const [name, n] of [
    ["patients", patientCount],
    ["appointments", appointmentCount],
    ["providers", providerCount],
  ] as const) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a whole number >= 0`);
  }
  if (appointmentCount > 0 && (patientCount === 0 || providerCount === 0)) {
    throw new RangeError("appointments need at least one patient and one provider");
  }

  const p = new Picker(mulberry32(seed));

  const providers: PmsProvider[] = [];
  for (let i = 0; i < providerCount; i++) {
    providers.push({
      id: `prov-${pad(i + 1, 3)}`,
      firstName: p.one(FIRST_NAMES),
      lastName: p.one(PROVIDER_LAST_NAMES),
    });
  }

  const patientUpdated = updatedAtSeries(p, patientCount, startMs);
  const patients: PmsPatient[] = [];
  for (let i = 0; i < patientCount; i++) {
    const firstName = p.one(FIRST_NAMES);
    const lastName = p.one(LAST_NAMES);
    const patient = {
      id: `pat-${pad(i + 1, 5)}`,
      firstName,
      lastName,
      dateOfBirth: birthDate(p),
    } as PmsPatient;
    const gender = p.weighted(GENDERS);
    if (gender !== undefined) patient.gender = gender;
    if (!p.chance(0.15)) patient.phone = phoneNumber(p);
    if (!p.chance(0.2)) {
      const domain = p.one(["example.com", "example.org", "mail.example.net"]);
      const suffix = p.chance(0.3) ? String(p.int(1, 99)) : "";
      patient.email = `${emailPart(firstName)}.${emailPart(lastName)}${suffix}@${domain}`;
    }
    const addr = address(p);
    if (addr) patient.address = addr;
    patient.updatedAt = patientUpdated[i];
    patients.push(patient);
  }

  const appointmentUpdated = updatedAtSeries(p, appointmentCount, startMs);
  const booked = new Set<string>();
  const startDay = new Date(startMs);
  const appointments: PmsAppointment[] = [];
  for (let i = 0; i < appointmentCount; i++) {
    const providerId = p.one(providers).id;
    let slotKey = "";
    let utcMs = 0;
    let offset = 0;
    for (let attempt = 0; attempt < 50; attempt++) {
      const dayIndex = p.int(0, 89);
      const y = startDay.getUTCFullYear();
      const mo = startDay.getUTCMonth();
      const first = startDay.getUTCDate() + dayIndex;
      const weekday = new Date(Date.UTC(y, mo, first)).getUTCDay();
      // Weekends move to the following Monday.
      const d = new Date(Date.UTC(y, mo, first + (weekday === 6 ? 2 : weekday === 0 ? 1 : 0)));
      const minuteOfDay = 8 * 60 + p.int(0, 35) * 15;
      offset = easternOffsetMinutes(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
      utcMs = d.getTime() + (minuteOfDay - offset) * 60000;
      slotKey = `${providerId}@${utcMs}`;
      if (!booked.has(slotKey)) break;
    }
    booked.add(slotKey);
    const appointment = {
      id: `appt-${pad(i + 1, 6)}`,
      patientId: p.one(patients).id,
      providerId,
      scheduledTime: formatLocal(utcMs, offset),
      duration: p.one(DURATIONS),
      status: p.weighted(STATUSES),
    } as PmsAppointment;
    if (!p.chance(0.25)) appointment.reason = p.one(REASONS);
    appointment.updatedAt = appointmentUpdated[i];
    appointments.push(appointment);
  }

  return { patients, appointments, providers };
}
