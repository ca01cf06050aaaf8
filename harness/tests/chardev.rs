//! /dev/kulink: binary records through read(), synthetic events through
//! write(), and the ioctls with their error codes.

#[macro_use]
mod common;

use kulink::plan::{Expected, Plan};
use kulink::session::{self, listener};
use kulink::verify;
use kulink_wire::control::{channel, Command};
use kulink_wire::{uapi, Event};

fn chardev_read_returns_every_event(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(&vm.wire, 16);
    let events = session::inject(&mut vm, &plan, &[listener(channel::CHARDEV)], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &listener(channel::CHARDEV));
    // The agent reads two files through their queues: this channel's and
    // the one armed for signals. Each gets its own copy of every event.
    let stats = vm.stats().unwrap();
    assert_eq!((stats.chardev_queued, stats.chardev_dropped), (2 * plan.expected().len() as u64, 0));
    common::finish(vm);
}

fn chardev_ioctls_and_bad_arguments(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let result = session::check(&mut vm, channel::CHARDEV).unwrap();
    assert!(result.passed, "{:#?}", result.detail);
    for errno in ["Bad address", "Inappropriate ioctl for device", "Invalid argument", "Resource temporarily"] {
        assert!(result.detail.iter().any(|d| d.contains(errno)), "no step checks {errno}: {:#?}", result.detail);
    }
    common::finish(vm);
}

/// An event written to the device is numbered by the kernel and goes out
/// on every channel, marked synthetic.
fn a_written_event_appears_on_every_channel_marked_synthetic(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let event = Event {
        seq: 0,
        tstamp_ns: 0,
        ifindex: 0,
        src: "198.51.100.1".parse().unwrap(),
        dst: "198.51.100.2".parse().unwrap(),
        icmp_type: 8,
        code: 0,
        echo_id: 0x5151,
        echo_seq: 1,
        len: 99,
        flags: 0,
    };
    vm.request(Command::WriteEvent { event }).unwrap();
    let mut listeners = session::push_listeners();
    listeners.push(session::unicast("u"));
    let arrived = vm
        .link
        .collect_until(std::time::Duration::from_secs(20), |link| {
            listeners.iter().all(|l| !verify::of_listener(&link.events, l).is_empty())
        })
        .unwrap();
    assert!(arrived, "{:#?}", vm.link.events);
    let events = vm.link.take_events();
    let want = Expected::of(&event);
    for l in &listeners {
        let got = verify::of_listener(&events, l);
        assert_eq!(got.len(), 1, "{l:?}: {got:#?}");
        assert_eq!(Expected::of(&got[0].event), want, "{l:?}");
        assert_eq!(got[0].event.flags, uapi::EVF_SYNTHETIC, "{l:?}");
        assert_eq!(got[0].event.seq, 1, "the kernel numbers it");
        assert!(got[0].event.tstamp_ns > 0, "the kernel timestamps it");
    }
    let stats = vm.stats().unwrap();
    assert_eq!((stats.synthetic, stats.events_built), (1, 1));
    common::finish(vm);
}

matrix!(
    chardev_read_returns_every_event,
    chardev_ioctls_and_bad_arguments,
    a_written_event_appears_on_every_channel_marked_synthetic
);
