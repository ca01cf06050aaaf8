//! `kulink run` end to end: the report users see, and its verdict.

mod common;

use kulink::artifacts::KernelChoice;
use kulink::job::{self, JobOptions};
use kulink::qemu::AccelChoice;
use kulink_wire::control::channel;

#[test]
fn main_job_matches_every_event_on_both_channels_with_a_clean_kernel_log() {
    common::artifacts(); // build once, with the shared error message
    let kernel = KernelChoice::Listed(std::env::var("KULINK_KERNEL").ok());
    let report = job::run(&JobOptions { kernel, accel: AccelChoice::Auto, echoes: 32 }).unwrap();
    assert!(report.passed, "{}", report.table());
    assert_eq!(report.injected, 36);
    let names: Vec<&str> = report.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [channel::NETLINK_MULTICAST, channel::NETLINK_UNICAST]);
    for c in &report.channels {
        assert_eq!((c.received, c.matched, c.lost), (36, 36, 0), "{c:#?}");
        assert!(c.latency_p50_us.is_some() && c.latency_p99_us >= c.latency_p50_us);
    }
    assert_eq!(report.echo_replies.received, 33);
    assert!(report.kernel_log_clean && report.splats.is_empty());
    assert!(report.boot_ms > 0);

    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    for key in ["kernel", "boot_ms", "injected", "channels", "kernel_log_clean", "passed"] {
        assert!(json.get(key).is_some(), "--json lacks {key}");
    }
    for c in json["channels"].as_array().unwrap() {
        for key in ["name", "received", "matched", "lost"] {
            assert!(c.get(key).is_some(), "channel lacks {key}");
        }
    }
}
