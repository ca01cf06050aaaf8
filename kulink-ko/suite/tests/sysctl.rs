//! /proc/sys/kulink: each setting changes what is reported; bad values fail
//! and change nothing.

mod common;

use kulink::testbed::frames;
use kulink_ko_contract::observed::sysctl_bad_writes;
use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, multicast};
use kulink_ko_suite::plan::Plan;

fn out_of_range_writes_fail_and_change_nothing(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let verdict = vm.check(Channel::Sysctl).unwrap();
    assert!(verdict.passed(), "{verdict}");
    let refused = verdict.steps.iter().filter(|s| s.what.ends_with("fails with EINVAL: Invalid argument")).count();
    assert_eq!(refused, sysctl_bad_writes().len(), "every bad value is judged: {verdict}");
    common::finish(vm);
}

fn enabled_zero_stops_events_and_the_type_mask_filters(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    vm.write_file("/proc/sys/kulink/enabled", "0\n").unwrap();
    let quiet = Plan::echoes(vm.wire(), 0x1100, 5, 1);
    for injection in &quiet.injections {
        vm.peer().send(&injection.frame).unwrap();
    }
    // The guest still answers: the frames arrived, kulink just said nothing.
    vm.peer().wait_for(&quiet.echo_replies(), std::time::Duration::from_secs(10));
    let stats = vm.stats().unwrap();
    assert_eq!((stats.events_built, stats.filtered), (0, 6), "{stats:?}");
    assert!(vm.take_events().is_empty());

    // Back on, with timestamp requests (type 13) masked out.
    vm.write_file("/proc/sys/kulink/enabled", "1\n").unwrap();
    vm.write_file("/proc/sys/kulink/icmp_types", &format!("{}\n", !(1u32 << 13))).unwrap();
    vm.peer().send(&frames::timestamp_request(vm.wire(), 0x2200, 1)).unwrap();
    let plan = Plan::echoes(vm.wire(), 0x1200, 5, 2);
    let events = inject::inject(&mut vm, &plan, &[multicast()], false).unwrap().events;
    let r = event_verdict::check(&multicast(), &plan.expected(), &events, vm.ready().eth0_ifindex);
    assert!(r.passed, "only the echo requests, not the timestamp request: {r:#?}");
    assert_eq!(vm.stats().unwrap().filtered, 7);
    common::finish(vm);
}

fn batch_packs_several_events_into_one_message(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    vm.write_file("/proc/sys/kulink/batch", "8\n").unwrap();
    let plan = Plan::echoes(vm.wire(), 0x1300, 23, 1);
    let events = inject::inject(&mut vm, &plan, &[multicast()], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &multicast());
    let stats = vm.stats().unwrap();
    assert_eq!(stats.events_built, 24);
    // At least 8 events share a message when they come faster than a tick;
    // under TCG some batches are cut short by the flush timer.
    assert!(stats.mcast_sent < 24 && stats.mcast_sent >= 3, "{stats:?}");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: out_of_range_writes_fail_and_change_nothing,
    enabled_zero_stops_events_and_the_type_mask_filters,
    batch_packs_several_events_into_one_message
);
