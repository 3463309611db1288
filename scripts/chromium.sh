#!/usr/bin/env bash
# Ensures a Chromium for the real-browser test (Debian's package; Playwright's
# own browser download cannot work without internet). Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if command -v chromium >/dev/null 2>&1; then
  log "Chromium: $(chromium --version 2>/dev/null)"
  exit 0
fi
command -v apt-get >/dev/null || die "no chromium on PATH and no apt-get to install it; install Chromium and put it on PATH as 'chromium'"
log "Chromium: installing Debian's chromium package (for the browser test)"
apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
log "Chromium: $(chromium --version 2>/dev/null)"
