//! `kulink test --summary FILE`: the verdicts as a Markdown table, one row
//! per kernel, appended to FILE. GitHub shows `$GITHUB_STEP_SUMMARY` on
//! the job's page: there a reader sees at a glance which kernels passed,
//! whether they ran under KVM or TCG, how they started, and what was
//! tested.

use std::fmt::Write;

use kulink::ktap::Outcome;
use kulink::module_test::ModuleTestReport;
use kulink::outcome::RunOutcome;
use kulink::render::how_it_ended;
use kulink::testbed::vm::Started;

/// The table for every kernel's outcome, under a heading.
pub fn markdown(runs: &[RunOutcome<ModuleTestReport>]) -> String {
    let mut s =
        String::from("### kulink test\n\n| kernel | verdict | accelerator | start | tested |\n|---|---|---|---|---|\n");
    for run in runs {
        let row = match run {
            RunOutcome::Report(r) => {
                [format!("{} ({})", r.kernel, r.kernel_release), verdict(r), r.accel.clone(), start(r), tested(r)]
            }
            RunOutcome::Error(e) => {
                let whose = if e.exit_code == kulink::EXIT_FAILED { "failed" } else { "error" };
                let first = e.error.lines().next().unwrap_or_default();
                [e.kernel.clone(), format!("**{whose}**: {first}"), String::new(), String::new(), String::new()]
            }
        };
        let cells: Vec<String> = row.iter().map(|cell| cell.replace('|', "\\|").replace('\n', " ")).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

fn verdict(r: &ModuleTestReport) -> String {
    let runs = r.failed_runs.len() + 1;
    match (r.flaky, r.passed) {
        (true, true) => return format!("flaky (accepted): failed {} of {runs} runs", runs - 1),
        (true, false) => return format!("**flaky**: failed {} of {runs} runs", runs - 1),
        (false, true) => return "passed".into(),
        (false, false) => {}
    }
    let why = r
        .problems
        .first()
        .cloned()
        .or_else(|| r.splats.first().map(|splat| format!("kernel log: {}", splat.text)))
        .or_else(|| r.ran.as_ref().map(|ran| format!("command: {}", how_it_ended(ran))))
        .unwrap_or_default();
    format!("**failed**: {why}")
}

fn start(r: &ModuleTestReport) -> String {
    match &r.started {
        Started::Booted { boot_ms } => format!("booted: ready at {boot_ms} ms uptime, {} ms wall", r.wall_boot_ms),
        Started::Restored { .. } => format!("restored: ready in {} ms wall", r.wall_boot_ms),
    }
}

fn tested(r: &ModuleTestReport) -> String {
    let mut parts = Vec::new();
    let kunit: Vec<_> = r.kunit.iter().flat_map(|s| &s.cases).collect();
    if !kunit.is_empty() {
        let passed = kunit.iter().filter(|c| c.result == Outcome::Pass).count();
        parts.push(format!("KUnit {passed}/{} passed", kunit.len()));
    }
    if let Some(ktap) = &r.ktap {
        let passed = ktap.cases.iter().filter(|c| c.result == Outcome::Pass).count();
        parts.push(format!("KTAP {passed}/{} passed", ktap.cases.len()));
    }
    if let Some(ran) = &r.ran {
        parts.push(format!("`{}`: {}", r.command.join(" "), how_it_ended(ran)));
    }
    if !r.messages.is_empty() {
        parts.push(format!("{} generic netlink messages", r.messages.len()));
    }
    if !r.netlink.is_empty() {
        parts.push(format!("{} netlink datagrams", r.netlink.len()));
    }
    parts.push(if r.kernel_log_clean { "kernel log clean".into() } else { format!("{} splats", r.splats.len()) });
    parts.join(", ")
}
