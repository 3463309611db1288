#!/usr/bin/env bash
# `npm test`: bootstrap everything, then every test (unit and integration,
# the integration tests against the real Docker engine with the real Pulumi engine).
set -euo pipefail
bash "$(dirname "$0")/bootstrap.sh"
bash "$(dirname "$0")/chromium.sh"
source "$(dirname "$0")/env.sh"
cd "$REPO_DIR"
log "typecheck (tsc --noEmit, strict)"
tsc --noEmit -p .
bash "$REPO_DIR/scripts/lint.sh"
mkdir -p test-artifacts
status=0
vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above.
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-artifacts/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || true
exit $status
