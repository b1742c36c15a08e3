import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { inCi } from "./ci";

/**
 * A real PostgreSQL server for tests, on loopback and a free port, in a temporary data directory.
 * Debian's server binaries (.ci/run installs postgresql-15); PostgreSQL refuses to run as root, so
 * as root it runs as the `postgres` user the package creates. PMS_PG_BIN names another bin folder.
 * Without a server: in CI the test fails (a test that cannot run must not pass), elsewhere it is
 * skipped saying what to install.
 */
export interface PgServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication on loopback). */
  readonly url: string;
  readonly port: number;
  /** Stops the server (fast shutdown: sessions are ended, committed data stays). */
  stop(): Promise<void>;
  /** Kills the server outright (SIGKILL to the postmaster), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data after stop or kill. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
  /** A client connected to it; an error it raises while idle (the server stopped) is dropped, queries still fail. */
  connect(): Promise<Client>;
}

/** The newest Debian PostgreSQL bin folder, or PMS_PG_BIN. */
export function pgBinDir(): string | undefined {
  const named = process.env.PMS_PG_BIN;
  if (named) return existsSync(join(named, "postgres")) ? named : undefined;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], "bin") : undefined;
}

/** As root, the uid and gid of the `postgres` user; otherwise this process's own. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root and there is no postgres user to run PostgreSQL as (apt-get install postgresql-15)",
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a fresh server for the calling suite (call from `before`, with a timeout of 60 s or more). */
export async function startPostgres(ctx: Mocha.Context): Promise<PgServer> {
  const bin = pgBinDir();
  if (!bin) {
    const why =
      "no PostgreSQL server binaries in /usr/lib/postgresql/<version>/bin (apt-get install -y postgresql-15, or set PMS_PG_BIN)";
    if (inCi()) throw new Error(`${why}: PostgreSQL tests cannot run`);
    console.warn(`      skipped: ${why}`);
    ctx.skip();
  }
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), "pms-pg-"));
  const data = join(dir, "data");
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid as number);
  const init = spawnSync(
    join(bin as string, "initdb"),
    ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
    { ...user, encoding: "utf8" },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  }

  let port = 0;
  let started = false;
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    for (let tries = 1; ; tries++) {
      port ||= await freePort();
      const result = await spawnPostgres(bin as string, data, dir, port, user);
      if (result.child) {
        child = result.child;
        started = true;
        return;
      }
      // Another process took the port between the probe and the bind (first start: take another), or
      // a killed server's backends still hold its shared memory (they exit once they notice).
      const portTaken = /could not bind|Address already in use/i.test(result.log);
      const backendsLeft = /pre-existing shared memory block/i.test(result.log);
      if ((portTaken || backendsLeft) && tries < 50) {
        if (portTaken && !started) port = 0;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new Error(`PostgreSQL did not start on port ${port}: ${result.log.slice(-2000)}`);
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill(signal);
    await exited;
  }

  await launch();
  return {
    get url() {
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    },
    get port() {
      return port;
    },
    stop: () => halt("SIGINT"),
    // The postmaster alone: its backends notice it is gone and exit, as after a crash.
    kill: () => halt("SIGKILL"),
    start: launch,
    destroy: async () => {
      await halt("SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
    connect: async () => {
      const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      client.on("error", () => undefined);
      await client.connect();
      return client;
    },
  };
}

function spawnPostgres(
  bin: string,
  data: string,
  socketDir: string,
  port: number,
  user: { uid?: number; gid?: number },
): Promise<{ child?: ChildProcess; log: string }> {
  const args = [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    socketDir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=100",
  ];
  const child = spawn(join(bin, "postgres"), args, { ...user, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ log: `${log}\n(no "ready to accept connections" within 30 s)` });
    }, 30_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString("utf8");
      if (log.includes("ready to accept connections")) {
        clearTimeout(timer);
        child.stderr?.removeListener("data", onData);
        child.stdout?.removeListener("data", onData);
        // Keep draining the server's log so that a full pipe never blocks it.
        child.stderr?.resume();
        child.stdout?.resume();
        resolve({ child, log });
      }
    };
    child.stderr?.on("data", onData);
    child.stdout?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ log: `${log}\n(exited with ${code ?? signal})` });
    });
  });
}
