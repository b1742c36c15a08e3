import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CHARGE_ITEM_RULES, CHARGE_MAPPER_NAME } from "../../lib/pipelines/charges";
import { lintFlowSet } from "../../lib/pipelines/flow-lint";
import { PACK_DIR, PIPELINES_DIR } from "../../sandbox/node-red";
import { startHl7Receiver } from "../../sandbox/hl7/receiver";
import { mllpPortsByEnv } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";
import { startServices } from "./support";

/**
 * Every shipped flow (examples/pipelines/*.json, whoever wrote it): node types installed in a real Node-RED
 * with this pack (core nodes and package.json node-red.nodes), no credentials or secret-looking
 * values, Comment nodes, nothing wired to a missing node, and nothing that clashes when all are
 * deployed together.
 */

const FLOWS_DIR = PIPELINES_DIR;
/** The pipelines of the channel-pack issue, each a examples/pipelines/<name>.json. */
const PIPELINES = [
  "pms-webhook-to-ehr",
  "batch-sync",
  "hl7-adt-to-fhir",
  "hl7-siu-to-fhir",
  "ehr-to-pms",
  "fhir-to-hl7",
  "care-coordination",
  "health-dashboard",
  "capability-assessment",
];

/** Variables a flow reads: whole ${VAR} properties, env.get("VAR") in functions, $env("VAR") in JSONata. */
function variablesOf(flow: FlowNode[]): Set<string> {
  const text = JSON.stringify(flow);
  const out = new Set<string>();
  for (const re of [
    /"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"/g,
    /env\.get\(\\"([A-Za-z_][A-Za-z0-9_]*)\\"\)/g,
    /\$env\(\\"([A-Za-z_][A-Za-z0-9_]*)\\"\)/g,
  ]) {
    for (const m of text.matchAll(re)) out.add(m[1]);
  }
  return out;
}

function shippedFiles(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const file of readdirSync(FLOWS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    out[file] = JSON.parse(readFileSync(join(FLOWS_DIR, file), "utf8"));
  }
  return out;
}

describe("shipped flows (examples/pipelines/*.json)", function () {
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

  it("are the pipelines of the pack, each documented in docs/pipelines.md", function () {
    const files = Object.keys(shippedFiles()).map((f) => f.replace(/\.json$/, ""));
    expect(files).to.include.members(PIPELINES);
    const docs = readFileSync(join(PACK_DIR, "docs", "pipelines.md"), "utf8");
    const headings = docs.split("\n").filter((l) => l.startsWith("### "));
    for (const name of files) {
      expect(
        headings.some((h) => h.split(/[ ,]+/).includes(name)),
        `a heading for ${name}`,
      ).to.equal(true);
    }
  });

  it("document every variable they read: tab settings on the tab, the environment in docs/pipelines.md", function () {
    const docs = readFileSync(join(PACK_DIR, "docs", "pipelines.md"), "utf8");
    const every = new Set(Object.values(shippedFiles()).flatMap((f) => [...variablesOf(f as FlowNode[])]));
    expect([...every]).to.include.members([
      "FHIR_BASE_URL",
      "HL7_ADT_PORT",
      "EHR_NOTIFY_URL",
      "PMS_PAGE_SIZE",
    ]);
    for (const [file, content] of Object.entries(shippedFiles())) {
      const flow = content as FlowNode[];
      const tab = flow.find((n) => n.type === "tab") as { env?: Array<{ name: string }> } | undefined;
      const onTab = new Set((tab?.env ?? []).map((v) => v.name));
      const comments = flow
        .filter((n) => n.type === "comment")
        .map((n) => `${String(n.name)} ${String(n.info ?? "")}`)
        .join(" ");
      for (const name of variablesOf(flow)) {
        if (onTab.has(name)) expect(comments, `${file}: tab setting ${name}`).to.contain(name);
        else expect(docs, `${file}: environment variable ${name}`).to.contain(`\`${name}\``);
      }
      for (const name of onTab) expect(comments, `${file}: tab setting ${name}`).to.contain(name);
    }
  });

  it("start together in one runtime, wired to the sandbox, without an error", async function () {
    const services = await startServices({ pms: { patients: 3, appointments: 3 } });
    const downstream = await startHl7Receiver({ port: 0 });
    const flows = Object.values(shippedFiles()).flat() as FlowNode[];
    // Every listener takes a free port itself ("0") and logs it.
    const env = {
      ...services.env,
      HL7_ADT_PORT: "0",
      HL7_SIU_PORT: "0",
      HL7_ADT_QUEUE_PORT: "0",
      HL7_SIU_QUEUE_PORT: "0",
      HL7_DFT_PORT: "0",
      HL7_DOWNSTREAM_HOST: "127.0.0.1",
      HL7_DOWNSTREAM_PORT: String(downstream.port),
    };
    const all = await startRuntime({ env });
    try {
      const from = all.logs.length;
      await all.deploy(flows, services.credentials(flows));
      const listening = await mllpPortsByEnv(all, flows, from);
      expect(Object.keys(listening).sort()).to.deep.equal([
        "HL7_ADT_PORT",
        "HL7_ADT_QUEUE_PORT",
        "HL7_DFT_PORT",
        "HL7_SIU_PORT",
        "HL7_SIU_QUEUE_PORT",
      ]);
      const deployed = await all.getJson<FlowNode[]>("/flows");
      const tabs = deployed.filter((n) => n.type === "tab").map((n) => n.id);
      expect(tabs).to.have.length(Object.keys(shippedFiles()).length);
      const problems = all.logs.slice(from).filter((l) => /\[(error|warn)\]|missing|Waiting for/i.test(l));
      expect(problems).to.deep.equal([]);
    } finally {
      await all.stop();
      await services.close();
      await downstream.stop();
    }
  });
});
