import { readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * `npm run bench [-- name ...]`: runs every bench/<name>.bench.ts (or those named), one after
 * another, so that no two benchmarks share the two cores.
 */
async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith(".bench.js"))
    .sort();
  const chosen = wanted.length
    ? files.filter((f) => wanted.some((w) => f.replace(/\.bench\.js$/, "").includes(w)))
    : files;
  if (chosen.length === 0) {
    console.log(wanted.length ? `no benchmark matches ${wanted.join(", ")}` : "no benchmarks yet");
    return;
  }
  for (const file of chosen) {
    const name = file.replace(/\.bench\.js$/, "");
    console.log(`\n=== ${name} ===`);
    const mod = (await import(join(__dirname, file))) as { run: () => Promise<void> };
    await mod.run();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
