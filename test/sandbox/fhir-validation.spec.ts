import type { Bundle, Resource } from "@medplum/fhirtypes";
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadFhirDefinitions } from "../../sandbox/fhir/schema";
import type { FhirSandbox } from "../../sandbox/fhir/server";
import { startFhirSandbox } from "../../sandbox/fhir/server";
import { ValidationPool, judgeEach } from "../../sandbox/fhir/validation";
import { postBundle } from "./fhir-helpers";

const SYS = "urn:test:mrn";

/** Patients and Appointments as a sync sends them, every seventh one invalid in its own way. */
function resources(count: number): Resource[] {
  const faults: Array<(r: Record<string, unknown>) => void> = [
    (r) => (r.birthDate = "01/02/1990"),
    (r) => (r.active = "yes"),
    (r) => (r.unknownElement = true),
    (r) => (r.name = "Smith"),
    (r) => (r.status = "maybe"),
  ];
  const out: Resource[] = [];
  for (let i = 0; i < count; i++) {
    const r: Record<string, unknown> =
      i % 3 === 2
        ? {
            resourceType: "Appointment",
            identifier: [{ system: SYS, value: `a${i}` }],
            status: "booked",
            start: "2026-12-01T09:00:00Z",
            end: "2026-12-01T09:30:00Z",
            participant: [{ actor: { reference: `Patient/p${i - 2}` }, status: "accepted" }],
          }
        : {
            resourceType: "Patient",
            identifier: [{ system: SYS, value: `p${i}` }],
            name: [{ family: `Family${i}`, given: ["Pat"] }],
            birthDate: "1990-01-02",
          };
    if (i % 7 === 3) faults[((i / 7) % faults.length) | 0](r);
    out.push(r as unknown as Resource);
  }
  return out;
}

describe("sandbox/fhir validation workers", function () {
  this.timeout(30000);
  before(() => loadFhirDefinitions());

  it("judge on a worker exactly as on the request thread, valid and invalid alike", async () => {
    const items = resources(60).map((resource, i) => ({ resource, id: `x${i}` }));
    const pool = new ValidationPool(1);
    try {
      await pool.whenReady();
      const judged = await pool.judge(items);
      expect(pool.judgedByWorkers).to.equal(30);
      expect(judged).to.deep.equal(judgeEach(items));
      expect(judged.filter((v) => v?.invalid)).to.have.length(9);
      expect(judged.every((v) => v !== undefined)).to.equal(true);
    } finally {
      await pool.close();
    }
  });

  it("judge small batches and batches sent before the workers are ready on the request thread", async () => {
    const pool = new ValidationPool(1);
    try {
      const few = resources(10).map((resource, i) => ({ resource, id: `x${i}` }));
      expect(await pool.judge(few)).to.deep.equal(judgeEach(few));
      const many = resources(40).map((resource, i) => ({ resource, id: `x${i}` }));
      expect(await pool.judge(many)).to.deep.equal(judgeEach(many));
      expect(pool.judgedByWorkers).to.equal(0);
    } finally {
      await pool.close();
    }
  });

  it("leave a dead worker's share without a verdict (validated when written), and go on without it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dying-worker-"));
    const script = join(dir, "worker.js");
    writeFileSync(
      script,
      `const { parentPort } = require("node:worker_threads");
       parentPort.on("message", () => process.exit(3));
       parentPort.postMessage("ready");`,
    );
    const pool = new ValidationPool(1, script);
    try {
      await pool.whenReady();
      const items = resources(40).map((resource, i) => ({ resource, id: `x${i}` }));
      const judged = await pool.judge(items);
      expect(judged).to.have.length(40);
      expect(judged.slice(0, 20)).to.deep.equal(new Array(20).fill(undefined));
      expect(judged.slice(20)).to.deep.equal(judgeEach(items.slice(20)));
      expect(await pool.judge(items)).to.deep.equal(judgeEach(items));
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuse a pool size that is not a whole number", () => {
    expect(() => new ValidationPool(-1)).to.throw(TypeError, /integer >= 0/);
    expect(() => new ValidationPool(1.5)).to.throw(TypeError, /integer >= 0/);
  });

  describe("in the server", () => {
    let pooled: FhirSandbox;
    let single: FhirSandbox;
    before(async () => {
      [pooled, single] = await Promise.all([
        startFhirSandbox({ validationWorkers: 1 }),
        startFhirSandbox({ validationWorkers: 0 }),
      ]);
      await pooled.validators.whenReady();
    });
    after(async () => {
      await Promise.all([pooled.close(), single.close()]);
    });

    /** The answer without what differs between two servers by nature: ids, versions' times. */
    function comparable(bundle: Bundle): unknown {
      return bundle.entry?.map((e) => ({
        status: e.response?.status,
        outcome: e.response?.outcome,
        resource: e.resource && { ...e.resource, id: undefined, meta: undefined },
      }));
    }

    const upserts = (list: Resource[]) =>
      list.map((resource) => {
        const key = (resource as { identifier: Array<{ value: string }> }).identifier[0].value;
        return {
          resource: structuredClone(resource),
          request: { method: "PUT", url: `${resource.resourceType}?identifier=${SYS}|${key}` },
        };
      });

    it("answer a large batch of upserts as the server without workers does, 422s and their issues included", async () => {
      const entry = upserts(resources(100));
      const sentBefore = pooled.validators.judgedByWorkers;
      const [a, b] = await Promise.all([
        postBundle(pooled.url, "batch", entry),
        postBundle(single.url, "batch", entry),
      ]);
      expect(pooled.validators.judgedByWorkers - sentBefore).to.equal(50);
      expect([a.status, b.status]).to.deep.equal([200, 200]);
      expect(comparable(a.body)).to.deep.equal(comparable(b.body));
      expect(a.body.entry?.filter((e) => e.response?.status === "422")).to.have.length(14);
      expect(pooled.repository.count()).to.equal(86);
      expect(single.repository.count()).to.equal(86);
    });

    it("answer a large transaction as the server without workers does: all written, or none for one invalid entry", async () => {
      const valid = resources(200).filter((r, i) => i % 7 !== 3 && r.resourceType === "Patient");
      const before = pooled.repository.count();
      const invalid = upserts(valid.slice(0, 100));
      (invalid[80].resource as { birthDate?: string }).birthDate = "soon";
      const [a, b] = await Promise.all([
        postBundle(pooled.url, "transaction", invalid),
        postBundle(single.url, "transaction", invalid),
      ]);
      expect([a.status, b.status]).to.deep.equal([422, 422]);
      expect(a.body).to.deep.equal(b.body);
      expect(pooled.repository.count()).to.equal(before);
      const entry = upserts(valid.slice(0, 100));
      const [c, d] = await Promise.all([
        postBundle(pooled.url, "transaction", entry),
        postBundle(single.url, "transaction", entry),
      ]);
      expect([c.status, d.status]).to.deep.equal([200, 200]);
      expect(comparable(c.body)).to.deep.equal(comparable(d.body));
      expect(pooled.repository.count()).to.equal(single.repository.count());
    });
  });
});
