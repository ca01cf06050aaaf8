//! The judge measured on labelled kernel logs: each file of a corpus is a
//! console log with the reports it holds written above it, and the score
//! is precision and recall per kind of report.
//!
//! ```text
//! expect: BUG at nullwrite_store
//! source: kulink test --module kulink/tests/fixtures/modules/nullwrite on 6.1
//! licence: GPL-2.0-only
//! ---
//! [    0.000000] Linux version 6.1.192 ...
//! ```
//!
//! `expect: clean` says the log holds no report; `expect: KIND` without
//! `at` leaves the culprit unchecked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{scan, Kind, Splat};

/// One report a log is labelled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Its kind.
    pub kind: Kind,
    /// The function it blames ([`Splat::culprit`]), when the label says.
    pub culprit: Option<String>,
}

/// A labelled log.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Its file.
    pub path: PathBuf,
    /// The reports it holds, in log order; none for a clean log.
    pub expected: Vec<Expected>,
    /// Where it comes from.
    pub source: String,
    /// The console log.
    pub log: String,
}

impl Labelled {
    /// Reads a labelled log; a file without its labels is refused, naming
    /// what is missing.
    pub fn load(path: &Path) -> Result<Labelled> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let Some((header, log)) = text.split_once("\n---\n") else {
            bail!("{}: no `---` line between its labels and its log", path.display());
        };
        let mut expected = Vec::new();
        let mut clean = false;
        let mut source = None;
        let mut licence = None;
        for line in header.lines().filter(|l| !l.trim().is_empty()) {
            let Some((key, value)) = line.split_once(": ") else {
                bail!("{}: the label line {line:?} is not `key: value`", path.display());
            };
            match key {
                "expect" if value == "clean" => clean = true,
                "expect" => expected.push(parse_expected(value).with_context(|| path.display().to_string())?),
                "source" => source = Some(value.to_owned()),
                "licence" => licence = Some(value.to_owned()),
                other => bail!("{}: unknown label {other:?} (expect, source, licence)", path.display()),
            }
        }
        if clean != expected.is_empty() {
            bail!("{}: label it either `expect: clean` or with the reports it holds", path.display());
        }
        let (Some(source), Some(_)) = (source, licence) else {
            bail!("{}: every log says where it comes from (`source:`) and under which licence", path.display());
        };
        Ok(Labelled { path: path.to_owned(), expected, source, log: log.to_owned() })
    }
}

/// `KIND` or `KIND at CULPRIT`.
fn parse_expected(value: &str) -> Result<Expected> {
    let (name, culprit) = match value.split_once(" at ") {
        Some((name, culprit)) => (name, Some(culprit.trim().to_owned())),
        None => (value, None),
    };
    let Some(kind) = Kind::named(name.trim()) else {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        bail!("no report kind is called {name:?}; the kinds: {}", names.join(", "));
    };
    Ok(Expected { kind, culprit })
}

/// Every `*.log` of `dir` and its subdirectories, labelled.
pub fn load(dir: &Path) -> Result<Vec<Labelled>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read the corpus {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().map(|f| Labelled::load(f)).collect()
}

/// How the judge did on one kind of report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindScore {
    /// The reports of this kind the labels hold.
    pub expected: usize,
    /// Those the judge found.
    pub found: usize,
    /// Found and labelled, with the labelled culprit.
    pub matched: usize,
}

impl KindScore {
    /// The share of found reports that are real, 1 when none was found.
    pub fn precision(&self) -> f64 {
        ratio(self.matched, self.found)
    }

    /// The share of real reports found, 1 when none was labelled.
    pub fn recall(&self) -> f64 {
        ratio(self.matched, self.expected)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// The judge's score on a corpus.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    /// Logs judged.
    pub logs: usize,
    /// Of them, labelled clean.
    pub clean: usize,
    /// Per kind, by name.
    pub kinds: BTreeMap<&'static str, KindScore>,
    /// Every difference between the labels and the judge, as a sentence.
    pub misses: Vec<String>,
}

impl Score {
    /// Whether every kind has precision and recall 1.
    pub fn is_perfect(&self) -> bool {
        self.misses.is_empty()
    }
}

/// Judges every log of `corpus` and compares with its labels.
pub fn score(corpus: &[Labelled]) -> Score {
    let mut score = Score { logs: corpus.len(), ..Score::default() };
    for labelled in corpus {
        score.clean += usize::from(labelled.expected.is_empty());
        let mut found: Vec<Option<Splat>> = scan(&labelled.log).into_iter().map(Some).collect();
        for splat in found.iter().flatten() {
            score.kinds.entry(splat.kind).or_default().found += 1;
        }
        for want in &labelled.expected {
            let entry = score.kinds.entry(want.kind.name()).or_default();
            entry.expected += 1;
            let hit = found.iter_mut().find(|s| {
                s.as_ref().is_some_and(|s| {
                    s.kind == want.kind.name() && want.culprit.as_deref().is_none_or(|c| s.culprit() == Some(c))
                })
            });
            match hit.and_then(Option::take) {
                Some(_) => entry.matched += 1,
                None => score.misses.push(format!(
                    "{}: missed {}{}",
                    labelled.path.display(),
                    want.kind.name(),
                    want.culprit.as_deref().map(|c| format!(" at {c}")).unwrap_or_default()
                )),
            }
        }
        for extra in found.into_iter().flatten() {
            let culprit = extra.culprit().map(|c| format!(" at {c}")).unwrap_or_default();
            score.misses.push(format!("{}: found {}{culprit} ({extra})", labelled.path.display(), extra.kind));
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(header: &str, log: &str) -> Result<Labelled> {
        let dir = std::env::temp_dir().join(format!("kulink-corpus-{}-{}", std::process::id(), header.len()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("one.log");
        std::fs::write(&file, format!("{header}\n---\n{log}"))?;
        let read = Labelled::load(&file);
        std::fs::remove_dir_all(&dir)?;
        read
    }

    const WARN: &str = "[ 1.0] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n[ 1.0] RIP: 0010:f+0x1/0x2\n";

    #[test]
    fn a_label_and_its_log_score_each_kind() {
        let good = labelled("expect: WARN at f\nsource: test\nlicence: GPL-2.0-only", WARN).unwrap();
        let wrong_culprit = labelled("expect: WARN at g\nsource: test\nlicence: GPL-2.0-only", WARN).unwrap();
        let clean = labelled("expect: clean\nsource: test\nlicence: GPL-2.0-only", "[ 1.0] hello\n").unwrap();
        let score = score(&[good, wrong_culprit, clean]);
        assert_eq!((score.logs, score.clean), (3, 1));
        let warn = &score.kinds["WARN"];
        assert_eq!((warn.expected, warn.found, warn.matched), (2, 2, 1));
        assert_eq!((warn.precision(), warn.recall()), (0.5, 0.5));
        assert_eq!(score.misses.len(), 2, "{:?}", score.misses);
        assert!(!score.is_perfect());
    }

    #[test]
    fn a_log_without_its_labels_is_refused() {
        let no_licence = labelled("expect: clean\nsource: test", "").unwrap_err();
        assert!(format!("{no_licence:#}").contains("under which licence"), "{no_licence:#}");
        let both = labelled("expect: clean\nexpect: WARN\nsource: t\nlicence: l", "").unwrap_err();
        assert!(format!("{both:#}").contains("either `expect: clean`"), "{both:#}");
        let unknown = labelled("expect: Warning\nsource: t\nlicence: l", "").unwrap_err();
        assert!(format!("{unknown:#}").contains("no report kind is called \"Warning\""), "{unknown:#}");
    }
}
