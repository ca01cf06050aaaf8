//! /sys/kernel/kulink: version and per-channel counters.

mod common;

use kulink_ko_contract::Channel;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject;
use kulink_ko_suite::plan::Plan;

fn sysfs_counters_equal_get_stats_after_traffic(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let plan = Plan::echoes(vm.wire(), 0x1400, 12, 1);
    inject::inject(&mut vm, &plan, &inject::push_listeners(), false).unwrap();
    let verdict = vm.check(Channel::Sysfs).unwrap();
    assert!(verdict.passed(), "{verdict}");
    let events = vm.read_file("/sys/kernel/kulink/events").unwrap();
    assert_eq!(events.trim(), "13");
    let unicast = vm.read_file("/sys/kernel/kulink/netlink_unicast").unwrap();
    assert_eq!(unicast.trim(), "13");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: sysfs_counters_equal_get_stats_after_traffic);
