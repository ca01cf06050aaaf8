//! The kernel-log judge on the corpus of labelled real logs in
//! testbed/kernel-logs: every report found with its culprit, and nothing
//! found in a clean log (precision and recall 100 % per kind). The corpus
//! has floors, so that it cannot shrink to what the judge gets right.

use std::path::Path;

use kulink_testbed::splat::corpus;

/// The logs the corpus holds at least, of them clean, and the kinds of
/// report its labels name.
const MIN_LOGS: usize = 310;
const MIN_CLEAN: usize = 94;
const MIN_KINDS: usize = 18;

#[test]
fn the_judge_finds_every_labelled_report_and_nothing_else() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel-logs");
    let logs = corpus::load(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    let score = corpus::score(&logs);
    assert!(score.logs >= MIN_LOGS, "the corpus has {} logs, fewer than {MIN_LOGS}", score.logs);
    assert!(score.clean >= MIN_CLEAN, "the corpus has {} clean logs, fewer than {MIN_CLEAN}", score.clean);
    let labelled = score.kinds.values().filter(|k| k.expected > 0).count();
    assert!(labelled >= MIN_KINDS, "the labels name {labelled} kinds, fewer than {MIN_KINDS}");
    assert!(score.is_perfect(), "the judge and the labels differ:\n{}", score.misses.join("\n"));
}
