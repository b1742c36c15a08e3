import { expect } from "chai";
import { spawn } from "node:child_process";
import { join } from "node:path";

/** The suite's watchdog (test/support/watchdog.ts) ends a run that a spinning test would hang. */
describe("test watchdog", function () {
  this.timeout(30_000);

  it("ends a run whose test never yields, naming the test, within its timeout plus the grace", async () => {
    const dist = join(__dirname, "..", "..");
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [
        require.resolve("mocha/bin/mocha.js"),
        "--no-config",
        "--require",
        join(dist, "test", "support", "watchdog.js"),
        join(dist, "test", "fixtures", "mocha", "spin.fixture.js"),
      ],
      { env: { ...process.env, PMS_EHR_TEST_GRACE_MS: "1000" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on("exit", (c, s) => resolve([c, s])),
    );
    const took = Date.now() - started;
    expect(signal).to.equal("SIGKILL");
    expect(code).to.equal(null);
    expect(stderr).to.match(
      /\[watchdog\] "a test that never yields spins on promises that resolve at once" \(.*spin\.fixture\.js\) is still running \d+ s after it started, past its 500 ms timeout/,
    );
    // 500 ms timeout + 1 s grace + the watchdog's 250 ms tick, and mocha's start-up.
    expect(took).to.be.below(15_000);
  });
});
