//! Judging recorded runs: the verdict is computed from the run directory
//! alone, and `kulink report DIR` gives what the run printed, to the byte.
//! Nothing boots here.

use std::path::{Path, PathBuf};

use kulink_ko_suite::output;
use kulink_ko_suite::record::RunRecord;
use kulink_ko_suite::report::{ChannelReport, RunReport, Started};
use kulink_ko_suite::run;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn judged(name: &str) -> RunReport {
    run::judge(&RunRecord::load(&fixture(name)).unwrap()).unwrap()
}

/// The table and the JSON that the run saved beside its record.
fn saved(name: &str) -> (String, String) {
    let dir = fixture(name);
    (
        std::fs::read_to_string(dir.join("report.txt")).unwrap(),
        std::fs::read_to_string(dir.join("report.json")).unwrap(),
    )
}

#[test]
fn a_passing_run_judged_again_prints_what_it_printed() {
    let report = judged("passing");
    assert!(report.passed, "{}", output::table(&report));
    assert_eq!((report.injected, report.channels.len()), (8, 13));
    let (table, json) = saved("passing");
    assert_eq!(output::table(&report), table);
    assert_eq!(serde_json::to_string_pretty(&report).unwrap() + "\n", json);
}

#[test]
fn a_lost_event_and_a_splat_fail_the_run_and_are_named() {
    let report = judged("lost-event-and-splat");
    assert!(!report.passed);
    for channel in &report.channels {
        match channel {
            ChannelReport::Events(c) if c.name == "kthread-relay" => {
                assert_eq!((c.received, c.matched, c.lost, c.passed), (7, 7, 1, false), "{c:#?}")
            }
            other => assert!(other.passed(), "only the relay lost an event: {other:#?}"),
        }
    }
    assert!(!report.kernel_log_clean);
    assert_eq!(report.splats.len(), 1, "{:#?}", report.splats);
    assert_eq!(report.splats[0].kind, "WARN");
    assert!(report.splats[0].text.contains("WARNING: CPU: 0 PID: 9 at net/netlink/genetlink.c"));
    let (table, json) = saved("lost-event-and-splat");
    assert_eq!(output::table(&report), table);
    assert_eq!(serde_json::to_string_pretty(&report).unwrap() + "\n", json);
}

/// A run that started from a saved guest: its Ready is the saved boot's,
/// so the boot figure is told as that boot's, with when it was saved, and
/// the wall time as this run's.
#[test]
fn a_restored_run_tells_the_saved_boot_as_that() {
    let mut record = RunRecord::load(&fixture("passing")).unwrap();
    record.host.saved_at = Some("2026-12-05T03:40:00Z".into());
    let report = run::judge(&record).unwrap();
    let saved_at = "2026-12-05T03:40:00Z".to_owned();
    assert_eq!(report.started, Started::Restored { saved_at, saved_boot_ms: 1668 });
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["started"], "restored");
    assert_eq!((json.get("boot_ms"), &json["saved_boot_ms"]), (None, &serde_json::json!(1668)));
    assert_eq!(
        (&json["saved_at"], &json["wall_boot_ms"]),
        (&serde_json::json!("2026-12-05T03:40:00Z"), &serde_json::json!(2498))
    );
    let table = output::table(&report);
    let start = table.lines().nth(1).unwrap();
    assert_eq!(
        start,
        "start   restored in 2498 ms wall from a guest saved 2026-12-05T03:40:00Z \
         (that boot: agent ready at 1668 ms guest uptime)"
    );
    assert_eq!(judged("passing").started, Started::Booted { boot_ms: 1668 }, "a record without saved_at booted");
}

#[test]
fn a_directory_that_is_not_a_run_is_named() {
    let err = RunRecord::load(&fixture("")).unwrap_err();
    assert!(format!("{err:#}").contains("is not a run directory: it has no run.json"), "{err:#}");
}
