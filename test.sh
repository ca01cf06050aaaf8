#!/usr/bin/env bash
# The test suite: unit tests and end-to-end tests on a real kernel in QEMU.
# Installs what it needs first. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh
kulink_setup
if ! cargo nextest --version >/dev/null 2>&1; then
	echo "kulink: installing cargo-nextest" >&2
	cargo install --locked cargo-nextest
fi
# Build the kernel up front, with progress, so tests only boot it.
cargo run --quiet --locked -p kulink -- kernels build "${KULINK_KERNEL:-6.1}"
profile=default
[ "${CI:-}" = true ] && profile=ci
exec cargo nextest run --workspace --locked --profile "$profile" "$@"
