//! kulink.ko's in-kernel generator, which `kulink bench channels` feeds on:
//! GENERATE is validated, runs one at a time, and its events reach the
//! channels it names and no others, numbered and flagged as generated.

mod common;

use std::time::Duration;

use kulink_genl::Spec;
use kulink_ko_contract::{uapi, Channel};
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::{Guest, KulinkGuest};
use kulink_ko_suite::inject::multicast;
use serde_json::json;

fn generated_events_reach_the_named_channels_only(kernel: &str) {
    let spec = Spec::load(&kulink_ko_suite::project_dir().join("module/kulink.yaml")).unwrap();
    let mut vm = common::boot(kernel, &[]);
    let generate = |vm: &mut Guest, attrs: serde_json::Value| {
        vm.genl_call(&spec, "generate", &attrs, false).map(drop).map_err(|e| format!("{e:#}"))
    };

    // Refused with the kernel's reason, before anything runs.
    let netlink_and_log = uapi::CHAN_NETLINK | uapi::CHAN_LOG;
    for (attrs, reason) in [
        (json!({"gen-channels": netlink_and_log}), "needs a count and channels"),
        (json!({"gen-count": 0, "gen-channels": netlink_and_log}), "count must be"),
        (json!({"gen-count": uapi::GEN_COUNT_MAX + 1, "gen-channels": netlink_and_log}), "count must be"),
        (json!({"gen-count": 5, "gen-channels": 0}), "channels must be"),
        (json!({"gen-count": 5, "gen-channels": uapi::CHAN_ALL + 1}), "channels must be"),
        (json!({"gen-count": 5, "gen-channels": 1, "gen-rate": uapi::GEN_RATE_MAX + 1}), "rate must be"),
    ] {
        let err = generate(&mut vm, attrs.clone()).unwrap_err();
        assert!(err.contains("Invalid argument") && err.contains(reason), "{attrs}: {err}");
    }

    // 40 events at 100/s to netlink and the text log.
    const COUNT: u64 = 40;
    generate(&mut vm, json!({"gen-count": COUNT, "gen-rate": 100, "gen-channels": netlink_and_log})).unwrap();

    let done = vm
        .collect_events_until(Duration::from_secs(30), |got| {
            event_verdict::of_listener(got, &multicast()).len() as u64 >= COUNT
        })
        .unwrap();
    assert!(done, "{:#?}", vm.events());
    // Past the run's end, anything stray would have come too.
    std::thread::sleep(Duration::from_millis(500));
    vm.collect_events_until(Duration::from_millis(300), |_| false).unwrap();
    let events = vm.take_events();
    let on_multicast: Vec<_> = event_verdict::of_listener(&events, &multicast()).iter().map(|r| r.event).collect();
    assert_eq!(on_multicast.len() as u64, COUNT, "{on_multicast:#?}");
    let run = on_multicast[0].echo_id;
    for (n, event) in on_multicast.iter().enumerate() {
        assert_eq!(event.seq, n as u64 + 1, "numbered as the hook's events are");
        assert_eq!((event.echo_id, event.echo_seq), (run, n as u16));
        assert_eq!((event.icmp_type, event.flags, event.ifindex), (8, uapi::EVF_GENERATED, 0));
    }
    let times: Vec<u64> = on_multicast.iter().map(|e| e.tstamp_ns).collect();
    let spread_ms = (times[times.len() - 1] - times[0]) / 1_000_000;
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && spread_ms >= 300, "paced at 100/s: {spread_ms} ms");
    // Channels left out of the set got nothing.
    let elsewhere: Vec<&str> =
        events.iter().map(|r| r.channel.as_str()).filter(|c| *c != Channel::NetlinkMulticast.name()).collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    // The text log got every one.
    let logged = vm.collect(Channel::Procfs).unwrap();
    assert_eq!(logged.iter().map(|r| r.event).collect::<Vec<_>>(), on_multicast);

    let stats = vm.stats().unwrap();
    assert_eq!((stats.generated, stats.events_built, stats.mcast_sent), (COUNT, COUNT, COUNT));
    let untouched = [stats.chardev_queued, stats.ring_written, stats.sigio_sent, stats.relay_sent, stats.umh_run];
    assert_eq!(untouched, [0; 5]);
    assert_eq!(stats.mcast_events_failed, 0);

    // One run at a time: while a run that cannot end before the test does
    // (one event a second, for days) is under way, another is refused. A
    // short run could end before a busy host's next request arrives.
    let days = json!({"gen-count": uapi::GEN_COUNT_MAX, "gen-rate": 1, "gen-channels": uapi::CHAN_NETLINK});
    generate(&mut vm, days).unwrap();
    let busy = generate(&mut vm, json!({"gen-count": 1, "gen-channels": uapi::CHAN_ALL})).unwrap_err();
    assert!(busy.contains("busy") && busy.contains("under way"), "{busy}");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: generated_events_reach_the_named_channels_only);
