#!/usr/bin/env bash
# The demo itself (demo.sh sets up and builds first).
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=build/launcher/ckpt-run
work=$(mktemp -d /tmp/libckpt-demo.XXXXXX)
app=""
cleanup() { [ -n "$app" ] && kill -9 "$app" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "launch: $ckpt --images $work/images build/examples/counter 40"
"$ckpt" --images "$work/images" --pid-file "$work/pid" build/examples/counter 40 &
app=$!
for _ in $(seq 100); do [ -s "$work/pid" ] && break; sleep 0.05; done
sleep 2

say "checkpoint: $ckpt --checkpoint $app"
image=$("$ckpt" --verbose --checkpoint "$app" | tail -1)
sleep 1

say "kill -9 $app (it printed a few more lines after the checkpoint)"
kill -9 "$app"
wait "$app" 2>/dev/null || true
app=""

say "restore: $ckpt --restore $image  (it continues from the checkpoint, same pid)"
"$ckpt" --verbose --restore "$image"
