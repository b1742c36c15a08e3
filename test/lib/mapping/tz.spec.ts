import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

interface ChildOutput {
  timezoneOffset: number;
  patients: Array<{ fhir: { birthDate: string }; pms: { dateOfBirth: string } }>;
  edges: Array<{ fhir: { birthDate: string }; pms: { dateOfBirth: string } }>;
  dateObjects: Array<{ birthDate?: string; errors: string[] }>;
  appointments: unknown[];
}

async function mapUnder(tz: string): Promise<{ raw: string; parsed: ChildOutput }> {
  const { stdout } = await run(process.execPath, [join(__dirname, "tz-child.js")], {
    env: { ...process.env, TZ: tz },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { raw: stdout, parsed: JSON.parse(stdout) as ChildOutput };
}

describe("lib/mapping host time zone", function () {
  this.timeout(60000);

  it("gives identical results under TZ=Pacific/Kiritimati (+14) and TZ=Pacific/Pago_Pago (-11)", async () => {
    const [east, west, utc] = await Promise.all([
      mapUnder("Pacific/Kiritimati"),
      mapUnder("Pacific/Pago_Pago"),
      mapUnder("UTC"),
    ]);
    // The zones did apply: otherwise the comparison would prove nothing.
    expect(east.parsed.timezoneOffset).to.equal(-840);
    expect(west.parsed.timezoneOffset).to.equal(660);
    expect(utc.parsed.timezoneOffset).to.equal(0);

    expect(east.raw).to.equal(west.raw.replace('"timezoneOffset":660', '"timezoneOffset":-840'));
    expect(utc.raw).to.equal(west.raw.replace('"timezoneOffset":660', '"timezoneOffset":0'));

    expect(east.parsed.patients).to.have.length(400);
    for (const p of east.parsed.patients) expect(p.fhir.birthDate).to.equal(p.pms.dateOfBirth);
    expect(east.parsed.edges.map((e) => e.fhir.birthDate)).to.deep.equal([
      "1970-01-01",
      "1969-12-31",
      "2000-02-29",
      "1999-12-31",
      "2000-01-01",
    ]);
    // A Date object counts by its local calendar day, in every zone (east of UTC its UTC day is the day before).
    for (const side of [east, west, utc]) {
      expect(side.parsed.dateObjects).to.deep.equal([
        { birthDate: "1970-01-01", errors: [] },
        { birthDate: "2000-02-29", errors: [] },
        { birthDate: "1999-12-31", errors: [] },
      ]);
    }
    expect(east.parsed.appointments).to.have.length(400);
  });
});
