import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { inCi } from "./ci";

/** Debian's chromium (CI installs it in .ci/run); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium. Without it: in CI the test fails (a test that cannot run must
 * not pass); locally it is skipped with a message saying what to install.
 */
export async function launchChromium(ctx: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    const why = `no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
    if (inCi()) throw new Error(`${why}: browser tests cannot run`);
    console.warn(`      skipped: ${why}`);
    ctx.skip();
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface PageProblems {
  /** console.error messages, uncaught page errors, failed requests and HTTP errors, in order. */
  errors: string[];
}

/** Records everything on a page that a user's console would show as an error. */
export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { errors: [] };
  page.on("console", (m) => {
    if (m.type() === "error") problems.errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) =>
    problems.errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`),
  );
  page.on("response", (r) => {
    if (r.status() >= 400) problems.errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

/** The repository, from dist/test/support. */
const ROOT = resolve(__dirname, "..", "..", "..");

/** With UPDATE_SCREENSHOTS=1: copies a picture into docs/images (what the README and guides show). */
export function updateDocsPicture(shot: string, target: string, from: string, note = ""): void {
  if (process.env.UPDATE_SCREENSHOTS !== "1") return;
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(shot, target);
  console.log(`      ${relative(ROOT, from)} -> ${relative(ROOT, target)}${note}`);
}
