#!/usr/bin/env bash
# Installs the npm packages of the examples that have their own
# (examples/NAME/package-lock.json), as their lock files say: npm ci, only
# where node_modules is missing or older than the lock file.
#
#   scripts/example-deps.sh            every such example (.ci/install-deps runs this)
#   scripts/example-deps.sh NAME...    those examples (a suite run alone calls this)
set -euo pipefail
cd "$(dirname "$0")/../examples"
[ $# -gt 0 ] || set -- */
for dir in "$@"; do
  dir=${dir%/}
  [ -f "$dir/package-lock.json" ] || continue
  stamp=$dir/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "example-deps: npm ci in examples/$dir"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
done
