import { expect } from "chai";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import { PACK_DIR, startNodeRed, type NodeRedProcess } from "../../sandbox/node-red";
import { packRelease } from "../../scripts/release";
import type { NodeSetInfo } from "./node-sets";

// What a user gets: the tarball `npm run release` makes (scripts/release.ts), installed by npm into a
// fresh Node-RED user directory, loaded by Node-RED from there alone (nodesDir is emptied, so the
// work tree is not seen).

const run = promisify(execFile);

interface PackageJson {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  "node-red": { version?: string; nodes: Record<string, string> };
}

const { name: PACKAGE_NAME } = JSON.parse(
  readFileSync(join(PACK_DIR, "package.json"), "utf8"),
) as PackageJson;
const nodeRedVersion = (
  JSON.parse(readFileSync(require.resolve("node-red/package.json"), "utf8")) as { version: string }
).version;

/** `registerType("<type>", {... category: "<c>"`, from an editor file the build assembled. */
function editorCategory(html: string, type: string): string | undefined {
  const at = html.search(new RegExp(`registerType\\(\\s*["']${type}["']`));
  if (at < 0) return undefined;
  return /category:\s*["']([^"']+)["']/.exec(html.slice(at))?.[1];
}

/** Icon file names an editor file names literally; core icons (node-red/, font-awesome/) excluded. */
function editorIcons(html: string): string[] {
  const names = [...html.matchAll(/\b(?:icon|paletteIcon):\s*["']([^"']+)["']/g)].map((m) => m[1]);
  return [...new Set(names)].filter((n) => !/^(node-red|font-awesome)\//.test(n));
}

/** Bare module names and relative paths a CommonJS file requires. */
function requiresOf(js: string): string[] {
  return [...js.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
}

const SECRET_FILE = /(^|\/)(\.env(\..*)?|\.npmrc|id_rsa|id_ed25519|.*\.(pem|key|p12|pfx|jks))$/i;
const SECRET_TEXT: Array<[string, RegExp]> = [
  ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["AWS access key", /\bAKIA[0-9A-Z]{16}\b/],
  ["npm token", /\bnpm_[A-Za-z0-9]{36}\b/],
  ["GitHub token", /\bgh[pousr]_[A-Za-z0-9]{36}\b/],
  ["bearer token", /\bBearer\s+[A-Za-z0-9\-._~+/]{20,}=*/],
];
const SECRET_PROP = /secret|password|passwd|token|api[-_]?key|private[-_]?key|client[-_]?assertion/i;

/** Flow-file properties that would hold a secret in the clear: credentials, or a secret-named field
 *  with a literal value (an env reference such as `${FHIR_CLIENT_SECRET}` or a type selector is fine). */
function secretsInFlow(nodes: Array<Record<string, unknown>>): string[] {
  const found: string[] = [];
  for (const node of nodes) {
    if (node.credentials !== undefined) found.push(`${node.id}: credentials`);
    for (const [key, value] of Object.entries(node)) {
      if (!SECRET_PROP.test(key) || typeof value !== "string" || value === "") continue;
      // Names and settings about a secret (tokenUrl, apiKeyHeader, secretType) are not secrets.
      if (/^\$\{\w+\}$/.test(value) || /(Url|Uri|Type|Header|Alg|Name|Field|Property)$/.test(key)) continue;
      found.push(`${String(node.id)}: ${key}`);
    }
  }
  return found;
}

/** Bytes of the files under a directory (their sizes, not the disk blocks they take). */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

type Lock = {
  packages: Record<
    string,
    { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
  >;
};

/**
 * The lock's installed packages that `from` needs, themselves included, resolved as Node.js
 * resolves; not following `skip`.
 */
function closure(lock: Lock, from: string[], skip: ReadonlySet<string> = new Set()): Set<string> {
  const seen = new Set<string>();
  const visit = (key: string): void => {
    if (seen.has(key) || skip.has(key) || !lock.packages[key]) return;
    seen.add(key);
    const { dependencies = {}, optionalDependencies = {} } = lock.packages[key];
    for (const name of Object.keys({ ...dependencies, ...optionalDependencies })) {
      let dir = key;
      for (;;) {
        const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
        if (lock.packages[candidate]) {
          visit(candidate);
          break;
        }
        if (dir === "") break;
        const up = dir.lastIndexOf("/node_modules/");
        dir = up < 0 ? "" : dir.slice(0, up);
      }
    }
  };
  for (const key of from) visit(key);
  return seen;
}

const MB = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** Relative link targets of a Markdown text (links and pictures), outside addresses and anchors left out. */
function markdownLinks(md: string): string[] {
  return [...md.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter(isRelative);
}

/** Relative href and src targets of an HTML page. */
function htmlLinks(html: string): string[] {
  return [...html.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]).filter(isRelative);
}

function isRelative(href: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(href) && !href.startsWith("#");
}

/** The ids an HTML page's anchors can name. */
function idsOf(html: string): Set<string> {
  return new Set([...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
}

describe("package: npm pack, installed into a fresh Node-RED user directory", function () {
  // The install compiles the SQLite driver: about 90 s on a quiet 2-core machine, past 240 s at load 7.
  // A limit, not a target: a hung npm still fails the suite, and a quiet run takes no longer.
  this.timeout(600000);
  let tmp: string;
  let tarball: string;
  let files: string[];
  let userDir: string;
  let installed: string;
  let red: NodeRedProcess | undefined;
  /** The package.json in the tarball: the nodes registered when it was packed. */
  let pkg: PackageJson;
  let nodeEntries: Array<[string, string]>;
  const read = (file: string): string => readFileSync(join(installed, file), "utf8");

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "nr-pms-ehr-pack-"));
    const release = await packRelease(tmp);
    tarball = release.path;
    files = release.files;

    userDir = join(tmp, "user");
    mkdirSync(userDir);
    writeFileSync(
      join(userDir, "package.json"),
      JSON.stringify({
        name: "node-red-project",
        description: "fresh user dir",
        version: "0.0.1",
        private: true,
      }),
    );
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--omit=dev", tarball], {
      cwd: userDir,
      maxBuffer: 64 * 1024 * 1024,
    });
    installed = join(userDir, "node_modules", ...PACKAGE_NAME.split("/"));
    pkg = JSON.parse(read("package.json")) as PackageJson;
    nodeEntries = Object.entries(pkg["node-red"].nodes);
    red = await startNodeRed({ userDir, settings: { nodesDir: [] } });
  });

  after(async () => {
    await red?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const get = async (path: string, accept = "application/json"): Promise<Response> => {
    const res = await fetch(`${red!.url}${path}`, { headers: { accept } });
    expect(res.status, `GET ${path}`).to.equal(200);
    return res;
  };
  const getJson = async <T>(path: string): Promise<T> => (await (await get(path)).json()) as T;

  /** Deploys the nodes (placed on the canvas) as the only flows; answers where their log lines start. */
  const deploy = async (nodes: Array<Record<string, unknown>>): Promise<number> => {
    const flow = nodes.map((n) => ("z" in n ? { x: 100, y: 100, ...n } : n));
    const from = red!.logs.length;
    const deployed = await fetch(`${red!.url}/flows`, {
      method: "POST",
      headers: { "content-type": "application/json", "Node-RED-Deployment-Type": "full" },
      body: JSON.stringify(flow),
    });
    expect(deployed.status).to.be.oneOf([200, 204]);
    await red!.waitForLog(/\[info\] Started flows/, 30000, from);
    return from;
  };

  describe("the tarball", () => {
    it("holds, for every node in package.json, its runtime file, its editor file beside it and its en-US messages and help", () => {
      expect(nodeEntries.length).to.be.greaterThan(0);
      for (const [type, file] of nodeEntries) {
        const base = posix.basename(file, ".js");
        expect(file, type).to.equal(`dist/nodes/${type}/${type}.js`);
        expect(files, type).to.include(file);
        expect(files, type).to.include(file.replace(/\.js$/, ".html"));
        const messages = posix.join(posix.dirname(file), "locales", "en-US", `${base}.json`);
        expect(files, type).to.include(messages);
        expect(Object.keys(JSON.parse(read(messages)) as object).length, messages).to.be.greaterThan(0);
        const help = messages.replace(/\.json$/, ".html");
        expect(files, type).to.include(help);
        expect(read(help), help).to.include(`data-help-name="${type}"`);
        expect(read(file.replace(/\.js$/, ".html")), `${type}: help only in its locale`).not.to.include(
          "data-help-name",
        );
      }
    });

    it("holds LICENSE, README, package.json and examples, and nothing from test/, sandbox/, bench/ or scripts/", () => {
      for (const f of ["LICENSE", "README.md", "package.json"]) expect(files).to.include(f);
      expect(files.filter((f) => /^examples\/.+\.json$/.test(f)).length).to.be.greaterThan(0);
      // The pipelines ship once, where Node-RED's Import > Examples finds them.
      expect(files.filter((f) => /^flows\//.test(f))).to.deep.equal([]);
      const stray = files.filter(
        (f) =>
          /^(dist\/)?(test|sandbox|bench|scripts|build|types|\.ci|\.github|node_modules)\//.test(f) ||
          (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)),
      );
      expect(stray).to.deep.equal([]);
    });

    it("has a README whose links and pictures are shipped files, and guide pages whose links resolve", () => {
      const shipped = new Set(files);
      const links = markdownLinks(read("README.md"));
      expect(links.length, "the README's links").to.be.greaterThan(30);
      const missing: string[] = [];
      const resolveIn = (dir: string, href: string, from: string): void => {
        const [path, anchor] = href.split("#");
        const file = path === "" ? from : posix.normalize(posix.join(dir, decodeURI(path)));
        if (!shipped.has(file)) missing.push(`${from}: ${href}`);
        else if (anchor !== undefined && file.endsWith(".html") && !idsOf(read(file)).has(anchor)) {
          missing.push(`${from}: ${href} (no such anchor)`);
        }
      };
      for (const href of links) resolveIn(".", href, "README.md");
      const pages = files.filter((f) => /^resources\/docs\/[^/]+\.html$/.test(f));
      expect(pages, "guide pages").to.include.members([
        "resources/docs/index.html",
        "resources/docs/changelog.html",
      ]);
      expect(pages.length, "a page per guide").to.be.greaterThan(15);
      for (const page of pages)
        for (const href of htmlLinks(read(page))) resolveIn("resources/docs", href, page);
      expect(missing).to.deep.equal([]);
    });

    it("ships each file once: one copy of the icons, of each pipeline and of every other asset", () => {
      // Compiled files of different sources may be alike (a module of types only compiles to the same
      // few lines); any other file with the same bytes as another is a copy.
      const compiled = /^dist\/.+\.(js|d\.ts|js\.map|d\.ts\.map)$/;
      const byContent = new Map<string, string[]>();
      for (const f of files.filter((p) => !compiled.test(p))) {
        const hash = createHash("sha256")
          .update(readFileSync(join(installed, f)))
          .digest("hex");
        byContent.set(hash, [...(byContent.get(hash) ?? []), f]);
      }
      expect([...byContent.values()].filter((same) => same.length > 1)).to.deep.equal([]);
      const iconDirs = new Set(
        files.filter((f) => /(^|\/)icons\/[^/]+$/.test(f)).map((f) => posix.dirname(f)),
      );
      expect(iconDirs.size, `icon folders: ${[...iconDirs].join(", ")}`).to.equal(1);
      const names = files.map((f) => posix.basename(f)).filter((n) => /\.(json|svg|png|md)$/.test(n));
      const pipelines = files
        .filter((f) => /^examples\/pipelines\/[^/]+\.json$/.test(f))
        .map((f) => posix.basename(f));
      expect(pipelines.filter((p) => names.filter((n) => n === p).length > 1)).to.deep.equal([]);
    });

    it("publishes a manifest without scripts (no prepare); the work tree keeps prepare to build a clone", () => {
      expect(pkg.scripts, "scripts in the published package.json").to.equal(undefined);
      const tree = JSON.parse(readFileSync(join(PACK_DIR, "package.json"), "utf8")) as PackageJson;
      // A git clone and a git URL install build dist/ through prepare.
      expect(tree.scripts?.prepare).to.match(/\bnpm run build\b/);
      const { scripts: _scripts, ...rest } = tree;
      expect(pkg).to.deep.equal(rest);
    });

    it("holds no secret: no key or env files, no tokens or private keys, no credentials in flow files", () => {
      expect(files.filter((f) => SECRET_FILE.test(f))).to.deep.equal([]);
      const found: string[] = [];
      for (const f of files) {
        const text = read(f);
        for (const [what, pattern] of SECRET_TEXT) if (pattern.test(text)) found.push(`${f}: ${what}`);
        if (/^(examples|flows)\/.+\.json$/.test(f)) {
          found.push(
            ...secretsInFlow(JSON.parse(text) as Array<Record<string, unknown>>).map((s) => `${f}: ${s}`),
          );
        }
      }
      expect(found).to.deep.equal([]);
    });

    it("needs at run time only its files, Node.js built-ins and its declared dependencies", () => {
      const required = Object.keys(pkg.dependencies ?? {});
      expect(required.length, "runtime dependencies (the flow library flags more than six)").to.be.at.most(6);
      // Optional peers (hl7v2 for strict validation) are loaded on demand, with an error that says how to install them.
      const deps = [...required, ...Object.keys(pkg.peerDependencies ?? {})];
      const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
      const shipped = new Set(files);
      const unresolved: string[] = [];
      for (const f of files.filter((p) => /^dist\/.+\.js$/.test(p))) {
        for (const spec of requiresOf(read(f))) {
          if (spec.startsWith(".")) {
            const target = posix.join(posix.dirname(f), spec);
            const candidates = [target, `${target}.js`, `${target}.json`, `${target}/index.js`];
            if (!candidates.some((c) => shipped.has(c))) unresolved.push(`${f}: ${spec}`);
          } else {
            const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
            if (!builtins.has(spec) && !builtins.has(name) && !deps.includes(name)) {
              unresolved.push(`${f}: ${spec}`);
            }
          }
        }
      }
      expect(unresolved).to.deep.equal([]);
    });

    it("exports its lib API by name, with types, and nothing else of dist/", async () => {
      // A consumer in the user directory: CommonJS require as Node.js resolves it there.
      const probe = join(userDir, "exports-probe.cjs");
      writeFileSync(
        probe,
        `const out = {};
for (const spec of ["", "/mapping", "/fhir", "/dist/lib/mapping", "/package.json", "/dist/lib/fhir/client", "/dist/nodes/fhir-request/fhir-request.js"]) {
  try {
    out[spec] = Object.keys(require(${JSON.stringify(PACKAGE_NAME)} + spec)).sort();
  } catch (err) {
    out[spec] = err.code;
  }
}
process.stdout.write(JSON.stringify(out));
`,
      );
      const { stdout } = await run(process.execPath, [probe], { cwd: userDir });
      const found = JSON.parse(stdout) as Record<string, string[] | string>;
      expect(found[""]).to.include.members(["PackError", "compileMapping", "healthBus", "reportHealth"]);
      expect(found["/mapping"]).to.include.members(["compileMapping", "compileBuiltin", "builtinRules"]);
      expect(found["/dist/lib/mapping"]).to.deep.equal(found["/mapping"]);
      expect(found["/fhir"]).to.include.members(["FhirClient", "FhirError", "validateInteraction"]);
      expect(found["/package.json"]).to.include("node-red");
      expect(found["/dist/lib/fhir/client"]).to.equal("ERR_PACKAGE_PATH_NOT_EXPORTED");
      expect(found["/dist/nodes/fhir-request/fhir-request.js"]).to.equal("ERR_PACKAGE_PATH_NOT_EXPORTED");

      // A TypeScript consumer resolving through the exports map (node16) finds the declarations.
      writeFileSync(
        join(userDir, "exports-probe.ts"),
        `import { CODES, PackError } from ${JSON.stringify(PACKAGE_NAME)};
import { compileBuiltin } from ${JSON.stringify(`${PACKAGE_NAME}/mapping`)};
import { FhirClient } from ${JSON.stringify(`${PACKAGE_NAME}/fhir`)};
const err: PackError = new PackError(CODES.FHIR_BAD_INPUT, "y");
// @ts-expect-error only registered codes compile
export const unregistered = new PackError("X", "y");
const mapped: unknown = compileBuiltin("patient").toFhir({}).value;
export const probe: [PackError, unknown, typeof FhirClient] = [err, mapped, FhirClient];
`,
      );
      const tsc = require.resolve("typescript/bin/tsc");
      const args = ["--noEmit", "--strict", "--skipLibCheck", "--types", "node", "--typeRoots"];
      await run(
        process.execPath,
        [tsc, ...args, join(PACK_DIR, "node_modules", "@types"), "--module", "node16", "exports-probe.ts"],
        { cwd: userDir },
      ).catch((err: { stdout?: string }) => {
        throw new Error(`tsc: ${err.stdout ?? String(err)}`);
      });
    });

    it("installs a dependency tree without packages Node-RED knows to break it (agent-base < 6)", () => {
      const bad: string[] = [];
      const walk = (dir: string): void => {
        if (!existsSync(dir)) return;
        for (const entry of readdirSync(dir)) {
          if (entry.startsWith("@")) {
            walk(join(dir, entry));
            continue;
          }
          const manifest = join(dir, entry, "package.json");
          if (existsSync(manifest)) {
            const { name, version } = JSON.parse(readFileSync(manifest, "utf8")) as {
              name: string;
              version: string;
            };
            if (name === "agent-base" && Number(version.split(".")[0]) < 6) bad.push(`${name}@${version}`);
          }
          walk(join(dir, entry, "node_modules"));
        }
      };
      walk(join(userDir, "node_modules"));
      expect(bad).to.deep.equal([]);
    });
  });

  describe("Node-RED with only the installed copy", () => {
    it("is the node-red installed beside these tests, running on this Node.js", () => {
      const logs = red!.logs.join("\n");
      expect(logs).to.include(`Node-RED version: v${nodeRedVersion}`);
      expect(logs).to.match(new RegExp(`Node\\.js\\s+version: ${process.version.replace(/\./g, "\\.")}\\b`));
      if (process.env.NR5_EXPECT_NODE_RED) expect(nodeRedVersion).to.equal(process.env.NR5_EXPECT_NODE_RED);
      if (process.env.NR5_EXPECT_NODE) expect(process.version).to.equal(process.env.NR5_EXPECT_NODE);
    });

    it("registers every node of package.json from the user directory, enabled, without error", async () => {
      const sets = (await getJson<NodeSetInfo[]>("/nodes")).filter((s) => s.module === pkg.name);
      expect(sets.map((s) => s.name).sort()).to.deep.equal(nodeEntries.map(([type]) => type).sort());
      for (const set of sets) {
        expect(set.err, `${set.id}: ${String(set.err)}`).to.equal(undefined);
        expect(set.enabled, set.id).to.equal(true);
        expect(set.version, set.id).to.equal(pkg.version);
        // Found in the user dir's node_modules (a module loaded through nodesDir is not "local").
        expect(set.local, set.id).to.equal(true);
        expect(set.types, set.id).to.deep.equal([set.name]);
      }
    });

    it("logs no error and no warning about this pack", () => {
      const types = nodeEntries.map(([type]) => type);
      const bad = red!.logs.filter(
        (line) =>
          /\[error\]/.test(line) ||
          (/\[warn\]/.test(line) && (line.includes(pkg.name) || types.some((t) => line.includes(t)))),
      );
      expect(bad).to.deep.equal([]);
    });

    it("serves each node's edit form, help and messages to the editor", async () => {
      const html = await (await get("/nodes", "text/html")).text();
      const catalogs = await getJson<Record<string, Record<string, unknown>>>("/nodes/messages?lng=en-US");
      for (const [type] of nodeEntries) {
        expect(html, type).to.match(new RegExp(`registerType\\(\\s*["']${type}["']`));
        expect(html, type).to.include(`data-template-name="${type}"`);
        expect(html, type).to.include(`data-help-name="${type}"`);
        expect(catalogs[`${pkg.name}/${type}`], `${type} messages`).to.deep.equal(
          JSON.parse(read(`dist/nodes/${type}/locales/en-US/${type}.json`)),
        );
      }
    });

    it("serves the guides and the Grafana dashboard from the package; every node's help links to a guide it serves", async () => {
      const html = await (await get("/nodes", "text/html")).text();
      const pageIds = new Map<string, Set<string>>();
      for (const [type] of nodeEntries) {
        const at = html.indexOf(`data-help-name="${type}"`);
        const help = html.slice(at, html.indexOf("</script>", at));
        const links = [...help.matchAll(/href="(resources\/[^"]+)"/g)].map((m) => m[1]);
        expect(
          links.filter((l) => l.startsWith(`resources/${pkg.name}/docs/`)),
          `${type}: a link to its guide`,
        ).to.have.length.greaterThan(0);
        for (const href of links) {
          const [path, anchor] = href.split("#");
          expect(path.startsWith(`resources/${pkg.name}/`), href).to.equal(true);
          if (!pageIds.has(path)) {
            const res = await get(`/${path}`, "*/*");
            const html = path.endsWith(".html");
            expect(res.headers.get("content-type"), path).to.match(
              html ? /^text\/html/ : /^application\/json/,
            );
            pageIds.set(path, html ? idsOf(await res.text()) : new Set());
            if (!html) JSON.parse(await res.text());
          }
          if (anchor !== undefined) expect([...pageIds.get(path)!], href).to.include(anchor);
        }
      }
      const picture = await get(`/resources/${pkg.name}/docs/images/pipeline.png`, "image/png");
      expect(picture.headers.get("content-type")).to.equal("image/png");
      expect(
        Buffer.from(await picture.arrayBuffer()).equals(
          readFileSync(join(installed, "resources/docs/images/pipeline.png")),
        ),
      ).to.equal(true);
    });

    it("serves every icon the editor files name, from the package's own files", async () => {
      const listed = (await getJson<Record<string, string[]>>("/icons"))[pkg.name] ?? [];
      const missing: string[] = [];
      for (const [type, file] of nodeEntries) {
        const html = read(file.replace(/\.js$/, ".html"));
        const icons = editorIcons(html);
        if (editorCategory(html, type) !== "config")
          expect(icons.length, `${type} names no icon`).to.be.greaterThan(0);
        for (const icon of icons) {
          const shipped = files.find((f) => posix.basename(f) === icon && /(^|\/)icons\//.test(f));
          if (!shipped) {
            missing.push(`${type}: ${icon} is not in the tarball`);
            continue;
          }
          if (!listed.includes(icon))
            missing.push(`${type}: ${icon} is not among Node-RED's icons for ${pkg.name}`);
          // Node-RED answers an unknown icon with its default one, so compare the bytes.
          const served = await (await get(`/icons/${pkg.name}/${icon}`, "*/*")).text();
          if (served !== read(shipped)) missing.push(`${type}: ${icon} is served as Node-RED's default icon`);
        }
      }
      expect(missing).to.deep.equal([]);
    });

    it("offers every example file, and every shipped pipeline, under Import > Examples", async () => {
      // The editor's Import > Examples dialog reads GET /library/examples/flows/<module>/<path>.
      const root = `/library/examples/flows/${pkg.name}`;
      expect(await getJson<string[]>("/library/examples/flows/")).to.include(pkg.name);
      const offered: string[] = [];
      const walk = async (rel: string): Promise<void> => {
        const listing = await getJson<Array<string | { fn: string }>>(`${root}${rel ? `/${rel}` : ""}`);
        for (const entry of listing) {
          if (typeof entry === "string") await walk(rel ? `${rel}/${entry}` : entry);
          else offered.push(rel ? `${rel}/${entry.fn}` : entry.fn);
        }
      };
      await walk("");
      const exampleFiles = files.filter((f) => /^examples\/.+\.json$/.test(f));
      expect(offered.sort()).to.deep.equal(
        exampleFiles.map((f) => f.slice("examples/".length, -".json".length)).sort(),
      );
      for (const name of offered) {
        const flow = await getJson<Array<{ type: string }>>(`${root}/${name}`);
        expect(flow, name).to.deep.equal(JSON.parse(read(`examples/${name}.json`)));
        expect(
          flow.every((n) => typeof n.type === "string"),
          name,
        ).to.equal(true);
      }
      const pipelines = files.filter((f) => /^examples\/pipelines\/[^/]+\.json$/.test(f));
      expect(pipelines.length, "shipped pipelines").to.be.greaterThan(0);
      for (const pipeline of pipelines) {
        expect(offered, pipeline).to.include(`pipelines/${posix.basename(pipeline, ".json")}`);
      }
    });

    it("stores and delivers a message with the SQLite driver npm installed for this Node.js", async () => {
      const tab = "pack-queue";
      const flow = [
        { id: tab, type: "tab", label: "queue" },
        {
          id: "pack-store",
          type: "message-store",
          name: "pack store",
          file: "pack-test.db",
          synchronous: "full",
        },
        { id: "in", type: "http in", z: tab, url: "/pack-queue", method: "post", wires: [["q"]] },
        {
          id: "q",
          type: "durable-queue",
          z: tab,
          store: "pack-store",
          queue: "pack",
          key: "payload.id",
          keyType: "msg",
          wires: [["res"], ["done"]],
        },
        { id: "res", type: "http response", z: tab, statusCode: "202", wires: [] },
        { id: "done", type: "queue-done", z: tab, result: "success", wires: [] },
      ];
      const from = await deploy(flow);
      const posted = await fetch(`${red!.url}/pack-queue`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "p1" }),
      });
      expect(posted.status).to.equal(202);
      type Listing = {
        stores: Array<{ id: string; queues: Array<{ queue: string; deliveredTotal: number }> }>;
      };
      let delivered = 0;
      for (let i = 0; i < 100 && delivered === 0; i++) {
        const listing = await getJson<Listing>("/pms-ehr/queues");
        delivered = listing.stores.find((st) => st.id === "pack-store")?.queues[0]?.deliveredTotal ?? 0;
        if (delivered === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(delivered).to.equal(1);
      expect(existsSync(join(userDir, "pack-test.db"))).to.equal(true);
      expect(red!.logs.slice(from).filter((l) => /\[error\]/.test(l))).to.deep.equal([]);
    });

    it("installs without the optional hl7v2, under 25 MB besides the SQLite driver; hl7-parse's validate then says what to install", async () => {
      const modules = join(userDir, "node_modules");
      for (const optional of Object.keys(pkg.peerDependencies ?? {})) {
        expect(pkg.peerDependenciesMeta?.[optional]?.optional, optional).to.equal(true);
        expect(existsSync(join(modules, optional)), `${optional} installed`).to.equal(false);
      }
      const lock = JSON.parse(readFileSync(join(userDir, "package-lock.json"), "utf8")) as Lock;
      const self = `node_modules/${PACKAGE_NAME}`;
      const sqlite = "node_modules/better-sqlite3";
      const rest = closure(lock, [self], new Set([sqlite]));
      const driverOnly = [...closure(lock, [sqlite])].filter((k) => !rest.has(k));
      const size = (keys: Iterable<string>): number =>
        [...keys].reduce((n, k) => n + bytesUnder(join(userDir, k)), 0);
      const total = bytesUnder(modules);
      const driver = size(driverOnly);
      const largest = [...rest]
        .filter((k) => k !== self)
        .map((k) => [k.slice(k.lastIndexOf("node_modules/") + 13), bytesUnder(join(userDir, k))] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5);
      console.log(
        `      installed: ${MB(total)} in all; the SQLite driver and what only it needs ` +
          `(${driverOnly.length} packages): ${MB(driver)}; the rest: ${MB(total - driver)}, ` +
          `of which the pack ${MB(bytesUnder(join(userDir, self)))} and ` +
          largest.map(([n, b]) => `${n} ${MB(b)}`).join(", "),
      );
      expect(total - driver).to.be.below(25e6);

      const tab = "pack-hl7";
      const flow = [
        { id: tab, type: "tab", label: "hl7" },
        { id: "hin", type: "http in", z: tab, url: "/pack-hl7", method: "post", wires: [["parse"]] },
        { id: "parse", type: "hl7-parse", z: tab, validate: true, wires: [["ok"]] },
        { id: "ok", type: "http response", z: tab, statusCode: "200", wires: [] },
        { id: "catch", type: "catch", z: tab, scope: ["parse"], uncaught: false, wires: [["code"]] },
        {
          id: "code",
          type: "change",
          z: tab,
          rules: [
            { t: "set", p: "payload", pt: "msg", to: "error.code", tot: "msg" },
            { t: "set", p: "statusCode", pt: "msg", to: "500", tot: "num" },
          ],
          wires: [["failed"]],
        },
        { id: "failed", type: "http response", z: tab, wires: [] },
      ];
      const from = await deploy(flow);
      const errors = red!.logs.slice(from).filter((l) => /\[error\]/.test(l));
      expect(errors).to.have.length(1);
      expect(errors[0])
        .to.include("[hl7-parse:")
        .and.include("npm install hl7v2@1.8.0 hl7v2-dictionary@1.8.0");
      const posted = await fetch(`${red!.url}/pack-hl7`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "MSH|^~\\&|PMS|CLINIC|EHR|HOSP|20260101120000||ADT^A01|C1|P|2.5.1\rPID|1||123^^^MRN||Doe^Jane\r",
      });
      expect(posted.status).to.equal(500);
      expect(await posted.text()).to.equal("HL7_VALIDATOR_MISSING");
    });

    it("has an example using every node that is not a config node (node-red-dev check N02)", () => {
      const used = new Set(
        files
          .filter((f) => /^examples\/.+\.json$/.test(f))
          .flatMap((f) => (JSON.parse(read(f)) as Array<{ type: string }>).map((n) => n.type)),
      );
      const without = nodeEntries
        .filter(([type, file]) => editorCategory(read(file.replace(/\.js$/, ".html")), type) !== "config")
        .map(([type]) => type)
        .filter((type) => !used.has(type));
      expect(without).to.deep.equal([]);
    });
  });
});
