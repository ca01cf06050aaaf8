//! Spec-driven generic netlink fuzzing: kulink.ko's family on every kernel,
//! as root and as an unprivileged user (100 000 messages each on the debug
//! build, with KASAN, lockdep and panic_on_warn; 10 000 elsewhere), and the
//! example's through the CLI.

mod common;

use std::process::Command;

use kulink::fuzz::{self, FuzzReport, Sender};
use kulink::render::fuzz_table;
use kulink::testbed::genl::Spec;
use kulink::testbed::kernels;
use kulink::GuestBuilder;
use kulink_ko_contract::uapi;
use serde_json::Value as Json;

fn spec() -> Spec {
    Spec::load(&common::repo().join("kulink-ko/module/kulink.yaml")).unwrap()
}

fn count(kernel: &str) -> usize {
    if common::is_debug(kernel) {
        100_000
    } else {
        10_000
    }
}

fn fuzz_kulink_ko(kernel: &str, sender: Sender) -> FuzzReport {
    let guest = GuestBuilder::kernel_id(kernel).module(common::repo().join("kulink-ko/module"));
    let report = fuzz::run(&guest, &spec(), count(kernel), 1, sender).unwrap();
    assert!(report.passed, "{}", fuzz_table(&report));
    assert_eq!(report.tally.sent, count(kernel));
    report
}

fn outcomes(report: &FuzzReport, mutation: &str) -> Vec<String> {
    report.tally.by_mutation[mutation].keys().cloned().collect()
}

fn kulink_ko_answers_every_fuzzed_message(kernel: &str) {
    let report = fuzz_kulink_ko(kernel, Sender::Root);
    let outcomes = |mutation| outcomes(&report, mutation);
    // Commands the family lacks are refused as such; a header that claims
    // more than was sent is dropped by the netlink core, unanswered.
    assert_eq!(outcomes("unknown command"), ["EOPNOTSUPP"]);
    assert_eq!(outcomes("netlink length too long"), ["none"]);
    assert!(outcomes("well-formed").iter().any(|o| o == "ack" || o == "reply"), "{:?}", outcomes("well-formed"));
}

/// SUBSCRIBE and UNSUBSCRIBE (`uns-admin-perm` in the spec, as in
/// netlink.c) refuse every message an unprivileged user sends, whatever
/// its attributes; GET_STATS still answers, since counters are anyone's.
fn kulink_ko_refuses_the_unprivileged_what_needs_admin(kernel: &str) {
    let report = fuzz_kulink_ko(kernel, Sender::Unprivileged);
    let well_formed = &report.tally.by_mutation["well-formed"];
    let to_admin_ops =
        fuzz::cases(&spec(), count(kernel), 1).iter().filter(|c| c.mutation == "well-formed" && c.needs_admin).count();
    assert!(to_admin_ops > 0);
    assert_eq!(well_formed.get("EPERM"), Some(&to_admin_ops), "{well_formed:?}");
    assert!(well_formed.contains_key("reply"), "GET_STATS answers anyone: {well_formed:?}");
    for mutation in fuzz::MUTATIONS {
        let got = outcomes(&report, mutation);
        assert!(!got.iter().any(|o| o == "ack"), "{mutation}: nothing may change for nobody: {got:?}");
    }
}

/// `kulink fuzz --json` on the default kernel with `args`: its report,
/// once it exited 0.
fn fuzz_cli_json(args: &[&str]) -> Json {
    let kernel = kernels::default_spec().unwrap().id;
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["fuzz", "--json", "--kernel", &kernel])
        .args(args)
        .output()
        .unwrap();
    let report: Json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    report
}

/// `kulink fuzz` on the example's module and spec, as JSON.
fn the_cli_fuzzes_the_example() {
    let example = common::repo().join("examples/udpcount");
    let (module, spec) = (example.join("module"), example.join("udpcount.yaml"));
    let report = fuzz_cli_json(&[
        "--count",
        "5000",
        "--seed",
        "9",
        "--module",
        module.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!((report["sent"].as_u64(), report["unexpected"].as_u64()), (Some(5000), Some(0)));
    assert_eq!((report["family"].as_str(), report["seed"].as_u64()), (Some("udpcount"), Some(9)));
    assert_eq!(report["by_mutation"]["unknown command"], serde_json::json!({"EOPNOTSUPP": 334}));
    assert_eq!(report["kernel_log_clean"], true);
}

/// `kulink fuzz --device` on kulink.ko's node, as JSON, with the bare
/// agent: the helper process is the core agent's.
fn the_cli_fuzzes_a_device() {
    let (ioctl, module) = (format!("{:#x}", uapi::IOC_GET_FILTER), common::repo().join("kulink-ko/module"));
    let report = fuzz_cli_json(&[
        "--count",
        "1800",
        "--device",
        "/dev/kulink",
        "--ioctl",
        &ioctl,
        "--module",
        module.to_str().unwrap(),
    ]);
    assert_eq!((report["sent"].as_u64(), report["unexpected"].as_u64()), (Some(1800), Some(0)));
    assert_eq!((report["device"].as_str(), report.get("family")), (Some("/dev/kulink"), None));
    assert_eq!(report["by_mutation"]["reopen"], serde_json::json!({"ok": 200}));
    assert_eq!(report["by_mutation"]["random ioctl"], serde_json::json!({"ENOTTY": 200}));
    assert_eq!(report["kernel_log_clean"], true);
}

/// Bad targets are named before anything is built.
fn bad_fuzz_targets_are_usage_errors() {
    let example = "../examples/udpcount";
    for (args, named) in [
        (vec!["--device", "kulink"], "kulink is not a device node's path"),
        (vec!["--device", "/dev/../etc/passwd"], "is not a device node's path"),
        (vec!["--device", "/dev/kulink", "--ioctl", "0xzz"], "0xzz is not a 32-bit ioctl number"),
        (vec!["--spec", "x.yaml", "--device", "/dev/kulink"], "cannot be used with"),
        (vec!["--spec", "x.yaml", "--ioctl", "1"], "cannot be used with"),
        (vec![], "--spec"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
            .args(["fuzz", "--module", &format!("{example}/module")])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

/// A spec that does not parse is named before anything is built.
fn a_bad_spec_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["fuzz", "--module", "../examples/udpcount/module", "--spec", "Cargo.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("spec Cargo.toml"), "{stderr}");
}

kulink::kernel_tests!(
    source: kulink_ko_answers_every_fuzzed_message, kulink_ko_refuses_the_unprivileged_what_needs_admin;
    once: the_cli_fuzzes_the_example, the_cli_fuzzes_a_device, a_bad_spec_is_a_usage_error,
        bad_fuzz_targets_are_usage_errors
);
