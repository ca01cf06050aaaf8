//! A flood with a deliberately slow consumer: 2 000 echo requests as fast
//! as the wire takes them while the agent makes one read a second per
//! channel, with 64 KiB socket buffers (and at most 10 usermode helper
//! processes a second). Every channel must drop, and every
//! drop must be explained: per channel, events built = events delivered +
//! the module's drop counters (for a device file, its own count; those
//! add up to `chardev_dropped`), the agent's socket drop counts and the
//! ring header's overflow count equal the module's, and guest memory stays
//! bounded.

mod common;

use std::time::Duration;

use kulink_ko_contract::extension::Pace;
use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict::{self, Order};
use kulink_ko_suite::flood::{self, Flood};
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject;
use kulink_ko_suite::plan::Plan;

/// The module's queues all hold far less than this many events, even with
/// the reads a slow consumer makes while the debug kernel takes them in.
const FRAMES: u16 = 2000;

/// What every queue together may hold: four sockets of 128 KiB (64 KiB
/// doubled), two files of 512 records, the ring, 1 024 pending signals,
/// the relay's 1 024 records; a few MiB. The rest is the guest's own noise.
const MEMORY_BOUND_KIB: u64 = 16 << 10;

fn every_drop_of_a_flood_is_explained(kernel: &str) {
    let mut vm = common::boot(kernel, &["a", "b"]);
    let pace = Pace { read_every_ms: 1000, socket_buffer: Some(64 << 10) };
    let flood = Flood { frames: FRAMES, pace, umh_rate: 10, drain_timeout: Duration::from_secs(60) };
    let report = flood::run(&mut vm, &flood).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());

    assert!(report.reconciled, "{:#?}", report.problems());
    assert_eq!((report.at_hook, report.events_built), (u64::from(FRAMES), u64::from(FRAMES)));
    let names: Vec<&str> = report.flows.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "netlink-multicast",
            "netlink-unicast",
            "kthread-relay",
            "chardev",
            "signal-sigio",
            "mmap-ring",
            "signal-rt",
            "usermode-helper"
        ]
    );
    for flow in &report.flows {
        // A flood that drops nothing would prove nothing.
        assert!(flow.counted > 0 && flow.delivered > 0, "{} neither dropped nor delivered: {flow:?}", flow.name);
    }
    let seen: Vec<(&str, Option<u64>)> = report.flows.iter().map(|f| (f.name.as_str(), f.seen)).collect();
    for (name, seen) in seen {
        let has_end = ["netlink-multicast", "netlink-unicast", "kthread-relay", "mmap-ring"].contains(&name);
        assert_eq!(seen.is_some(), has_end, "{name}: the agent sees its own drops only at its sockets and the ring");
    }
    assert!(
        report.memory.flood_cost_kib() <= MEMORY_BOUND_KIB,
        "MemAvailable fell by {} KiB during the flood: {:?}",
        report.memory.flood_cost_kib(),
        report.memory
    );

    // At full speed again, with nothing left queued: every later event
    // reaches every listener once (and the subscribers are still there).
    vm.take_events();
    vm.take_notified();
    let after = Plan::echoes(vm.wire(), 0x7200, 8, 2);
    let mut listeners = inject::push_listeners();
    listeners.extend([inject::unicast("a"), inject::unicast("b")]);
    let events = inject::inject(&mut vm, &after, &listeners, false).unwrap().events;
    for l in &listeners {
        let order = if l.channel == Channel::UsermodeHelper.name() { Order::Free } else { Order::Kept };
        let r = event_verdict::check_ordered(l, &after.expected(), &events, vm.ready().eth0_ifindex, order);
        assert!(r.passed, "{l:?} after the flood: {r:#?}");
    }
    common::finish(vm);
}

kulink::kernel_tests!(
    source: every_drop_of_a_flood_is_explained);
