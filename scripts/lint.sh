#!/usr/bin/env bash
# `npm run lint`, also the first step of `npm test`: ESLint (with typescript-eslint),
# Prettier's check and shellcheck, each on the whole repository.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_DIR"
command -v shellcheck >/dev/null || apt_install shellcheck
log "lint: eslint"
eslint --max-warnings 0 .
log "lint: prettier --check (npx prettier --write . fixes it)"
prettier --check --log-level warn .
log "lint: shellcheck"
shellcheck --severity=warning scripts/*.sh bench/*.sh .ci/run scripts/images/dind/dind scripts/images/dind/*.sh components/providers/scripts/*.sh
