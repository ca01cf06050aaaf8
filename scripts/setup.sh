# Sourced by run.sh and test.sh: installs what kulink needs on a Debian or
# Ubuntu host, once. Safe to run again; it only installs what is missing.

kulink_packages="qemu-system-x86 build-essential bc flex bison libelf-dev libssl-dev xz-utils cpio kmod curl ca-certificates python3-venv python3-yaml nftables dwarves gdb lcov"
# The arm64 and s390x guests: their QEMUs and Debian's cross compilers with
# their C libraries (the agent links statically against them). Their Rust
# standard libraries kulink fetches into its cache itself.
kulink_packages="$kulink_packages qemu-system-arm qemu-system-misc gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-s390x-linux-gnu libc6-dev-s390x-cross"

kulink_as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

kulink_setup() {
	# Before installing anything: without Rust nothing else is of use.
	if ! command -v cargo >/dev/null; then
		echo "kulink: cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
		return 1
	fi
	local missing=()
	for pkg in $kulink_packages; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
	done
	# A static busybox for guest shells. It replaces Debian's dynamic
	# `busybox`, so it is left out where that one is installed (kulink then
	# names the fix when a test asks for a shell).
	if ! dpkg-query -W -f='${Status}' busybox busybox-static 2>/dev/null | grep -q "install ok installed"; then
		missing+=(busybox-static)
	fi
	# Kernel sources and images come through apt: its lists must exist.
	if [ ${#missing[@]} -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
		echo "kulink: apt-get update" >&2
		kulink_as_root apt-get update -qq
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		echo "kulink: installing ${missing[*]}" >&2
		kulink_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
	# The virtme-ng backend, in a virtual environment of its own under
	# kulink's cache (where the harness looks for it): no system Python is
	# touched. kulink works without it.
	local venv="${KULINK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kulink}/virtme-ng"
	if ! command -v vng >/dev/null && [ ! -x "$venv/bin/vng" ]; then
		echo "kulink: installing virtme-ng into $venv" >&2
		{ python3 -m venv "$venv" && "$venv/bin/pip" install --quiet virtme-ng; } >&2 ||
			echo "kulink: could not install virtme-ng; the vng backend stays off" >&2
	fi
}
