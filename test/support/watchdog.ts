/**
 * Mocha root hooks that no test can hang the run. Mocha's own timeout needs the event loop: a test
 * whose code spins (a loop whose every await resolves at once) never yields, so nothing fires and
 * CI waits for its own limit. A worker thread runs regardless: told when each test starts and
 * ends, it ends the process, naming the test, once a test outlives its timeout by a margin or a
 * file outlives the file budget. It writes with fs.writeSync: a worker's console goes through the
 * main thread, which is the one stuck.
 *
 * Budgets (ms): PMS_EHR_TEST_GRACE_MS past a test's timeout (default 30 s; a test without a timeout
 * is bounded by the file budget only), PMS_EHR_TEST_FILE_BUDGET_MS per spec file (default 15 min).
 */
import { Worker } from "node:worker_threads";
import type { Context, RootHookObject } from "mocha";

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { graceMs, fileBudgetMs, pid } = workerData;
let test;
let file;
parentPort.on("message", (m) => {
  if (m.kind === "start") {
    if (!file || file.name !== m.file) file = { name: m.file, at: m.at };
    test = m;
  } else if (m.kind === "end") test = undefined;
});
function stop(why) {
  writeSync(2, "\\n[watchdog] " + why + ": ending the run\\n");
  process.kill(pid, "SIGKILL");
}
setInterval(() => {
  const now = Date.now();
  if (test && test.timeoutMs > 0 && now - test.at > test.timeoutMs + graceMs) {
    stop("\\"" + test.title + "\\" (" + test.file + ") is still running " + Math.round((now - test.at) / 1000) +
      " s after it started, past its " + test.timeoutMs + " ms timeout: it never yields to mocha");
  } else if (file && now - file.at > fileBudgetMs) {
    stop(file.name + " has run for " + Math.round((now - file.at) / 1000) + " s, past the file budget of " +
      Math.round(fileBudgetMs / 1000) + " s" + (test ? " (in \\"" + test.title + "\\")" : ""));
  }
}, 250).unref();
`;

const number = (value: string | undefined, fallback: number): number =>
  value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback;

const watchdog = new Worker(WORKER, {
  eval: true,
  workerData: {
    graceMs: number(process.env.PMS_EHR_TEST_GRACE_MS, 30_000),
    fileBudgetMs: number(process.env.PMS_EHR_TEST_FILE_BUDGET_MS, 15 * 60_000),
    pid: process.pid,
  },
});
watchdog.unref();

export const mochaHooks: RootHookObject = {
  beforeEach(this: Context) {
    const test = this.currentTest;
    if (!test) return;
    watchdog.postMessage({
      kind: "start",
      title: test.fullTitle(),
      file: test.file ?? "(unknown file)",
      timeoutMs: test.timeout(),
      at: Date.now(),
    });
  },
  afterEach() {
    watchdog.postMessage({ kind: "end" });
  },
};
