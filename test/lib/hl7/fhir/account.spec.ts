import { expect } from "chai";
import { messageFromPayload } from "../../../../lib/hl7/fhir";
import { accountFrom } from "../../../../lib/hl7/fhir/account";
import type { ConvertContext } from "../../../../lib/hl7/fhir/datatypes";
import { TimeZone } from "../../../../lib/hl7/fhir/datetime";
import { IdentifierSystems } from "../../../../lib/hl7/fhir/ids";

function pidOf(pid: string) {
  const text = `MSH|^~\\&|PMS|CLINIC|EHR|HOSP|20260101120000||DFT^P03|C1|P|2.5.1\r${pid}\r`;
  const seg = messageFromPayload(text).segments.find((s) => s.name === "PID");
  if (!seg) throw new Error("no PID");
  return seg;
}

const ctx = (): ConvertContext => ({
  systems: new IdentifierSystems({ systems: { BILL: "urn:oid:1.2.3.4" } }),
  zone: new TimeZone("Z"),
  facility: "CLINIC",
  warnings: [],
});

describe("lib/hl7/fhir accountFrom (PID-18)", () => {
  it("makes an active Account of the patient, typed AN when CX-5 is empty", () => {
    const got = accountFrom(
      pidOf("PID|1||MRN1^^^CLINIC^MR||DOE^JANE|||||||||||||ACC77^^^BILL"),
      ctx(),
      "urn:uuid:p",
    );
    expect(got?.key).to.deep.equal({
      system: "urn:oid:1.2.3.4",
      value: "ACC77",
      type: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "AN", display: "Account number" },
        ],
      },
    });
    expect(got?.account).to.deep.equal({
      resourceType: "Account",
      identifier: [got?.key],
      status: "active",
      subject: [{ reference: "urn:uuid:p" }],
    });
  });

  it("keeps the sender's identifier type", () => {
    const got = accountFrom(
      pidOf("PID|1||MRN1||DOE^JANE|||||||||||||4000776^^^BILL^VN"),
      ctx(),
      "urn:uuid:p",
    );
    expect(got?.key.type?.coding?.[0]?.code).to.equal("VN");
  });

  it("is undefined when PID-18 is empty", () => {
    expect(accountFrom(pidOf("PID|1||MRN1||DOE^JANE"), ctx(), "urn:uuid:p")).to.equal(undefined);
  });
});
