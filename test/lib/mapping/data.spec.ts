import { expect } from "chai";
import { DEFAULT_START, TIE_BOUNDARY, generatePmsData, mulberry32 } from "../../../sandbox/pms/data";
import { PMS_APPOINTMENT_STATUSES } from "../../../lib/mapping/records";

function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

describe("sandbox/pms/data generatePmsData", () => {
  const data = generatePmsData({ seed: 42, patients: 400, appointments: 1000, providers: 12 });

  it("is deterministic for a seed and differs between seeds", () => {
    expect(generatePmsData({ seed: 42, patients: 400, appointments: 1000 })).to.deep.equal(data);
    expect(generatePmsData({ seed: 43, patients: 400, appointments: 1000 })).to.not.deep.equal(data);
    const a = mulberry32(9);
    const b = mulberry32(9);
    for (let i = 0; i < 100; i++) expect(a()).to.equal(b());
  });

  it("uses the documented defaults", () => {
    const d = generatePmsData();
    expect(d.patients).to.have.length(200);
    expect(d.appointments).to.have.length(500);
    expect(d.providers).to.have.length(12);
    expect(d.patients[0].updatedAt).to.equal(DEFAULT_START);
  });

  it("rejects impossible options", () => {
    expect(() => generatePmsData({ start: "yesterday" })).to.throw(RangeError);
    expect(() => generatePmsData({ patients: -1 })).to.throw(RangeError);
    expect(() => generatePmsData({ patients: 0, appointments: 3 })).to.throw(RangeError);
  });

  it("produces patients with unique ids, real birth dates and the mess a PMS has", () => {
    const ids = new Set(data.patients.map((p) => p.id));
    expect(ids.size).to.equal(data.patients.length);
    for (const p of data.patients) {
      expect(isCalendarDate(p.dateOfBirth), p.dateOfBirth).to.equal(true);
      expect(p.firstName).to.be.a("string").and.not.equal("");
      expect(p.lastName).to.be.a("string").and.not.equal("");
      if (p.email !== undefined) expect(p.email).to.match(/^[a-z0-9.-]+@[a-z0-9.-]+\.[a-z]+$/);
      if (p.phone !== undefined) expect(p.phone.replace(/\D/g, "")).to.match(/^1?\d{10}$/);
      if (p.address !== undefined) expect(Object.keys(p.address).length).to.be.greaterThan(0);
    }
    const genders = new Set(data.patients.map((p) => p.gender));
    for (const g of ["M", "male", "F", "female", "f", "other", "unknown", "", undefined]) {
      expect(genders.has(g), String(g)).to.equal(true);
    }
    const names = data.patients.map((p) => `${p.firstName} ${p.lastName}`).join("|");
    expect(names).to.include("'");
    expect(names).to.match(/[éëễ]/);
    expect(names).to.match(/\w-\w/);
    expect(data.patients.some((p) => p.phone === undefined)).to.equal(true);
    expect(data.patients.some((p) => p.email === undefined)).to.equal(true);
    expect(data.patients.some((p) => p.address === undefined)).to.equal(true);
    expect(data.patients.some((p) => p.address && p.address.zipCode === undefined)).to.equal(true);
    const phoneShapes = new Set(data.patients.map((p) => p.phone?.replace(/\d/g, "9")));
    expect(phoneShapes.size).to.be.greaterThan(5);
  });

  it("produces appointments that reference generated patients and providers", () => {
    const patientIds = new Set(data.patients.map((p) => p.id));
    const providerIds = new Set(data.providers.map((p) => p.id));
    const statuses = new Set<string>();
    for (const a of data.appointments) {
      expect(patientIds.has(a.patientId)).to.equal(true);
      expect(providerIds.has(a.providerId)).to.equal(true);
      expect([15, 20, 30, 45, 60]).to.include(a.duration);
      expect(a.scheduledTime).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00-0[45]:00$/);
      statuses.add(a.status);
    }
    expect([...statuses].sort()).to.deep.equal([...PMS_APPOINTMENT_STATUSES].sort());
    expect(data.appointments.some((a) => a.reason === undefined)).to.equal(true);
    const slots = data.appointments.map((a) => `${a.providerId}@${Date.parse(a.scheduledTime)}`);
    expect(new Set(slots).size).to.equal(slots.length);
  });

  it("gives non-decreasing updatedAt values with ties across every page boundary", () => {
    for (const list of [data.patients, data.appointments]) {
      const times = list.map((r) => r.updatedAt);
      for (let i = 1; i < times.length; i++) expect(times[i] >= times[i - 1]).to.equal(true);
      for (let b = TIE_BOUNDARY; b + 2 < times.length; b += TIE_BOUNDARY) {
        expect(times[b - 1]).to.equal(times[b]);
        expect(times[b - 2]).to.equal(times[b + 2]);
      }
      expect(new Set(times).size).to.be.lessThan(times.length - 20);
    }
  });
});
