#!/usr/bin/env bash
# Runs the node and pipeline tests again on Node-RED 5.x under Node.js 22, both taken from the
# npm registry (Node as the package `node`, which ships the binary). It works on a copy of the
# work tree (tracked and untracked files, nothing git ignores), so the Node-RED 4.1 install in
# the tree is left alone. Real-runtime tests spawn process.execPath with the copy's node-red,
# so they run Node-RED 5 under Node 22 too; the script checks that in a runtime's log.
# NR5_KEEP=1 keeps the temporary directory (its path is printed).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nr5-ci.XXXXXX")"
cleanup() {
  if [ "${NR5_KEEP:-}" = "1" ]; then echo "ci-node-red-5: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
npm_flags=(--no-audit --no-fund --prefer-offline --loglevel=error)
started=$SECONDS
step() { echo "ci-node-red-5: [$((SECONDS - started)) s] $*"; }

step "installing Node.js 22 from the npm registry"
npm install "${npm_flags[@]}" --prefix "$work/node22" node@22 >/dev/null
node22="$work/node22/node_modules/node/bin/node"
node22_version="$("$node22" --version)"
case "$node22_version" in
  v22.*) ;;
  *) echo "ci-node-red-5: expected Node.js v22, got '$node22_version'" >&2; exit 1 ;;
esac
# npm, tsc and mocha below all run on Node 22.
export PATH="$(dirname "$node22"):$PATH"
[ "$(node --version)" = "$node22_version" ] || { echo "ci-node-red-5: node on PATH is not $node22_version" >&2; exit 1; }

step "copying the work tree (without node_modules, dist, build)"
tree="$work/tree"
mkdir -p "$tree"
git -C "$root" ls-files -z --cached --others --exclude-standard \
  | (cd "$root" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) \
  | tar -C "$root" --null -T - -cf - | tar -C "$tree" -xf -
cd "$tree"

if [ -d "$root/node_modules" ]; then
  # Same package-lock.json: a copy of the installed tree is what `npm ci` would make, in a third of the time.
  step "copying node_modules, then npm install (lockfile), node-red@5 and the test helper (not saved)"
  cp -a "$root/node_modules" node_modules
  rm -f node_modules/.package-lock.json
else
  step "npm ci, then node-red@5 and the test helper (not saved)"
  npm ci "${npm_flags[@]}" --ignore-scripts >/dev/null
fi
npm install "${npm_flags[@]}" --ignore-scripts --no-save node-red@5 node-red-node-test-helper@0.3.6 >/dev/null
# better-sqlite3 is a native addon: the copy in node_modules was built for Node 20. Built again
# here from source, against Node 22's own headers (the `node` package's platform package ships
# them), which npm also uses for the packaging test's install of the tarball.
headers="$(dirname "$(dirname "$(dirname "$(find "$work/node22/node_modules" -path '*/include/node/node_version.h' | head -n 1)")")")"
[ -f "$headers/include/node/node_version.h" ] || { echo "ci-node-red-5: no Node 22 headers in the node package" >&2; exit 1; }
export npm_config_nodedir="$headers"
step "rebuilding better-sqlite3 for $node22_version"
npm rebuild "${npm_flags[@]}" better-sqlite3 >/dev/null
node -e 'new (require("better-sqlite3"))(":memory:").close()'
nr_version="$(node -p 'require("node-red/package.json").version')"
helper_version="$(node -p 'require("node-red-node-test-helper/package.json").version')"
case "$nr_version" in
  5.*) ;;
  *) echo "ci-node-red-5: expected node-red 5.x, got $nr_version" >&2; exit 1 ;;
esac

# The build's output does not depend on the Node.js that runs it: the tree's own, when it was built
# from these sources, is taken as it is (the build checks its digest of the inputs).
for out in dist resources; do
  [ -d "$root/$out" ] && cp -a "$root/$out" "$out"
done
step "building (if the sources changed since the tree's build)"
npm run build -- --if-changed >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
grep -q "built from these inputs already" "$work/build.log" && step "the tree's build was current" || step "built"

specs=()
for dir in package nodes e2e flows adversarial; do
  [ -d "dist/test/$dir" ] && specs+=("dist/test/$dir/**/*.spec.js")
done
step "mocha on Node $node22_version, node-red $nr_version, test helper $helper_version: ${specs[*]}"
# batch-sync on two instances sharing PostgreSQL (40 s) runs in the Node-RED 4.1 run only: the
# scale-out spec here already runs two Node-RED 5 processes on one PostgreSQL store, and what the
# batch-sync one adds (the checkpoint's lease and interval) is the pack's logic, not the runtime's.
NR5_EXPECT_NODE_RED="$nr_version" NR5_EXPECT_NODE="$node22_version" \
  node node_modules/mocha/bin/mocha.js --reporter dot \
  --grep "on two Node-RED instances sharing a PostgreSQL message-store" --invert "${specs[@]}"
step "done"
