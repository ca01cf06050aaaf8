//! A module's faults through `kulink test`, as a user meets them: a module
//! that does not build, refuses to load, panics while loading, Oopses in a
//! write, hangs a write, or WARNs is a failed test (exit 1) told in a
//! sentence, in the terminal's text, in the JSON report and in JUnit, with
//! no Rust Debug text anywhere a user reads. On the default kernel: the
//! library's tests meet the same faults on every source kernel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kulink/tests/fixtures/modules");
    fixtures.canonicalize().unwrap().join(name)
}

/// What one `kulink test` printed: its exit code, stdout with `--json`,
/// stderr, and the JUnit file.
struct Told {
    code: Option<i32>,
    json: String,
    stderr: String,
    junit: String,
}

fn kulink_test(module: &str, script: &str) -> Told {
    kulink_test_with(module, script, &[])
}

fn kulink_test_with(module: &str, script: &str, more: &[&str]) -> Told {
    let junit = std::env::temp_dir().join(format!("kulink-faults-{}-{module}.xml", std::process::id()));
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["test", "--module"])
        .arg(fixture(module))
        .args(["--shell", "--json", "--timeout", "3", "--junit"])
        .arg(&junit)
        .args(more)
        .args(["--", "/bin/sh", "-c", script])
        .env("KULINK_KERNELS", kulink::testbed::kernels::default_spec().unwrap().id)
        .output()
        .unwrap();
    let told = Told {
        code: status.code(),
        json: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        junit: std::fs::read_to_string(&junit).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&junit);
    told
}

/// Rust's Debug text: a struct's `Name { field: `, an `Option` or
/// `Result` around a value, a vector of quoted strings.
fn debug_text(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let struct_like = words.windows(3).find(|w| {
        w[0].chars().next().is_some_and(char::is_uppercase)
            && w[0].chars().all(char::is_alphanumeric)
            && w[1] == "{"
            && w[2].ends_with(':')
            && w[2].trim_end_matches(':').chars().all(|c| c.is_ascii_lowercase() || c == '_')
    });
    if let Some(w) = struct_like {
        return Some(w.join(" "));
    }
    ["Some(", "None,", "Ok(", "Err(", "[\"", "\\\"", "\\n"]
        .iter()
        .find(|pattern| text.contains(*pattern))
        .map(|pattern| (*pattern).to_owned())
}

/// Returns the failed run's evidence directory, from the JSON report.
fn assert_told_as_the_module_s_failure(module: &str, script: &str, sentence: &str) -> Option<PathBuf> {
    let told = kulink_test(module, script);
    assert_eq!(told.code, Some(1), "{module}: the module's failure:\n{}", told.stderr);
    let report: serde_json::Value = serde_json::from_str(&told.json).unwrap_or_else(|e| panic!("{e}: {}", told.json));
    // JSON escapes quotes and newlines: its strings' values are what a user reads.
    let mut messages = Vec::new();
    collect_strings(&report, &mut messages);
    assert!(messages.iter().any(|m| m.contains(sentence)), "{module}: the JSON report says it: {report:#}");
    assert!(told.junit.contains("<failure") && told.junit.contains(sentence), "{module}: {}", told.junit);
    for (what, text) in
        [("stderr", &told.stderr), ("JUnit", &told.junit)].into_iter().chain(messages.iter().map(|m| ("JSON", m)))
    {
        if let Some(found) = debug_text(text) {
            panic!("{module}: Rust Debug text ({found}) in {what}:\n{text}");
        }
    }
    report[0]["evidence"].as_str().map(PathBuf::from)
}

/// `kulink report` reads a failed run's evidence again: the Oops with its
/// source lines, and the kernel log at every level, the module's own
/// `pr_info` line included, which the console's loglevel hid.
fn assert_the_evidence_is_read_again(evidence: &Path) {
    let source = fixture("nullwrite").join("kulink_nullwrite.c");
    let out = Command::new(env!("CARGO_BIN_EXE_kulink")).arg("report").arg(evidence).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a splat in the evidence: {text}");
    assert!(text.contains("RIP: 0010:nullwrite_store+0x"), "{text}");
    assert!(text.contains(&format!("at {}:", source.display())), "{text}");
    assert!(text.contains("call trace:\n        nullwrite_write+0x"), "{text}");
    let ready = "] kulink_nullwrite: ready at /proc/kulink_nullwrite";
    let kernel_log = std::fs::read_to_string(evidence.join("kernel.log")).unwrap();
    assert!(kernel_log.lines().any(|l| l.starts_with("<6>[") && l.ends_with(ready)), "{kernel_log}");
    let console = std::fs::read_to_string(evidence.join("console.log")).unwrap();
    assert!(!console.contains(ready), "the console's loglevel hides pr_info: {console}");
    let json = Command::new(env!("CARGO_BIN_EXE_kulink")).arg("report").arg(evidence).arg("--json").output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(json["splats"].as_array().is_some_and(|s| s.iter().any(|s| s["trace"].is_array())), "{json:#}");
    std::fs::remove_dir_all(evidence).unwrap();
}

/// A WARN that a known-bugs entry accepts passes, and the report says which
/// entry accepted it and until when.
fn assert_an_accepted_splat_is_reported() {
    let file = std::env::temp_dir().join(format!("kulink-faults-known-{}.toml", std::process::id()));
    let entry =
        "[[accept]]\npattern = \"kulink_warner_init\"\nreason = \"the fixture's own\"\nuntil = \"2999-12-31\"\n";
    std::fs::write(&file, entry).unwrap();
    let told = kulink_test_with("warner", "true", &["--known-bugs", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(told.code, Some(0), "accepted, so passed: {}", told.stderr);
    let report: serde_json::Value = serde_json::from_str(&told.json).unwrap();
    let accepted = report[0]["accepted"].as_array().unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(accepted[0]["splat"]["kind"], "WARN", "{report:#}");
    assert_eq!(
        (accepted[0]["reason"].as_str(), accepted[0]["until"].as_str()),
        (Some("the fixture's own"), Some("2999-12-31"))
    );
    assert_eq!(report[0]["splats"].as_array().map(Vec::len), Some(0), "{report:#}");
}

fn collect_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => into.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

fn a_module_s_faults_are_its_failures_told_in_sentences() {
    assert_told_as_the_module_s_failure(
        "unbuildable",
        "true",
        "kulink_unbuildable.c:11:16: error: implicit declaration of function",
    );
    assert_told_as_the_module_s_failure(
        "refuser",
        "true",
        "kulink_refuser.ko failed to load: the kernel refused it with EBUSY: Device or resource busy",
    );
    assert_told_as_the_module_s_failure("panicker", "true", "the kernel panicked while loading kulink_panicker.ko");
    // An Oops in its init: the agent's loading child dies, the guest does not.
    let source = fixture("initoops").join("kulink_initoops.c");
    assert_told_as_the_module_s_failure("initoops", "true", &format!("at {}:", source.display()));
    let evidence = assert_told_as_the_module_s_failure(
        "nullwrite",
        "echo 1 > /proc/kulink_nullwrite",
        "RIP: 0010:nullwrite_store+0x",
    );
    assert_the_evidence_is_read_again(&evidence.expect("a failed run names its evidence"));
    assert_told_as_the_module_s_failure(
        "sleeper",
        "echo 1 > /proc/kulink_sleeper",
        "stuck in uninterruptible sleep in sleeper_write [kulink_sleeper] ← ",
    );
    assert_told_as_the_module_s_failure("warner", "true", "RIP: 0010:kulink_warner_init+0x");
    assert_an_accepted_splat_is_reported();
}

/// A test that fails and then passes when run again is flaky: reported
/// so in the JSON and JUnit, with its failed run's evidence, and failed
/// unless flakes are accepted.
fn a_test_that_fails_once_is_reported_flaky() {
    // Fails on the first run only: the command sees which run it is.
    let script = "[ \"$KULINK_ATTEMPT\" -gt 1 ]";
    for (accept, code) in [(false, 1), (true, 0)] {
        let more: &[&str] = if accept { &["--retries", "2", "--accept-flaky"] } else { &["--retries", "2"] };
        let told = kulink_test_with("nullwrite", script, more);
        assert_eq!(told.code, Some(code), "accepted: {accept}:\n{}", told.stderr);
        let report: serde_json::Value =
            serde_json::from_str(&told.json).unwrap_or_else(|e| panic!("{e}: {}", told.json));
        let report = &report[0];
        assert_eq!((report["flaky"].as_bool(), report["passed"].as_bool()), (Some(true), Some(accept)), "{report:#}");
        let failed = report["failed_runs"].as_array().unwrap_or_else(|| panic!("{report:#}"));
        assert_eq!(failed.len(), 1, "one failed run, then a passing one: {report:#}");
        assert_eq!(failed[0]["ran"]["code"], 1, "{report:#}");
        let evidence = failed[0]["evidence"].as_str().expect("the failed run keeps its evidence");
        std::fs::remove_dir_all(evidence).unwrap();
        assert!(told.junit.contains("<testcase name=\"flaky\""), "{}", told.junit);
        // An accepted flake is a success with a flaky rerun; else a failure with one.
        let rerun = if accept { "<flakyFailure" } else { "<rerunFailure" };
        assert!(told.junit.contains(rerun), "{}", told.junit);
    }
}

/// A module that WARNs and then hangs its writer: the verdict names both,
/// the WARN with its place in the source and the task stuck in the module.
fn a_warn_before_a_hang_is_reported_with_it() {
    let script = "echo warn > /proc/kulink_splatter; echo hang > /proc/kulink_splatter";
    let told = kulink_test("splatter", script);
    assert_eq!(told.code, Some(1), "{}", told.stderr);
    let report: serde_json::Value = serde_json::from_str(&told.json).unwrap_or_else(|e| panic!("{e}: {}", told.json));
    let report = &report[0];
    let source = fixture("splatter").join("kulink_splatter.c");
    let stuck = report["stuck"].as_str().unwrap_or_else(|| panic!("the hang is told: {report:#}"));
    assert!(stuck.contains("in splatter_write [kulink_splatter] ← "), "{stuck}");
    assert!(stuck.contains(&format!("[kulink_splatter] at {}:", source.display())), "{stuck}");
    let splats = report["splats"].as_array().unwrap_or_else(|| panic!("{report:#}"));
    let kinds: Vec<&str> = splats.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["WARN"], "the WARN is kept beside the hang: {report:#}");
    let warned_at = format!("at {}:", source.display());
    assert!(splats[0]["text"].as_str().is_some_and(|t| t.contains(&warned_at)), "{report:#}");
}

/// A healthy line that holds report words (`pr_warn("WARNING: this is
/// informational, not a BUG: ...")`) is no report: the test passes, and
/// the line was in the kernel's log.
fn an_informational_warning_line_passes() {
    let script = "echo info > /proc/kulink_splatter && dmesg | grep -c 'WARNING: this is informational'";
    let told = kulink_test("splatter", script);
    let report: serde_json::Value = serde_json::from_str(&told.json).unwrap_or_else(|e| panic!("{e}: {}", told.json));
    assert_eq!(told.code, Some(0), "{report:#}\n{}", told.stderr);
    let report = &report[0];
    assert_eq!(report["ran"]["stdout"], "1\n", "{report:#}");
    assert_eq!(report["splats"].as_array().map(Vec::len), Some(0), "{report:#}");
}

/// A kernel argument the kernel does not know (`panic_on_oops` is a sysctl,
/// not a parameter) is named, with what to write instead; the test runs.
fn a_kernel_argument_the_kernel_ignores_is_named() {
    let told = kulink_test_with("nullwrite", "true", &["--kernel-arg", "panic_on_oops=1"]);
    assert_eq!(told.code, Some(0), "{}", told.stderr);
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let said = format!("kernel {kernel}: it does not know the argument panic_on_oops=1 and handed it to user space");
    assert!(told.stderr.contains(&said), "{}", told.stderr);
    assert!(told.stderr.contains("oops=panic for kernel.panic_on_oops"), "{}", told.stderr);
}

fn debug_text_is_recognised() {
    assert_eq!(debug_text("Splat { kind: \"BUG\", line: 8 }").as_deref(), Some("Splat { kind:"));
    assert_eq!(debug_text("exited with Some(1)").as_deref(), Some("Some("));
    assert_eq!(debug_text("BUG at console line 8: [ 2.1] BUG: kernel NULL pointer dereference"), None);
    assert_eq!(debug_text("stuck in sleeper_write [kulink_sleeper] ← vfs_write { the fault }"), None);
}

kulink::kernel_tests!(
    once: a_module_s_faults_are_its_failures_told_in_sentences,
    a_test_that_fails_once_is_reported_flaky,
    a_warn_before_a_hang_is_reported_with_it,
    an_informational_warning_line_passes,
    a_kernel_argument_the_kernel_ignores_is_named,
    debug_text_is_recognised
);
