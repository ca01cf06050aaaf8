#!/usr/bin/env bash
# The test suite: unit tests, and every end-to-end test on every kernel in
# kernel-config/kernels.toml, in QEMU. Installs what it needs first.
# KULINK_KERNELS=ID[,ID...] limits the end-to-end tests to those kernels
# (KULINK_KERNEL=ID to one), KULINK_SKIP_KERNELS=ID[,ID...] leaves kernels
# out. Extra arguments go to each `cargo nextest run` (one for the kernels
# ready at its start, the next when more are); a test name narrows every run.
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
profile=default
[ "${CI:-}" = true ] && profile=ci
# Every temporary file of the suite goes to a directory of its own, removed
# at the end, so the suite leaves nothing in the temp dir; what kulink's own
# code left there fails the suite.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kulink-suite.XXXXXX")
builder=
# The kernel builder runs in a process group of its own, ended with the suite.
trap '[ -z "$builder" ] || kill -- "-$builder" 2>/dev/null; rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

status=0
runs=0
# One `cargo nextest run` of the tests a filterset picks; the first failure
# is the suite's status. Each run's JUnit report is kept for the merge.
run_tests() {
	local filterset=$1 s=0
	shift
	cargo nextest run --workspace --locked --profile "$profile" --no-tests=warn -E "$filterset" "$@" || s=$?
	[ "$status" -ne 0 ] || status=$s
	runs=$((runs + 1))
	if [ -f "target/nextest/$profile/junit.xml" ]; then
		mv "target/nextest/$profile/junit.xml" "$scratch/junit-$(printf %02d "$runs").xml"
	fi
}

# The kernels are made ready in the background, the cached ones first, then
# the distributions' (a download), then those to compile, one at a time
# with its source fetched ahead; `kulink kernels build` prints a line as
# each one is ready (another architecture's once its agents are built too:
# the core's, and kulink.ko's with its plug-in). The builds run niced, so the
# tests' guests keep their pace, and show their progress in lines, not bars
# (through a pipe): the tests' output shares the terminal.
exec 3< <(exec setsid -w nice -n 10 cargo run --quiet --locked -p kulink-cli -- kernels build \
	--agent kulink-ko-agent "$(printf '%s' "$selected" | tr ' ' ',')" 2> >(cat >&2))
builder=$!
# The examples in the library's documentation (nextest runs no doctests).
cargo test "${quiet[@]}" --doc --workspace --locked
# One run tests the kernels ready by then (all of them, when they were in
# the cache) while the next one builds, and so on. The tests of no one
# kernel (the command line, the Action, an installed binary, those that
# pick kernels of their own) need every kernel: they join the last run.
tests_of() { printf 'test(/^kernel_%s::/)' "$(printf '%s' "$1" | tr -c '[:alnum:]' '_')"; }
every_kernel=
for id in $selected; do every_kernel="${every_kernel:+$every_kernel | }$(tests_of "$id")"; done
# (Not `not test(/^kernel_/)`: a unit test module may be named kernel_log.)
no_kernel="not ($every_kernel)"
total=$(printf '%s\n' $selected | wc -l)
ready=0
host_tested=
while read -r id release image <&3; do
	filterset=
	while :; do
		echo "kulink: kernel $id ($release, $image) is ready" >&2
		ready=$((ready + 1))
		filterset="${filterset:+$filterset | }$(tests_of "$id")"
		read -r -t 0 <&3 && read -r id release image <&3 || break
	done
	if [ "$ready" -eq "$total" ]; then
		filterset="$filterset | $no_kernel"
		host_tested=1
	fi
	run_tests "$filterset" "$@"
done
exec 3<&-
built=0
wait "$builder" || built=$?
builder=
if [ "$built" -ne 0 ]; then
	echo "kulink: kernels failed to build (see above); their tests did not run" >&2
	[ "$ready" -gt 0 ] || exit "$built"
	[ "$status" -ne 0 ] || status=$built
fi
[ -n "$host_tested" ] || run_tests "$no_kernel" "$@"
if ls "$scratch"/junit-*.xml >/dev/null 2>&1; then
	python3 scripts/merge-junit.py "target/nextest/$profile/junit.xml" "$scratch"/junit-*.xml
fi
left=$(cd "$scratch" && ls -A | grep -v '^junit-[0-9]*\.xml$' || true)
if [ -n "$left" ]; then
	echo "kulink: the suite left in the temp dir:" $left >&2
	if printf '%s\n' "$left" | grep -q '^kulink' && [ "$status" -eq 0 ]; then status=1; fi
fi
exit "$status"
