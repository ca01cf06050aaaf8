//! A module's KUnit suites, run in the guest: a test module loads, KUnit
//! runs its suites as it loads, and the kernel log carries each suite's
//! KTAP (`Documentation/dev-tools/ktap.rst`), which is read here case by
//! case. The log is the one place every kernel since 5.10 writes them,
//! with or without `CONFIG_KUNIT_DEBUGFS`.
//!
//! With the library, a test module is the last module, kept for later:
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let mut vm = kulink::GuestBuilder::kernel_id("6.1")
//!     .module("examples/udpcount/module")
//!     .module("examples/udpcount/kunit")
//!     .load_at_boot(false)
//!     .needs_option("CONFIG_KUNIT", "KUnit suites")
//!     .boot()?;
//! let suites = kulink::kunit::run(&mut vm)?;
//! let problems = kulink::kunit::problems(&suites, "udpcount_kunit");
//! assert!(problems.is_empty(), "{problems:#?}");
//! vm.shutdown()?.check()?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use anyhow::Result;
use kulink_protocol::Extension;
use kulink_testbed::vm::Vm;
use serde::Serialize;

use crate::ktap::{self, Outcome};

/// One suite as the log told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suite {
    /// The suite's name (`struct kunit_suite`'s `.name`).
    pub name: String,
    /// Each case, in order; a parameterised case counts once, as KUnit
    /// sums it up.
    pub cases: Vec<Case>,
    /// The suite's own result line came: it did not die half-way.
    pub finished: bool,
}

/// One case of a suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The case's name.
    pub name: String,
    /// Passed, failed or skipped.
    pub result: Outcome,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What KUnit said of a failed case: the expectation, its file:line,
    /// the values compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

impl Suite {
    /// What went wrong: each failed case with KUnit's words, and a suite
    /// cut short.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .cases
            .iter()
            .filter(|c| c.result == Outcome::Fail)
            .map(|c| match c.log.is_empty() {
                true => format!("KUnit case {}.{} failed", self.name, c.name),
                false => format!("KUnit case {}.{} failed: {}", self.name, c.name, c.log.join("; ")),
            })
            .collect();
        if !self.finished {
            let last = self.cases.last().map_or("before its first case".into(), |c| format!("after case {}", c.name));
            problems.push(format!("KUnit suite {} did not finish: it stopped {last}", self.name));
        }
        problems
    }
}

/// Loads the guest's module under test, a test module booted unloaded
/// (see [`GuestBuilder::load_at_boot`](crate::GuestBuilder::load_at_boot)),
/// and reads the suites it ran: KUnit runs them while the module loads,
/// so once the load returns the log holds them all. [`problems`] says
/// what went wrong, a test module that ran no suite among it.
pub fn run<X: Extension>(vm: &mut Vm<X>) -> Result<Vec<Suite>> {
    let before = suites(&vm.kernel_log()?).len();
    vm.load_module("")?;
    Ok(suites(&vm.kernel_log()?).into_iter().skip(before).collect())
}

/// Says the test module's source directory where KUnit's words name the
/// copy it was built from (`EXPECTATION FAILED at <built>/file.c:16`).
pub fn point_at_source(suites: &mut [Suite], built: &Path, source: &Path) {
    let (built, source) = (built.display().to_string(), source.display().to_string());
    for line in suites.iter_mut().flat_map(|s| &mut s.cases).flat_map(|c| &mut c.log) {
        *line = line.replace(&built, &source);
    }
}

/// Each suite's problems, or that `module` ran none.
pub fn problems(suites: &[Suite], module: &str) -> Vec<String> {
    if suites.is_empty() {
        return vec![format!("{module} loaded but ran no KUnit suite: does it declare one with kunit_test_suites()?")];
    }
    suites.iter().flat_map(Suite::problems).collect()
}

/// Every suite in a kernel log, as `klogctl` or the console gives it
/// (`<6>[    1.234567] text`) or bare. Other messages may come between
/// KUnit's lines: only KTAP's own lines count, by their indentation.
pub fn suites(log: &str) -> Vec<Suite> {
    let mut done = Vec::new();
    // The suites and parameterised cases open here, with their lines' indentation.
    let mut open: Vec<(Suite, usize)> = Vec::new();
    let mut said: Vec<String> = Vec::new();
    for line in log.lines().map(message) {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if let Some(name) = text.strip_prefix("# Subtest:") {
            open.push((Suite { name: name.trim().to_owned(), cases: Vec::new(), finished: false }, indent));
            said.clear();
            continue;
        }
        let Some(result) = ktap::Case::parse(text) else {
            let inside = open.last().is_some_and(|(_, at)| indent >= *at);
            if inside && !text.is_empty() && !text.starts_with("KTAP version") && !text.starts_with("1..") {
                said.push(text.to_owned());
            }
            continue;
        };
        let log = match result.result {
            Outcome::Fail => said.iter().map(|l| unprefixed(l, &result.name).to_owned()).collect(),
            _ => Vec::new(),
        };
        let case = Case { name: result.name, result: result.result, reason: result.reason, log };
        said.clear();
        match open.last_mut() {
            Some((suite, at)) if *at == indent => suite.cases.push(case),
            Some((_, at)) if *at > indent => {
                let (mut closed, _) = open.pop().expect("an open suite");
                closed.finished = true;
                match open.last_mut() {
                    // A parameterised case's sum: a case of the suite around it.
                    Some((outer, at)) if *at == indent => outer.cases.push(case),
                    _ => done.push(closed),
                }
            }
            _ => {}
        }
    }
    // What is still open was cut short; its cases are what the log kept.
    done.extend(open.into_iter().map(|(suite, _)| suite).take(1));
    done
}

/// KUnit's `# case: ` before what it says of a case, taken off.
fn unprefixed<'a>(line: &'a str, case: &str) -> &'a str {
    let Some(said) = line.strip_prefix("# ") else { return line };
    said.strip_prefix(case).and_then(|r| r.strip_prefix(": ")).unwrap_or(said)
}

/// A log line without its `<level>` and `[time] ` prefixes, its
/// indentation kept.
fn message(line: &str) -> &str {
    let line = match line.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((level, rest)) if level.chars().all(|c| c.is_ascii_digit() || c == ',') => rest,
        _ => line,
    };
    match line.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((time, rest)) if time.trim().chars().all(|c| c.is_ascii_digit() || c == '.') => rest,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6.1 kernel's log of a test module with a failed expectation, a
    /// skipped case and a parameterised one, among other messages.
    const LOG_6_1: &str = "<6>[    2.100000] udpcount: loaded, every 4\n\
        <6>[    2.200000]     KTAP version 1\n\
        <6>[    2.200001]     # Subtest: udpcount\n\
        <6>[    2.200002]     1..4\n\
        <6>[    2.200003]     ok 1 udpcount_test_due\n\
        <3>[    2.200004]     # udpcount_test_every: EXPECTATION FAILED at udpcount_kunit.c:31\n\
        <3>[    2.200005]     Expected udpcount_every_valid(0) == true, but\n\
        <3>[    2.200006]         udpcount_every_valid(0) == 0\n\
        <6>[    2.200007]     not ok 2 udpcount_test_every\n\
        <6>[    2.200008]     ok 3 udpcount_test_ipv6 # SKIP no IPv6 here\n\
        <6>[    2.200009]         KTAP version 1\n\
        <6>[    2.200010]         # Subtest: udpcount_test_ports\n\
        <6>[    2.200011]         ok 1 port 53\n\
        <6>[    2.200012]         ok 2 port 5000\n\
        <6>[    2.200013]     # udpcount_test_ports: pass:2 fail:0 skip:0 total:2\n\
        <6>[    2.200014]     ok 4 udpcount_test_ports\n\
        <6>[    2.200015] # udpcount: pass:2 fail:1 skip:1 total:4\n\
        <6>[    2.200016] # Totals: pass:3 fail:1 skip:1 total:5\n\
        <6>[    2.200017] not ok 1 udpcount\n";

    #[test]
    fn a_suite_s_cases_are_read_with_what_kunit_said_of_a_failure() {
        let suites = suites(LOG_6_1);
        assert_eq!(suites.len(), 1, "{suites:#?}");
        let suite = &suites[0];
        assert_eq!((suite.name.as_str(), suite.finished), ("udpcount", true));
        let got: Vec<_> = suite.cases.iter().map(|c| (c.name.as_str(), c.result, c.reason.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("udpcount_test_due", Outcome::Pass, None),
                ("udpcount_test_every", Outcome::Fail, None),
                ("udpcount_test_ipv6", Outcome::Skip, Some("no IPv6 here")),
                ("udpcount_test_ports", Outcome::Pass, None),
            ]
        );
        assert_eq!(
            suite.problems(),
            ["KUnit case udpcount.udpcount_test_every failed: EXPECTATION FAILED at udpcount_kunit.c:31; \
              Expected udpcount_every_valid(0) == true, but; udpcount_every_valid(0) == 0"]
        );
    }

    /// 5.10 writes TAP 14 with `- ` before names; a second suite follows.
    #[test]
    fn a_5_10_log_with_two_suites_is_read_the_same_way() {
        let log = "[    1.0] TAP version 14\n[    1.0] 1..2\n[    1.1]     # Subtest: first\n[    1.1]     1..1\n\
                   [    1.2]     ok 1 - one\n[    1.3] ok 1 - first\n[    1.4]     # Subtest: second\n\
                   [    1.4]     1..1\n[    1.5]     ok 1 - two\n[    1.6] ok 2 - second\n";
        let names: Vec<(String, Vec<String>)> =
            suites(log).into_iter().map(|s| (s.name, s.cases.into_iter().map(|c| c.name).collect())).collect();
        assert_eq!(names, [("first".into(), vec!["one".into()]), ("second".into(), vec!["two".into()])]);
    }

    #[test]
    fn a_suite_cut_short_is_a_problem_naming_its_last_case() {
        let log = "    # Subtest: crashy\n    1..3\n    ok 1 fine\nBUG: kernel NULL pointer dereference\n";
        let suites = suites(log);
        assert_eq!(suites.len(), 1);
        assert_eq!(suites[0].problems(), ["KUnit suite crashy did not finish: it stopped after case fine"]);
        assert!(super::suites("udpcount: loaded\nok 1 not kunit\n").is_empty());
    }
}
