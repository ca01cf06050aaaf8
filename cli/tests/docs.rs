//! The documentation holds: the README stays short, every relative link in
//! it and in docs/ (and kulink.ko's page) reaches a file, and an anchor in
//! one a heading there; the environment table equals what `--help` prints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README, every page under docs/, and kulink.ko's page.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md"), repo().join("kulink-ko/README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped,
/// spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The targets of the page's inline links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|x| x == "md") {
                let there = std::fs::read_to_string(&target).unwrap();
                if !anchors(&there).contains(fragment) {
                    broken.push(format!("{}: {link}: no such heading", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_short() {
    let lines = std::fs::read_to_string(repo().join("README.md")).unwrap().lines().count();
    assert!(lines <= 250, "the README has {lines} lines; move detail to docs/");
}

#[test]
fn the_environment_table_is_what_help_prints() {
    let help = Command::new(env!("CARGO_BIN_EXE_kulink")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let section = help.split("Environment:\n").nth(1).expect("--help has an Environment section");
    let from_help: Vec<(String, String)> = section
        .lines()
        .map(|l| l.trim().split_once("  ").map(|(n, w)| (n.to_owned(), w.trim().to_owned())).unwrap())
        .collect();
    let page = std::fs::read_to_string(repo().join("docs/environment.md")).unwrap();
    let from_docs: Vec<(String, String)> = page
        .lines()
        .filter(|l| l.starts_with("| `KULINK_"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].trim_matches('`').to_owned(), cells[1].to_owned())
        })
        .collect();
    assert!(from_help.len() >= 10, "{from_help:?}");
    assert_eq!(from_docs, from_help, "docs/environment.md and `kulink --help` list the same variables, in order");
}

#[test]
fn the_links_and_anchors_are_read_as_github_reads_them() {
    assert_eq!(anchor(" Namespaces of its own: `kulink test --netns`"), "namespaces-of-its-own-kulink-test---netns");
    assert_eq!(links("see [a](docs/x.md#y) and [b](#c)\n```\n[no](z)\n```"), ["docs/x.md#y", "#c"]);
}

/// The numbers of a line: `ready 496 ms ... (uptimes 528, 524)` gives 496,
/// 528, 524; a minus sign is kept.
fn numbers(line: &str) -> Vec<i64> {
    line.split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .filter(|w| !w.is_empty() && *w != "-")
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn median(values: &mut [i64]) -> i64 {
    values.sort();
    values[(values.len() - 1) / 2]
}

/// docs/bench.md's boot run is one run's own output: each median is its
/// list's, each tuning step's saving is its figure less the ready figure,
/// and the start-up steps add up to the agent's ready line, which is the
/// ready figure by another clock.
#[test]
fn the_boot_figures_in_bench_md_are_one_run_s() {
    let text = std::fs::read_to_string(repo().join("docs/bench.md")).unwrap();
    let block = text.split("```\nkernel ").nth(1).expect("a `kulink bench boot` run in docs/bench.md");
    let block = block.split("```").next().unwrap();
    let line = |start: &str| block.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no {start} line"));
    let ready = numbers(line("ready "));
    let (ready_ms, uptimes) = (ready[0], &ready[3..]);
    assert_eq!(ready[2] as usize, uptimes.len(), "the boots' count");
    assert_eq!(median(&mut uptimes.to_vec()), ready_ms, "ready is the median of its boots");
    let restore = numbers(line("restore "));
    assert_eq!(median(&mut restore[2..].to_vec()), restore[0], "restore is the median of its starts");
    let mut steps = numbers(line("steps "));
    let by_log = steps.pop().expect("the steps' end by the kernel log's clock");
    assert_eq!(steps.iter().sum::<i64>(), by_log, "the steps add up to their end");
    // Two clocks: printk's for the log, CLOCK_BOOTTIME for the ready figure.
    assert!((by_log - ready_ms).abs() <= 30, "the log's ready at {by_log} ms, the figure {ready_ms} ms");
    for tuning in block.lines().filter(|l| l.starts_with("tuning ")) {
        let figures = numbers(tuning.split(" (").next().unwrap());
        let (saves, without) = (figures[0], figures[1]);
        assert_eq!(saves, without - ready_ms, "{tuning}");
    }
}
