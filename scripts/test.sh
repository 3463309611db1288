#!/usr/bin/env bash
# `npm test`: bootstrap everything, then every test (unit and integration,
# the integration tests against the real Docker engine with the real Pulumi engine).
set -euo pipefail
bash "$(dirname "$0")/bootstrap.sh"
source "$(dirname "$0")/env.sh"
cd "$REPO_DIR"
exec vitest run "$@"
