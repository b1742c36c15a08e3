import { CODES, type Codes } from "../error-codes";
/**
 * Checks a shipped flow file (Node-RED flow JSON) for what a pipeline must never ship with:
 * node types that are not installed, credentials or secret-looking values, wires and scopes
 * to nodes that are not there, and no Comment node to explain it. A set of files is also
 * checked for what would clash when they are deployed together (ids, http routes).
 *
 * Findings never quote a suspicious value: they name the node and the property.
 */

import { ENV_REFERENCE } from "../env";

export type FlowFindingCode = Codes<
  | "FLOW_SHAPE"
  | "FLOW_UNKNOWN_TYPE"
  | "FLOW_CREDENTIALS"
  | "FLOW_SECRET"
  | "FLOW_NO_COMMENT"
  | "FLOW_DANGLING"
  | "FLOW_DUPLICATE_ID"
  | "FLOW_DUPLICATE_ROUTE"
>;

export interface FlowFinding {
  code: FlowFindingCode;
  message: string;
  file?: string;
  nodeId?: string;
}

export interface FlowLintOptions {
  /** Every node type the runtime has (core and installed packages), e.g. from GET /nodes. */
  installedTypes: ReadonlySet<string>;
}

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Property names whose non-empty value is a secret unless it is a whole ${ENV_VAR} reference. */
const SECRET_KEY =
  /(secret|password|passwd|passphrase|pwd|token|apikey|api_key|privatekey|private_key|bearer)$/i;

/** Value shapes that are secrets wherever they appear (reason, pattern). */
const SECRET_VALUES: ReadonlyArray<[string, RegExp]> = [
  ["a PEM private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["a JSON Web Token", /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/],
  ["a webhook signing secret", /\bwhsec_[A-Za-z0-9+/=_-]{8,}/],
  ["an Authorization header value", /\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{16,}/],
  ["a URL with a password", /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i],
  ["an AWS access key", /\bAKIA[0-9A-Z]{16}\b/],
  ["a private JWK", /"d"\s*:\s*"[A-Za-z0-9_-]{20,}"/],
];

/** A long token of base64/hex characters mixing letters and digits: a key more likely than a word. */
function highEntropy(value: string): boolean {
  if (value.length < 32 || /\s/.test(value) || !/^[A-Za-z0-9+/=_-]+$/.test(value)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(value)).length;
  return classes >= 2 && new Set(value).size >= 16;
}

/** Why `value` under `key` looks like a secret, or undefined. */
export function secretReason(key: string, value: string): string | undefined {
  if (SECRET_KEY.test(key) && value.trim() !== "" && !ENV_REFERENCE.test(value.trim())) {
    return `a value in a property named like a secret`;
  }
  for (const [reason, pattern] of SECRET_VALUES) if (pattern.test(value)) return reason;
  if (highEntropy(value)) return "a long random-looking token";
  return undefined;
}

function isNode(value: unknown): value is FlowNode {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as FlowNode).id === "string" &&
    typeof (value as FlowNode).type === "string"
  );
}

/** Every string below `value` with the path that leads to it. */
function* strings(value: unknown, path: string[]): Generator<[string[], string]> {
  if (typeof value === "string") yield [path, value];
  else if (Array.isArray(value))
    for (let i = 0; i < value.length; i++) yield* strings(value[i], [...path, String(i)]);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
  }
}

/** The last path element that is a name, not an index. */
function keyOf(path: string[]): string {
  for (let i = path.length - 1; i >= 0; i--) if (!/^\d+$/.test(path[i])) return path[i];
  return "";
}

/** The layout types every Node-RED flow file may hold besides nodes. */
const STRUCTURAL = new Set(["tab", "subflow", "group", "junction"]);

export function lintFlow(input: unknown, options: FlowLintOptions, file?: string): FlowFinding[] {
  const findings: FlowFinding[] = [];
  const add = (code: FlowFindingCode, message: string, nodeId?: string): void => {
    findings.push({ code, message, file, nodeId });
  };
  if (!Array.isArray(input) || input.length === 0) {
    add(CODES.FLOW_SHAPE, "a flow file must be a non-empty array of nodes");
    return findings;
  }
  const nodes: FlowNode[] = [];
  input.forEach((n, i) => {
    if (isNode(n)) nodes.push(n);
    else add(CODES.FLOW_SHAPE, `entry ${i} is not a node (an object with id and type)`);
  });
  const ids = new Set<string>();
  for (const n of nodes) {
    if (ids.has(n.id)) add(CODES.FLOW_DUPLICATE_ID, `id ${n.id} is used twice`, n.id);
    ids.add(n.id);
  }
  const tabs = nodes.filter((n) => n.type === "tab");
  if (tabs.length !== 1) add(CODES.FLOW_SHAPE, `a pipeline is one tab; this file has ${tabs.length}`);
  const tabId = tabs[0]?.id;

  for (const n of nodes) {
    if (!STRUCTURAL.has(n.type) && !n.type.startsWith("subflow:") && !options.installedTypes.has(n.type)) {
      add(CODES.FLOW_UNKNOWN_TYPE, `node ${n.id} has type "${n.type}", which is not installed`, n.id);
    }
    if (tabId && n.type !== "tab" && n.z !== tabId) {
      add(CODES.FLOW_SHAPE, `node ${n.id} is not on the pipeline's tab (z)`, n.id);
    }
    if (Array.isArray(n.env)) {
      for (const v of n.env as Array<Record<string, unknown>>) {
        const name = typeof v?.name === "string" ? v.name : "";
        const value = typeof v?.value === "string" ? v.value : "";
        if (
          /(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE)/i.test(name) &&
          v.type !== "cred" &&
          value !== ""
        ) {
          add(
            CODES.FLOW_SECRET,
            `node ${n.id} environment variable ${name} holds a value (use type cred)`,
            n.id,
          );
        }
      }
    }
    if ("credentials" in n) {
      add(CODES.FLOW_CREDENTIALS, `node ${n.id} carries a credentials property`, n.id);
    }
    for (const [path, value] of strings(n, [])) {
      if (path[0] === "credentials" || path[0] === "id" || path[0] === "z") continue;
      const reason = secretReason(keyOf(path), value);
      if (reason) add(CODES.FLOW_SECRET, `node ${n.id} property ${path.join(".")} holds ${reason}`, n.id);
    }
    const wires = n.wires;
    if (wires !== undefined) {
      if (!Array.isArray(wires) || wires.some((w) => !Array.isArray(w))) {
        add(CODES.FLOW_SHAPE, `node ${n.id} has malformed wires`, n.id);
      } else {
        for (const target of (wires as unknown[][]).flat()) {
          if (typeof target !== "string" || !ids.has(target)) {
            add(
              CODES.FLOW_DANGLING,
              `node ${n.id} is wired to ${String(target)}, which is not in the file`,
              n.id,
            );
          }
        }
      }
    }
    const references: unknown[] = [];
    if (n.type === "catch" || n.type === "status" || n.type === "complete") {
      if (Array.isArray(n.scope)) references.push(...(n.scope as unknown[]));
    }
    if ((n.type === "link in" || n.type === "link out" || n.type === "link call") && Array.isArray(n.links)) {
      references.push(...(n.links as unknown[]));
    }
    if (n.type === "group" && Array.isArray(n.nodes)) references.push(...(n.nodes as unknown[]));
    for (const r of references) {
      if (typeof r !== "string" || !ids.has(r)) {
        add(CODES.FLOW_DANGLING, `node ${n.id} refers to ${String(r)}, which is not in the file`, n.id);
      }
    }
  }
  if (!nodes.some((n) => n.type === "comment")) {
    add(CODES.FLOW_NO_COMMENT, "a pipeline needs Comment nodes that explain it");
  }
  return findings;
}

/** Node types that serve an http route, with the method they serve when the flow names none. */
const HTTP_ROUTE_TYPES: Readonly<Record<string, string>> = { "http in": "get", "webhook-in": "post" };

/** Each file on its own, then what would clash when every file is deployed into one runtime. */
export function lintFlowSet(
  files: Readonly<Record<string, unknown>>,
  options: FlowLintOptions,
): FlowFinding[] {
  const findings: FlowFinding[] = [];
  const owners = new Map<string, string>();
  const routes = new Map<string, string>();
  for (const [file, content] of Object.entries(files)) {
    findings.push(...lintFlow(content, options, file));
    if (!Array.isArray(content)) continue;
    for (const n of content.filter(isNode)) {
      const owner = owners.get(n.id);
      if (owner !== undefined && owner !== file) {
        findings.push({
          code: CODES.FLOW_DUPLICATE_ID,
          message: `id ${n.id} is also in ${owner}`,
          file,
          nodeId: n.id,
        });
      }
      owners.set(n.id, file);
      const defaultMethod = HTTP_ROUTE_TYPES[n.type];
      if (defaultMethod !== undefined && typeof n.url === "string") {
        const route = `${String(n.method || defaultMethod).toUpperCase()} ${n.url}`;
        const other = routes.get(route);
        if (other !== undefined) {
          findings.push({
            code: CODES.FLOW_DUPLICATE_ROUTE,
            message: `${route} is also served by ${other}`,
            file,
            nodeId: n.id,
          });
        }
        routes.set(route, `${file} ${n.id}`);
      }
    }
  }
  return findings;
}
