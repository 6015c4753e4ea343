#!/usr/bin/env bash
# One command, end to end: set up, build, then launch examples/counter under
# ckpt-run, checkpoint it, kill it, restore it and watch it continue.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh >/dev/null
exec scripts/demo-run.sh
