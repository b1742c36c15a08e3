import { expect } from "chai";
import { adt, RawPeer, sleep } from "../nodes/mllp-support";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * mllp-in's de-duplication window outlives a restart, kept in the node context store it is given
 * (the sandbox runtime's "file" store) or, given none, in the pack's state file: after a clean
 * restart, and after kill -9 once the periodic save has happened, a repeat is answered AA and not
 * sent into the flow again.
 */

const TAB = "e2e-mllp-dedupe";

function flows(port: number, store: string): FlowNode[] {
  return [
    { id: TAB, type: "tab", label: "dedupe" },
    {
      id: "in",
      type: "mllp-in",
      z: TAB,
      x: 100,
      y: 60,
      port: String(port),
      ack: "auto",
      dedupe: "600",
      dedupeStore: store,
      wires: [["seen"]],
    },
    {
      id: "seen",
      type: "debug",
      z: TAB,
      x: 300,
      y: 60,
      name: "seen",
      active: true,
      tosidebar: false,
      console: true,
      complete: "hl7.controlId",
      targetType: "msg",
      wires: [],
    },
  ];
}

for (const [store, where] of [
  ["file", "file context"],
  ["", "the pack's state file, by default"],
] as const) {
  describe(`mllp-in de-duplication across restarts (real runtime, ${where})`, function () {
    this.timeout(120_000);
    let runtime: Runtime;
    let port: number;

    before(async () => {
      runtime = await startRuntime({ flows: flows(0, store) });
      port = await mllpPort(runtime, "in");
    });
    after(async () => {
      await runtime?.stop();
    });

    async function send(...ids: string[]): Promise<string[]> {
      const peer = await RawPeer.connect(port, 15_000);
      try {
        for (const id of ids) peer.send(adt(id));
        return (await peer.waitAcks(ids.length)).map((a) => `${a.code} ${a.controlId}`);
      } finally {
        peer.destroy();
      }
    }

    const seen = (from: number): string[] =>
      runtime.logs
        .slice(from)
        .filter((l) => l.includes("[debug:seen]"))
        .map((l) => l.replace(/^.*\[debug:seen\]\s*/, "").trim());

    it("remembers accepted messages over a clean restart and over kill -9 after the periodic save", async () => {
      let from = runtime.logs.length;
      expect(await send("KEEP-1")).to.deep.equal(["AA KEEP-1"]);
      await runtime.waitForLog(/\[debug:seen\]/, 10_000, from);
      expect(seen(from)).to.deep.equal(["KEEP-1"]);

      await runtime.restart();
      port = await mllpPort(runtime, "in");
      from = runtime.logs.length;
      expect(await send("KEEP-1", "KEEP-2")).to.deep.equal(["AA KEEP-1", "AA KEEP-2"]);
      // One connection is handed on in order: once KEEP-2 is seen, KEEP-1 would have been too.
      await runtime.waitForLog(/\[debug:seen\]\s*KEEP-2/, 10_000, from);
      expect(seen(from)).to.deep.equal(["KEEP-2"]);

      await sleep(7000); // the window is saved every 5 s, the file context store flushes every 1 s
      await runtime.kill();
      await runtime.restart();
      port = await mllpPort(runtime, "in");
      from = runtime.logs.length;
      expect(await send("KEEP-2", "KEEP-3")).to.deep.equal(["AA KEEP-2", "AA KEEP-3"]);
      await runtime.waitForLog(/\[debug:seen\]\s*KEEP-3/, 10_000, from);
      expect(seen(from)).to.deep.equal(["KEEP-3"]);
      if (store === "") expect(runtime.logs.join("\n")).to.not.match(/in memory/);
    });
  });
}
