//! What the library's runs look like on a terminal: each report as a table,
//! and the pieces every table shares (the kernel log's verdict, JSON).

use std::fmt::Write;

use kulink_protocol::Ran;
use kulink_testbed::coverage::{self, FileCoverage};
use kulink_testbed::splat::Splat;
use serde::Serialize;

use crate::fuzz::{FuzzReport, Sender, Target};
use crate::ktap::Outcome;
use crate::module_test::ModuleTestReport;
use crate::outcome::RunOutcome;

/// The kernels that were judged; errors were named on stderr as they happened.
pub fn judged<R>(runs: &[RunOutcome<R>]) -> impl Iterator<Item = &R> {
    runs.iter().filter_map(|run| match run {
        RunOutcome::Report(report) => Some(report),
        RunOutcome::Error(_) => None,
    })
}

/// The kernel log's verdict, with each report in it.
pub fn kernel_log(s: &mut String, splats: &[Splat]) {
    if splats.is_empty() {
        let _ = writeln!(s, "kernel log: clean");
    } else {
        let _ = writeln!(s, "kernel log: {} report(s)", splats.len());
        for sp in splats {
            let _ = writeln!(s, "    {}: {}", sp.kind, sp.text);
            match (&sp.rip, &sp.source) {
                (Some(rip), Some(source)) => {
                    let _ = writeln!(s, "      {rip}\n      at {source}");
                }
                (Some(rip), None) => {
                    let _ = writeln!(s, "      {rip}");
                }
                (None, Some(source)) => {
                    let _ = writeln!(s, "      at {source}");
                }
                (None, None) => {}
            }
            if !sp.trace.is_empty() {
                let _ = writeln!(s, "      call trace:");
                for frame in &sp.trace {
                    let _ = writeln!(s, "        {frame}");
                }
            }
        }
    }
}

/// `value` as indented JSON, ending in a newline.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(value).expect("serializable") + "\n"
}

/// `kulink test`'s verdict on one kernel, for people.
pub fn module_test_table(report: &ModuleTestReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", report.kernel, report.kernel_release, report.accel);
    let _ = writeln!(s, "module  {}", report.module.display());
    for suite in &report.kunit {
        let count = |outcome| suite.cases.iter().filter(|c| c.result == outcome).count();
        let (pass, fail, skip) = (count(Outcome::Pass), count(Outcome::Fail), count(Outcome::Skip));
        let cut = if suite.finished { "" } else { ", cut short" };
        let _ = writeln!(s, "kunit   suite {}: {pass} passed, {fail} failed, {skip} skipped{cut}", suite.name);
    }
    if let Some(ran) = &report.ran {
        command_lines(&mut s, report, ran);
    }
    if let Some(stuck) = &report.stuck {
        let _ = writeln!(s, "command {}: {stuck}", report.command.join(" "));
    }
    if let Some(ktap) = &report.ktap {
        let count = |outcome| ktap.cases.iter().filter(|c| c.result == outcome).count();
        let (pass, fail, skip) = (count(Outcome::Pass), count(Outcome::Fail), count(Outcome::Skip));
        let _ = writeln!(s, "ktap    {pass} passed, {fail} failed, {skip} skipped");
    }
    if report.frames_replayed > 0 {
        let _ = writeln!(s, "pcap    {} frames replayed before the command", report.frames_replayed);
    }
    if !report.messages.is_empty() {
        let _ = writeln!(s, "netlink {} message(s):", report.messages.len());
        for m in &report.messages {
            let _ = writeln!(s, "    {} {}", m.op, serde_json::to_string(&m.attrs).unwrap_or_default());
        }
    }
    if !report.netlink.is_empty() {
        let _ = writeln!(s, "netlink {} record(s) of classic protocols:", report.netlink.len());
        for r in &report.netlink {
            let shown = match &r.message {
                Some(m) => format!("{} {}", m.op, serde_json::to_string(&m.attrs).unwrap_or_default()),
                None => serde_json::to_string(&r.record).unwrap_or_default(),
            };
            let _ = writeln!(s, "    {} {shown}", r.protocol);
        }
    }
    for problem in &report.problems {
        let _ = writeln!(s, "problem {problem}");
    }
    if !report.coverage.is_empty() {
        let _ = writeln!(s, "coverage {}", coverage_line(&coverage::total(&report.coverage)));
    }
    kernel_log(&mut s, &report.splats);
    for known in &report.accepted {
        let _ = writeln!(s, "accepted until {} ({}): {}", known.until, known.reason, known.splat);
    }
    if !report.failed_runs.is_empty() {
        let runs = report.failed_runs.len() + 1;
        let failed = report.failed_runs.len() + usize::from(!report.flaky);
        let kept: Vec<String> =
            report.failed_runs.iter().filter_map(|r| r.evidence.as_ref()).map(|e| e.display().to_string()).collect();
        let _ = writeln!(s, "runs    {failed} of {runs} failed; the failed runs' evidence: {}", kept.join(", "));
        for (n, run) in report.failed_runs.iter().enumerate() {
            let why = run.problems.first().cloned().or_else(|| run.splats.first().map(|sp| sp.to_string()));
            let why = why.or_else(|| run.ran.as_ref().map(|ran| format!("the command: {}", how_it_ended(ran))));
            let _ = writeln!(s, "run {}   {}", n + 1, why.unwrap_or_else(|| "failed".into()));
        }
    }
    let verdict = match (report.flaky, report.passed) {
        (true, true) => "FLAKY (accepted)",
        (true, false) => "FLAKY",
        (false, true) => "PASSED",
        (false, false) => "FAILED",
    };
    let _ = writeln!(s, "\n{verdict}");
    s
}

/// Lines and functions run, in figures and percent.
fn coverage_line(figures: &FileCoverage) -> String {
    format!(
        "{}/{} lines ({:.1}%), {}/{} functions ({:.1}%)",
        figures.lines_hit,
        figures.lines,
        figures.line_percent(),
        figures.functions_hit,
        figures.functions,
        figures.function_percent()
    )
}

/// Coverage merged across runs: a line per source file (under the current
/// directory, by its path from there), then the total.
pub fn coverage_table(files: &[FileCoverage]) -> String {
    let here = std::env::current_dir().ok().and_then(|dir| dir.canonicalize().ok()).unwrap_or_default();
    let rows: Vec<(String, String)> = files
        .iter()
        .chain([&coverage::total(files)])
        .map(|f| (f.file.strip_prefix(&here).unwrap_or(&f.file).display().to_string(), coverage_line(f)))
        .collect();
    let width = rows.iter().map(|(file, _)| file.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (file, figures) in rows {
        let _ = writeln!(s, "{file:<width$}  {figures}");
    }
    s
}

/// How a command ended, in words: `exit 0`, `killed at its timeout`...
pub fn how_it_ended(ran: &Ran) -> String {
    match (ran.code, ran.signal) {
        _ if ran.timed_out => "killed at its timeout".to_owned(),
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended without a status".to_owned(),
    }
}

/// How the command ended, and what it wrote.
fn command_lines(s: &mut String, report: &ModuleTestReport, ran: &Ran) {
    let _ = writeln!(s, "command {}: {}", report.command.join(" "), how_it_ended(ran));
    if let Some(address) = report.netns_address {
        let _ = writeln!(s, "netns   its own network and user namespaces, eth0 at {address}");
    }
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        if !text.is_empty() {
            let _ = writeln!(s, "--- {name} ---\n{}", text.trim_end_matches('\n'));
        }
    }
    if ran.truncated {
        let _ = writeln!(s, "(output cut at {} bytes a stream)", kulink_protocol::OUTPUT_LIMIT);
    }
}

/// What a fuzz run sent and how it was answered, for people.
pub fn fuzz_table(report: &FuzzReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({})", report.kernel, report.kernel_release);
    let t = &report.tally;
    let sender = match t.sender {
        Sender::Root => "root",
        Sender::Unprivileged => "uid 65534 without capabilities",
    };
    let (what, to, kind) = match &report.target {
        Target::Family(family) => ("messages to", family, "mutation"),
        Target::Device(device) => ("calls on", device, "call"),
    };
    let _ = writeln!(s, "sent    {} {what} {to} as {sender} (seed {})\n", t.sent, report.seed);
    let _ = writeln!(s, "{kind:<28} answers");
    for (mutation, outcomes) in &t.by_mutation {
        let answers: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(s, "{mutation:<28} {}", answers.join(", "));
    }
    match report.target {
        Target::Device(_) => {
            let _ = writeln!(s, "\nproblems: {}", t.unexpected);
        }
        Target::Family(_) => {
            let _ = writeln!(s, "\nanswered as the netlink core promises: {}/{}", t.sent - t.unexpected, t.sent);
        }
    }
    for p in &t.problems {
        let _ = writeln!(s, "    {p}");
    }
    kernel_log(&mut s, &report.splats);
    let _ = writeln!(s, "\n{}", if report.passed { "PASSED" } else { "FAILED" });
    s
}
