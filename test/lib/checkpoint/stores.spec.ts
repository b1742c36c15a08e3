import { expect } from "chai";
import { isPersistentStore, resolveContextStore } from "../../../lib/checkpoint";
import { codeOf } from "../../support/errors";

describe("checkpoint: Node-RED context store names", () => {
  it("without contextStorage only the default memory store exists", () => {
    expect(resolveContextStore(undefined, "")).to.deep.equal({ store: undefined, physical: "memory" });
    expect(resolveContextStore({}, "memory")).to.deep.equal({ store: undefined, physical: "memory" });
    expect(codeOf(() => resolveContextStore(undefined, "file"))).to.equal("CHECKPOINT_CONFIG");
  });

  it("resolves the default store and aliases to one physical store, refuses unknown names", () => {
    const aliased = { default: "file", file: { module: "localfilesystem" }, mem: { module: "memory" } };
    expect(resolveContextStore(aliased, "")).to.deep.equal({ store: undefined, physical: "file" });
    expect(resolveContextStore(aliased, "default")).to.deep.equal({ store: "default", physical: "file" });
    expect(resolveContextStore(aliased, " file ")).to.deep.equal({ store: "file", physical: "file" });
    expect(resolveContextStore(aliased, "mem")).to.deep.equal({ store: "mem", physical: "mem" });
    const own = { default: { module: "memory" }, file: { module: "localfilesystem" } };
    expect(resolveContextStore(own, "")).to.deep.equal({ store: undefined, physical: "default" });
    const noDefault = { file: { module: "localfilesystem" }, mem: { module: "memory" } };
    expect(resolveContextStore(noDefault, "")).to.deep.equal({ store: undefined, physical: "file" });
    expect(codeOf(() => resolveContextStore(own, "redis"))).to.equal("CHECKPOINT_CONFIG");
    expect(() => resolveContextStore(own, "redis")).to.throw(/default, file/);
  });
});

describe("checkpoint: context store names at their edges", () => {
  it("treats anything but an object as no contextStorage, and ignores its _ entry", () => {
    for (const cs of [null, "file", ["file"], 5]) {
      expect(resolveContextStore(cs, "default"), JSON.stringify(cs)).to.deep.equal({
        store: undefined,
        physical: "memory",
      });
    }
    expect(resolveContextStore({ _: { module: "x" } }, undefined)).to.deep.equal({
      store: undefined,
      physical: "memory",
    });
    expect(codeOf(() => resolveContextStore({ _: {}, file: {} }, "_"))).to.equal("CHECKPOINT_CONFIG");
  });

  it("takes a default store object as the physical store named default, wherever it is listed", () => {
    expect(resolveContextStore({ file: {}, default: { module: "memory" } }, "")).to.deep.equal({
      store: undefined,
      physical: "default",
    });
  });

  it("says which store is missing and which ones exist", () => {
    expect(() => resolveContextStore(undefined, " file ")).to.throw(
      'context store "file" is not configured: settings.js has no contextStorage, so only the default memory store exists',
    );
    expect(() => resolveContextStore({ file: {}, mem: {} }, "redis")).to.throw(
      'context store "redis" is not in settings.js contextStorage (file, mem)',
    );
  });
});

describe("checkpoint: which context stores persist", () => {
  it("takes every store but Node-RED's memory module as persistent, and no contextStorage as memory", () => {
    const cs = { default: { module: "memory" }, file: { module: "localfilesystem" }, redis: { module: {} } };
    expect(isPersistentStore(cs, "default")).to.equal(false);
    expect(isPersistentStore(cs, "file")).to.equal(true);
    expect(isPersistentStore(cs, "redis")).to.equal(true);
    expect(isPersistentStore(cs, "absent")).to.equal(false);
    expect(isPersistentStore(undefined, "memory")).to.equal(false);
    expect(isPersistentStore([{ module: "localfilesystem" }], "0")).to.equal(false);
    expect(isPersistentStore({ alias: "file" }, "alias")).to.equal(false);
  });

  it("reports an unknown store with the code it is given", () => {
    expect(codeOf(() => resolveContextStore(undefined, "file", "WEBHOOK_CONFIG"))).to.equal("WEBHOOK_CONFIG");
    expect(codeOf(() => resolveContextStore({ a: {} }, "b", "MLLP_CONFIG"))).to.equal("MLLP_CONFIG");
  });
});
