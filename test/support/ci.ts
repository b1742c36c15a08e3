/** Whether this run is CI's (CI set and not false), where a test that cannot run must fail, not skip. */
export function inCi(): boolean {
  const ci = (process.env.CI ?? "").toLowerCase();
  return ci !== "" && ci !== "false" && ci !== "0";
}
