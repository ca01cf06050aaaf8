//! Spec-driven generic netlink fuzzing: kulink.ko's family on every kernel
//! (100 000 messages on the debug build, with KASAN, lockdep and
//! panic_on_warn; 10 000 elsewhere), and the example's through the CLI.

use std::process::Command;

use kulink::fuzz;
use kulink::output::{Format, Output};
use kulink::testbed::genl::Spec;
use kulink::testbed::{kernels, paths};
use kulink::GuestBuilder;
use serde_json::Value as Json;

fn kulink_ko_answers_every_fuzzed_message(kernel: &str) {
    let spec = Spec::load(&paths::repo_root().join("module/kulink.yaml")).unwrap();
    let debug = kernels::find(kernel).unwrap().fragments.iter().any(|f| f == "debug.config");
    let count = if debug { 100_000 } else { 10_000 };
    let guest = GuestBuilder::kernel_id(kernel).module(paths::repo_root().join("module"));
    let report = fuzz::run(&guest, &spec, count, 1).unwrap();
    assert!(report.passed, "{}", Output::Fuzz(&report).render(Format::Table));
    assert_eq!(report.tally.sent, count);
    let outcomes = |mutation: &str| report.tally.by_mutation[mutation].keys().cloned().collect::<Vec<_>>();
    // Commands the family lacks are refused as such; a header that claims
    // more than was sent is dropped by the netlink core, unanswered.
    assert_eq!(outcomes("unknown command"), ["EOPNOTSUPP"]);
    assert_eq!(outcomes("netlink length too long"), ["none"]);
    assert!(outcomes("well-formed").iter().any(|o| o == "ack" || o == "reply"), "{:?}", outcomes("well-formed"));
}

/// `kulink fuzz` on the example's module and spec, as JSON.
fn the_cli_fuzzes_the_example() {
    let example = paths::repo_root().join("examples/udpcount");
    let kernel = kernels::default_spec().unwrap().id;
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["fuzz", "--json", "--count", "5000", "--seed", "9", "--kernel", &kernel, "--module"])
        .arg(example.join("module"))
        .arg("--spec")
        .arg(example.join("udpcount.yaml"))
        .output()
        .unwrap();
    let report: Json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!((report["sent"].as_u64(), report["unexpected"].as_u64()), (Some(5000), Some(0)));
    assert_eq!((report["family"].as_str(), report["seed"].as_u64()), (Some("udpcount"), Some(9)));
    assert_eq!(report["by_mutation"]["unknown command"], serde_json::json!({"EOPNOTSUPP": 357}));
    assert_eq!(report["kernel_log_clean"], true);
}

/// A spec that does not parse is named before anything is built.
fn a_bad_spec_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["fuzz", "--module", "../examples/udpcount/module", "--spec", "Cargo.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--spec Cargo.toml"), "{stderr}");
}

kulink::kernel_tests!(
    kulink_ko_answers_every_fuzzed_message;
    once: the_cli_fuzzes_the_example, a_bad_spec_is_a_usage_error
);
