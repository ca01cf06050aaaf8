//! The example in examples/udpcount, through the `kulink test` command as
//! a user runs it: a module that is not kulink.ko, its own YNL spec, a
//! pcap, a KTAP script in the guest and the notifications it must send.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value as Json};

fn example() -> PathBuf {
    common::repo().join("examples/udpcount")
}

/// `kulink test` on the example's module in `module`, on `kernel`.
fn kulink_test(module: &Path, kernel: &str, junit: &Path) -> Output {
    kulink_test_with(Command::new(env!("CARGO_BIN_EXE_kulink")), module, kernel, junit)
}

/// [`kulink_test`] with this `kulink` (`kernels` may list several).
fn kulink_test_with(kulink: Command, module: &Path, kernels: &str, junit: &Path) -> Output {
    kulink_test_more(kulink, module, kernels, junit, &[])
}

/// [`kulink_test_with`] with `more` flags.
fn kulink_test_more(mut kulink: Command, module: &Path, kernels: &str, junit: &Path, more: &[&str]) -> Output {
    let ex = example();
    let file = |name: &str| ex.join(name).display().to_string();
    kulink
        .args(["test", "--module"])
        .arg(module)
        .args(["--module-param", "every=2", "--kernel", kernels, "--shell"])
        .args(["--file", &format!("{}:/opt/udpcount/test", file("guest/udpcount-ktap.sh"))])
        .args(["--genl", "udpcount:notify", "--spec", &file("udpcount.yaml")])
        .args(["--pcap", &file("traffic.pcap"), "--expect", &file("expected.yaml"), "--json", "--junit"])
        .arg(junit)
        .args(more)
        .args(["--", "/opt/udpcount/test"])
        .output()
        .expect("run kulink")
}

fn report_of(out: &Output) -> Json {
    reports_of(out)[0].clone()
}

/// Every kernel's report.
fn reports_of(out: &Output) -> Vec<Json> {
    let runs: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    runs.as_array().expect("a list of reports").clone()
}

fn the_example_passes_with_every_notification_field_by_field(kernel: &str) {
    let dir = common::scratch_dir(&format!("udpcount-{kernel}"));
    std::fs::create_dir_all(&dir).unwrap();
    let junit = dir.join("junit.xml");
    let out = kulink_test(&example().join("module"), kernel, &junit);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["frames_replayed"], 10);
    let messages: Vec<Json> = report["messages"].as_array().unwrap().clone();
    let want: Vec<Json> = [(5000, 2), (5001, 2), (5000, 4), (5000, 6), (5001, 4)]
        .iter()
        .map(|(port, count)| json!({"op": "notify", "attrs": {"port": port, "count": count}}))
        .collect();
    assert_eq!(messages, want);
    let cases: Vec<(String, String)> = report["ktap"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["result"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(cases.len(), 4, "{cases:?}");
    assert!(cases.iter().all(|(_, result)| result == "pass"), "{cases:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4 + 3, "{xml}");
    assert!(xml.contains("ktap 1 total_counts_every_datagram") && !xml.contains("<failure"), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same run on a copy of the module that reports one datagram too
/// many: exit 1, naming the message and the field that differed.
fn a_wrong_attribute_value_fails_naming_the_field() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let right = "nla_put_u64_64bit(skb, UDPCOUNT_A_COUNT, count,";
    let module = module_with("udpcount-bug", |source| {
        assert!(source.contains(right));
        source.replace(right, "nla_put_u64_64bit(skb, UDPCOUNT_A_COUNT, count + 1,")
    });
    let dir = module.parent().unwrap().to_owned();
    let out = kulink_test(&module, &kernel, &dir.join("junit.xml"));
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems[0], "message 1 of 5: count is 3, expected 2", "{problems:#?}");
    assert_eq!(problems.len(), 5, "one per message, the sysfs checks still pass: {problems:#?}");
    assert_eq!(report["ran"]["code"], 0);
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(xml.contains("count is 3, expected 2"), "{xml}");
    let evidence = report["evidence"].as_str().expect("a failed run names its evidence");
    assert!(std::path::Path::new(evidence).join("agent.jsonl").is_file(), "{evidence}");
    std::fs::remove_dir_all(evidence).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of the example's module with `edit` made to its source; the
/// copy's directory.
fn module_with(name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = common::scratch_dir(name);
    let module = dir.join("module");
    std::fs::create_dir_all(&module).unwrap();
    for entry in std::fs::read_dir(example().join("module")).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, module.join(from.file_name().unwrap())).unwrap();
    }
    let source = std::fs::read_to_string(module.join("udpcount.c")).unwrap();
    std::fs::write(module.join("udpcount.c"), edit(source)).unwrap();
    module
}

/// A byte-order bug: the port is put as the first two bytes of an
/// `unsigned int` (`nla_put` of `sizeof(u16)` from a wider variable).
/// Little-endian machines keep the low bytes first, so x86_64 and arm64
/// carry the right port; big-endian s390x carries the high bytes, 0, and
/// the test fails there alone, naming the field. It runs on every kernel
/// of another architecture (the arm64 kernels pass, s390x's fails), so
/// that no selection runs it on nothing.
fn a_byte_order_bug_fails_only_on_a_big_endian_kernel(kernel: &str) {
    let spec = kulink::testbed::kernels::find(kernel).unwrap();
    let module = module_with("udpcount-byte-order", |source| {
        let (signature, put) =
            ("udpcount_put(struct sk_buff *skb, u16 port,", "nla_put_u16(skb, UDPCOUNT_A_PORT, port)");
        assert!(source.contains(signature) && source.contains(put));
        source
            .replace(signature, "udpcount_put(struct sk_buff *skb, unsigned int port,")
            .replace(put, "nla_put(skb, UDPCOUNT_A_PORT, sizeof(u16), &port)")
    });
    let out = kulink_test(&module, kernel, &module.with_file_name("junit.xml"));
    let reports = reports_of(&out);
    let report = &reports[0];
    assert_eq!(report["kernel"], kernel, "{report:#}");
    let problems = report["problems"].as_array().unwrap();
    if spec.arch.is_big_endian() {
        assert_eq!(out.status.code(), Some(1), "{reports:#?}");
        assert_eq!(report["passed"], false, "{report:#}");
        assert_eq!(problems[0], "message 1 of 5: port is 0, expected 5000", "{problems:#?}");
        assert_eq!(problems.len(), 5, "one per message: {problems:#?}");
        let evidence = report["evidence"].as_str().expect("a failed run names its evidence");
        std::fs::remove_dir_all(evidence).unwrap();
    } else {
        assert_eq!(out.status.code(), Some(0), "{reports:#?}");
        assert_eq!((report["passed"].as_bool(), problems.len()), (Some(true), 0), "{kernel}: {report:#}");
    }
    let _ = std::fs::remove_dir_all(module.parent().unwrap());
}

/// As a user with `cargo install`: the binary outside the checkout's
/// target directory, run from elsewhere, finds the catalog, the fragments
/// and the agent's sources in itself (unpacked into the cache), on two
/// kernels in one run.
fn an_installed_kulink_passes_outside_the_checkout() {
    let kernels = two_kernels();
    let dir = common::scratch_dir("installed");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kulink"), bin.join("kulink")).unwrap();
    let mut installed = Command::new(bin.join("kulink"));
    installed.current_dir(&dir).env_remove("KULINK_REPO").env_remove("KULINK_CATALOG");
    let out = kulink_test_with(installed, &example().join("module"), &kernels.join(","), &dir.join("junit.xml"));
    let reports = reports_of(&out);
    assert_eq!(out.status.code(), Some(0), "{reports:#?}\n{}", String::from_utf8_lossy(&out.stderr));
    let ran: Vec<&str> = reports.iter().map(|r| r["kernel"].as_str().unwrap()).collect();
    assert_eq!(ran, kernels);
    for report in &reports {
        assert_eq!(report["messages"].as_array().unwrap().len(), 5, "{report:#}");
    }
    let unpacked = kulink::testbed::paths::CORE.unpack().unwrap();
    let arch = kulink::testbed::arch::Arch::host().unwrap_or_default();
    let agent = unpacked.join("agents").join(arch.name()).join("kulink-agent-core");
    assert!(agent.is_file(), "the agent was not built from the unpacked sources");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two source kernels (6.1 and 6.12 when selected), else the first selected.
fn two_kernels() -> Vec<String> {
    let selected: Vec<String> = kulink::testbed::kernels::selected().unwrap().into_iter().map(|k| k.id).collect();
    let two: Vec<String> = selected.iter().filter(|id| ["6.1", "6.12"].contains(&id.as_str())).cloned().collect();
    if two.is_empty() {
        selected.into_iter().take(1).collect()
    } else {
        two
    }
}

/// `kulink test --coverage` on two kernels: each run's counts, read from
/// the guest's debugfs before power-off, are merged into one tracefile
/// by the module's own source lines. The merged counts are what crossed
/// the boundary: five notifications a kernel, one init a kernel, no exit
/// (the module is never unloaded) and no `get` request.
fn coverage_is_merged_across_kernels_by_source_line() {
    let kernels = two_kernels();
    let dir = common::scratch_dir("coverage");
    std::fs::create_dir_all(&dir).unwrap();
    let coverage = dir.join("coverage");
    let out = kulink_test_more(
        Command::new(env!("CARGO_BIN_EXE_kulink")),
        &example().join("module"),
        &kernels.join(","),
        &dir.join("junit.xml"),
        &["--coverage", coverage.to_str().unwrap()],
    );
    let reports = reports_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{reports:#?}\n{stderr}");
    let source = example().join("module").canonicalize().unwrap();
    for report in &reports {
        let files = report["coverage"].as_array().expect("each run's figures");
        let names: Vec<&str> = files.iter().map(|f| f["file"].as_str().unwrap()).collect();
        let want = [source.join("udpcount.c"), source.join("udpcount_logic.h")];
        assert_eq!(names, want.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>(), "{report:#}");
        assert!(files.iter().all(|f| f["lines_hit"].as_u64() > Some(0)), "{report:#}");
    }
    let tracefile = std::fs::read_to_string(coverage.join("lcov.info")).unwrap();
    let calls = |function: &str| -> u64 {
        let line = tracefile.lines().find(|l| l.starts_with("FNDA:") && l.ends_with(&format!(",{function}")));
        line.and_then(|l| l[5..].split(',').next()?.parse().ok()).unwrap_or_else(|| panic!("{function}: {tracefile}"))
    };
    let runs = kernels.len() as u64;
    assert_eq!(calls("udpcount_init"), runs, "{tracefile}");
    assert_eq!(calls("udpcount_notify"), 5 * runs, "{tracefile}");
    assert_eq!((calls("udpcount_exit"), calls("udpcount_get_doit")), (0, 0), "{tracefile}");
    assert_eq!(tracefile.matches("SF:").count(), 2, "the module's sources alone: {tracefile}");
    assert!(coverage.join("html/index.html").is_file());
    assert!(stderr.contains("coverage, all kernels together") && stderr.contains("udpcount_logic.h"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kulink test --kunit` with no command: the example's KUnit suite, built
/// against the module and loaded after it, each case in the table's
/// count, the JSON and the JUnit file.
fn the_kunit_suite_passes_case_by_case(kernel: &str) {
    let dir = common::scratch_dir(&format!("kunit-{kernel}"));
    std::fs::create_dir_all(&dir).unwrap();
    let junit = dir.join("junit.xml");
    let out = kulink_kunit(&example().join("kunit"), kernel, &junit);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    let suites = report["kunit"].as_array().expect("the suites");
    let cases: Vec<(&str, &str)> = suites[0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    let names = ["every_bounds", "due_on_multiples", "port_of_a_datagram", "what_is_not_counted"];
    let want: Vec<(String, &str)> = names.iter().map(|n| (format!("udpcount_test_{n}"), "pass")).collect();
    assert_eq!((suites.len(), suites[0]["name"].as_str()), (1, Some("udpcount")), "{report:#}");
    assert_eq!(cases, want.iter().map(|(n, r)| (n.as_str(), *r)).collect::<Vec<_>>());
    assert!(report.get("ran").is_none(), "no command was given: {report:#}");
    let junit = std::fs::read_to_string(&junit).unwrap();
    for name in names {
        assert!(junit.contains(&format!("name=\"kunit udpcount.udpcount_test_{name}\"")), "{junit}");
    }
    assert!(!junit.contains("<failure"), "{junit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A KUnit case that fails fails the run (exit 1), named, with what KUnit
/// said of it, in the JSON and in JUnit; the suite's passing case passes.
fn a_failing_kunit_case_fails_the_run_naming_it() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let dir = common::scratch_dir("kunit-failing");
    std::fs::create_dir_all(&dir).unwrap();
    let junit = dir.join("junit.xml");
    let fixture = common::repo().join("kulink/tests/fixtures/modules/kunit_failing");
    let out = kulink_kunit(&fixture, &kernel, &junit);
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(problems.len(), 1, "{report:#}");
    assert!(
        problems[0].starts_with("KUnit case kulink_failing.kunit_failing_on_purpose failed: EXPECTATION FAILED at ")
            && problems[0].contains("kulink_kunit_failing.c:16"),
        "{report:#}"
    );
    let junit = std::fs::read_to_string(&junit).unwrap();
    let failed = junit.split("<testcase").find(|c| c.contains("kunit_failing_on_purpose")).expect("the case");
    assert!(failed.contains("<failure") && failed.contains("EXPECTATION FAILED"), "{junit}");
    let passed = junit.split("<testcase").find(|c| c.contains("kunit_failing_passes")).expect("the case");
    assert!(!passed.contains("<failure"), "{junit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kulink test --kunit DIR` on the example's module, with no command.
fn kulink_kunit(kunit: &Path, kernel: &str, junit: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["test", "--module"])
        .arg(example().join("module"))
        .arg("--kunit")
        .arg(kunit)
        .args(["--kernel", kernel, "--json", "--junit"])
        .arg(junit)
        .output()
        .expect("run kulink")
}

kulink::kernel_tests!(
    the_example_passes_with_every_notification_field_by_field;
    source: the_kunit_suite_passes_case_by_case;
    cross: the_kunit_suite_passes_case_by_case, a_byte_order_bug_fails_only_on_a_big_endian_kernel;
    once: a_wrong_attribute_value_fails_naming_the_field,
        an_installed_kulink_passes_outside_the_checkout,
        a_failing_kunit_case_fails_the_run_naming_it, coverage_is_merged_across_kernels_by_source_line
);
