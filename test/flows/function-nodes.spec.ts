import js from "@eslint/js";
import { expect } from "chai";
import { ESLint, type Rule } from "eslint";
import globals from "globals";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PIPELINES_DIR } from "../../sandbox/node-red";

/**
 * The JavaScript left in the shipped flows' function nodes: how much (a budget that only goes
 * down), and whether it is sound (ESLint over every body, with Node-RED's function globals and
 * a rule that context is used asynchronously, as a file store with `cache: false` requires).
 */

/**
 * Function-node lines (func + initialize + finalize) over all of examples/pipelines/*.json: the rule is at
 * most 150 in all and none over 15, each one there for the user to edit. The pack's own logic lives
 * in nodes (none of the shipped pipelines has a function node today).
 */
const MAX_TOTAL = 150;
const MAX_PER_NODE = 15;

/** A remaining function node's comment says why it stays: it is the user's to edit. */
const USERS_TO_EDIT = /^\s*\/\/.*\b(edit|yours|your own)\b/im;

const FLOWS_DIR = PIPELINES_DIR;
const CODE_PROPS = ["initialize", "func", "finalize"] as const;
/** What Node-RED's function node gives its code, besides the language's own globals. */
const FUNCTION_GLOBALS = ["node", "msg", "flow", "global", "env", "RED", "context", "util", "promisify"];

interface FunctionNode {
  file: string;
  id: string;
  name: string;
  code: Partial<Record<(typeof CODE_PROPS)[number], string>>;
}

function pipelineFiles(): string[] {
  return readdirSync(FLOWS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
}

function functionNodes(): FunctionNode[] {
  const out: FunctionNode[] = [];
  for (const file of pipelineFiles()) {
    const flow = JSON.parse(readFileSync(join(FLOWS_DIR, file), "utf8")) as Array<Record<string, unknown>>;
    for (const n of flow) {
      if (n.type !== "function") continue;
      const code: FunctionNode["code"] = {};
      for (const p of CODE_PROPS) if (typeof n[p] === "string" && n[p] !== "") code[p] = n[p] as string;
      out.push({ file, id: String(n.id), name: String(n.name ?? ""), code });
    }
  }
  return out;
}

/** Lines of one body: trailing newlines are not lines. */
function linesOf(text: string | undefined): number {
  const t = (text ?? "").replace(/\s+$/, "");
  return t === "" ? 0 : t.split("\n").length;
}

const nodeLines = (n: FunctionNode): number => CODE_PROPS.reduce((sum, p) => sum + linesOf(n.code[p]), 0);

/** flow/global/context get, set and keys must pass a callback: without one they are synchronous. */
const asyncContext: Rule.RuleModule = {
  meta: { type: "problem", schema: [] },
  create(ctx) {
    return {
      CallExpression(call) {
        const callee = call.callee;
        if (callee.type !== "MemberExpression" || callee.object.type !== "Identifier") return;
        if (!["flow", "global", "context"].includes(callee.object.name)) return;
        const method = callee.property.type === "Identifier" ? callee.property.name : "";
        if (!["get", "set", "keys"].includes(method)) return;
        const last = call.arguments[call.arguments.length - 1];
        // A function written in the call: a name could as well be a store's as a callback's.
        const callback =
          last && (last.type === "FunctionExpression" || last.type === "ArrowFunctionExpression");
        if (!callback || call.arguments.length < (method === "keys" ? 1 : method === "get" ? 2 : 3)) {
          ctx.report({
            node: call,
            message: `${callee.object.name}.${method} without a callback is synchronous: a file context store with cache: false refuses it`,
          });
        }
      },
    };
  },
};

const eslint = new ESLint({
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ["**/*.js"],
      plugins: { flows: { rules: { "async-context": asyncContext } } },
      languageOptions: {
        ecmaVersion: 2022,
        sourceType: "script",
        globals: {
          ...globals.node,
          ...Object.fromEntries(FUNCTION_GLOBALS.map((g) => [g, g === "msg" ? "writable" : "readonly"])),
        },
      },
      rules: {
        ...js.configs.recommended.rules,
        eqeqeq: ["error", "always", { null: "ignore" }],
        "flows/async-context": "error",
      },
    },
  ] as ESLint.Options["overrideConfig"],
});

/** ESLint's findings for one node's bodies, each as "file node (name) prop:line: message". */
async function lint(n: FunctionNode): Promise<string[]> {
  const out: string[] = [];
  for (const p of CODE_PROPS) {
    const body = n.code[p];
    if (body === undefined) continue;
    // One line of wrapper before the body, so a finding's line minus 1 is the body's line.
    const [result] = await eslint.lintText(`(async function () {\n${body}\n})();\n`, {
      filePath: "function.js",
    });
    for (const m of result.messages) {
      out.push(
        `${n.file} ${n.id} (${n.name}) ${p}:${(m.line ?? 1) - 1}: ${m.message} [${m.ruleId ?? "parse"}]`,
      );
    }
  }
  return out;
}

describe("function nodes of the shipped pipelines (examples/pipelines/*.json)", function () {
  this.timeout(30000);
  const nodes = functionNodes();
  const report = (list: FunctionNode[]) => list.map((n) => `${n.file} ${n.name}: ${nodeLines(n)}`);

  it(`hold at most ${MAX_TOTAL} lines in all and none over ${MAX_PER_NODE}`, function () {
    const total = nodes.reduce((sum, n) => sum + nodeLines(n), 0);
    expect(total, `function-node lines:\n${report(nodes).join("\n")}`).to.be.at.most(MAX_TOTAL);
    const long = nodes.filter((n) => nodeLines(n) > MAX_PER_NODE);
    expect(report(long)).to.deep.equal([]);
  });

  for (const file of pipelineFiles()) {
    it(`${file}: every body passes ESLint, uses context asynchronously, and says it is the user's to edit`, async function () {
      const findings: string[] = [];
      for (const n of nodes.filter((x) => x.file === file)) {
        findings.push(...(await lint(n)));
        if (!USERS_TO_EDIT.test(n.code.func ?? "")) {
          findings.push(`${file} ${n.id} (${n.name}): no comment saying it is there for the user to edit`);
        }
      }
      expect(findings).to.deep.equal([]);
    });
  }

  it("the linter sees what it is meant to: a synchronous flow.get, an undefined name, a body that does not parse", async function () {
    const probe = (func: string) => lint({ file: "probe.json", id: "p", name: "probe", code: { func } });
    expect(
      await probe('// yours to edit\nflow.get("x", "file", (err, v) => node.send(v));\nreturn null;'),
    ).to.deep.equal([]);
    expect(await probe('const store = "file";\nreturn flow.get("x", store);')).to.have.length(1);
    expect(await probe('const v = flow.get("x");\nreturn v;')).to.have.length(1);
    expect((await probe('flow.set("x", 1, "file");'))[0]).to.contain("[flows/async-context]");
    expect((await probe("return undefinedThing;"))[0]).to.contain("[no-undef]");
    expect((await probe("return msg +;"))[0]).to.contain("[parse]");
  });
});
