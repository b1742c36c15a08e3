import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNodeRed, type NodeRedProcess } from "../../sandbox/node-red";

export type FlowNode = Record<string, unknown> & { id: string; type: string };
export type Credentials = Record<string, Record<string, unknown>>;

export interface RuntimeOptions {
  flows?: FlowNode[];
  /** Keyed by node id, as node-red-node-test-helper takes them. */
  credentials?: Credentials;
  env?: Record<string, string>;
  settings?: Record<string, unknown>;
  /** Reuse a user dir (e.g. to restart on the same files); default: a new temp dir, removed on stop. */
  userDir?: string;
  echo?: boolean;
  nodeRedDir?: string;
  nodeBinary?: string;
}

export interface Runtime {
  url: string;
  port: number;
  userDir: string;
  logs: string[];
  process: NodeRedProcess;
  /**
   * Deploy through the admin API; resolves when the runtime has started the new flows. "nodes"
   * restarts only the nodes that changed (a listener left alone keeps its port).
   */
  deploy(flows: FlowNode[], credentials?: Credentials, type?: "full" | "nodes"): Promise<void>;
  /** GET a path of the runtime's admin API (JSON). */
  getJson<T = unknown>(path: string): Promise<T>;
  waitForLog(pattern: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
  /** Stops the runtime (SIGINT) and removes a temp user dir. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. The user dir is kept for restart(). */
  kill(): Promise<void>;
  /** Starts again on the same user dir (flows, credentials and file context persist). */
  restart(): Promise<void>;
}

function withCredentials(flows: FlowNode[], credentials?: Credentials): FlowNode[] {
  if (!credentials) return flows;
  return flows.map((node) => (credentials[node.id] ? { ...node, credentials: credentials[node.id] } : node));
}

/** A real Node-RED runtime (child process) with this pack, for tests that need `http in` routes or restarts. */
export async function startRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const ownDir = !options.userDir;
  const userDir = options.userDir ?? mkdtempSync(join(tmpdir(), "nr-pms-ehr-"));
  const launch = (port?: number): Promise<NodeRedProcess> =>
    startNodeRed({
      userDir,
      port,
      env: options.env,
      settings: options.settings,
      echo: options.echo ?? process.env.NODE_RED_ECHO === "1",
      nodeRedDir: options.nodeRedDir,
      nodeBinary: options.nodeBinary,
    });
  let proc = await launch();

  const runtime: Runtime = {
    get url() {
      return proc.url;
    },
    get port() {
      return proc.port;
    },
    userDir,
    get logs() {
      return proc.logs;
    },
    get process() {
      return proc;
    },
    async deploy(flows, credentials, type = "full") {
      const from = proc.logs.length;
      const res = await fetch(`${proc.url}/flows`, {
        method: "POST",
        headers: { "content-type": "application/json", "Node-RED-Deployment-Type": type },
        body: JSON.stringify(withCredentials(flows, credentials)),
      });
      if (res.status !== 204 && res.status !== 200) {
        throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
      }
      await proc.waitForLog(/\[info\] Started (flows|modified nodes)/, 60000, from);
    },
    async getJson<T>(path: string): Promise<T> {
      const res = await fetch(`${proc.url}${path}`, { headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return (await res.json()) as T;
    },
    waitForLog: (pattern, timeoutMs, fromLine) => proc.waitForLog(pattern, timeoutMs, fromLine),
    async stop() {
      await proc.stop();
      if (ownDir) rmSync(userDir, { recursive: true, force: true });
    },
    async kill() {
      await proc.kill();
    },
    async restart() {
      // The same port again: peers keep the runtime's URL across a restart (a PMS still sending
      // its webhooks there, as store-and-forward's does through a kill -9). Node-RED bound it
      // itself before and has let go of it once stopped; only another process taking it in that
      // moment could fail this start, and it would fail loudly (port in use), never wrongly.
      const port = proc.port;
      await proc.stop();
      proc = await launch(port);
    },
  };
  if (options.flows) {
    try {
      await runtime.deploy(options.flows, options.credentials);
    } catch (err) {
      await runtime.stop();
      throw err;
    }
  }
  return runtime;
}
