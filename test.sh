#!/usr/bin/env bash
# The test suite: unit tests, and every end-to-end test on every kernel in
# kernel-config/kernels.toml, in QEMU. Installs what it needs first.
# KULINK_KERNEL=ID limits the end-to-end tests to one kernel. Extra
# arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh
kulink_setup
if ! cargo nextest --version >/dev/null 2>&1; then
	echo "kulink: installing cargo-nextest" >&2
	cargo install --locked cargo-nextest
fi
# Build the kernels up front, with progress, so tests only boot them.
filter=()
if [ -n "${KULINK_KERNEL:-}" ]; then
	cargo run --quiet --locked -p kulink -- kernels build "$KULINK_KERNEL"
	module="kernel_$(printf '%s' "$KULINK_KERNEL" | tr -c '[:alnum:]' '_')"
	filter=(-E "not test(/^kernel_/) | test(/^${module}::/)")
else
	cargo run --quiet --locked -p kulink -- kernels build all
fi
profile=default
[ "${CI:-}" = true ] && profile=ci
exec cargo nextest run --workspace --locked --profile "$profile" "${filter[@]}" "$@"
