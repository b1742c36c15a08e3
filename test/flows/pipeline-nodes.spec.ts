import { expect } from "chai";
import { loadPipeline } from "./support";

/**
 * Pipelines an analyst reads as nodes: the paging sync (select, commit, log) is sync-checkpoint's,
 * one ChargeItem at a time is a switch and change loop, and what the user edits is a change
 * node's JSON. These pipelines have no function node left; the others follow as they are rebuilt.
 */
const WITHOUT_FUNCTION_NODES = ["care-coordination", "ehr-to-pms", "fhir-to-hl7"];

describe("pipelines made of nodes", function () {
  for (const name of WITHOUT_FUNCTION_NODES) {
    it(`${name} has no function node, and its run log is a sync-checkpoint log`, function () {
      const flow = loadPipeline(name);
      const functions = flow.filter((n) => n.type === "function").map((n) => n.name);
      expect(functions, name).to.deep.equal([]);
      const logs = flow.filter((n) => n.type === "sync-checkpoint" && n.action === "log");
      expect(
        logs.map((n) => [n.logKey, n.store]),
        name,
      ).to.deep.equal([["runs", "${CONTEXT_STORE}"]]);
    });
  }
});
