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
  const name = (f: string): string => f.replace(/\.bench\.js$/, "");
  // An exact name picks that benchmark alone; otherwise a name picks every benchmark containing it.
  const chosen = wanted.length
    ? files.filter((f) =>
        wanted.some((w) => name(f) === w || (!files.some((g) => name(g) === w) && name(f).includes(w))),
      )
    : files;
  if (chosen.length === 0) {
    console.log(wanted.length ? `no benchmark matches ${wanted.join(", ")}` : "no benchmarks yet");
    return;
  }
  for (const file of chosen) {
    console.log(`\n=== ${name(file)} ===`);
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
