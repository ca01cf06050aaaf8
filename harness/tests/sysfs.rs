//! /sys/kernel/kulink: version and per-channel counters.

mod common;

use kulink::guest::KulinkGuest;
use kulink::plan::Plan;
use kulink::session;
use kulink_wire::Channel;

fn sysfs_counters_equal_get_stats_after_traffic(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let plan = Plan::echoes(vm.wire(), 0x1400, 12, 1);
    session::inject(&mut vm, &plan, &session::push_listeners(), false).unwrap();
    let verdict = vm.check(Channel::Sysfs).unwrap();
    assert!(verdict.passed(), "{verdict}");
    let events = vm.read_file("/sys/kernel/kulink/events").unwrap();
    assert_eq!(events.trim(), "13");
    let unicast = vm.read_file("/sys/kernel/kulink/netlink_unicast").unwrap();
    assert_eq!(unicast.trim(), "13");
    common::finish(vm);
}

kulink::kernel_tests!(sysfs_counters_equal_get_stats_after_traffic);
