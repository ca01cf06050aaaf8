//! /proc/kulink: recent events as text, the counters, and the control file.

mod common;

use kulink_ko_contract::Channel;
use kulink_ko_contract::Stats;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::Plan;

fn procfs_events_stats_and_control(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    // Every push channel done (usermode helpers last), so counters are still.
    inject::inject(&mut vm, &plan, &inject::push_listeners(), false).unwrap();

    // The events file lists exactly what was injected, in order, each field as sent.
    let events = vm.collect(Channel::Procfs).unwrap();
    common::assert_delivered(&vm, &plan, &events, &listener(Channel::Procfs));

    // The stats file holds the same counters as GET_STATS.
    let text = vm.read_file("/proc/kulink/stats").unwrap();
    let from_proc = Stats::parse_text(&text).unwrap();
    assert_eq!(from_proc, vm.stats().unwrap());
    assert_eq!(from_proc.events_built, plan.expected().len() as u64);

    // The control file takes "reset" and nothing else.
    let err = vm.write_file("/proc/kulink/control", "bogus\n").unwrap_err();
    assert!(format!("{err:#}").contains("os error 22"), "{err:#}");
    assert_eq!(vm.stats().unwrap(), from_proc, "a rejected command changes nothing");
    vm.write_file("/proc/kulink/control", "reset\n").unwrap();
    let after = vm.stats().unwrap();
    assert_eq!((after.events_built, after.packets_seen, after.mcast_sent), (0, 0, 0), "{after:?}");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: procfs_events_stats_and_control);
