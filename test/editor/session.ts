import { join } from "node:path";
import { launchChromium, watchPage, type PageProblems } from "../support/browser";
import { startRuntime, type Runtime, type RuntimeOptions } from "../support/red-runtime";
import { EditorPage } from "./editor-page";

export const VIEWPORT = { width: 1600, height: 1000 };

export interface EditorSession {
  rt: Runtime;
  editor: EditorPage;
  /** Console errors, page errors and failed requests of the page since it opened. */
  problems: PageProblems;
  close(): Promise<void>;
}

/** A real Node-RED with the pack, its editor open in Chromium at VIEWPORT. */
export async function openEditor(ctx: Mocha.Context, options: RuntimeOptions = {}): Promise<EditorSession> {
  const browser = await launchChromium(ctx);
  let rt: Runtime | undefined;
  const close = async () => {
    await browser.close();
    await rt?.stop();
  };
  try {
    rt = await startRuntime(options);
    const page = await browser.newPage({ viewport: VIEWPORT });
    const problems = watchPage(page);
    const editor = new EditorPage(page);
    await editor.open(rt.url);
    return { rt, editor, problems, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** For an afterEach hook: a picture of the page after a failed test, in `<shots>/failed/`; answers its name. */
export async function pictureOfFailure(
  ctx: Mocha.Context,
  editor: EditorPage | undefined,
  shots: string,
): Promise<string | undefined> {
  const test = ctx.currentTest;
  if (test?.state !== "failed" || !editor) return undefined;
  const name = test.fullTitle().replace(/[^A-Za-z0-9]+/g, "-");
  await editor.screenshot(join(shots, "failed", `${name}.png`)).catch(() => undefined);
  return name;
}
