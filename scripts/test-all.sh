#!/usr/bin/env bash
# Runs every suite (types, jest, EUnit, Common Test), streams their output, and
# ends with one line that adds them up: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
passed=0 failed=0 status=0

run() { # name, command...
  local name=$1; shift
  echo "==> $name: $*"
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=1
  return "$rc"
}

count() { # file, regex with one number group -> the number or 0
  grep -aoE "$2" "$1" | tail -1 | grep -oE '[0-9]+' | head -1 || true
}

# The examples' own npm packages (a no-op once installed), then the types:
# the tree's, and each example with packages of its own against them.
bash .ci/install-example-deps
run types npx tsc --noEmit -p . || failed=$((failed + 1))
for cfg in examples/*/tsconfig.json; do
  [ -f "$(dirname "$cfg")/package-lock.json" ] || continue
  run "types-$(basename "$(dirname "$cfg")")" npx tsc --noEmit -p "$cfg" || failed=$((failed + 1))
done

run jest npx jest --ci
p=$(count "$logs/jest.log" 'Tests:.* ([0-9]+) passed'); f=$(count "$logs/jest.log" 'Tests: +([0-9]+) failed')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))

# make bench's arithmetic and --compare plumbing (node:test, no benchmark run)
run bench node --test test/bench/
p=$(count "$logs/bench.log" '^# pass [0-9]+'); f=$(count "$logs/bench.log" '^# fail [0-9]+')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))

run eunit rebar3 eunit
if grep -aqE 'All [0-9]+ tests passed' "$logs/eunit.log"; then
  p=$(count "$logs/eunit.log" 'All [0-9]+ tests passed'); f=0
else
  p=$(count "$logs/eunit.log" 'Passed: [0-9]+'); f=$(count "$logs/eunit.log" 'Failed: [0-9]+')
fi
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))

run ct rebar3 ct --dir test/erlang
if grep -aqE 'All [0-9]+ tests passed' "$logs/ct.log"; then
  p=$(count "$logs/ct.log" 'All [0-9]+ tests passed'); f=0
else
  p=$(count "$logs/ct.log" 'Passed [0-9]+ tests'); f=$(count "$logs/ct.log" 'Failed [0-9]+ tests')
fi
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))

# A runner that failed without counting a failure (crashed, did not compile) still fails.
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
