//! `kulink test --junit FILE`: the verdicts as JUnit XML, which CI systems
//! show test by test. One suite per kernel; in it each KUnit case, the
//! command, each of its KTAP cases, the netlink messages and the kernel log
//! are test cases.

use kulink::testbed::splat::Splat;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use kulink::ktap::Outcome;
use kulink::module_test::ModuleTestReport;
use kulink::outcome::RunOutcome;

/// The XML for every kernel's outcome.
pub fn render(runs: &[RunOutcome<ModuleTestReport>]) -> String {
    let mut report = Report::new("kulink test");
    for run in runs {
        report.add_test_suite(match run {
            RunOutcome::Report(r) => suite(r),
            RunOutcome::Error(e) => {
                let mut suite = TestSuite::new(format!("kernel {}", e.kernel));
                // The module's failure (it did not build or load, the kernel
                // died of it) fails the test; an error is kulink's own.
                let kind =
                    if e.exit_code == kulink::EXIT_FAILED { NonSuccessKind::Failure } else { NonSuccessKind::Error };
                suite.add_test_case(case("boot", Some((kind, e.error.clone()))));
                suite
            }
        });
    }
    report.to_string().expect("JUnit XML from plain strings")
}

fn suite(r: &ModuleTestReport) -> TestSuite {
    let mut suite = TestSuite::new(format!("kernel {}", r.kernel));
    for kunit in &r.kunit {
        for c in &kunit.cases {
            let mut test = TestCase::new(format!("kunit {}.{}", kunit.name, c.name), status_of(c.result));
            if let Some(message) = c.reason.clone().or_else(|| (!c.log.is_empty()).then(|| c.log.join("\n"))) {
                test.status.set_message(message);
            }
            suite.add_test_case(test);
        }
    }
    // A suite cut short, or a test module that ran none.
    let kunit: Vec<&str> = r
        .problems
        .iter()
        .filter(|p| p.contains("KUnit ") && !p.starts_with("KUnit case "))
        .map(String::as_str)
        .collect();
    if !kunit.is_empty() {
        suite.add_test_case(case("kunit", Some((NonSuccessKind::Failure, kunit.join("\n")))));
    }
    if let Some(ran) = &r.ran {
        let command_failed = (!ran.success()).then(|| {
            let how = match (ran.timed_out, ran.code, ran.signal) {
                (true, ..) => "killed at its timeout".to_owned(),
                (_, Some(code), _) => format!("exited with {code}"),
                (_, None, Some(signal)) => format!("killed by signal {signal}"),
                _ => "ended without a status".to_owned(),
            };
            (NonSuccessKind::Failure, format!("{} {how}", r.command.join(" ")))
        });
        let mut command = case("command", command_failed);
        command.set_system_out(ran.stdout.clone()).set_system_err(ran.stderr.clone());
        suite.add_test_case(command);
    }
    for c in r.ktap.iter().flat_map(|k| &k.cases) {
        let mut test = TestCase::new(format!("ktap {} {}", c.number, c.name), status_of(c.result));
        if let Some(reason) = &c.reason {
            test.status.set_message(reason.clone());
        }
        suite.add_test_case(test);
    }
    if let Some(stuck) = &r.stuck {
        suite.add_test_case(case(
            "command",
            Some((NonSuccessKind::Failure, format!("{}: {stuck}", r.command.join(" ")))),
        ));
    }
    let netlink: Vec<&String> =
        r.problems.iter().filter(|p| !p.starts_with("KTAP ") && !p.contains("KUnit ")).collect();
    let netlink_failed = (!netlink.is_empty())
        .then(|| (NonSuccessKind::Failure, netlink.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("\n")));
    suite.add_test_case(case("netlink messages", netlink_failed));
    suite
        .add_test_case(case("kernel log", (!r.kernel_log_clean).then(|| (NonSuccessKind::Failure, splats(&r.splats)))));
    if r.flaky {
        suite.add_test_case(flaky(r));
    }
    suite
}

/// A test that failed and then passed: a success with its failed runs as
/// flaky reruns when flakes are accepted, else a failure that says so.
fn flaky(r: &ModuleTestReport) -> TestCase {
    let message = format!("flaky: failed {} of {} runs", r.failed_runs.len(), r.failed_runs.len() + 1);
    let mut status = match r.passed {
        true => TestCaseStatus::success(),
        false => TestCaseStatus::non_success(NonSuccessKind::Failure),
    };
    for failed in &r.failed_runs {
        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
        let why = failed.problems.iter().cloned().chain(failed.splats.iter().map(Splat::to_string)).next();
        rerun.set_message(why.unwrap_or_else(|| "failed".into()));
        status.add_rerun(rerun);
    }
    if !r.passed {
        status.set_message(message.clone());
    }
    let mut case = TestCase::new("flaky", status);
    case.set_system_out(message);
    case
}

fn status_of(outcome: Outcome) -> TestCaseStatus {
    match outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
        Outcome::Skip => TestCaseStatus::skipped(),
    }
}

fn case(name: &str, failed: Option<(NonSuccessKind, String)>) -> TestCase {
    match failed {
        None => TestCase::new(name, TestCaseStatus::success()),
        Some((kind, message)) => {
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(message);
            TestCase::new(name, status)
        }
    }
}

fn splats(splats: &[Splat]) -> String {
    splats.iter().map(Splat::to_string).collect::<Vec<_>>().join("\n")
}
