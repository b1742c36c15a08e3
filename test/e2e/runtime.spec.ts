import { expect } from "chai";
import { startRuntime, type Runtime } from "../support/red-runtime";

describe("test support: a real Node-RED runtime", function () {
  this.timeout(90000);
  let rt: Runtime | undefined;

  afterEach(async () => {
    await rt?.stop();
    rt = undefined;
  });

  it("deploys flows with http-in routes and keeps them across a restart, logging no error", async () => {
    rt = await startRuntime({
      flows: [
        { id: "t1", type: "tab", label: "probe" },
        { id: "in1", type: "http in", z: "t1", url: "/probe", method: "get", wires: [["ch1"]] },
        {
          id: "ch1",
          type: "change",
          z: "t1",
          rules: [{ t: "set", p: "payload", pt: "msg", to: "pong", tot: "str" }],
          wires: [["out1"]],
        },
        { id: "out1", type: "http response", z: "t1", statusCode: "", wires: [] },
      ],
    });
    const first = await fetch(`${rt.url}/probe`);
    expect(first.status).to.equal(200);
    expect(await first.text()).to.equal("pong");

    await rt.restart();
    const second = await fetch(`${rt.url}/probe`);
    expect(await second.text()).to.equal("pong");

    expect(rt.logs.some((l) => /\[error\]/.test(l))).to.equal(false, rt.logs.join("\n"));
  });
});
