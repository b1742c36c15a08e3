#!/usr/bin/env node
// A clean build. It compiles the runtime (tsconfig.json) with tsc, type-checks the editor scripts
// (tsconfig.editor.json) and bundles each nodes/<type>/<type>.editor.ts with esbuild, so that an
// editor script imports its validators and lists from lib/ like the runtime does. Then it
// assembles each node's editor file: dist/nodes/<type>/<type>.html holds the bundled editor script
// followed by the templates of nodes/<type>/<type>.html, with its locales (messages and help)
// beside it, and the icons once, where Node-RED looks for them. Last, the guides as HTML pages in resources/docs/
// (scripts/guides.js) and the Grafana dashboard in resources/grafana/, which Node-RED serves for the
// nodes' help to link to.
// Everything is written to dist.next/ (resources.next/), which then takes the place of dist/
// (resources/): no output of a deleted or renamed source survives, and a process reading them
// meanwhile (a test run, `npm pack`'s prepack build under a running suite) never sees them
// half-built. Nothing is written elsewhere.
// `--if-changed` skips all of it when dist/ was built, without error, from inputs of the same
// content (a digest of every file the build reads, kept in dist/): `npm test` right after
// `npm install`, whose prepare script has just built, then does not build twice.
"use strict";
const { spawn } = require("node:child_process");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const esbuild = require("esbuild");
const { renderGuides, withGuideLink } = require("./guides");

const root = path.resolve(__dirname, "..");
const next = path.join(root, "dist.next");
// The palette category of every node of the pack (each node's editor script names it).
const CATEGORY = "PMS-EHR";
const PACKAGE_NAME = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).name;
const tsc = require.resolve("typescript/bin/tsc");

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, ...args], { cwd: root, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

function nodeTypes() {
  const nodesDir = path.join(root, "nodes");
  return fs.readdirSync(nodesDir).filter((type) => fs.existsSync(path.join(nodesDir, type, `${type}.html`)));
}

/**
 * esbuild treats a .ts file of a `"type": "commonjs"` package as CommonJS and wraps every import
 * of it in lazy-init functions. The sources are ES modules to TypeScript (tsc compiles them to
 * CommonJS for the runtime), so this plugin loads the pack's own .ts files outside the "file"
 * namespace, where no package.json is consulted, and they bundle as plain ES modules. Paths stay
 * relative to the pack, so that the bundle names no directory of the machine that built it.
 */
const packSources = {
  name: "pack-sources",
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === packSources) return undefined;
      const importer = args.namespace === "pack" ? path.join(root, args.importer) : args.importer;
      const resolveDir = args.namespace === "pack" ? path.dirname(importer) : args.resolveDir;
      const found = await build.resolve(args.path, {
        kind: args.kind,
        importer,
        resolveDir,
        pluginData: packSources,
      });
      if (found.errors.length > 0) return { errors: found.errors };
      const rel = path.relative(root, found.path);
      if (
        found.namespace !== "file" ||
        !rel.endsWith(".ts") ||
        rel.startsWith("..") ||
        rel.includes("node_modules")
      ) {
        return found;
      }
      return { path: rel.split(path.sep).join("/"), namespace: "pack" };
    });
    build.onLoad({ filter: /.*/, namespace: "pack" }, (args) => {
      const file = path.join(root, args.path);
      return { contents: fs.readFileSync(file, "utf8"), loader: "ts", resolveDir: path.dirname(file) };
    });
  },
};

/**
 * Bundles every editor script as a classic browser script (an IIFE: the editor inserts it in a
 * <script> element). The browser platform makes a lib module that needs Node.js (node:crypto,
 * Buffer through an import) fail the build instead of failing in the editor.
 * Returns type -> script text, or null after reporting the errors. `entryOf` names a type's
 * editor script (a test bundles scripts of its own).
 */
async function bundleEditors(types, entryOf = (type) => path.join(root, "nodes", type, `${type}.editor.ts`)) {
  const entryPoints = types.map(entryOf).filter((file) => fs.existsSync(file));
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      tsconfig: "tsconfig.editor.json",
      entryPoints,
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "es2019",
      outdir: "editor",
      outbase: "nodes",
      write: false,
      logLevel: "silent",
      plugins: [packSources],
    });
    const scripts = new Map();
    for (const file of result.outputFiles) {
      scripts.set(path.basename(file.path, ".editor.js"), file.text);
    }
    return scripts;
  } catch (err) {
    for (const e of err.errors ?? [err]) {
      const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : "";
      console.error(`${at}${e.text ?? e.message}`);
    }
    return null;
  }
}

function assembleNodes(types, scripts) {
  for (const type of types) {
    const nodeDir = path.join(root, "nodes", type);
    const outDir = path.join(next, "nodes", type);
    fs.mkdirSync(outDir, { recursive: true });
    const js = scripts.get(type);
    const script = js === undefined ? "" : `<script type="text/javascript">\n${js}</script>\n`;
    const form = fs.readFileSync(path.join(nodeDir, `${type}.html`), "utf8");
    fs.writeFileSync(path.join(outDir, `${type}.html`), script + form);
    fs.cpSync(path.join(nodeDir, "locales"), path.join(outDir, "locales"), { recursive: true });
    labelCategory(path.join(outDir, "locales"));
    finishHelp(type, path.join(outDir, "locales"));
  }
}

// The palette takes the part of a category before its first "-" as the header and looks its
// text up as palette.label.<that part> in the namespace of whichever node is drawn first; with
// no entry, "PMS-EHR" would show as "PMS". So every node's built locale names the header.
function labelCategory(localesDir) {
  const root = CATEGORY.split("-")[0];
  for (const lang of fs.readdirSync(localesDir)) {
    const dir = path.join(localesDir, lang);
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      const messages = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
      messages.palette = { ...messages.palette, label: { ...messages.palette?.label, [root]: CATEGORY } };
      fs.writeFileSync(path.join(dir, file), JSON.stringify(messages, null, 2) + "\n");
    }
  }
}

// The help of a node is locales/<lang>/<type>.html (Node-RED serves the one of the editor's
// language, en-US when it has none), so that it can be translated; each one links to the guide
// and fits the sidebar.
function finishHelp(type, localesDir) {
  if (!fs.existsSync(path.join(localesDir, "en-US", `${type}.html`))) {
    throw new Error(`nodes/${type} has no help: write it in locales/en-US/${type}.html`);
  }
  for (const lang of fs.readdirSync(localesDir)) {
    const file = path.join(localesDir, lang, `${type}.html`);
    if (!fs.existsSync(file)) continue;
    fs.writeFileSync(file, fitSidebar(withGuideLink(type, fs.readFileSync(file, "utf8"), PACKAGE_NAME)));
  }
}

// The editor's stylesheet keeps inline code on one line (Bootstrap's `white-space: nowrap`) and
// lets a table grow past the sidebar, so a long JSON example or a four-column table runs off
// it. Help cannot bring a stylesheet of its own without changing the core nodes' help too (and
// the palette's tooltip takes only a help's top-level paragraphs, so it cannot be wrapped in a
// styled block): the elements carry their style. Code inside <pre> keeps the pre's layout.
const FIT = {
  code: "white-space: normal; overflow-wrap: anywhere",
  pre: "white-space: pre-wrap; overflow-wrap: anywhere",
  table: "display: block; max-width: 100%; overflow-x: auto",
};
function fitSidebar(html) {
  return html
    .split(/(<pre\s*>[\s\S]*?<\/pre>)/)
    .map((part) =>
      /^<pre\s*>/.test(part)
        ? part.replace(/^<pre\s*>/, `<pre style="${FIT.pre}">`)
        : part
            .replace(/<code\s*>/g, `<code style="${FIT.code}">`)
            .replace(/<table\s*>/g, `<table style="${FIT.table}">`),
    )
    .join("");
}

/**
 * Node-RED looks for a module's icons in the icons/ folder beside each of the node files its
 * package.json lists, and serves any of them for every node of the module (icons/<module>/<icon>).
 * So the icons are copied once, beside the first node listed, rather than once per node.
 */
function copyIcons() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const [first] = Object.values(pkg["node-red"].nodes);
  const home = path.join(next, path.relative("dist", path.dirname(first)), "icons");
  fs.cpSync(path.join(root, "icons"), home, { recursive: true });
}

/** `<name>.next/` becomes `<name>/`; the previous one is removed after the swap. */
function swapIntoPlace(name) {
  const [target, staged, previous] = ["", ".next", ".old"].map((s) => path.join(root, name + s));
  fs.rmSync(previous, { recursive: true, force: true });
  if (fs.existsSync(target)) fs.renameSync(target, previous);
  fs.renameSync(staged, target);
  fs.rmSync(previous, { recursive: true, force: true });
}

/** What the build reads: sources, specs, docs, icons, and the versions of the tools. */
const INPUTS = [
  "lib",
  "nodes",
  "sandbox",
  "test",
  "bench",
  "scripts",
  "types",
  "icons",
  "docs",
  "grafana",
  "README.md",
  "CHANGELOG.md",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.base.json",
  "tsconfig.editor.json",
];
const STAMP = "build-inputs.sha256";

function inputsDigest(dir = root) {
  const hash = createHash("sha256");
  const add = (rel) => {
    const file = path.join(dir, rel);
    if (!fs.existsSync(file)) return;
    if (fs.statSync(file).isDirectory()) {
      for (const entry of fs.readdirSync(file).sort()) add(path.join(rel, entry));
    } else {
      hash.update(`${rel.split(path.sep).join("/")}\0${fs.statSync(file).size}\0`);
      hash.update(fs.readFileSync(file));
    }
  };
  for (const input of INPUTS) add(input);
  return hash.digest("hex");
}

function upToDate(digest) {
  const stamp = path.join(root, "dist", STAMP);
  return (
    fs.existsSync(stamp) &&
    fs.readFileSync(stamp, "utf8") === digest &&
    fs.existsSync(path.join(root, "resources", "docs"))
  );
}

async function main() {
  const digest = inputsDigest();
  if (process.argv.includes("--if-changed") && upToDate(digest)) {
    console.log("build: dist/ was built from these inputs already");
    return;
  }
  fs.rmSync(next, { recursive: true, force: true });
  const types = nodeTypes();
  const [runtime, editorTypes, scripts] = await Promise.all([
    run(["-p", "tsconfig.json", "--outDir", "dist.next"]),
    run(["-p", "tsconfig.editor.json", "--noEmit"]),
    bundleEditors(types),
  ]);
  // Assembled even after a type error, so that tsc's emitted output stays usable while
  // the failure still fails the build.
  assembleNodes(types, scripts ?? new Map());
  copyIcons();
  const failed = runtime !== 0 || editorTypes !== 0 || scripts === null;
  if (!failed) fs.writeFileSync(path.join(next, STAMP), digest);
  swapIntoPlace("dist");
  fs.rmSync(path.join(root, "resources.next"), { recursive: true, force: true });
  renderGuides(root, path.join(root, "resources.next"));
  fs.cpSync(path.join(root, "grafana"), path.join(root, "resources.next", "grafana"), { recursive: true });
  swapIntoPlace("resources");
  if (failed) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

module.exports = { bundleEditors, inputsDigest, INPUTS };
