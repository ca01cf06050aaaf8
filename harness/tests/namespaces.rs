//! kulink.ko in more than one network namespace: each namespace's events
//! stay in it, and files and mounts that outlive every process of their
//! namespace stay safe to use and to close, and then let it go.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use kulink::guest::KulinkGuest;
use kulink::session;
use kulink::verify;
use kulink_wire::probe::{Outcome, Probe, ProbeReport, INNER_ECHO_ID, OUTER_ECHO_ID};
use kulink_wire::Channel;
use kulink_wire::{uapi, Event};

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
    let mut listeners = session::push_listeners();
    listeners.push(session::unicast("u"));
    let outer = common::loopback_pings(OUTER_ECHO_ID, inner.pings);
    let arrived = vm
        .collect_events_until(Duration::from_secs(30), |events| {
            listeners.iter().all(|l| verify::of_listener(events, l).len() >= outer.len())
        })
        .unwrap();
    assert!(arrived, "{:#?}", vm.events());
    std::thread::sleep(Duration::from_millis(500));
    let events = vm.take_events();
    assert!(events.iter().all(|r| r.event.echo_id != INNER_ECHO_ID), "leaked out: {events:#?}");
    for l in &listeners {
        let got: Vec<Event> = verify::of_listener(&events, l).iter().map(|r| r.event).collect();
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
    assert_eq!(r.write, Outcome::Ok(()));
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

kulink::kernel_tests!(events_stay_in_their_network_namespace, files_and_mounts_outlive_their_network_namespace_safely);
