//! kulink.ko in more than one network namespace: each namespace's events
//! stay in it, files and mounts that outlive every process of their
//! namespace stay safe to use and to close, and then let it go, and a
//! program in namespaces of its own gets the wire's frames for it and
//! exactly its events.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kulink::testbed::frames::{self, ECHO_REPLY, ECHO_REQUEST};
use kulink::testbed::peer::GuestIcmp;
use kulink_ko_contract::probe::{Probe, ProbeReport, StepOutcome, INNER_ECHO_ID, OUTER_ECHO_ID};
use kulink_ko_contract::Channel;
use kulink_ko_contract::{uapi, Event};
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject;

/// A multicast listener, a unicast subscriber, a /dev/kulink reader and
/// /proc/kulink/events in a second namespace see exactly that namespace's
/// events, numbered from 1; the initial namespace's listeners see exactly
/// theirs.
fn events_stay_in_their_network_namespace(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let ProbeReport::NetnsIsolation(inner) = vm.probe(Probe::NetnsIsolation).unwrap() else { panic!("wrong report") };

    let want = common::loopback_pings(INNER_ECHO_ID, inner.pings);
    assert_eq!(common::sorted_pings(&inner.multicast), want, "multicast in the second namespace");
    let numbered: Vec<u64> = (1..=want.len() as u64).collect();
    assert_eq!(inner.multicast.iter().map(|e| e.seq).collect::<Vec<_>>(), numbered, "its own sequence");
    for e in &inner.multicast {
        assert_eq!((e.ifindex, e.src, e.dst), (inner.lo_ifindex, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
    }
    for (name, got) in [("unicast", &inner.unicast), ("chardev", &inner.chardev), ("procfs", &inner.procfs)] {
        let got: Vec<Event> = got.iter().map(|e| Event { tstamp_ns: 0, ..*e }).collect();
        let want: Vec<Event> = inner.multicast.iter().map(|e| Event { tstamp_ns: 0, ..*e }).collect();
        assert_eq!(got, want, "{name} in the second namespace: the same events as multicast");
    }
    assert_eq!(inner.stats.events_built, want.len() as u64);
    assert_eq!((inner.stats.subscribers, inner.stats.unicast_sent), (1, want.len() as u64));

    // The initial namespace: the outer pings on every push channel and the
    // initial subscriber, the inner ones nowhere.
    let mut listeners = inject::push_listeners();
    listeners.push(inject::unicast("u"));
    let outer = common::loopback_pings(OUTER_ECHO_ID, inner.pings);
    let arrived = vm
        .collect_events_until(Duration::from_secs(30), |events| {
            listeners.iter().all(|l| event_verdict::of_listener(events, l).len() >= outer.len())
        })
        .unwrap();
    assert!(arrived, "{:#?}", vm.events());
    std::thread::sleep(Duration::from_millis(500));
    let events = vm.take_events();
    assert!(events.iter().all(|r| r.event.echo_id != INNER_ECHO_ID), "leaked out: {events:#?}");
    for l in &listeners {
        let got: Vec<Event> = event_verdict::of_listener(&events, l).iter().map(|r| r.event).collect();
        assert_eq!(common::sorted_pings(&got), outer, "{l:?} in the initial namespace");
        // Helper runs are processes of their own: their reports may swap.
        let ordered = l.channel.parse::<Channel>().expect("a kulink channel").keeps_order();
        assert!(!ordered || common::in_kernel_order(&got), "{l:?}: {got:#?}");
    }
    assert_eq!(vm.stats().unwrap().events_built, outer.len() as u64);
    common::finish(vm);
}

/// Defect: an open /dev/kulink did not pin its namespace. Once every process
/// left, the namespace was freed under the file; using the file read freed
/// memory and closing it corrupted a list.
fn files_and_mounts_outlive_their_network_namespace_safely(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let ProbeReport::NetnsOutlived(r) = vm.probe(Probe::NetnsOutlived).unwrap() else { panic!("wrong report") };
    let threads = r.relay_threads;
    assert_eq!(threads.inside, threads.before + 1, "kulink.ko serves the new namespace: {threads:?}");
    assert_eq!(threads.after_leaving, threads.inside, "open files keep their namespace alive: {threads:?}");

    // The files still work on their own namespace: its counters, its event.
    let stats = r.stats.ok().unwrap_or_else(|| panic!("GET_STATS after leaving: {:?}", r.stats));
    assert_eq!((stats.events_built, stats.synthetic), (0, 0), "a fresh namespace: {stats:?}");
    assert_eq!(r.write, StepOutcome::Ok(()));
    for (name, got) in [("read", &r.read), ("ring", &r.ring)] {
        let got = got.ok().unwrap_or_else(|| panic!("{name}: {got:?}"));
        assert_eq!(got.len(), 1, "{name}: {got:#?}");
        assert_eq!((got[0].seq, got[0].echo_id, got[0].flags), (1, r.written.echo_id, uapi::EVF_SYNTHETIC), "{name}");
    }
    for (name, got, written) in
        [("procfs", &r.procfs, &r.written_procfs), ("kulinkfs", &r.kulinkfs, &r.written_kulinkfs)]
    {
        let got = got.ok().unwrap_or_else(|| panic!("{name}: {got:?}"));
        let ids: Vec<(u64, u16)> = got.iter().map(|e| (e.seq, e.echo_id)).collect();
        assert_eq!(ids, [(1, written.echo_id)], "{name} shows the namespace it was opened in");
    }
    // And once the last file of each round is closed, the namespace goes.
    assert_eq!(
        (threads.after_closing, threads.after_procfs, threads.after_kulinkfs),
        (threads.before, threads.before, threads.before),
        "{threads:?}"
    );
    common::finish(vm);
}

/// The consumer that only subscribes: all the owner of a user namespace
/// may use of what the initial namespace's consumer holds.
const NETLINK_CONSUMER: &[&str] = &["/init", "--kulink-consumer", "--netlink-only"];
const NETNS_ECHO_ID: u16 = 0x6e73;
const NETNS_PINGS: u16 = 3;

/// A program started in network and user namespaces of its own (the
/// testbed's `start_in`) subscribes as their root; the wire's echo requests
/// for its address reach its namespace through the veth pair, and its
/// replies reach the peer. kulink.ko reports to it exactly the requests,
/// numbered by its namespace; the initial namespace sees each request and
/// reply cross, and nothing of the program's namespace.
fn a_program_in_namespaces_of_its_own_gets_its_frames_and_only_its_events(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let wire = *vm.wire();
    let (pid, ready) = vm.start_in(wire.netns(0), NETLINK_CONSUMER, Duration::from_secs(20)).unwrap();
    assert_eq!(ready, "ready");
    let netns = wire.to_netns(0);
    for seq in 1..=NETNS_PINGS {
        vm.send_frame(&frames::echo_request(&netns, NETNS_ECHO_ID, seq, 16)).unwrap();
    }

    let replies: Vec<GuestIcmp> =
        (1..=NETNS_PINGS).map(|seq| GuestIcmp { icmp_type: ECHO_REPLY, code: 0, id: NETNS_ECHO_ID, seq }).collect();
    let seen = vm.peer().wait_for(&replies, Duration::from_secs(30));
    let seen: Vec<GuestIcmp> = seen.into_iter().filter(|icmp| icmp.id == NETNS_ECHO_ID).collect();
    assert_eq!(seen, replies, "the namespace answers each request, once, over its pair and the wire");

    let deadline = Instant::now() + Duration::from_secs(20);
    while vm.output(pid).unwrap().lines().count() <= usize::from(NETNS_PINGS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let stopped = vm.stop(pid, libc::SIGTERM).unwrap();
    let inside = common::printed_events(&stopped.stdout);
    let want: Vec<_> = (1..=NETNS_PINGS).map(|seq| (u64::from(seq), ECHO_REQUEST, NETNS_ECHO_ID, seq)).collect();
    assert_eq!(inside.iter().map(|e| (e.seq, e.icmp_type, e.echo_id, e.echo_seq)).collect::<Vec<_>>(), want);
    let pair_inside = inside[0].ifindex;
    for e in &inside {
        assert_eq!((e.ifindex, e.src, e.dst), (pair_inside, wire.peer_ip, netns.guest_ip), "{e:?}");
    }
    assert_ne!(pair_inside, vm.ready().lo_ifindex, "the pair's end, not lo");

    // The pair goes with the namespace; a program that cannot start says so.
    let pairs_left = |vm: &mut kulink_ko_suite::guest::Guest| {
        let devices = vm.read_file("/proc/net/dev").unwrap();
        devices.lines().filter(|l| l.trim_start().starts_with("kn")).count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while pairs_left(&mut vm) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pairs_left(&mut vm), 0, "the pair outlived its namespace");
    let err = vm.run_in(wire.netns(1), &["/nonexistent"], Duration::from_secs(10)).unwrap_err();
    assert!(format!("{err:#}").contains("start /nonexistent: No such file or directory"), "{err:#}");

    // The initial namespace: each request as it came in on eth0, each
    // reply as it came back from the pair, on every push channel and on
    // its own subscriber.
    let mut listeners = inject::push_listeners();
    listeners.push(inject::unicast("u"));
    let crossed = 2 * usize::from(NETNS_PINGS);
    let arrived = vm
        .collect_events_until(Duration::from_secs(30), |events| {
            listeners.iter().all(|l| event_verdict::of_listener(events, l).len() >= crossed)
        })
        .unwrap();
    assert!(arrived, "{:#?}", vm.events());
    std::thread::sleep(Duration::from_millis(500));
    let events = vm.take_events();
    let eth0 = vm.ready().eth0_ifindex;
    for l in &listeners {
        let got: Vec<Event> = event_verdict::of_listener(&events, l).iter().map(|r| r.event).collect();
        let (requests, replies): (Vec<&Event>, Vec<&Event>) = got.iter().partition(|e| e.icmp_type == ECHO_REQUEST);
        let as_pings = |events: &[&Event]| events.iter().map(|e| (e.icmp_type, e.echo_id, e.echo_seq)).collect();
        let mut sorted: Vec<(u8, u16, u16)> = as_pings(&requests);
        sorted.sort();
        let pings = |ty| (1..=NETNS_PINGS).map(|seq| (ty, NETNS_ECHO_ID, seq)).collect::<Vec<_>>();
        assert_eq!(sorted, pings(ECHO_REQUEST), "{l:?}: {got:#?}");
        let mut sorted: Vec<(u8, u16, u16)> = as_pings(&replies);
        sorted.sort();
        assert_eq!(sorted, pings(ECHO_REPLY), "{l:?}: {got:#?}");
        assert!(requests.iter().all(|e| (e.ifindex, e.src, e.dst) == (eth0, wire.peer_ip, netns.guest_ip)), "{l:?}");
        let pair_outside = replies[0].ifindex;
        assert!(![eth0, vm.ready().lo_ifindex].contains(&pair_outside), "{l:?}: the pair's outer end");
        assert!(replies.iter().all(|e| (e.ifindex, e.src, e.dst) == (pair_outside, netns.guest_ip, wire.peer_ip)));
        let ordered = l.channel.parse::<Channel>().expect("a kulink channel").keeps_order();
        assert!(!ordered || common::in_kernel_order(&got), "{l:?}: {got:#?}");
    }
    assert_eq!(vm.stats().unwrap().events_built, crossed as u64, "the initial namespace's own count");
    common::finish(vm);
}

kulink::kernel_tests!(
    events_stay_in_their_network_namespace,
    files_and_mounts_outlive_their_network_namespace_safely,
    a_program_in_namespaces_of_its_own_gets_its_frames_and_only_its_events
);
