import { expect } from "chai";
import { compileMapping } from "../../../lib/mapping";
import { CHARGE_ITEM_RULES } from "../../../lib/pipelines/charges";

describe("lib/pipelines ChargeItem -> PMS charge rules", function () {
  const rules = compileMapping(CHARGE_ITEM_RULES);

  it("maps a priced ChargeItem to a charge body", function () {
    const result = rules.toPms({
      resourceType: "ChargeItem",
      id: "ci-1",
      status: "billable",
      code: { coding: [{ system: "http://www.ama-assn.org/go/cpt", code: "99213" }], text: "Office visit" },
      priceOverride: { value: 125.5, currency: "USD" },
    });
    expect(result.errors).to.deep.equal([]);
    expect(result.value).to.deep.equal({
      code: "99213",
      description: "Office visit",
      amount: 125.5,
      currency: "USD",
    });
  });

  it("refuses a ChargeItem without a code or a price, or with a bad currency, naming the field", function () {
    const fields = (resource: Record<string, unknown>) =>
      rules
        .toPms({ resourceType: "ChargeItem", status: "billable", ...resource })
        .errors.map((e) => [e.field, e.code]);
    expect(fields({ priceOverride: { value: 10 } })).to.deep.equal([["code.coding[0].code", "MAP_REQUIRED"]]);
    expect(fields({ code: { coding: [{ code: "99213" }] } })).to.deep.equal([
      ["priceOverride.value", "MAP_REQUIRED"],
    ]);
    expect(
      fields({ code: { coding: [{ code: "99213" }] }, priceOverride: { value: 10, currency: "usd" } }),
    ).to.deep.equal([["priceOverride.currency", "MAP_VALIDATE"]]);
  });

  it("refuses another resource type", function () {
    expect(rules.toPms({ resourceType: "Encounter" }).errors.map((e) => e.code)).to.deep.equal(["MAP_INPUT"]);
  });
});
