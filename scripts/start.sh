#!/usr/bin/env bash
# `npm start`: bootstrap everything, bring up the dev stack (the examples),
# and print the URLs.
set -euo pipefail
bash "$(dirname "$0")/bootstrap.sh"
source "$(dirname "$0")/env.sh"
cd "$REPO_DIR"
pulumi stack select --create dev >/dev/null
pulumi up --yes --skip-preview --stack dev
node scripts/print-urls.js "$(pulumi stack output --json --stack dev)"
