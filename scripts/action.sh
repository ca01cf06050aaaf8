#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml): `setup` installs the host
# tools, `kvm` lets the runner's user open /dev/kvm, `install` builds and
# installs kulink, `test` runs `kulink test` with the action's inputs,
# which arrive as KULINK_INPUT_* variables.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

input() { printf '%s' "${!1:-}"; }
# `--flag value` when the input named by $2 is set.
optional() {
	local value
	value="$(input "$2")"
	[ -z "$value" ] || args+=("$1" "$value")
}
# `flag` when the input $1, read from $2, is true; anything but true,
# false or empty is a mistake.
switch() {
	case "$(input "$2")" in
	true) args+=("$3") ;;
	false | "") ;;
	*)
		echo "kulink action: $1 is \"$(input "$2")\"; it takes true or false" >&2
		exit 2
		;;
	esac
}

case "${1:-}" in
setup)
	. "$here/scripts/setup.sh"
	kulink_setup
	;;
kvm)
	# GitHub's hosted runners have /dev/kvm, but only root and the kvm
	# group may open it: without this rule every guest quietly runs
	# under TCG. A udev rule opens it to all, as GitHub documents.
	if [ -e /dev/kvm ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
		as_root=()
		[ "$(id -u)" -eq 0 ] || as_root=(sudo)
		echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' |
			"${as_root[@]}" tee /etc/udev/rules.d/99-kulink-kvm.rules >/dev/null
		"${as_root[@]}" udevadm control --reload-rules
		"${as_root[@]}" udevadm trigger --name-match=kvm
	fi
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		echo "kulink: /dev/kvm is usable: guests run under KVM"
	else
		echo "kulink: no usable /dev/kvm on this runner: guests run under TCG, slower"
	fi
	;;
install)
	root="${RUNNER_TEMP:-/tmp}/kulink"
	cargo install --locked --quiet --path "$here/cli" --root "$root"
	if [ -n "${GITHUB_PATH:-}" ]; then echo "$root/bin" >>"$GITHUB_PATH"; fi
	;;
test)
	args=(test)
	while IFS= read -r module; do
		[ -z "$module" ] || args+=(--module "$module")
	done <<<"$(input KULINK_INPUT_MODULE)"
	optional --kernel KULINK_INPUT_KERNELS
	read -ra params <<<"$(input KULINK_INPUT_MODULE_PARAMS)"
	for p in "${params[@]}"; do args+=(--module-param "$p"); done
	while IFS= read -r file; do
		[ -z "$file" ] || args+=(--file "$file")
	done <<<"$(input KULINK_INPUT_FILES)"
	while IFS= read -r program; do
		[ -z "$program" ] || args+=(--host-program "$program")
	done <<<"$(input KULINK_INPUT_HOST_PROGRAMS)"
	switch shell KULINK_INPUT_SHELL --shell
	switch host-root KULINK_INPUT_HOST_ROOT --host-root
	while IFS= read -r option; do
		[ -z "$option" ] || args+=(--kconfig "$option")
	done <<<"$(input KULINK_INPUT_KCONFIG)"
	while IFS= read -r file; do
		[ -z "$file" ] || args+=(--known-bugs "$file")
	done <<<"$(input KULINK_INPUT_KNOWN_BUGS)"
	read -ra kernel_args <<<"$(input KULINK_INPUT_KERNEL_ARGS)"
	for a in "${kernel_args[@]}"; do args+=(--kernel-arg "$a"); done
	optional --memory KULINK_INPUT_MEMORY
	optional --cpus KULINK_INPUT_CPUS
	optional --genl KULINK_INPUT_GENL
	while IFS= read -r watch; do
		[ -z "$watch" ] || args+=(--netlink "$watch")
	done <<<"$(input KULINK_INPUT_NETLINK)"
	optional --spec KULINK_INPUT_SPEC
	optional --pcap KULINK_INPUT_PCAP
	optional --expect KULINK_INPUT_EXPECT
	optional --junit KULINK_INPUT_JUNIT
	optional --jobs KULINK_INPUT_JOBS
	optional --retries KULINK_INPUT_RETRIES
	switch accept-flaky KULINK_INPUT_ACCEPT_FLAKY --accept-flaky
	# GitHub shows this file on the job's page: a row per kernel.
	if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then args+=(--summary "$GITHUB_STEP_SUMMARY"); fi
	read -ra command <<<"$(input KULINK_INPUT_COMMAND)"
	if [ ${#command[@]} -eq 0 ]; then
		echo "kulink action: the command input is empty: give the guest program to run" >&2
		exit 2
	fi
	exec kulink "${args[@]}" -- "${command[@]}"
	;;
*)
	echo "usage: $0 setup|kvm|install|test" >&2
	exit 2
	;;
esac
