#!/usr/bin/env bash
# Ensures a Chromium for the real-browser test (Debian's package; Playwright's
# own browser download cannot work without internet). Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if command -v chromium >/dev/null 2>&1; then
  log "Chromium: $(chromium --version 2>/dev/null)"
  exit 0
fi
log "Chromium: installing Debian's chromium package (for the browser test)"
apt_install chromium
log "Chromium: $(chromium --version 2>/dev/null)"
