#!/usr/bin/env node
// Compiles the runtime (tsconfig.json) and the editor scripts (tsconfig.editor.json),
// then assembles each node's editor file: dist/nodes/<type>/<type>.html holds the
// compiled <type>.editor.ts followed by the templates and help of nodes/<type>/<type>.html,
// and its locales and the icons are copied beside it, where Node-RED looks for them.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
// The palette category of every node of the pack (each node's editor script names it).
const CATEGORY = "PMS-EHR";
const tsc = require.resolve("typescript/bin/tsc");

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, ...args], { cwd: root, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

function assembleNodes() {
  const nodesDir = path.join(root, "nodes");
  for (const type of fs.readdirSync(nodesDir)) {
    const htmlSrc = path.join(nodesDir, type, `${type}.html`);
    if (!fs.existsSync(htmlSrc)) continue;
    const outDir = path.join(root, "dist", "nodes", type);
    fs.mkdirSync(outDir, { recursive: true });
    const editorJs = path.join(root, "build", "editor", type, `${type}.editor.js`);
    const script = fs.existsSync(editorJs)
      ? `<script type="text/javascript">\n${fs.readFileSync(editorJs, "utf8")}</script>\n`
      : "";
    fs.writeFileSync(path.join(outDir, `${type}.html`), script + fs.readFileSync(htmlSrc, "utf8"));
    // Node-RED looks for a node's icons only in an icons/ folder beside its .js file.
    fs.cpSync(path.join(root, "icons"), path.join(outDir, "icons"), { recursive: true });
    const locales = path.join(nodesDir, type, "locales");
    if (fs.existsSync(locales)) {
      fs.cpSync(locales, path.join(outDir, "locales"), { recursive: true });
      labelCategory(path.join(outDir, "locales"));
    }
  }
}

// The palette takes the part of a category before its first "-" as the header and looks its
// text up as palette.label.<that part> in the namespace of whichever node is drawn first; with
// no entry, "PMS-EHR" would show as "PMS". So every node's locale names the header.
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

// Node-RED offers a package's examples/ folder under Import > Examples; the shipped pipelines'
// one source is flows/, so the build copies them into examples/pipelines/ (git-ignored).
function copyPipelinesToExamples() {
  const from = path.join(root, "flows");
  const to = path.join(root, "examples", "pipelines");
  fs.rmSync(to, { recursive: true, force: true });
  if (!fs.existsSync(from)) return;
  const pipelines = fs.readdirSync(from).filter((f) => f.endsWith(".json"));
  if (pipelines.length === 0) return;
  fs.mkdirSync(to, { recursive: true });
  for (const file of pipelines) fs.copyFileSync(path.join(from, file), path.join(to, file));
}

async function main() {
  const [runtime, editor] = await Promise.all([
    run(["-p", "tsconfig.json"]),
    run(["-p", "tsconfig.editor.json"]),
  ]);
  // Assembled even after a type error, so that tsc's emitted output stays usable while
  // the failure still fails the build.
  assembleNodes();
  copyPipelinesToExamples();
  if (runtime !== 0 || editor !== 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
