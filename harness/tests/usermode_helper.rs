//! The usermode helper: the kernel runs /sbin/kulink-notify with the event
//! in argv, from a work item, at most `umh_rate` times a second.

mod common;

use std::time::Duration;

use kulink::plan::Plan;
use kulink::session::{self, listener, multicast};
use kulink::verify::{self, Order};
use kulink_wire::control::channel;

#[test]
fn helper_runs_once_per_event_with_its_fields() {
    let mut vm = common::boot(&[]);
    let plan = Plan::standard(&vm.wire, 16);
    let helper = listener(channel::USERMODE_HELPER);
    let events = session::inject(&mut vm, &plan, std::slice::from_ref(&helper), false).unwrap().events;
    // Helpers are separate processes: their reports may arrive out of order.
    let r = verify::check_ordered(&helper, &plan.expected(), &events, vm.ready.eth0_ifindex, Order::Free);
    assert!(r.passed, "{r:#?}");
    let stats = vm.stats().unwrap();
    assert_eq!((stats.umh_run, stats.umh_failed, stats.umh_limited), (plan.expected().len() as u64, 0, 0));
    common::finish(vm);
}

#[test]
fn helper_rate_limit_holds() {
    let mut vm = common::boot(&[]);
    session::write(&mut vm, "/proc/sys/kulink/umh_rate", "4\n").unwrap();
    let plan = Plan::echoes(&vm.wire, 0x1600, 19, 1);
    session::inject(&mut vm, &plan, &[multicast()], false).unwrap();
    // Give the helpers that did start time to report.
    let stats = vm.stats().unwrap();
    let started = stats.umh_run;
    vm.link
        .collect_until(Duration::from_secs(10), |link| {
            verify::of_listener(&link.events, &listener(channel::USERMODE_HELPER)).len() as u64 >= started
        })
        .unwrap();
    // 20 events inside a second or two: at most 4 per one-second window.
    assert!((4..=12).contains(&stats.umh_run), "{stats:?}");
    assert_eq!(stats.umh_run + stats.umh_limited, 20, "{stats:?}");
    common::finish(vm);
}
