#!/usr/bin/env bash
# The main job: boot the default kernel, inject ICMP, show what every channel
# saw. Installs what it needs first. Extra arguments go to `kulink run`,
# e.g. ./run.sh --json, ./run.sh --kernel 6.1.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh
kulink_setup
# The first build shows cargo's progress; later ones stay quiet.
quiet=(--quiet)
[ -x target/debug/kulink ] || quiet=()
exec cargo run "${quiet[@]}" --locked -p kulink-cli -- run "$@"
