import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";

/** The repository root: the pack is loaded from here through Node-RED's `nodesDir`. */
export const PACK_DIR = resolve(__dirname, "..", "..");
/**
 * The shipped pipelines, one flow file each: their one source, in the examples/ folder that
 * Node-RED offers under Import > Examples.
 */
export const PIPELINES_DIR = resolve(PACK_DIR, "examples", "pipelines");

export interface NodeRedOptions {
  userDir: string;
  /** 0 (default): Node-RED binds a free port itself and the port is read from its log. */
  port?: number;
  host?: string;
  /** The node-red package folder (default: the one installed here). */
  nodeRedDir?: string;
  /** The Node.js binary (default: this one); Node-RED 5 wants Node 22. */
  nodeBinary?: string;
  env?: Record<string, string>;
  /** Merged over the defaults and written to the user dir's settings.js as JSON. */
  settings?: Record<string, unknown>;
  /** Echo Node-RED's output to this process's stdout. */
  echo?: boolean;
}

export interface NodeRedProcess {
  url: string;
  port: number;
  userDir: string;
  child: ChildProcess;
  /** Every line Node-RED printed, in order. */
  logs: string[];
  /** Resolves with the first line from `fromLine` on (default 0: any line so far) that matches. */
  waitForLog(pattern: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
  /** SIGINT, then SIGKILL after 15 s. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
}

/**
 * A port that was free a moment ago. It is closed before the caller's listener takes it, so
 * another process may take it first: only for what cannot bind port 0 itself and report the
 * port it got (a program that must be told its ports up front, as npm start is).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

export function defaultSettings(host: string, port: number): Record<string, unknown> {
  return {
    uiHost: host,
    uiPort: port,
    flowFile: "flows.json",
    flowFilePretty: true,
    credentialSecret: "healthbridge-sandbox-only",
    nodesDir: [PACK_DIR],
    contextStorage: {
      default: { module: "memory" },
      file: { module: "localfilesystem", config: { flushInterval: 1 } },
    },
    logging: { console: { level: "info", metrics: false, audit: false } },
    editorTheme: { tours: false },
    externalModules: { palette: { allowInstall: false } },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    telemetry: { enabled: false },
  };
}

function mergeSettings(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prev = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && prev && typeof prev === "object"
        ? mergeSettings(prev as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** Starts Node-RED in a child process with this pack and resolves once its flows have started. */
export async function startNodeRed(options: NodeRedOptions): Promise<NodeRedProcess> {
  const host = options.host ?? "127.0.0.1";
  const userDir = options.userDir;
  mkdirSync(userDir, { recursive: true });
  const settings = mergeSettings(defaultSettings(host, options.port ?? 0), options.settings ?? {});
  writeFileSync(join(userDir, "settings.js"), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);

  const nodeRedDir = options.nodeRedDir ?? dirname(require.resolve("node-red/package.json"));
  const child = spawn(
    options.nodeBinary ?? process.execPath,
    [join(nodeRedDir, "red.js"), "--userDir", userDir, "--settings", join(userDir, "settings.js")],
    {
      cwd: userDir,
      env: { ...process.env, ...options.env, NODE_RED_ENABLE_PROJECTS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );

  const logs: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let partial = "";
  const onData = (chunk: Buffer): void => {
    partial += chunk.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      logs.push(line);
      if (options.echo) process.stdout.write(`[node-red] ${line}\n`);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].pattern.test(line)) waiters.splice(i, 1)[0].resolve(line);
      }
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = once(child, "exit");

  const waitForLog = (pattern: RegExp, timeoutMs = 60000, fromLine = 0): Promise<string> => {
    const seen = logs.slice(fromLine).find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) waiters.splice(i, 1);
        reject(
          new Error(`Node-RED did not log ${pattern} within ${timeoutMs} ms:\n${logs.slice(-30).join("\n")}`),
        );
      }, timeoutMs);
      const done = (line: string): void => {
        clearTimeout(timer);
        resolvePromise(line);
      };
      waiters.push({ pattern, resolve: done });
      void exited.then(() => {
        if (waiters.some((w) => w.resolve === done)) {
          clearTimeout(timer);
          reject(new Error(`Node-RED exited before logging ${pattern}:\n${logs.slice(-30).join("\n")}`));
        }
      });
    });
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
    await exited;
    clearTimeout(timer);
  };

  const proc: NodeRedProcess = {
    url: "",
    port: 0,
    userDir,
    child,
    logs,
    waitForLog,
    stop: () => terminate("SIGINT"),
    kill: () => terminate("SIGKILL"),
  };
  try {
    // red.js logs this (at info) once its server listens, with the port it bound: 4.1 and 5.x alike.
    const running = /\[info\] Server now running at https?:\/\/\S+:(\d+)(?:\/|$)/;
    proc.port = Number(running.exec(await waitForLog(running))![1]);
    proc.url = `http://${host}:${proc.port}`;
    await waitForLog(/\[info\] Started flows/);
  } catch (err) {
    await proc.kill();
    throw err;
  }
  return proc;
}
