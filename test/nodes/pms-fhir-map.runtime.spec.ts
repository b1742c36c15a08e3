import { expect } from "chai";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";
import { compileBuiltin } from "../../lib/mapping";

/** bcrypt of "test-only-password": a throwaway user for this runtime only. */
const PASSWORD = "test-only-password";
const HASH = "$2b$08$coT2gKZ9TaY5a7AawQi8ZuQYLYzfuwQVvXrcgT84Vltk02v4Zwt3y";

const TAB = "tab-map-e2e";

const flow: FlowNode[] = [
  { id: TAB, type: "tab", label: "map e2e" },
  {
    id: "in",
    z: TAB,
    type: "http in",
    url: "/map",
    method: "post",
    upload: false,
    x: 100,
    y: 100,
    wires: [["map"]],
  },
  {
    id: "map",
    z: TAB,
    type: "pms-fhir-map",
    mapping: "patient",
    direction: "to-fhir",
    rules: [],
    identifierSystem: "urn:e2e:pms",
    x: 300,
    y: 100,
    wires: [["ok"], ["rejected"]],
  },
  { id: "ok", z: TAB, type: "http response", statusCode: "200", headers: {}, x: 500, y: 80, wires: [] },
  {
    id: "rejected",
    z: TAB,
    type: "change",
    rules: [
      { t: "set", p: "payload", pt: "msg", to: "mapping.errors", tot: "msg" },
      { t: "set", p: "statusCode", pt: "msg", to: "422", tot: "num" },
    ],
    x: 500,
    y: 120,
    wires: [["reply"]],
  },
  { id: "reply", z: TAB, type: "http response", statusCode: "", headers: {}, x: 700, y: 120, wires: [] },
];

describe("pms-fhir-map in a Node-RED runtime with admin auth", function () {
  this.timeout(90000);
  let runtime: Runtime;

  async function token(username: string, scope = "*"): Promise<string> {
    const res = await fetch(`${runtime.url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        client_id: "node-red-editor",
        grant_type: "password",
        scope,
        username,
        password: PASSWORD,
      }).toString(),
    });
    expect(res.status, "login").to.equal(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  before(async () => {
    runtime = await startRuntime({
      settings: {
        adminAuth: {
          type: "credentials",
          users: [
            { username: "analyst", password: HASH, permissions: "*" },
            { username: "viewer", password: HASH, permissions: "read" },
          ],
        },
      },
    });
    const admin = await token("analyst");
    const from = runtime.logs.length;
    const res = await fetch(`${runtime.url}/flows`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${admin}`,
        "content-type": "application/json",
        "Node-RED-Deployment-Type": "full",
      },
      body: JSON.stringify(flow),
    });
    expect(res.status, "deploy").to.be.oneOf([200, 204]);
    await runtime.waitForLog(/\[info\] Started flows/, 60000, from);
  });

  after(async () => {
    await runtime?.stop();
  });

  it("serves the node's editor and help from the built package", async () => {
    const admin = await token("analyst");
    const res = await fetch(`${runtime.url}/nodes`, {
      headers: { accept: "text/html", authorization: `Bearer ${admin}` },
    });
    const html = await res.text();
    expect(html).to.include('data-template-name="pms-fhir-map"');
    expect(html).to.include('data-help-name="pms-fhir-map"');
    expect(html).to.include('registerType("pms-fhir-map"');
  });

  it("lets only signed-in users with the right permission reach the admin endpoints", async () => {
    const body = JSON.stringify({ mapping: "patient", direction: "to-fhir", record: { id: "1" } });
    const post = (auth?: string) =>
      fetch(`${runtime.url}/pms-fhir-map/try`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body,
      });
    const get = (auth?: string) =>
      fetch(`${runtime.url}/pms-fhir-map/builtins`, {
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });

    expect((await post()).status).to.equal(401);
    expect((await get()).status).to.equal(401);
    const viewer = await token("viewer", "read");
    // Node-RED answers a missing permission with 401 too (editor-api auth needsPermission).
    expect((await post(viewer)).status).to.equal(401);
    expect((await get(viewer)).status).to.equal(200);
    const analyst = await token("analyst");
    const tried = await post(analyst);
    expect(tried.status).to.equal(200);
    const answer = (await tried.json()) as {
      outputs: Array<{ mapping: { errors: Array<{ field: string }> } } | null>;
    };
    expect(answer.outputs[0]).to.equal(null);
    expect(answer.outputs[1]?.mapping.errors.map((e) => e.field)).to.deep.equal([
      "firstName",
      "lastName",
      "dateOfBirth",
    ]);
  });

  it("maps records that arrive over HTTP and rejects bad ones by their second output", async () => {
    const patient = {
      id: "pat-9",
      firstName: "Nguyễn",
      lastName: "Thảo",
      dateOfBirth: "2000-02-29",
      gender: "f",
      updatedAt: "2025-01-06T08:00:00.000Z",
    };
    const ok = await fetch(`${runtime.url}/map`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(patient),
    });
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.equal(
      compileBuiltin("patient", { identifierSystem: "urn:e2e:pms" }).toFhir(patient).value,
    );

    const bad = await fetch(`${runtime.url}/map`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...patient, dateOfBirth: "2001-02-29" }),
    });
    expect(bad.status).to.equal(422);
    const errors = (await bad.json()) as Array<{ field: string; code: string }>;
    expect(errors.map((e) => [e.field, e.code])).to.deep.equal([["dateOfBirth", "MAP_VALIDATE"]]);
  });
});
