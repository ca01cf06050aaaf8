#!/usr/bin/env bash
# The test suite: unit tests, and every end-to-end test on every kernel in
# kernel-config/kernels.toml, in QEMU. Installs what it needs first.
# KULINK_KERNELS=ID[,ID...] limits the end-to-end tests to those kernels
# (KULINK_KERNEL=ID to one), KULINK_SKIP_KERNELS=ID[,ID...] leaves kernels
# out. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh
kulink_setup
if ! cargo nextest --version >/dev/null 2>&1; then
	echo "kulink: installing cargo-nextest" >&2
	cargo install --locked cargo-nextest
fi
# The first build shows cargo's progress; later ones stay quiet.
quiet=(--quiet)
[ -x target/debug/kulink ] || quiet=()
kulink() { cargo run "${quiet[@]}" --locked -p kulink-cli -- "$@"; }
ids_of() { tr -d '[]"' | tr ',' ' '; }
selected=$(kulink kernels list --ids | ids_of)
every=$(KULINK_KERNELS='' KULINK_KERNEL='' KULINK_SKIP_KERNELS='' kulink kernels list --ids | ids_of)
# Build the kernels up front, with progress, so tests only boot them.
kulink kernels build "$(printf '%s' "$selected" | tr ' ' ',')"
filter=()
if [ "$selected" != "$every" ]; then
	# The vng test finds its kernel among those selected itself.
	expr="not test(/^kernel_/)"
	for id in $selected; do
		expr="$expr | test(/^kernel_$(printf '%s' "$id" | tr -c '[:alnum:]' '_')::/)"
	done
	filter=(-E "$expr")
fi
profile=default
[ "${CI:-}" = true ] && profile=ci
# Every temporary file of the suite goes to a directory of its own, removed
# at the end, so the suite leaves nothing in the temp dir; what kulink's own
# code left there fails the suite.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kulink-suite.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"
# The examples in the library's documentation (nextest runs no doctests).
cargo test "${quiet[@]}" --doc --workspace --locked
status=0
cargo nextest run --workspace --locked --profile "$profile" "${filter[@]}" "$@" || status=$?
left=$(cd "$scratch" && ls -A)
if [ -n "$left" ]; then
	echo "kulink: the suite left in the temp dir:" $left >&2
	if printf '%s\n' "$left" | grep -q '^kulink' && [ "$status" -eq 0 ]; then status=1; fi
fi
exit "$status"
