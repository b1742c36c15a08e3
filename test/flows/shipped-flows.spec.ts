import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CHARGE_ITEM_RULES, CHARGE_MAPPER_NAME } from "../../lib/pipelines/charges";
import { lintFlowSet } from "../../lib/pipelines/flow-lint";
import { PACK_DIR } from "../../sandbox/node-red";
import { startRuntime, type Runtime } from "../support/red-runtime";

/**
 * Every shipped flow (flows/*.json, whoever wrote it): node types installed in a real Node-RED
 * with this pack (core nodes and package.json node-red.nodes), no credentials or secret-looking
 * values, Comment nodes, nothing wired to a missing node, and nothing that clashes when all are
 * deployed together.
 */

const FLOWS_DIR = join(PACK_DIR, "flows");

function shippedFiles(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const file of readdirSync(FLOWS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    out[file] = JSON.parse(readFileSync(join(FLOWS_DIR, file), "utf8"));
  }
  return out;
}

describe("shipped flows (flows/*.json)", function () {
  this.timeout(60000);
  let rt: Runtime;
  let installedTypes: Set<string>;

  before(async function () {
    rt = await startRuntime();
    const sets = await rt.getJson<Array<{ types?: string[]; enabled?: boolean; err?: string }>>("/nodes");
    installedTypes = new Set(sets.filter((s) => s.enabled !== false && !s.err).flatMap((s) => s.types ?? []));
  });

  after(async function () {
    await rt?.stop();
  });

  it("the runtime has every node of this pack's package.json installed", function () {
    const pkg = JSON.parse(readFileSync(join(PACK_DIR, "package.json"), "utf8")) as {
      "node-red": { nodes: Record<string, string> };
    };
    for (const type of Object.keys(pkg["node-red"].nodes))
      expect(installedTypes.has(type), type).to.equal(true);
    expect(installedTypes.has("http in") && installedTypes.has("function")).to.equal(true);
  });

  it("hold only installed node types, no secrets, Comment nodes, and nothing that clashes", function () {
    const files = shippedFiles();
    expect(Object.keys(files)).to.not.have.length(0);
    expect(lintFlowSet(files, { installedTypes })).to.deep.equal([]);
  });

  it("carry the pack's one ChargeItem -> charge rule set wherever a pipeline maps ChargeItems", function () {
    const mappers = Object.values(shippedFiles())
      .flat()
      .filter((n) => (n as { type?: string }).type === "pms-fhir-map") as Array<{
      name: string;
      rules: unknown;
    }>;
    const chargeMappers = mappers.filter((n) => n.name === CHARGE_MAPPER_NAME);
    expect(chargeMappers.length).to.be.at.least(1);
    for (const n of chargeMappers) expect(n.rules).to.deep.equal(CHARGE_ITEM_RULES);
    for (const n of mappers) {
      if (JSON.stringify(n.rules).includes('"ChargeItem"')) expect(n.name).to.equal(CHARGE_MAPPER_NAME);
    }
  });
});
