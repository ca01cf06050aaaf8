//! `kulink run` end to end: the report users see, and its verdict.

mod common;

use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::vm::Backend;
use kulink_ko_contract::Channel;
use kulink_ko_suite::output;
use kulink_ko_suite::record::RunRecord;
use kulink_ko_suite::report::{ChannelReport, Started};
use kulink_ko_suite::run::{self, RunOptions, Traffic};

fn main_job_matches_every_event_on_every_channel_with_a_clean_kernel_log(kernel: &str) {
    common::artifacts(kernel); // build once, with the shared error message
    let choice = KernelChoice::Listed(Some(kernel.to_owned()));
    let dir = common::scratch_dir(&format!("main-job-{kernel}"));
    let traffic = Traffic::Standard { echoes: 32 };
    let opts = RunOptions { kernel: choice, backend: Backend::Qemu, accel: AccelChoice::Auto, traffic };
    let report = run::run(&opts, &dir).unwrap();
    assert!(report.passed, "{}", output::table(&report));
    // The verdict is the record's: judged again, it is the same to the byte.
    let again = run::judge(&RunRecord::load(&dir).unwrap()).unwrap();
    assert_eq!(output::table(&again), output::table(&report));
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&report).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.injected, 36);
    let names: Vec<&str> = report.channels.iter().map(ChannelReport::name).collect();
    let every: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
    assert_eq!((names.len(), names), (13, every), "each of kulink.ko's channels once, in order");
    let (mut events, mut checks) = (0, 0);
    for channel in &report.channels {
        match channel {
            ChannelReport::Events(c) => {
                events += 1;
                assert_eq!((c.received, c.matched, c.lost, c.duplicates), (36, 36, 0, 0), "{c:#?}");
                assert!(c.passed, "{c:#?}");
            }
            ChannelReport::Check(c) => {
                checks += 1;
                assert!(c.passed && !c.detail.is_empty(), "{c:#?}");
            }
        }
    }
    assert_eq!((events, checks), (10, 3));
    assert_eq!(report.echo_replies.received, 33);
    assert!(report.kernel_log_clean && report.splats.is_empty());
    // A restored guest's figure is its saved boot's, and told as that.
    let (figure, ms) = match &report.started {
        Started::Booted { boot_ms } => ("boot_ms", *boot_ms),
        Started::Restored { saved_boot_ms, .. } => ("saved_boot_ms", *saved_boot_ms),
    };
    assert!(ms > 0, "{:?}", report.started);

    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    for key in ["kernel", "started", figure, "injected", "channels", "kernel_log_clean", "passed"] {
        assert!(json.get(key).is_some(), "--json lacks {key}");
    }
    for c in json["channels"].as_array().unwrap() {
        let keys: &[&str] =
            if c["kind"] == "check" { &["name", "passed"] } else { &["name", "received", "matched", "lost"] };
        for key in keys {
            assert!(c.get(key).is_some(), "channel {} lacks {key}", c["name"]);
        }
    }
}

kulink::kernel_tests!(main_job_matches_every_event_on_every_channel_with_a_clean_kernel_log);
