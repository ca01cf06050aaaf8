//! Generic netlink delivery, multicast and unicast, proven on a real kernel.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kulink::testbed::vm::decode_deliveries;
use kulink_genl::Spec;
use kulink_ko_contract::extension::Command;
use kulink_ko_contract::Channel;
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, multicast, unicast};
use kulink_ko_suite::plan::{Expected, Plan};
use serde_json::{json, Value as Json};

fn multicast_events_equal_injected_field_by_field(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 24);
    let events = inject::inject(&mut vm, &plan, &[multicast()], false).unwrap().events;
    let got = event_verdict::of_listener(&events, &multicast());

    // Exactly the reported frames, in the order sent, each field as sent.
    let got_fields: Vec<Expected> = got.iter().map(|r| Expected::of(&r.event)).collect();
    assert_eq!(got_fields, plan.expected());
    for r in &got {
        assert_eq!(r.event.ifindex, vm.ready().eth0_ifindex, "reported on eth0: {:?}", r.event);
        assert_eq!(r.event.flags, 0, "wire events are not synthetic");
        assert!(r.event.tstamp_ns > 0 && r.latency_ns.is_some_and(|l| l > 0));
    }
    // Kernel sequence numbers: 1, 2, 3, ... with no gap.
    let seqs: Vec<u64> = got.iter().map(|r| r.event.seq).collect();
    assert_eq!(seqs, (1..=plan.expected().len() as u64).collect::<Vec<_>>());
    // Nobody subscribed for unicast, so nothing went that way.
    assert!(events.iter().all(|r| r.channel != Channel::NetlinkUnicast.name()));

    let stats = vm.stats().unwrap();
    assert_eq!(stats.events_built, plan.expected().len() as u64);
    assert_eq!(stats.mcast_sent, plan.expected().len() as u64);
    assert_eq!((stats.unicast_sent, stats.mcast_failed, stats.subscribers), (0, 0, 0));
    common::finish(vm);
}

fn two_unicast_subscribers_both_get_every_event(kernel: &str) {
    let mut vm = common::boot(kernel, &["a", "b"]);
    let plan = Plan::echoes(vm.wire(), 0x3000, 40, 1);
    let listeners = [unicast("a"), unicast("b"), multicast()];
    let events = inject::inject(&mut vm, &plan, &listeners, false).unwrap().events;
    for l in &listeners {
        let r = event_verdict::check(l, &plan.expected(), &events, vm.ready().eth0_ifindex);
        assert!(r.passed, "{l:?}: {r:#?}");
        assert_eq!(r.matched, 41);
    }
    let stats = vm.stats().unwrap();
    assert_eq!(stats.subscribers, 2);
    assert_eq!(stats.unicast_sent, 2 * 41);
    assert_eq!(stats.unicast_failed, 0);
    common::finish(vm);
}

/// The "Ctrl+C and start it again" case: a subscriber's process dies without
/// UNSUBSCRIBE; the module must forget it, and a new one gets every later
/// event exactly once.
fn closed_subscriber_is_dropped_and_its_successor_gets_every_later_event(kernel: &str) {
    let mut vm = common::boot(kernel, &["first"]);
    let before = Plan::echoes(vm.wire(), 0x4000, 10, 1);
    let events = inject::inject(&mut vm, &before, &[unicast("first")], false).unwrap().events;
    let first = event_verdict::check(&unicast("first"), &before.expected(), &events, vm.ready().eth0_ifindex);
    assert!(first.passed, "{first:#?}");

    vm.act(Command::Close { name: "first".into() }).unwrap();
    let stats = vm.stats().unwrap();
    assert_eq!((stats.subscribers, stats.subscribers_closed), (0, 1), "closing the socket unsubscribes: {stats:?}");

    vm.act(Command::Subscribe { name: "second".into() }).unwrap();
    let after = Plan::echoes(vm.wire(), 0x5000, 10, 2);
    let events = inject::inject(&mut vm, &after, &[unicast("second"), multicast()], false).unwrap().events;
    let second = event_verdict::check(&unicast("second"), &after.expected(), &events, vm.ready().eth0_ifindex);
    assert!(second.passed, "{second:#?}");
    assert!(
        event_verdict::of_listener(&events, &unicast("first")).is_empty(),
        "the closed subscriber got nothing more"
    );

    let stats = vm.stats().unwrap();
    assert_eq!((stats.subscribers, stats.subscribers_closed), (1, 1));
    assert_eq!(stats.unicast_sent, 22, "11 events to `first`, then 11 to `second`");
    assert_eq!(stats.unicast_failed, 0);

    // An explicit UNSUBSCRIBE is not counted as a closed socket.
    vm.act(Command::Unsubscribe { name: "second".into() }).unwrap();
    let stats = vm.stats().unwrap();
    assert_eq!((stats.subscribers, stats.subscribers_closed), (0, 1));
    common::finish(vm);
}

fn non_icmp_and_truncated_frames_give_no_event(kernel: &str) {
    let mut vm = common::boot(kernel, &["u"]);
    let plan = Plan::silent(vm.wire());
    let before = vm.stats().unwrap();
    let listeners = [multicast(), unicast("u")];
    let events = inject::inject(&mut vm, &plan, &listeners, false).unwrap().events;
    // Only the marker comes through, once per listener.
    let marker = plan.marker();
    for l in &listeners {
        let got = event_verdict::of_listener(&events, l);
        assert_eq!(got.len(), 1, "{l:?}: {got:#?}");
        assert_eq!(Expected::of(&got[0].event), marker);
    }

    let after = vm.stats().unwrap();
    // Every IPv4 frame passed the hook (ARP is not IPv4), one ICMP was truncated.
    let ipv4_frames = (plan.injections.len() - plan.count("arp request")) as u64;
    assert_eq!(after.packets_seen - before.packets_seen, ipv4_frames);
    assert_eq!(after.icmp_truncated - before.icmp_truncated, 1);
    assert_eq!(after.events_built - before.events_built, 1);
    common::finish(vm);
}

fn echo_replies_come_back_on_the_wire(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::echoes(vm.wire(), 0x6000, 20, 1);
    inject::inject(&mut vm, &plan, &[multicast()], false).unwrap();
    let want = plan.echo_replies();
    let seen = vm.peer().wait_for(&want, Duration::from_secs(10));
    let missing: Vec<_> = want.iter().filter(|w| !seen.contains(w)).collect();
    assert!(missing.is_empty(), "no echo reply for {missing:?}");
    // One reply per request, not more.
    let replies: Vec<_> = seen.iter().filter(|s| s.icmp_type == 0).collect();
    assert_eq!(replies.len(), want.len());
    assert_eq!(replies.iter().map(|r| (r.id, r.seq)).collect::<BTreeSet<_>>().len(), want.len());
    assert!(vm.peer().arp_answered() >= 1, "the guest resolved its peer through our ARP reply");
    common::finish(vm);
}

/// Loopback traffic crosses PRE_ROUTING too: kulink reports it like any other
/// packet, with `lo`'s ifindex, so a consumer can tell it from wire traffic.
fn loopback_icmp_is_reported_with_the_loopback_ifindex(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    vm.ping_loopback(0x7000, 3).unwrap();
    let delivered = vm
        .collect_events_until(Duration::from_secs(20), |events| {
            event_verdict::of_listener(events, &multicast()).len() >= 6
        })
        .unwrap();
    assert!(delivered, "got {:#?}", vm.events());
    let all = vm.take_events();
    let events = event_verdict::of_listener(&all, &multicast());
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    for r in &events {
        assert_eq!(r.event.ifindex, vm.ready().lo_ifindex, "{:?}", r.event);
        assert_eq!((r.event.src, r.event.dst), (localhost, localhost));
    }
    // Each request and the kernel's own reply to it, in the kernel's order.
    let events: Vec<_> = events.iter().map(|r| r.event).collect();
    assert_eq!(common::sorted_pings(&events), common::loopback_pings(0x7000, 3));
    assert!(common::in_kernel_order(&events), "{events:#?}");
    common::finish(vm);
}

/// The testbed core's generic netlink, which any module gets, on kulink.ko:
/// a subscription by family and group name, decoded by `module/kulink.yaml`,
/// carries exactly what the plug-in's own decoder reads, and a request by
/// operation name gets the counters the plug-in gets.
fn the_core_subscription_decoded_by_the_spec_equals_the_plugin_s_events(kernel: &str) {
    let spec = Spec::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../module/kulink.yaml"))).unwrap();
    let mut vm = common::boot(kernel, &[]);
    vm.genl_subscribe("kulink", "events").unwrap();
    let plan = Plan::echoes(vm.wire(), 0x5000, 6, 1);
    let events = inject::inject(&mut vm, &plan, &[multicast()], false).unwrap().events;
    let want = plan.expected().len();
    let order = vm.byte_order();
    let count =
        |got: &[_]| decode_deliveries(&spec.name, Some(&spec), order, got).map_or(0, |m| common::spec_events(&m).len());
    vm.collect_genl_until(Duration::from_secs(20), |got| count(got) >= want).unwrap();
    assert_eq!(count(vm.genl_deliveries()), want, "{:#?}", vm.genl_deliveries());

    let by_spec = common::spec_events(&vm.genl_messages(&spec).unwrap());
    let by_plugin: Vec<Json> = event_verdict::of_listener(&events, &multicast())
        .iter()
        .map(|r| {
            let e = &r.event;
            json!({
                "seq": e.seq, "tstamp-ns": e.tstamp_ns, "ifindex": e.ifindex,
                "saddr": e.src.to_string(), "daddr": e.dst.to_string(), "type": e.icmp_type, "code": e.code,
                "echo-id": e.echo_id, "echo-seq": e.echo_seq, "len": e.len, "flags": e.flags,
            })
        })
        .collect();
    assert_eq!(by_spec, by_plugin);

    // Some counters move after the events (the usermode helper runs
    // later): compare a spec read between two equal plug-in reads.
    let by_key = |stats: &Json| -> BTreeMap<String, Json> {
        stats.as_object().unwrap().iter().map(|(name, value)| (name.replace('-', "_"), value.clone())).collect()
    };
    let (by_spec, by_plugin) = (0..20)
        .find_map(|_| {
            let before = by_key(&serde_json::to_value(vm.stats().unwrap()).unwrap());
            let reply = vm.genl_call(&spec, "get-stats", &json!({}), false).unwrap();
            assert_eq!(reply.len(), 1, "{reply:#?}");
            let by_spec = by_key(&reply[0].to_json()["attrs"]["stats"]);
            let after = by_key(&serde_json::to_value(vm.stats().unwrap()).unwrap());
            (before == after).then_some((by_spec, after)).or_else(|| {
                std::thread::sleep(Duration::from_millis(200));
                None
            })
        })
        .expect("the counters settle");
    assert_eq!(by_spec, by_plugin);
    assert_eq!(by_spec["events_built"], json!(want));

    // A refused request carries the kernel's reason.
    let err = vm.genl_call(&spec, "unsubscribe", &json!({}), false).unwrap_err();
    assert!(format!("{err:#}").contains("No such file or directory"), "{err:#}");
    common::finish(vm);
}
kulink::kernel_tests!(
    source: the_core_subscription_decoded_by_the_spec_equals_the_plugin_s_events,
    multicast_events_equal_injected_field_by_field,
    two_unicast_subscribers_both_get_every_event,
    closed_subscriber_is_dropped_and_its_successor_gets_every_later_event,
    non_icmp_and_truncated_frames_give_no_event,
    echo_replies_come_back_on_the_wire,
    loopback_icmp_is_reported_with_the_loopback_ifindex
);
