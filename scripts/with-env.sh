#!/usr/bin/env bash
# Runs a command in the project's environment (see env.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$@"
