//! Replayed traffic: kulink's corpus of malformed frames, judged on every
//! channel by the kernel's receive rules, on every kernel of the matrix
//! (the debug build, with KASAN, lockdep and panic_on_warn, among them).

mod common;

use std::process::Command;
use std::time::Duration;

use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::frames::Wire;
use kulink::testbed::vm::Backend;
use kulink_ko_suite::corpus::{self, Stated};
use kulink_ko_suite::output;
use kulink_ko_suite::run::{self, RunOptions, Traffic};
use serde_json::Value as Json;

fn the_malformed_corpus_meets_the_kernel_s_receive_rules(kernel: &str) {
    let entries = corpus::entries(&Wire::default());
    let frames = entries.iter().map(|e| e.frame.clone()).collect();
    let opts = RunOptions {
        kernel: KernelChoice::Listed(Some(kernel.to_owned())),
        backend: Backend::Qemu,
        accel: AccelChoice::Auto,
        traffic: Traffic::Frames { frames, gap: Duration::from_millis(2) },
    };
    let dir = common::scratch_dir(&format!("inject-{kernel}"));
    let report = run::run(&opts, &dir).unwrap();
    assert!(report.passed, "{}", output::table(&report));
    std::fs::remove_dir_all(&dir).unwrap();

    // Every channel got exactly the stated reports (and the closing echo
    // request), and the module's own counters agree with the statements.
    let stated = |fates: &[Stated]| entries.iter().filter(|e| fates.contains(&e.stated)).count() as u64;
    assert_eq!(report.injected as u64, stated(&[Stated::Reported]) + 1);
    assert_eq!(report.stats.events_built, stated(&[Stated::Reported]) + 1);
    let at_hook = stated(&[Stated::NoEvent, Stated::Truncated, Stated::Reported]) + 1;
    assert_eq!(report.stats.packets_seen, at_hook, "frames that reached PRE_ROUTING");
    assert_eq!(report.stats.icmp_truncated, stated(&[Stated::Truncated]));
    assert_eq!(report.frames_sent, entries.len() + 1);
}

/// `kulink inject --pcap` replays the shipped capture and prints the fates.
fn the_cli_replays_the_shipped_capture() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let pcap = common::repo().join("kulink-ko/corpus/malformed.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["inject", "--json", "--kernel", &kernel, "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["passed"], true);
    let fate = |name: &str| {
        report["fates"].as_array().unwrap().iter().find(|f| f["fate"] == name).map(|f| f["frames"].clone())
    };
    assert_eq!(fate("dropped: bad IPv4 header checksum"), Some(1.into()));
    assert_eq!(fate("no event: a later fragment"), Some((3 + 3 + 1 + 44).into()));
}

/// A file that is not a capture is named before anything boots.
fn a_bad_capture_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kulink")).args(["inject", "--pcap", "Cargo.toml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--pcap Cargo.toml: not a pcap file"), "{stderr}");
}

kulink::kernel_tests!(
    source: the_malformed_corpus_meets_the_kernel_s_receive_rules;
    once: the_cli_replays_the_shipped_capture, a_bad_capture_is_a_usage_error
);
