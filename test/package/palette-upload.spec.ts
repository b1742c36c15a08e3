import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNodeRed, type NodeRedProcess } from "../../sandbox/node-red";
import { packRelease, type Release } from "../../scripts/release";
import type { NodeSetInfo } from "./node-sets";

// The tarball `npm run release` makes, installed as a user does before the pack is on the registry:
// Menu > Manage palette > Install > upload, which posts the file to the admin API (POST /nodes,
// multipart field "tarball"). Node-RED keeps the file in <userDir>/nodes/, installs it with npm and
// loads the nodes without a restart.

describe("package: installed through the editor's palette upload into a fresh Node-RED", function () {
  this.timeout(120000);
  let tmp: string;
  let release: Release;
  let userDir: string;
  let red: NodeRedProcess | undefined;
  let name: string;
  let types: string[];
  let uploadStatus = 0;
  let uploaded: { name?: string; version?: string; nodes?: Array<{ types: string[] }> } = {};

  const start = (): Promise<NodeRedProcess> =>
    startNodeRed({
      userDir,
      // The sandbox's defaults turn the palette manager off; a default install has it on.
      settings: { nodesDir: [], externalModules: { palette: { allowInstall: true } } },
      // Node-RED's npm runs with this environment. Without install scripts it does not build the SQLite
      // driver from source (a minute where no prebuilt binary can be fetched): the nodes load it only
      // when a message store opens, and pack.spec.ts installs with scripts and stores a message.
      env: {
        npm_config_prefer_offline: "true",
        npm_config_ignore_scripts: "true",
        npm_config_audit: "false",
        npm_config_fund: "false",
      },
    });
  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${red!.url}${path}`, { headers: { accept: "application/json" } });
    expect(res.status, `GET ${path}`).to.equal(200);
    return (await res.json()) as T;
  };
  const ourSets = async (): Promise<NodeSetInfo[]> =>
    (await getJson<NodeSetInfo[]>("/nodes")).filter((s) => s.module === name);

  before(async function () {
    this.timeout(180000);
    tmp = mkdtempSync(join(tmpdir(), "nr-pms-ehr-upload-"));
    release = await packRelease(tmp);
    name = release.manifest.name as string;
    types = Object.keys((release.manifest["node-red"] as { nodes: Record<string, string> }).nodes).sort();
    userDir = join(tmp, "user");
    red = await start();

    // What the editor's upload form sends.
    const form = new FormData();
    form.append(
      "tarball",
      new Blob([readFileSync(release.path)], { type: "application/gzip" }),
      release.filename,
    );
    const res = await fetch(`${red.url}/nodes`, { method: "POST", body: form });
    uploadStatus = res.status;
    uploaded = (await res.json()) as typeof uploaded;
  });

  after(async () => {
    await red?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("offers the upload (externalModules.palette.allowUpload is not false by default)", async () => {
    const settings = await getJson<{ externalModules?: { palette?: Record<string, unknown> } }>("/settings");
    expect(settings.externalModules?.palette?.allowInstall).to.not.equal(false);
    expect(settings.externalModules?.palette?.allowUpload).to.not.equal(false);
  });

  it("accepts the tarball and answers with the module and every node type", () => {
    expect(uploadStatus, JSON.stringify(uploaded)).to.equal(200);
    expect(uploaded.name).to.equal(name);
    expect(uploaded.version).to.equal(release.manifest.version);
    expect((uploaded.nodes ?? []).flatMap((n) => n.types).sort()).to.deep.equal(types);
  });

  it("registers every node at once, enabled, at the tarball's version, without error", async () => {
    const sets = await ourSets();
    expect(sets.map((s) => s.name).sort()).to.deep.equal(types);
    for (const set of sets) {
      expect(set.err, `${set.id}: ${String(set.err)}`).to.equal(undefined);
      expect(set.enabled, set.id).to.equal(true);
      expect(set.version, set.id).to.equal(release.manifest.version);
      expect(set.types, set.id).to.deep.equal([set.name]);
    }
    const html = await (await fetch(`${red!.url}/nodes`, { headers: { accept: "text/html" } })).text();
    for (const type of types) expect(html, type).to.include(`data-template-name="${type}"`);
  });

  it("keeps the tarball in the user directory and names it in its package.json", () => {
    const dependencies = (
      JSON.parse(readFileSync(join(userDir, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
      }
    ).dependencies;
    const kept = `${name.slice(1).replace("/", "-")}-${String(release.manifest.version)}.tgz`;
    expect(dependencies?.[name]).to.equal(`file:nodes/${kept}`);
    expect(existsSync(join(userDir, "nodes", kept))).to.equal(true);
    expect(existsSync(join(userDir, "node_modules", ...name.split("/"), "package.json"))).to.equal(true);
  });

  it("logs the install and no error or warning about the pack", () => {
    expect(red!.logs.some((l) => l.includes(`[info] Installed module: ${name}`))).to.equal(true);
    const bad = red!.logs.filter(
      (l) =>
        /\[error\]/.test(l) || (/\[warn\]/.test(l) && (l.includes(name) || types.some((t) => l.includes(t)))),
    );
    expect(bad).to.deep.equal([]);
  });

  it("loads the installed nodes again after a restart", async () => {
    await red!.stop();
    red = await start();
    const sets = await ourSets();
    expect(sets.map((s) => s.name).sort()).to.deep.equal(types);
    expect(sets.filter((s) => s.err !== undefined || !s.enabled).map((s) => s.id)).to.deep.equal([]);
  });
});
