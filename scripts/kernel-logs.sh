#!/usr/bin/env bash
# Makes labelled console logs for the kernel-log judge's corpus
# (testbed/kernel-logs): each report the splatter fixture makes the kernel
# print, a healthy line that holds report words, and a plain boot, on each
# kernel given. Each log is a failed run's evidence (the command ends with
# `exit 1`, so that a clean run keeps its console too), labelled with what
# a kernel developer reads in it on that architecture.
#   scripts/kernel-logs.sh KERNEL[,KERNEL...] [OUT_DIR]
# WORDS="warn gpf" makes only those reports' logs.
# Check each new log with `kulink splats OUT_DIR` before adding it.
set -euo pipefail
cd "$(dirname "$0")/.."
kernels=${1:?usage: scripts/kernel-logs.sh KERNEL[,KERNEL...] [OUT_DIR]}
out=${2:-testbed/kernel-logs/produced}
# KULINK=PATH runs an installed or copied kulink instead of the checkout's.
kulink=(cargo run --quiet --locked -p kulink-cli --)
[ -z "${KULINK:-}" ] || kulink=("$KULINK")
fixture=kulink/tests/fixtures/modules/splatter

# The label of WORD's log on architecture ARCH; nothing for a report this
# architecture does not make.
label() {
	local word=$1 arch=$2
	case "$word/$arch" in
	warn/*) echo "WARN at splatter_warn" ;;
	bug/*) echo "BUG at splatter_bug" ;;
	gpf/x86_64) echo "general protection fault at splatter_gpf" ;;
	gpf/*) echo "BUG at splatter_gpf" ;;
	divide/x86_64) echo "divide error at splatter_divide" ;;
	divide/*) echo "clean" ;; # arm64 and s390x divide by zero without a trap
	refcount/*) echo "refcount at refcount_warn_saturate" ;;
	dump/*) echo "stack dump at splatter_dump" ;;
	netdev/*) echo "netdev leak" ;;
	info/* | boot/*) echo "clean" ;;
	esac
}

for kernel in ${kernels//,/ }; do
	arch=$("${kulink[@]}" kernels list --json | python3 -c '
import json, sys
print(next(k.get("arch", "x86_64") for k in json.load(sys.stdin) if k["id"] == sys.argv[1]))' "$kernel")
	mkdir -p "$out/$kernel"
	for word in ${WORDS:-boot info warn refcount dump divide gpf bug netdev}; do
		write="echo $word > /proc/kulink_splatter"
		wait=1
		more=()
		# A boot with every line the kernel prints: most healthy lines.
		[ "$word" = boot ] && write=true more=(--kernel-arg ignore_loglevel)
		# unregister_netdevice tells of the leak after ten seconds.
		[ "$word" = netdev ] && wait=13
		json=$("${kulink[@]}" test --module "$fixture" --kernel "$kernel" --shell --json --timeout 40 \
			"${more[@]}" -- /bin/sh -c "$write; sleep $wait; exit 1" 2>/dev/null || true)
		evidence=$(printf '%s' "$json" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0].get("evidence") or "")')
		if [ -z "$evidence" ]; then
			echo "kulink: $kernel $word: no evidence kept" >&2
			continue
		fi
		{
			echo "expect: $(label "$word" "$arch")"
			echo "source: scripts/kernel-logs.sh on $kernel, the splatter fixture's \"$word\" ($(date -u +%F))"
			echo "licence: GPL-2.0-only"
			echo "---"
			cat "$evidence/console.log"
		} >"$out/$kernel/$word.log"
		rm -rf "$evidence"
		echo "kulink: $out/$kernel/$word.log" >&2
	done
done
