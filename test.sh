#!/usr/bin/env bash
# One command: set up, build and run the whole test suite (unit and integration).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec meson test -C build --print-errorlogs "$@"
