#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the project's Pulumi CLI with its local backend
# and offline settings. Runs in the project directory.
set -euo pipefail
source "$(dirname "$0")/env.sh"
command -v pulumi >/dev/null || die "no Pulumi CLI yet: run 'npm run bootstrap' (or 'npm test' / 'npm start') first"
cd "$REPO_DIR"
exec pulumi "$@"
