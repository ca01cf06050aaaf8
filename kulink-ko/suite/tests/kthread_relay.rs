//! The kthread relay: the hook queues, a kernel thread delivers on the
//! `relay` multicast group.

mod common;

use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, listener, multicast};
use kulink_ko_suite::plan::Plan;

fn relay_delivers_every_event_as_the_hook_saw_it(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 24);
    let relay = listener(Channel::KthreadRelay);
    let events = inject::inject(&mut vm, &plan, &[relay.clone(), multicast()], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &relay);
    let relayed: Vec<_> = event_verdict::of_listener(&events, &relay).iter().map(|r| r.event).collect();
    let direct: Vec<_> = event_verdict::of_listener(&events, &multicast()).iter().map(|r| r.event).collect();
    assert_eq!(relayed, direct, "same seq and timestamp: the thread only carries it");
    let stats = vm.stats().unwrap();
    assert_eq!((stats.relay_sent, stats.relay_dropped), (plan.expected().len() as u64, 0));
    common::finish(vm);
}

kulink::kernel_tests!(
    source: relay_delivers_every_event_as_the_hook_saw_it);
