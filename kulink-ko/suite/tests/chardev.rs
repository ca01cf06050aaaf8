//! /dev/kulink: binary records through read(), synthetic events through
//! write(), and the ioctls with their error codes.

mod common;

use std::time::Duration;

use kulink_ko_contract::extension::Command;
use kulink_ko_contract::observed::Observed;
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::Channel;
use kulink_ko_contract::{uapi, Event};
use kulink_ko_suite::config_verdict;
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::Guest;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::guest::Listener;
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::{Expected, Plan};

fn chardev_read_returns_every_event(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    let events = inject::inject(&mut vm, &plan, &[listener(Channel::Chardev)], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &listener(Channel::Chardev));
    // The agent reads two files through their queues: this channel's and
    // the one armed for signals. Each gets its own copy of every event.
    let stats = vm.stats().unwrap();
    assert_eq!((stats.chardev_queued, stats.chardev_dropped), (2 * plan.expected().len() as u64, 0));
    common::finish(vm);
}

fn chardev_ioctls_and_bad_arguments(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let observed = vm.observe(Channel::Chardev).unwrap();
    let verdict = config_verdict::judge(&observed);
    assert!(verdict.passed(), "{verdict}");
    let Observed::Chardev(seen) = observed else { panic!("{observed:?}") };
    let errnos = [seen.stats_to_bad_pointer, seen.unknown_ioctl, seen.short_read, seen.empty_read];
    let want = [libc::EFAULT, libc::ENOTTY, libc::EINVAL, libc::EAGAIN].map(StepOutcome::Errno);
    assert_eq!(errnos, want);
    common::finish(vm);
}

/// An event written to the device is numbered by the kernel and goes out
/// on every channel, marked synthetic.
fn a_written_event_appears_on_every_channel_marked_synthetic(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let event = written(8, 0x5151, 1);
    vm.act(Command::WriteEvent { event }).unwrap();
    let listeners = wait_on_every_push_listener(&mut vm, "u");
    let events = vm.take_events();
    let want = Expected::of(&event);
    for l in &listeners {
        let got = event_verdict::of_listener(&events, l);
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

/// Defect: a synthetic event bypassed `enabled` and `icmp_types`, and a type
/// of 32 or more was reported on some channels and dropped on others. Now
/// one rule decides before any channel sees the event.
fn synthetic_events_obey_the_rules_of_wire_events(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let event = |icmp_type, echo_seq| written(icmp_type, 0x5252, echo_seq);
    // A type that is never reported is a bad field.
    let refused = vm.act(Command::WriteEvent { event: event(200, 1) }).unwrap_err();
    assert!(format!("{refused:#}").contains("Invalid argument"), "{refused:#}");
    // Reporting off, then echo requests left out: accepted, filtered.
    vm.write_file("/proc/sys/kulink/enabled", "0").unwrap();
    vm.act(Command::WriteEvent { event: event(8, 2) }).unwrap();
    vm.write_file("/proc/sys/kulink/enabled", "1").unwrap();
    vm.write_file("/proc/sys/kulink/icmp_types", "1").unwrap();
    vm.act(Command::WriteEvent { event: event(8, 3) }).unwrap();
    vm.write_file("/proc/sys/kulink/icmp_types", "4294967295").unwrap();
    vm.act(Command::WriteEvent { event: event(8, 4) }).unwrap();

    let mut listeners = wait_on_every_push_listener(&mut vm, "u");
    std::thread::sleep(Duration::from_millis(500));
    let mut events = vm.take_events();
    for pull in [Channel::Procfs, Channel::Kulinkfs] {
        events.extend(vm.collect(pull).unwrap());
        listeners.push(inject::listener(pull));
    }
    for l in &listeners {
        let got: Vec<(u64, u16)> =
            event_verdict::of_listener(&events, l).iter().map(|r| (r.event.seq, r.event.echo_seq)).collect();
        assert_eq!(got, [(1, 4)], "{l:?}: only the event the rules let through, numbered 1");
    }
    let stats = vm.stats().unwrap();
    assert_eq!((stats.synthetic, stats.filtered, stats.events_built), (3, 2, 1), "{stats:?}");
    common::finish(vm);
}

/// An event to write to /dev/kulink: the kernel fills in seq and time.
fn written(icmp_type: u8, echo_id: u16, echo_seq: u16) -> Event {
    Event {
        seq: 0,
        tstamp_ns: 0,
        ifindex: 0,
        src: "198.51.100.1".parse().unwrap(),
        dst: "198.51.100.2".parse().unwrap(),
        icmp_type,
        code: 0,
        echo_id,
        echo_seq,
        len: 99,
        flags: 0,
    }
}

/// Waits until every push channel and `subscriber` delivered something;
/// returns those listeners.
fn wait_on_every_push_listener(vm: &mut Guest, subscriber: &str) -> Vec<Listener> {
    let mut listeners = inject::push_listeners();
    listeners.push(inject::unicast(subscriber));
    let arrived = vm
        .collect_events_until(Duration::from_secs(20), |events| {
            listeners.iter().all(|l| !event_verdict::of_listener(events, l).is_empty())
        })
        .unwrap();
    assert!(arrived, "{:#?}", vm.events());
    listeners
}

kulink::kernel_tests!(
    source: chardev_read_returns_every_event,
    synthetic_events_obey_the_rules_of_wire_events,
    chardev_ioctls_and_bad_arguments,
    a_written_event_appears_on_every_channel_marked_synthetic
);
