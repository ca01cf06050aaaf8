//! The usermode helper: the kernel runs /sbin/kulink-notify with the event
//! in argv, from a work item, at most `umh_rate` times a second.

mod common;

use std::time::{Duration, Instant};

use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict::{self, Order};
use kulink_ko_suite::guest::{KulinkGuest, Received};
use kulink_ko_suite::inject::{self, listener, multicast};
use kulink_ko_suite::plan::Plan;

fn helper_runs_once_per_event_with_its_fields(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    let helper = listener(Channel::UsermodeHelper);
    let events = inject::inject(&mut vm, &plan, std::slice::from_ref(&helper), false).unwrap().events;
    // Helpers are separate processes: their reports may arrive out of order.
    let r = event_verdict::check_ordered(&helper, &plan.expected(), &events, vm.ready().eth0_ifindex, Order::Free);
    assert!(r.passed, "{r:#?}");
    let stats = vm.stats().unwrap();
    assert_eq!((stats.umh_run, stats.umh_failed, stats.umh_limited), (plan.expected().len() as u64, 0, 0));
    common::finish(vm);
}

fn helper_rate_limit_holds(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    vm.write_file("/proc/sys/kulink/umh_rate", "4\n").unwrap();
    let plan = Plan::echoes(vm.wire(), 0x1600, 19, 1);
    // Helpers that report while multicast is still awaited come back here.
    let early = inject::inject(&mut vm, &plan, &[multicast()], false).unwrap().events;
    // Every event is either run or refused once the queue has drained.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats = loop {
        let stats = vm.stats().unwrap();
        if stats.umh_run + stats.umh_limited == 20 || Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(stats.umh_run + stats.umh_limited, 20, "{stats:?}");
    // 20 events inside a second or two: at most 4 per one-second window.
    assert!((4..=12).contains(&stats.umh_run), "{stats:?}");
    let helper = listener(Channel::UsermodeHelper);
    let reports = |events: &[Received]| event_verdict::of_listener(events, &helper).len() as u64;
    let before = reports(&early);
    let reported =
        vm.collect_events_until(Duration::from_secs(10), |events| before + reports(events) >= stats.umh_run).unwrap();
    assert!(reported, "every helper that ran reported back: {before} early, {stats:?}");
    assert_eq!(before + reports(&vm.take_events()), stats.umh_run, "one report per helper that ran");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: helper_runs_once_per_event_with_its_fields, helper_rate_limit_holds);
