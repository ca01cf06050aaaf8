//! The mmap ring: read in place by the agent, every record equal to the
//! generic netlink copy of the same event.

#[macro_use]
mod common;

use kulink::plan::Plan;
use kulink::session::{self, listener, multicast};
use kulink::verify;
use kulink_wire::control::channel;

fn ring_records_equal_the_netlink_copy(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(&vm.wire, 24);
    let ring = listener(channel::MMAP_RING);
    let events = session::inject(&mut vm, &plan, &[ring.clone(), multicast()], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &ring);
    let from_ring: Vec<_> = verify::of_listener(&events, &ring).iter().map(|r| r.event).collect();
    let from_netlink: Vec<_> = verify::of_listener(&events, &multicast()).iter().map(|r| r.event).collect();
    assert_eq!(from_ring, from_netlink, "same seq, timestamp and fields");
    let stats = vm.stats().unwrap();
    assert_eq!((stats.ring_written, stats.ring_overflow), (plan.expected().len() as u64, 0));
    common::finish(vm);
}

matrix!(ring_records_equal_the_netlink_copy);
