/**
 * `npm run release`: builds, then makes the tarball users install (palette upload, `npm install
 * <tarball>`, `npm publish <tarball>`) in release/, and prints its name, size and sha256.
 *
 * The tarball holds the files `npm pack` picks in this folder (package.json `files`), with a
 * manifest whose `scripts` are removed: they build, test and start from sources that are not
 * shipped, `prepare` among them. The work tree keeps `prepare`, which a clone's `npm install` and a
 * git URL install need to build dist/. Its README links to the guides' pages in resources/docs/
 * (docs/ is not shipped; the build renders it there).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root (this file runs from dist/scripts/). */
export const PACK_ROOT = resolve(__dirname, "..", "..");
/** Where `npm run release` puts the tarball. */
export const RELEASE_DIR = join(PACK_ROOT, "release");

export interface Release {
  /** Absolute path of the tarball. */
  path: string;
  filename: string;
  /** Bytes of the tarball. */
  size: number;
  /** Bytes of its files unpacked. */
  unpackedSize: number;
  /** Hex sha256 of the tarball. */
  sha256: string;
  /** npm's integrity string (sha512), as the registry and package-lock.json record it. */
  integrity: string;
  /** The paths in the tarball, sorted (without the leading package/). */
  files: string[];
  /** The manifest in the tarball. */
  manifest: Record<string, unknown>;
}

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  integrity: string;
  files: Array<{ path: string }>;
}

async function npmPack(cwd: string, args: string[]): Promise<PackInfo> {
  // npm's own lifecycle scripts stay off: the caller built dist/ already.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", ...args], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [info] = JSON.parse(stdout) as PackInfo[];
  return info;
}

/**
 * The README as shipped: its links into docs/ point at the pages and pictures the build rendered
 * into resources/docs/ (scripts/guides.js), which the package holds; docs/ itself is not shipped.
 */
export function packagedReadme(text: string): string {
  return text
    .replace(/\]\(docs\/images\//g, "](resources/docs/images/")
    .replace(
      /\]\(docs\/([^)#\s/]+)\.md(#[^)\s]*)?\)/g,
      (_m, name: string, hash: string | undefined) =>
        `](resources/docs/${name.toLowerCase()}.html${hash ?? ""})`,
    );
}

/** The manifest as published: package.json without its scripts. */
export function publishedManifest(pkg: Record<string, unknown>): Record<string, unknown> {
  const { scripts: _scripts, ...published } = pkg;
  return published;
}

/**
 * Packs the built work tree (dist/ must be built) into `outDir` and returns what was made. The
 * files are staged in a temporary folder with the published manifest and packed there; the staged
 * file list must equal the one npm picks in the work tree.
 */
export async function packRelease(outDir: string, root = PACK_ROOT): Promise<Release> {
  const picked = (await npmPack(root, ["--dry-run"])).files.map((f) => f.path).sort();
  if (!picked.some((f) => f.startsWith("dist/")))
    throw new Error(`${root}/dist is not built: run npm run build`);
  const stage = mkdtempSync(join(tmpdir(), "pms-ehr-release-"));
  try {
    for (const file of picked) {
      mkdirSync(dirname(join(stage, file)), { recursive: true });
      if (file === "README.md") {
        writeFileSync(join(stage, file), packagedReadme(readFileSync(join(root, file), "utf8")));
      } else if (file !== "package.json") copyFileSync(join(root, file), join(stage, file));
    }
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown>;
    const manifest = publishedManifest(pkg);
    writeFileSync(join(stage, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);

    mkdirSync(outDir, { recursive: true });
    const info = await npmPack(stage, ["--pack-destination", outDir]);
    const files = info.files.map((f) => f.path).sort();
    if (JSON.stringify(files) !== JSON.stringify(picked)) {
      const lost = picked.filter((f) => !files.includes(f));
      const added = files.filter((f) => !picked.includes(f));
      throw new Error(
        `the staged package differs from the work tree: lost ${lost.join(", ")}; added ${added.join(", ")}`,
      );
    }
    const path = join(outDir, info.filename);
    return {
      path,
      filename: info.filename,
      size: statSync(path).size,
      unpackedSize: info.unpackedSize,
      sha256: createHash("sha256").update(readFileSync(path)).digest("hex"),
      integrity: info.integrity,
      files,
      manifest,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const release = await packRelease(RELEASE_DIR);
  // kB of 1000 bytes, as npm prints them.
  const kB = (n: number): string => `${(n / 1000).toFixed(1)} kB`;
  console.log(`tarball:   release/${release.filename}`);
  console.log(
    `size:      ${kB(release.size)} (${kB(release.unpackedSize)} unpacked, ${release.files.length} files)`,
  );
  console.log(`sha256:    ${release.sha256}`);
  console.log(`integrity: ${release.integrity}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
