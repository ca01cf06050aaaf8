//! KTAP, the kernel selftests' result format (`Documentation/dev-tools/ktap.rst`):
//! a guest command that prints it has each test case judged on its own.
//! The top-level results are read; indented subtests are left to their
//! parent's line.

use serde::Serialize;

/// A command's KTAP output.
///
/// ```
/// use kulink::ktap::{Ktap, Outcome};
///
/// let ktap = Ktap::parse("KTAP version 1\n1..2\nok 1 counts\nnot ok 2 every\n").unwrap();
/// assert_eq!(ktap.planned, Some(2));
/// assert_eq!(ktap.cases[1].result, Outcome::Fail);
/// assert_eq!(ktap.problems(), ["KTAP test 2 every failed"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ktap {
    /// The `1..N` line's N.
    pub planned: Option<u32>,
    /// Each result line of the top level, in order.
    pub cases: Vec<Case>,
}

/// One `ok` / `not ok` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// Its test number.
    pub number: u32,
    /// The description after the number.
    pub name: String,
    /// Passed, failed or skipped.
    pub result: Outcome,
    /// What follows `# SKIP` or `# TODO`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
/// How a KTAP case ended.
pub enum Outcome {
    /// `ok`.
    Pass,
    /// `not ok`.
    Fail,
    /// A `# SKIP` or `# TODO` case, whether `ok` or not.
    Skip,
}

impl Ktap {
    /// The KTAP in `output`, if it has a version line (`KTAP version 1`,
    /// or TAP's `TAP version 13`).
    pub fn parse(output: &str) -> Option<Self> {
        let mut lines = output.lines().skip_while(|l| !(l.starts_with("KTAP version") || l.starts_with("TAP version")));
        lines.next()?;
        let mut ktap = Ktap { planned: None, cases: Vec::new() };
        for line in lines {
            // Subtests are indented; their parent's line sums them up.
            if line.starts_with(char::is_whitespace) {
                continue;
            }
            if let Some(n) = line.strip_prefix("1..").and_then(|n| n.trim().parse().ok()) {
                ktap.planned = Some(n);
            } else if let Some(case) = Case::parse(line) {
                ktap.cases.push(case);
            }
        }
        Some(ktap)
    }

    /// What went wrong: every failed case, and a plan the results missed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .cases
            .iter()
            .filter(|c| c.result == Outcome::Fail)
            .map(|c| format!("KTAP test {} {} failed", c.number, c.name))
            .collect();
        if let Some(planned) = self.planned.filter(|&n| n as usize != self.cases.len()) {
            problems.push(format!("KTAP planned {planned} tests, {} reported", self.cases.len()));
        }
        problems
    }
}

impl Case {
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let (passed, rest) = match line.strip_prefix("not ok ") {
            Some(rest) => (false, rest),
            None => (true, line.strip_prefix("ok ")?),
        };
        let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let number = number.parse().ok()?;
        let (name, directive) = match rest.split_once('#') {
            Some((name, directive)) => (name, Some(directive.trim())),
            None => (rest, None),
        };
        let name = name.trim().trim_start_matches("- ").to_owned();
        let skip = directive.and_then(|d| {
            let upper = d.to_ascii_uppercase();
            (upper.starts_with("SKIP") || upper.starts_with("TODO")).then(|| d[4..].trim().to_owned())
        });
        let result = match (&skip, passed) {
            (Some(_), _) => Outcome::Skip,
            (None, true) => Outcome::Pass,
            (None, false) => Outcome::Fail,
        };
        Some(Case { number, name, result, reason: skip.filter(|r| !r.is_empty()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_skips_and_subtests_are_read() {
        let out = "noise before\nKTAP version 1\n1..4\n    KTAP version 1\n    1..1\n    not ok 1 inner\n\
                   not ok 1 parent\nok 2 - counts\nok 3 needs_ipv6 # SKIP no IPv6\n# a diagnostic\nnot ok 4 flaky # TODO later\n";
        let ktap = Ktap::parse(out).unwrap();
        assert_eq!(ktap.planned, Some(4));
        let got: Vec<_> =
            ktap.cases.iter().map(|c| (c.number, c.name.as_str(), c.result, c.reason.as_deref())).collect();
        assert_eq!(
            got,
            [
                (1, "parent", Outcome::Fail, None),
                (2, "counts", Outcome::Pass, None),
                (3, "needs_ipv6", Outcome::Skip, Some("no IPv6")),
                (4, "flaky", Outcome::Skip, Some("later")),
            ]
        );
        assert_eq!(ktap.problems(), ["KTAP test 1 parent failed"]);
    }

    #[test]
    fn a_short_plan_is_a_problem_and_plain_output_is_not_ktap() {
        let ktap = Ktap::parse("TAP version 13\n1..3\nok 1 a\n").unwrap();
        assert_eq!(ktap.problems(), ["KTAP planned 3 tests, 1 reported"]);
        assert_eq!(Ktap::parse("ok 1 looks like tap\n"), None);
    }
}
