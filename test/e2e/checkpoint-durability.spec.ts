import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

const TAB = "cp-e2e";

/** POST /cp/<store> {action, checkpoint} -> the sync-checkpoint node -> msg.checkpoint (200), or the error (409). */
function flow(stores: Array<{ path: string; store: string }>): FlowNode[] {
  const nodes: FlowNode[] = [{ id: TAB, type: "tab", label: "checkpoint durability" }];
  stores.forEach(({ path, store }, i) => {
    const id = (s: string) => `${s}-${i}`;
    nodes.push(
      { id: id("in"), type: "http in", z: TAB, url: `/cp/${path}`, method: "post", wires: [[id("args")]] },
      {
        id: id("args"),
        type: "change",
        z: TAB,
        rules: [
          { t: "set", p: "checkpoint", pt: "msg", to: "payload.checkpoint", tot: "msg" },
          { t: "set", p: "action", pt: "msg", to: "payload.action", tot: "msg" },
          { t: "set", p: "run", pt: "msg", to: "payload.run", tot: "msg" },
        ],
        wires: [[id("cp")]],
      },
      {
        id: id("cp"),
        type: "sync-checkpoint",
        z: TAB,
        name: "",
        checkpoint: "patients",
        action: "get",
        actionFromMsg: true,
        store,
        overlap: "0",
        initial: "2025-01-01T00:00:00Z",
        lease: "600",
        wires: [[id("ok")]],
      },
      {
        id: id("ok"),
        type: "change",
        z: TAB,
        rules: [{ t: "set", p: "payload", pt: "msg", to: "checkpoint", tot: "msg" }],
        wires: [[id("res")]],
      },
      { id: id("catch"), type: "catch", z: TAB, scope: [id("cp")], uncaught: false, wires: [[id("err")]] },
      {
        id: id("err"),
        type: "change",
        z: TAB,
        rules: [
          { t: "set", p: "payload", pt: "msg", to: "checkpoint", tot: "msg" },
          { t: "set", p: "statusCode", pt: "msg", to: "409", tot: "num" },
        ],
        wires: [[id("res")]],
      },
      { id: id("res"), type: "http response", z: TAB, statusCode: "", wires: [] },
    );
  });
  return nodes.map((n) => (n.type === "tab" ? n : { x: 100, y: 100, ...n }));
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string } };
}

async function call(
  rt: Runtime,
  path: string,
  action: string,
  checkpoint?: Record<string, unknown>,
  run?: Record<string, unknown>,
): Promise<Answer> {
  const res = await fetch(`${rt.url}/cp/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ action, checkpoint, run }),
  });
  return { status: res.status, body: (await res.json()) as Answer["body"] };
}

describe("sync-checkpoint in a real Node-RED: durability across restarts", function () {
  this.timeout(120000);
  let rt: Runtime | undefined;

  afterEach(async () => {
    await rt?.stop();
    rt = undefined;
  });

  it("with the localfilesystem store, a commit and a live lease survive a restart; memory, chosen, forgets", async () => {
    rt = await startRuntime({
      flows: flow([
        { path: "file", store: "file" },
        { path: "memory", store: "memory" },
      ]),
    });
    expect(rt.logs.filter((l) => l.includes("in memory"))).to.have.length(1);
    expect(rt.logs.find((l) => l.includes("in memory"))).to.match(
      /\[warn\] \[sync-checkpoint:.*keeps its checkpoints, run log and dead letters in memory \(store "memory" chosen\): a restart forgets them/,
    );
    for (const path of ["file", "memory"]) {
      const g = await call(rt, path, "get");
      expect(g.status, JSON.stringify(g.body)).to.equal(200);
      expect(g.body).to.include({ since: "2025-01-01T00:00:00.000Z", cursor: null });
      const c = await call(rt, path, "commit", {
        ...g.body,
        highWater: "2025-01-06T08:05:00.000Z",
        cursor: "pat-00051",
      });
      expect(c.body).to.include({ advanced: true, highWater: "2025-01-06T08:05:00.000Z" });
    }

    await rt.restart();
    const file = await call(rt, "file", "get");
    expect(file.body).to.include({ since: "2025-01-06T08:05:00.000Z", cursor: "pat-00051", initial: false });
    const memory = await call(rt, "memory", "get");
    expect(memory.body).to.include({ since: "2025-01-01T00:00:00.000Z", initial: true });

    await rt.restart();
    const busy = await call(rt, "file", "get");
    expect(busy.status).to.equal(409);
    expect(busy.body.error?.code).to.equal("CHECKPOINT_BUSY");
    const commit = await call(rt, "file", "commit", { ...file.body, highWater: "2025-01-06T09:00:00.000Z" });
    expect(commit.body).to.include({ advanced: true, highWater: "2025-01-06T09:00:00.000Z", cursor: null });
    expect(rt.logs.filter((l) => /\[error\]/.test(l))).to.deep.equal([]);
  });

  it("with no store chosen and memory the default context, a commit is in the pack's state file when the node answers: kill -9, restart, it is there", async () => {
    rt = await startRuntime({ flows: flow([{ path: "default", store: "" }]) });
    const g = await call(rt, "default", "get");
    const c = await call(rt, "default", "commit", {
      ...g.body,
      highWater: "2025-01-06T11:00:00Z",
      cursor: 78,
    });
    expect(c.body).to.include({ advanced: true, cursor: 78 });
    await rt.kill();
    await rt.restart();
    const after = await call(rt, "default", "get");
    expect(after.body).to.include({ since: "2025-01-06T11:00:00.000Z", cursor: 78, initial: false });
    expect(existsSync(join(rt.userDir, "pms-ehr-state.db"))).to.equal(true);
    expect(rt.logs.filter((l) => l.includes("in memory"))).to.deep.equal([]);
  });

  it("with localfilesystem cache off, a commit is on disk when the node answers: kill -9, restart, it is there", async () => {
    rt = await startRuntime({
      flows: flow([{ path: "direct", store: "direct" }]),
      settings: {
        contextStorage: {
          direct: { module: "localfilesystem", config: { cache: false, base: "context-direct" } },
        },
      },
    });
    const g = await call(rt, "direct", "get");
    const c = await call(rt, "direct", "commit", {
      ...g.body,
      highWater: "2025-01-06T10:00:00Z",
      cursor: 77,
    });
    expect(c.body).to.include({ advanced: true, cursor: 77 });
    await rt.kill();
    await rt.restart();
    const after = await call(rt, "direct", "get");
    expect(after.body).to.include({ since: "2025-01-06T10:00:00.000Z", cursor: 77 });
  });

  it("with localfilesystem cache off, the run log is read and written asynchronously and survives kill -9", async () => {
    rt = await startRuntime({
      flows: flow([{ path: "direct", store: "direct" }]),
      settings: {
        contextStorage: {
          direct: { module: "localfilesystem", config: { cache: false, base: "context-direct" } },
        },
      },
    });
    const runs = async (): Promise<unknown> => {
      const r = await rt!.getJson<{ msg?: string }>(`/context/flow/${TAB}/runs?store=direct`);
      return r.msg === undefined ? undefined : JSON.parse(r.msg);
    };
    const g = await call(rt, "direct", "get");
    const committed = await call(rt, "direct", "commit", { ...g.body, highWater: "2025-01-06T10:00:00Z" });
    expect((await call(rt, "direct", "log", committed.body, { total: 4 })).status).to.equal(200);
    expect((await call(rt, "direct", "log", { name: "patients" }, { total: 0 })).status).to.equal(200);
    await rt.kill();
    await rt.restart();
    expect((await call(rt, "direct", "log", { name: "patients" })).status).to.equal(200);
    const kept = (await runs()) as Array<Record<string, unknown>>;
    expect(kept.map((r) => [r.seq, r.outcome, r.records, r.watermark])).to.deep.equal([
      [1, "ok", 4, "2025-01-06T10:00:00.000Z"],
      [2, "ok", 0, undefined],
      [3, "ok", 0, undefined],
    ]);
    expect(rt.logs.filter((l) => /\[error\]|synchronous/.test(l))).to.deep.equal([]);
  });
});
