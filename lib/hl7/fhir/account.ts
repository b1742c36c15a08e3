import { cxToIdentifier, identifierType, type ConvertContext } from "./datatypes";
import type { Account, Identifier } from "./fhir-types";
import type { V2Segment } from "./view";

/**
 * PID-18 (patient account number) -> the Account that ADT account events, DFT and BAR share, and the
 * identifier it is found by. The identifier type is CX.5, or AN (account number) when the sender
 * names none. Undefined when PID-18 is empty. `field` reads another CX field the same way (MRG-3,
 * the prior account number of the ADT account events).
 */
export function accountFrom(
  pid: V2Segment,
  ctx: ConvertContext,
  patientUrl: string,
  field = 18,
): { account: Account; key: Identifier } | undefined {
  const key = cxToIdentifier(pid, ctx, field);
  if (!key) return undefined;
  if (!key.type) key.type = identifierType("AN");
  const account: Account = {
    resourceType: "Account",
    identifier: [key],
    status: "active",
    subject: [{ reference: patientUrl }],
  };
  return { account, key };
}
