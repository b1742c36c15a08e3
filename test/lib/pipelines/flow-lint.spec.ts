import { expect } from "chai";
import { lintFlow, lintFlowSet, secretReason, type FlowFinding } from "../../../lib/pipelines/flow-lint";

const installedTypes = new Set([
  "inject",
  "debug",
  "comment",
  "catch",
  "link in",
  "link out",
  "http in",
  "webhook-in",
  "fhir-server",
]);

/** A small, clean pipeline: tab, comment, inject -> debug, a config node, a catch. */
function clean(): Array<Record<string, unknown> & { id: string; type: string }> {
  return [
    { id: "t", type: "tab", label: "demo", env: [{ name: "STORE", value: "", type: "str" }] },
    {
      id: "c",
      type: "comment",
      z: "t",
      name: "read me",
      info: "Uses ${FHIR_BASE_URL}; the secret is a credential.",
    },
    { id: "i", type: "inject", z: "t", wires: [["d"]] },
    { id: "d", type: "debug", z: "t", wires: [] },
    { id: "k", type: "catch", z: "t", scope: ["i"], wires: [["d"]] },
    {
      id: "s",
      type: "fhir-server",
      z: "t",
      baseUrl: "${FHIR_BASE_URL}",
      tokenUrl: "${FHIR_TOKEN_URL}",
      clientId: "${FHIR_CLIENT_ID}",
      keyId: "",
    },
  ];
}

const codes = (findings: FlowFinding[]): string[] => findings.map((f) => f.code);

describe("lib/pipelines flow-lint", function () {
  it("finds nothing in a clean pipeline", function () {
    expect(lintFlow(clean(), { installedTypes })).to.deep.equal([]);
  });

  it("flags a node type that is not installed", function () {
    const flow = clean();
    flow.push({ id: "x", type: "mllp-in", z: "t", wires: [] });
    const findings = lintFlow(flow, { installedTypes }, "a.json");
    expect(findings).to.have.length(1);
    expect(findings[0]).to.include({ code: "FLOW_UNKNOWN_TYPE", nodeId: "x", file: "a.json" });
    expect(findings[0].message).to.contain('"mllp-in"');
  });

  it("flags a credentials property, however empty", function () {
    const flow = clean();
    (flow[5] as Record<string, unknown>).credentials = {};
    expect(codes(lintFlow(flow, { installedTypes }))).to.deep.equal(["FLOW_CREDENTIALS"]);
  });

  it("flags secret-looking values anywhere in a node without quoting them", function () {
    const planted: Array<[string, unknown]> = [
      ["clientSecret", "s3cr3t"],
      ["password", "hunter2"],
      ["apiKey", "k-1"],
      ["headers", { Authorization: "Bearer abcdefghijklmnopqrstuvwxyz012345" }],
      ["info", "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----"],
      ["func", 'const t = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJl";'],
      ["url", "https://admin:pa55word@pms.example.org/api"],
      ["note", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
      ["value", "q8Zt3LwYk0vR7mXa2NcP9sEf4HbJ6uDg"],
      ["rules", [{ to: "AKIAIOSFODNN7EXAMPLE" }]],
    ];
    for (const [key, value] of planted) {
      const flow = clean();
      (flow[2] as Record<string, unknown>)[key] = value;
      const findings = lintFlow(flow, { installedTypes });
      expect(codes(findings), key).to.deep.equal(["FLOW_SECRET"]);
      expect(findings[0].nodeId).to.equal("i");
      expect(findings[0].message).to.contain(key);
      const leaves = JSON.stringify(value).match(/"(?:[^"\\]|\\.)*"(?!\s*:)/g) ?? [];
      for (const part of leaves.join(" ").match(/[A-Za-z0-9]{6,}/g) ?? []) {
        expect(findings[0].message, key).to.not.contain(part);
      }
    }
  });

  it("accepts ${ENV} references, empty secrets and ordinary words", function () {
    expect(secretReason("clientSecret", "")).to.equal(undefined);
    expect(secretReason("apiKey", "${PMS_API_KEY}")).to.equal(undefined);
    expect(secretReason("tokenUrl", "https://ehr.example.org/oauth2/token")).to.equal(undefined);
    expect(secretReason("apiKeyHeader", "X-API-Key")).to.equal(undefined);
    expect(secretReason("identifierSystem", "urn:healthbridge:pms:patient")).to.equal(undefined);
    expect(secretReason("id", "pms-webhook-to-ehr-fetch-appointment")).to.equal(undefined);
    expect(secretReason("func", "msg.headers = { Authorization: `Bearer ${token}` };")).to.equal(undefined);
  });

  it("flags a tab environment variable named like a secret unless it is a credential", function () {
    const flow = clean();
    (flow[0] as Record<string, unknown>).env = [
      { name: "PMS_API_SECRET", value: "abc", type: "str" },
      { name: "FHIR_TOKEN", value: "abc", type: "cred" },
    ];
    const findings = lintFlow(flow, { installedTypes });
    expect(codes(findings)).to.deep.equal(["FLOW_SECRET"]);
    expect(findings[0].message).to.contain("PMS_API_SECRET");
  });

  it("flags a pipeline without a Comment node", function () {
    const flow = clean().filter((n) => n.type !== "comment");
    expect(codes(lintFlow(flow, { installedTypes }))).to.deep.equal(["FLOW_NO_COMMENT"]);
  });

  it("flags wires, catch scopes and links to nodes that are not in the file", function () {
    const flow = clean();
    flow[2].wires = [["d", "gone"]];
    flow[4].scope = ["i", "vanished"];
    flow.push({ id: "lo", type: "link out", z: "t", links: ["nowhere"], wires: [] });
    const findings = lintFlow(flow, { installedTypes });
    expect(codes(findings)).to.deep.equal(["FLOW_DANGLING", "FLOW_DANGLING", "FLOW_DANGLING"]);
  });

  it("flags a file that is not one tab of nodes", function () {
    expect(codes(lintFlow({}, { installedTypes }))).to.deep.equal(["FLOW_SHAPE"]);
    expect(codes(lintFlow([], { installedTypes }))).to.deep.equal(["FLOW_SHAPE"]);
    const twoTabs = [...clean(), { id: "t2", type: "tab", label: "more" }];
    expect(codes(lintFlow(twoTabs, { installedTypes }))).to.deep.equal(["FLOW_SHAPE"]);
    const offTab = clean();
    offTab[3].z = "elsewhere";
    expect(codes(lintFlow(offTab, { installedTypes }))).to.deep.equal(["FLOW_SHAPE"]);
    const junk = [...clean(), 42];
    expect(codes(lintFlow(junk, { installedTypes }))).to.deep.equal(["FLOW_SHAPE"]);
  });

  it("flags ids and http routes that clash when several files are deployed together", function () {
    const a = clean();
    a.push({ id: "h1", type: "http in", z: "t", url: "/hooks", method: "post", wires: [] });
    const b: Array<Record<string, unknown> & { id: string; type: string }> = clean().map((n) => ({
      ...n,
      id: `b-${n.id}`,
      z: n.z ? `b-${String(n.z)}` : undefined,
    }));
    for (const n of b) {
      if (Array.isArray(n.wires)) n.wires = (n.wires as string[][]).map((w) => w.map((id) => `b-${id}`));
      if (Array.isArray(n.scope)) n.scope = (n.scope as string[]).map((id) => `b-${id}`);
      if (n.type === "tab") delete n.z;
    }
    b.push({ id: "h2", type: "http in", z: "b-t", url: "/hooks", method: "post", wires: [] });
    b.push({ id: "w1", type: "webhook-in", z: "b-t", url: "/hooks", wires: [] });
    b.push({ id: "w2", type: "webhook-in", z: "b-t", url: "/hooks", method: "put", wires: [] });
    b.push({ id: "d", type: "debug", z: "b-t", wires: [] });
    const findings = lintFlowSet({ "a.json": a, "b.json": b }, { installedTypes });
    expect(findings.map((f) => [f.code, f.file, f.nodeId])).to.deep.equal([
      ["FLOW_DUPLICATE_ROUTE", "b.json", "h2"],
      ["FLOW_DUPLICATE_ROUTE", "b.json", "w1"],
      ["FLOW_DUPLICATE_ID", "b.json", "d"],
    ]);
  });
});
