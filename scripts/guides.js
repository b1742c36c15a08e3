// The guides as the editor serves them: README.md, docs/*.md and CHANGELOG.md rendered to HTML
// pages in resources/docs/ (index.html is the README), with the pictures of docs/images/. Node-RED serves a
// module's resources/ folder at <admin root>/resources/<module>/, so every node's help links to
// its guide (withGuideLink, which the build applies to each help file) and the guides work
// offline, in the installed package as in the work tree.
// Links between guides point at the pages; a link to a file that is not shipped (source, tests)
// keeps its text without the link.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { Marked } = require("marked");
const { gfmHeadingId } = require("marked-gfm-heading-id");

const TITLE = "PMS-EHR pack";

const STYLE = `
body { font: 15px/1.55 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0; }
nav { background: #8f0000; color: #fff; padding: 8px 24px; font-size: 14px; }
nav a { color: #fff; margin-right: 14px; white-space: nowrap; }
main { max-width: 960px; margin: 0 auto; padding: 8px 24px 48px; }
h1, h2, h3 { line-height: 1.25; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; font-size: 90%; overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: 10px 12px; overflow-x: auto; border-radius: 4px; }
pre code { background: none; padding: 0; overflow-wrap: normal; }
table { border-collapse: collapse; display: block; overflow-x: auto; margin: 12px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; vertical-align: top; text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; }
`;

/** docs/<name>.md -> <name>.html; README.md -> index.html; CHANGELOG.md -> changelog.html. */
function pageOf(file) {
  if (file === "README.md") return "index.html";
  return `${path.basename(file, ".md").toLowerCase()}.html`;
}

/**
 * Where a link of `from` (a path relative to the root) goes in resources/docs/: a page, a
 * picture, an outside address as it is, or null for a file the guides do not carry.
 */
function target(root, from, href) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("#")) return href;
  const [file, anchor] = href.split("#");
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(from), decodeURI(file)));
  const hash = anchor === undefined ? "" : `#${anchor}`;
  if (resolved === "README.md" || resolved === "CHANGELOG.md") return `${pageOf(resolved)}${hash}`;
  if (/^docs\/[^/]+\.md$/.test(resolved) && fs.existsSync(path.join(root, resolved))) {
    return `${pageOf(resolved)}${hash}`;
  }
  if (resolved.startsWith("docs/images/") && fs.existsSync(path.join(root, resolved))) {
    return encodeURI(resolved.slice("docs/".length));
  }
  return null;
}

function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

/** The pages: [relative source path, title] for the README and every docs/*.md. */
function guideSources(root) {
  const docs = fs
    .readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs, "CHANGELOG.md"].map((file) => {
    const first = /^#\s+(.+)$/m.exec(fs.readFileSync(path.join(root, file), "utf8"));
    return [file, first ? first[1].replace(/`/g, "") : path.basename(file, ".md")];
  });
}

function render(root, file, title, sources) {
  const marked = new Marked(gfmHeadingId(), {
    gfm: true,
    walkTokens(token) {
      if (token.type === "link" || token.type === "image") {
        const to = target(root, file, token.href);
        if (to === null) token.dropped = true;
        else token.href = to;
      }
    },
    renderer: {
      link(token) {
        if (token.dropped) return this.parser.parseInline(token.tokens);
        return false;
      },
      image(token) {
        if (token.dropped) return escapeHtml(token.text);
        return false;
      },
    },
  });
  const body = marked.parse(fs.readFileSync(path.join(root, file), "utf8"));
  const nav = sources
    .map(([src, t]) => `<a href="${pageOf(src)}">${escapeHtml(src === "README.md" ? TITLE : t)}</a>`)
    .join(" ");
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${escapeHtml(title)} - ${TITLE}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n` +
    `<nav>${nav}</nav>\n<main>\n${body}</main>\n</body>\n</html>\n`
  );
}

/** Each node's guide: [page, label], the page of resources/docs/ with an optional anchor. */
const NODE_GUIDES = {
  "capability-check": ["pipelines.html#capability-assessment", "Prebuilt pipelines: capability-assessment"],
  "durable-queue": ["store-and-forward.html", "Store and forward"],
  "fhir-request": ["fhir.html", "FHIR: fhir-server and fhir-request"],
  "fhir-server": ["fhir.html", "FHIR: fhir-server and fhir-request"],
  "health-monitor": ["checkpoint-health.html", "Incremental sync and integration health"],
  "hl7-fhir": ["hl7-fhir.html", "hl7-fhir: HL7 v2 ADT/SIU/DFT/BAR &lt;-&gt; FHIR R4"],
  "hl7-parse": ["hl7-transport.html", "HL7 v2 transport"],
  "hmac-request": ["legacy-webhooks.html", "Legacy PMS APIs and signed webhooks"],
  "legacy-api": ["legacy-webhooks.html", "Legacy PMS APIs and signed webhooks"],
  "message-store": ["store-and-forward.html", "Store and forward"],
  "mllp-in": ["hl7-transport.html", "HL7 v2 transport"],
  "mllp-out": ["hl7-transport.html", "HL7 v2 transport"],
  "pms-fhir-map": ["mapping.html", "Mapping PMS records to FHIR and back"],
  "queue-done": ["store-and-forward.html", "Store and forward"],
  "sync-checkpoint": ["checkpoint-health.html", "Incremental sync and integration health"],
  "webhook-in": [
    "legacy-webhooks.html#receiving-webhooks-safely-webhook-in",
    "Legacy PMS APIs and signed webhooks: webhook-in",
  ],
  "webhook-verify": ["legacy-webhooks.html", "Legacy PMS APIs and signed webhooks"],
};

/**
 * The node's editor file with a link to its guide first under the help's References (a
 * References section is added at the end of the help when it has none). The link is relative to
 * the editor, which Node-RED serves beside `resources/<module>/`.
 */
function withGuideLink(type, html, moduleName) {
  const guide = NODE_GUIDES[type];
  if (!guide) throw new Error(`no guide for node ${type}: add it to NODE_GUIDES in scripts/guides.js`);
  const open = `data-help-name="${type}"`;
  const at = html.indexOf(open);
  if (at < 0) throw new Error(`${type}.html has no help`);
  const end = html.indexOf("</script>", at);
  const li = `<li><a href="resources/${moduleName}/docs/${guide[0]}" target="_blank">Guide: ${guide[1]}</a></li>`;
  const refs = html.indexOf("<h3>References</h3>", at);
  if (refs >= 0 && refs < end) {
    const list = html.indexOf("<ul>", refs) + "<ul>".length;
    return `${html.slice(0, list)}\n    ${li}${html.slice(list)}`;
  }
  return `${html.slice(0, end)}\n  <h3>References</h3>\n  <ul>\n    ${li}\n  </ul>\n${html.slice(end)}`;
}

/** Writes resources/docs/ into `outDir` (a resources folder): the pages and the pictures. */
function renderGuides(root, outDir) {
  const docsOut = path.join(outDir, "docs");
  fs.mkdirSync(docsOut, { recursive: true });
  const sources = guideSources(root);
  for (const [file, title] of sources) {
    fs.writeFileSync(path.join(docsOut, pageOf(file)), render(root, file, title, sources));
  }
  fs.cpSync(path.join(root, "docs", "images"), path.join(docsOut, "images"), { recursive: true });
  return sources.map(([file]) => pageOf(file));
}

module.exports = { renderGuides, pageOf, withGuideLink, NODE_GUIDES };
