//! A consumer killed mid-stream: kulink.ko forgets everything it held for
//! it (its unicast subscription, its open file with queued records, its
//! ring mapping, its signal registration), so every later event costs what
//! it cost before the consumer came, and a restarted consumer gets every
//! later event exactly once, in order.

mod common;

use std::time::{Duration, Instant};

use kulink_ko_contract::{Channel, Stats};
use kulink_ko_suite::guest::{Guest, KulinkGuest};
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::Plan;

const CONSUMER: &[&str] = &["/init", "--kulink-consumer"];

/// What each per-event counter moved by while `plan` was delivered (the
/// agent's own /dev/kulink reader paces it).
fn cost(vm: &mut Guest, plan: &Plan) -> Vec<(&'static str, u64)> {
    let before = vm.stats().unwrap();
    deliver(vm, plan);
    let after = vm.stats().unwrap();
    let per_event = ["unicast_sent", "unicast_failed", "chardev_queued", "ring_written", "sigrt_sent", "sigrt_failed"];
    per_event.iter().map(|name| (*name, after.get(name).unwrap() - before.get(name).unwrap())).collect()
}

fn deliver(vm: &mut Guest, plan: &Plan) {
    inject::inject(vm, plan, &[listener(Channel::Chardev)], false).unwrap();
}

fn pings(plan: &Plan) -> Vec<(u16, u16)> {
    plan.expected().iter().map(|e| (e.echo_id, e.echo_seq)).collect()
}

fn a_killed_consumer_leaves_nothing_and_its_successor_gets_every_later_event(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let wire = *vm.wire();
    let echoes = |first_id| Plan::echoes(&wire, first_id, 8, 1);
    let without = cost(&mut vm, &echoes(0x2100));
    let subscribers = |vm: &mut Guest| -> (u64, u64) {
        let s: Stats = vm.stats().unwrap();
        (s.subscribers, s.subscribers_closed)
    };
    let (subs, closed) = subscribers(&mut vm);

    let (pid, ready) = vm.start(CONSUMER, Duration::from_secs(10)).unwrap();
    assert_eq!(ready, "ready");
    assert_eq!(subscribers(&mut vm), (subs + 1, closed));
    let with = cost(&mut vm, &echoes(0x2200));
    assert_ne!(with, without, "the consumer's file, ring, signal and subscription each get every event");

    // Killed while frames are still arriving.
    let mid = echoes(0x2300);
    for injection in &mid.injections {
        vm.send_frame(&injection.frame).unwrap();
    }
    let killed = vm.stop(pid, libc::SIGKILL).unwrap();
    assert_eq!((killed.signal, killed.timed_out), (Some(libc::SIGKILL), false), "{killed:?}");
    let got = common::printed_events(&killed.stdout);
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "what it printed came once, in order: {got:#?}");
    deliver(&mut vm, &Plan::echoes(&wire, 0x2400, 1, 1));
    assert_eq!(subscribers(&mut vm), (subs, closed + 1), "the subscription went with the socket");
    assert_eq!(cost(&mut vm, &echoes(0x2500)), without, "nothing of the consumer is left");

    let (pid, ready) = vm.start(CONSUMER, Duration::from_secs(10)).unwrap();
    assert_eq!(ready, "ready");
    let later = echoes(0x2600);
    assert_eq!(cost(&mut vm, &later), with);
    // The consumer is a process of its own: wait until it has printed them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while vm.output(pid).unwrap().lines().count() <= later.expected().len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = vm.stop(pid, libc::SIGTERM).unwrap();
    assert_eq!(stopped.signal, Some(libc::SIGTERM), "{stopped:?}");
    let got: Vec<(u16, u16)> =
        common::printed_events(&stopped.stdout).iter().map(|e| (e.echo_id, e.echo_seq)).collect();
    assert_eq!(got, pings(&later), "every later event exactly once, in order");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: a_killed_consumer_leaves_nothing_and_its_successor_gets_every_later_event);
