//! Known kernel bugs a run accepts. An entry of an acceptance file names a
//! splat by a piece of its line, says why it is not the module's doing,
//! and until when it is accepted; the kernels it applies to may be named.
//! Until that date a matching splat gives no verdict and is told as
//! accepted; after it, the splat fails the run again, with a note that
//! the entry expired.
//!
//! ```toml
//! [[accept]]
//! pattern = "IO-APIC + timer doesn't work"
//! reason = "QEMU's timer under TCG on a loaded host, not the module"
//! until = "2027-06-30"
//! kernels = ["6.1-debug"]
//! ```

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::splat::Splat;
use crate::usage_error;

/// One accepted known bug.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// A piece of the splat's line.
    pub pattern: String,
    /// Why it is not the module's doing.
    pub reason: String,
    /// The last day it is accepted, `YYYY-MM-DD`.
    pub until: String,
    /// The kernel ids it applies to (a variant counts as its kernel); every
    /// kernel when empty.
    #[serde(default)]
    pub kernels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    accept: Vec<Entry>,
}

/// The entries of one or more acceptance files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBugs {
    entries: Vec<Entry>,
}

/// A splat a run accepted, and the entry that accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The splat.
    pub splat: Splat,
    /// The entry's reason.
    pub reason: String,
    /// The entry's last day.
    pub until: String,
}

/// Splats judged against the known bugs.
#[derive(Debug, Default)]
pub struct Judged {
    /// The splats that fail the run.
    pub failing: Vec<Splat>,
    /// Those an entry accepted.
    pub accepted: Vec<Accepted>,
    /// Entries that matched a failing splat but had expired, as sentences.
    pub expired: Vec<String>,
}

impl KnownBugs {
    /// Reads an acceptance file; a mistake in it is a usage error that
    /// names the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage_error(format!("cannot read the known-bugs file {}: {e}", path.display())))?;
        let file: File =
            toml::from_str(&text).map_err(|e| usage_error(format!("known-bugs file {}: {e}", path.display())))?;
        if let Some(bad) = file.accept.iter().find(|e| !is_date(&e.until) || e.pattern.trim().is_empty()) {
            return Err(usage_error(format!(
                "known-bugs file {}: the entry for {:?} needs a pattern and `until` as YYYY-MM-DD (it has {:?})",
                path.display(),
                bad.pattern,
                bad.until
            )));
        }
        Ok(Self { entries: file.accept })
    }

    /// These entries and `other`'s.
    pub fn and(mut self, other: KnownBugs) -> Self {
        self.entries.extend(other.entries);
        self
    }

    /// No entry at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sorts `splats` of a run on `kernel` into failing and accepted, as of
    /// `today` (`YYYY-MM-DD`).
    pub fn judge(&self, splats: Vec<Splat>, kernel: &str, today: &str) -> Judged {
        let base = kernel.split('+').next().unwrap_or(kernel);
        let applies = |e: &&Entry| e.kernels.is_empty() || e.kernels.iter().any(|k| k == base);
        let mut judged = Judged::default();
        for splat in splats {
            let entry = self.entries.iter().filter(applies).find(|e| splat.text.contains(&e.pattern)).cloned();
            match entry {
                Some(entry) if entry.until.as_str() >= today => {
                    judged.accepted.push(Accepted { splat, reason: entry.reason, until: entry.until });
                }
                Some(entry) => {
                    judged.expired.push(format!(
                        "the known bug {:?} was accepted until {} ({}): it fails the run again",
                        entry.pattern, entry.until, entry.reason
                    ));
                    judged.failing.push(splat);
                }
                None => judged.failing.push(splat),
            }
        }
        judged
    }
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())))
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// algorithm): a date is all kulink needs of a calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splat::scan;

    const LOG: &str = "\
[ 1.0] WARNING: CPU: 0 PID: 1 at arch/x86/kernel/apic/io_apic.c:2100 check_timer+0x1/0x2
[ 1.1] Call Trace:
[ 2.0] BUG: kernel NULL pointer dereference, address: 0000000000000000
[ 2.1] Call Trace:
";

    fn bugs(until: &str, kernels: &[&str]) -> KnownBugs {
        let entry = Entry {
            pattern: "io_apic.c:2100".into(),
            reason: "QEMU's timer".into(),
            until: until.into(),
            kernels: kernels.iter().map(|k| (*k).to_owned()).collect(),
        };
        KnownBugs { entries: vec![entry] }
    }

    #[test]
    fn an_entry_accepts_its_report_until_its_date() {
        let judged = bugs("2027-01-31", &[]).judge(scan(LOG), "6.1-debug", "2027-01-31");
        let accepted: Vec<usize> = judged.accepted.iter().map(|a| a.splat.line).collect();
        let failing: Vec<usize> = judged.failing.iter().map(|s| s.line).collect();
        assert_eq!((accepted, failing), (vec![1], vec![3]), "the BUG still fails");
        assert_eq!(judged.accepted[0].reason, "QEMU's timer");
        assert!(judged.expired.is_empty());
    }

    #[test]
    fn an_expired_entry_fails_the_run_again_and_says_so() {
        let judged = bugs("2027-01-31", &[]).judge(scan(LOG), "6.1-debug", "2027-02-01");
        assert!(judged.accepted.is_empty());
        assert_eq!(judged.failing.len(), 2);
        assert_eq!(
            judged.expired,
            ["the known bug \"io_apic.c:2100\" was accepted until 2027-01-31 (QEMU's timer): it fails the run again"]
        );
    }

    #[test]
    fn an_entry_for_other_kernels_accepts_nothing_here() {
        let only_debug = bugs("2099-01-01", &["6.1-debug"]);
        assert_eq!(only_debug.judge(scan(LOG), "6.12", "2027-01-01").accepted.len(), 0);
        assert_eq!(only_debug.judge(scan(LOG), "6.1-debug+CONFIG_KFENCE=y", "2027-01-01").accepted.len(), 1);
    }

    #[test]
    fn a_file_with_a_bad_date_is_refused_naming_it() {
        let dir = std::env::temp_dir().join(format!("kulink-known-bugs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known-bugs.toml");
        std::fs::write(&file, "[[accept]]\npattern = \"x\"\nreason = \"y\"\nuntil = \"next year\"\n").unwrap();
        let err = KnownBugs::load(&file).unwrap_err();
        assert_eq!(crate::exit_code(&err), crate::EXIT_USAGE);
        assert!(format!("{err:#}").contains("`until` as YYYY-MM-DD (it has \"next year\")"), "{err:#}");
        std::fs::write(&file, "[[accept]]\npattern = \"x\"\nreason = \"y\"\nuntil = \"2027-01-31\"\n").unwrap();
        assert_eq!(KnownBugs::load(&file).unwrap().entries.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
        assert_eq!(today().len(), 10);
    }
}
