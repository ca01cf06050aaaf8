#!/usr/bin/env bash
# Makes labelled console logs for the kernel-log judge's corpus
# (testbed/kernel-logs): each report the splatter fixture makes the kernel
# print, a healthy line that holds report words, and a plain boot, on each
# kernel given. Each log is a failed run's evidence (the command ends with
# `exit 1`, so that a clean run keeps its console too), labelled with what
# a kernel developer reads in it on that architecture.
#   scripts/kernel-logs.sh KERNEL[,KERNEL...] [OUT_DIR]
# WORDS="warn gpf" makes only those reports' logs. PANIC=oops boots with
# oops=panic (the faults' logs then end in the panic they cause), into
# OUT_DIR/KERNEL-panic_on_oops; PANIC=warn with panic_on_warn=1, into
# OUT_DIR/KERNEL-panic_on_warn.
# Check each new log with `kulink splats OUT_DIR` before adding it.
set -euo pipefail
cd "$(dirname "$0")/.."
kernels=${1:?usage: scripts/kernel-logs.sh KERNEL[,KERNEL...] [OUT_DIR]}
out=${2:-testbed/kernel-logs/produced}
# KULINK=PATH runs an installed or copied kulink instead of the checkout's.
kulink=(cargo run --quiet --locked -p kulink-cli --)
[ -z "${KULINK:-}" ] || kulink=("$KULINK")
fixture=kulink/tests/fixtures/modules/splatter

# The options the labels depend on.
OPTIONS="CONFIG_DETECT_HUNG_TASK CONFIG_DEFAULT_HUNG_TASK_TIMEOUT CONFIG_PROVE_LOCKING CONFIG_SOFTLOCKUP_DETECTOR
CONFIG_DEBUG_ATOMIC_SLEEP CONFIG_DEBUG_LIST CONFIG_LIST_HARDENED CONFIG_UBSAN_BOUNDS CONFIG_RCU_STALL_COMMON CONFIG_KASAN"

# The label of WORD's log on architecture ARCH, with the kernel's CONFIG
# (the lines `kulink kernels config` prints).
label() {
	local word=$1 arch=$2 config=$3
	on() { grep -qx "CONFIG_$1=y" <<<"$config"; }
	case "$word" in
	softlockup)
		if on SOFTLOCKUP_DETECTOR; then echo "soft lockup at splatter_spin"; else echo "clean"; fi
		return
		;;
	rcustall)
		if on RCU_STALL_COMMON; then echo "RCU stall"; else echo "clean"; fi
		return
		;;
	atomic)
		if on DEBUG_ATOMIC_SLEEP; then echo "BUG at splatter_atomic"; else echo "clean"; fi
		return
		;;
	list)
		if on DEBUG_LIST || on LIST_HARDENED; then echo "list corruption"; else echo "clean"; fi
		return
		;;
	index)
		if on UBSAN_BOUNDS; then echo "UBSAN at splatter_index"; else echo "clean"; fi
		return
		;;
	hang)
		# The detector reports a task stuck past its timeout, checked as often.
		if grep -qx 'CONFIG_DETECT_HUNG_TASK=y' <<<"$config" &&
			[ "$(sed -n 's/^CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=//p' <<<"$config")" -le 12 ]; then
			# Its call trace is printed below the console's level.
			echo "hung task"
		else
			echo "clean"
		fi
		return
		;;
	lockorder)
		if grep -qx 'CONFIG_PROVE_LOCKING=y' <<<"$config"; then echo "lockdep"; else echo "clean"; fi
		return
		;;
	esac
	# KASAN's checks come before the access: they name a wild or NULL pointer.
	if on KASAN && [[ $word = gpf || $word = null ]]; then
		echo "KASAN at splatter_$word"
		return
	fi
	case "$word/$arch" in
	warn/*) echo "WARN at splatter_warn" ;;
	bug/*) echo "BUG at splatter_bug" ;;
	gpf/x86_64) echo "general protection fault at splatter_gpf" ;;
	gpf/*) echo "BUG at splatter_gpf" ;;
	divide/x86_64) echo "divide error at splatter_divide" ;;
	divide/s390x) echo "divide error at splatter_divide" ;; # a fixpoint divide exception
	divide/*) echo "clean" ;;                       # arm64 divides by zero without a trap
	refcount/*) echo "refcount at refcount_warn_saturate" ;;
	dump/*) echo "stack dump at splatter_dump" ;;
	netdev/*) echo "netdev leak" ;;
	null/*) echo "BUG at splatter_null" ;;
	panic/*) echo "panic" ;;
	info/* | boot/*) echo "clean" ;;
	esac
}

for kernel in ${kernels//,/ }; do
	arch=$("${kulink[@]}" kernels list --json | python3 -c '
import json, sys
print(next(k.get("arch", "x86_64") for k in json.load(sys.stdin) if k["id"] == sys.argv[1]))' "$kernel")
	# shellcheck disable=SC2086 # one word per option
	config=$("${kulink[@]}" kernels config "$kernel" $OPTIONS)
	dir=$out/$kernel
	words="boot info warn refcount dump divide gpf bug netdev hang lockorder null panic softlockup rcustall atomic
list index"
	panic=()
	case "${PANIC:-}" in
	'') ;;
	# panic_on_oops is a sysctl; on the command line it is oops=panic.
	oops) dir=$out/$kernel-panic_on_oops words="divide gpf bug null list" panic=(--kernel-arg oops=panic) ;;
	warn) dir=$out/$kernel-panic_on_warn words="warn refcount list" panic=(--kernel-arg panic_on_warn=1) ;;
	*) echo "kulink: PANIC=$PANIC: want oops or warn" >&2 && exit 2 ;;
	esac
	mkdir -p "$dir"
	for word in ${WORDS:-$words}; do
		write="echo $word > /proc/kulink_splatter"
		wait=1
		more=()
		# A boot with every line the kernel prints: most healthy lines.
		[ "$word" = boot ] && write=true more=(--kernel-arg ignore_loglevel)
		# unregister_netdevice tells of the leak after ten seconds.
		[ "$word" = netdev ] && wait=13
		# The spin lasts 8 s: over a 1 s watchdog's 2 s, or a 3 s stall timeout.
		[ "$word" = softlockup ] && write="echo spin > /proc/kulink_splatter" more=(--kernel-arg watchdog_thresh=1)
		# A second CPU runs RCU's kthread, which starts the grace period.
		[ "$word" = rcustall ] && write="echo stall > /proc/kulink_splatter" \
			more=(--cpus 2 --kernel-arg rcupdate.rcu_cpu_stall_timeout=3)
		json=$("${kulink[@]}" test --module "$fixture" --kernel "$kernel" --shell --json --timeout 40 \
			"${more[@]}" "${panic[@]}" -- /bin/sh -c "$write; sleep $wait; exit 1" 2>/dev/null || true)
		# A failed run names its evidence; a guest that went down, in its error.
		evidence=$(printf '%s' "$json" | python3 -c '
import json, re, sys
run = json.load(sys.stdin)[0]
kept = re.search(r"console tail \((.*)/console\.log\)", run.get("error", ""))
print(run.get("evidence") or (kept.group(1) if kept else ""))')
		if [ -z "$evidence" ]; then
			echo "kulink: $kernel $word: no evidence kept" >&2
			continue
		fi
		{
			echo "expect: $(label "$word" "$arch" "$config")"
			echo "source: scripts/kernel-logs.sh on $kernel${PANIC:+ with ${panic[1]}}, the splatter fixture's \"$word\" ($(date -u +%F))"
			echo "licence: GPL-2.0-only"
			echo "---"
			cat "$evidence/console.log"
		} >"$dir/$word.log"
		rm -rf "$evidence"
		echo "kulink: $dir/$word.log" >&2
	done
done
