//! kulink's own suite is configured to end what hangs: every integration
//! test of every package (the end-to-end tests boot guests) has a
//! terminate-after in nextest's configuration, and every package or
//! binary a filter names exists.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn nextest_config() -> toml::Table {
    let text = std::fs::read_to_string(repo().join(".config/nextest.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn overrides(config: &toml::Table) -> Vec<&toml::Table> {
    let profile = config["profile"]["default"].as_table().unwrap();
    profile["overrides"].as_array().unwrap().iter().map(|o| o.as_table().unwrap()).collect()
}

fn terminates(o: &toml::Table) -> bool {
    o.get("slow-timeout")
        .and_then(|t| t.get("terminate-after"))
        .and_then(toml::Value::as_integer)
        .is_some_and(|n| n > 0)
}

#[test]
fn every_integration_test_of_every_package_has_a_terminate_after() {
    let config = nextest_config();
    let all = overrides(&config);
    let catch_all = all.iter().find(|o| o["filter"].as_str() == Some("kind(test)"));
    let catch_all = catch_all.expect("an override whose filter is every integration test, `kind(test)`");
    assert!(terminates(catch_all), "{catch_all:?}");
    for o in &all {
        let filter = o["filter"].as_str().unwrap();
        assert!(filter.contains("kind(test)"), "an override for integration tests alone: {filter}");
        assert!(terminates(o), "every override ends what it matches: {filter}");
    }
}

/// The names `word(...)` takes in `filter`.
fn named(filter: &str, word: &str) -> Vec<String> {
    filter.split(&format!("{word}(")).skip(1).filter_map(|rest| rest.split(')').next()).map(str::to_owned).collect()
}

#[test]
fn every_package_and_binary_a_filter_names_exists() {
    let metadata = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let package_names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let test_binaries: Vec<&str> = packages
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test")))
        .filter_map(|t| t["name"].as_str())
        .collect();
    for o in overrides(&nextest_config()) {
        let filter = o["filter"].as_str().unwrap();
        for package in named(filter, "package") {
            assert!(package_names.contains(&package.as_str()), "no package {package} ({filter})");
        }
        for binary in named(filter, "binary") {
            assert!(test_binaries.contains(&binary.as_str()), "no test binary {binary} ({filter})");
        }
    }
}

/// A test that said it could not run (`kulink::matrix::skipped`) is a
/// `<skipped>` case in test.sh's merged JUnit and counted skipped, not
/// passed; what other passing tests printed is left out.
#[test]
fn a_test_that_says_it_skipped_is_skipped_in_the_merged_junit() {
    let dir = std::env::temp_dir().join(format!("kulink-merge-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let said = format!("booting\n{}no source kernel is selected\n", kulink::matrix::SKIPPED);
    let run = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" skipped="0" time="1.0">
  <testsuite name="kulink-cli::bench" tests="3" failures="1" errors="0" skipped="0">
    <testcase name="skips" classname="kulink-cli::bench"><system-out>{said}</system-out></testcase>
    <testcase name="passes" classname="kulink-cli::bench"><system-out>fine</system-out></testcase>
    <testcase name="fails" classname="kulink-cli::bench"><failure message="no">no</failure></testcase>
  </testsuite>
</testsuites>
"#
    );
    std::fs::write(dir.join("in.xml"), run).unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/merge-junit.py"))
        .arg(dir.join("out.xml"))
        .arg(dir.join("in.xml"))
        .output()
        .unwrap();
    let totals = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{totals}");
    assert!(totals.contains(": 1 passed (0 of them flaky), 1 failed, 1 skipped"), "{totals}");
    let merged = std::fs::read_to_string(dir.join("out.xml")).unwrap();
    assert!(merged.contains(r#"<skipped message="no source kernel is selected" />"#), "{merged}");
    assert!(merged.contains(r#"skipped="1""#), "{merged}");
    assert!(!merged.contains("fine"), "a passing test's output is left out: {merged}");
    std::fs::remove_dir_all(&dir).unwrap();
}
