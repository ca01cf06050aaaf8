//! Signals: SIGIO via fasync, and a real-time signal whose si_int is the
//! event's sequence number.

mod common;

use kulink_ko_contract::extension::Command;
use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, listener, multicast};
use kulink_ko_suite::plan::Plan;

fn sigio_announces_every_event(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    let sigio = listener(Channel::SignalSigio);
    let events = inject::inject(&mut vm, &plan, std::slice::from_ref(&sigio), false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &sigio);
    assert!(vm.stats().unwrap().sigio_sent >= plan.expected().len() as u64);
    common::finish(vm);
}

fn rt_signal_carries_each_event_seq(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    let collected = inject::inject(&mut vm, &plan, &[multicast()], true).unwrap();
    let reference = event_verdict::of_listener(&collected.events, &multicast());
    let seqs: Vec<u64> = collected.notified.iter().map(|n| n.seq).collect();
    let want: Vec<u64> = reference.iter().map(|r| r.event.seq).collect();
    assert_eq!(seqs, want, "one signal per event, in order, si_int = seq");
    let rt = event_verdict::resolve_notified(&collected.notified, &reference);
    common::assert_delivered(&vm, &plan, &rt, &listener(Channel::SignalRt));
    let stats = vm.stats().unwrap();
    assert_eq!((stats.sigrt_sent, stats.sigrt_failed), (want.len() as u64, 0));
    common::finish(vm);
}

/// A process that registered and exited leaves nothing behind: later events
/// signal only the agent, and nothing is attempted for the dead process.
fn rt_registration_ends_with_the_process(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    vm.act(Command::SignalChild).unwrap();
    let plan = Plan::echoes(vm.wire(), 0x1500, 8, 1);
    let collected = inject::inject(&mut vm, &plan, &[multicast()], true).unwrap();
    assert_eq!(collected.notified.len(), 9);
    let stats = vm.stats().unwrap();
    assert_eq!((stats.sigrt_sent, stats.sigrt_failed), (9, 0), "{stats:?}");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: sigio_announces_every_event,
    rt_signal_carries_each_event_seq,
    rt_registration_ends_with_the_process
);
