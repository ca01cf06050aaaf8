#!/bin/sh
# Runs in the guest after traffic.pcap was replayed (with every=2): checks
# the counters udpcount exposes in sysfs, and prints KTAP.
sys=/sys/kernel/udpcount
failed=0
n=0

check() {
	n=$((n + 1))
	name=$1
	shift
	if "$@"; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=1
	fi
}

echo "KTAP version 1"
echo "1..4"
check total_counts_every_datagram [ "$(cat $sys/total)" = 10 ]
check every_is_the_module_parameter [ "$(cat $sys/every)" = 2 ]
check every_refuses_zero sh -c "! echo 0 > $sys/every 2>/dev/null"
check every_takes_a_new_value sh -c "echo 3 > $sys/every && [ \"\$(cat $sys/every)\" = 3 ]"
exit $failed
