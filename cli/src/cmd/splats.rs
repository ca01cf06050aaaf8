//! `kulink splats`: the kernel-log judge on a console log, or measured on a
//! corpus of labelled logs (precision and recall per kind of report).

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kulink::render::pretty;
use kulink::testbed::splat::{self, corpus};
use kulink::usage_error;

use crate::args::FormatArgs;

/// Judge a console log (a file: each kernel report in it, with its `RIP:`
/// line and call trace), or measure the judge on a corpus (a directory of
/// labelled `*.log` files, such as testbed/kernel-logs: precision and
/// recall per kind of report, and every difference from the labels).
#[derive(Args)]
pub struct SplatsArgs {
    /// A console log, or a directory of labelled logs.
    path: PathBuf,
    #[command(flatten)]
    format: FormatArgs,
}

impl SplatsArgs {
    /// Judges the log or scores the corpus; fails on a report, or on a
    /// corpus the judge does not score perfectly.
    pub fn run(self) -> Result<ExitCode> {
        if !self.path.exists() {
            return Err(usage_error(format!("{} does not exist: name a console log or a corpus", self.path.display())));
        }
        if self.path.is_file() {
            let log = std::fs::read_to_string(&self.path)
                .map_err(|e| usage_error(format!("cannot read {}: {e}", self.path.display())))?;
            let splats = splat::scan(&log);
            match self.format.json {
                true => print!("{}", pretty(&splats)),
                false => {
                    let mut s = String::new();
                    kulink::render::kernel_log(&mut s, &splats);
                    print!("{s}");
                }
            }
            return Ok(super::verdict(splats.is_empty()));
        }
        let logs = corpus::load(&self.path).map_err(|e| usage_error(format!("{e:#}")))?;
        let score = corpus::score(&logs);
        match self.format.json {
            true => print!("{}", pretty(&score)),
            false => print!("{}", score_table(&score)),
        }
        Ok(super::verdict(score.is_perfect()))
    }
}

/// Precision and recall per kind, then every miss.
fn score_table(score: &corpus::Score) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} logs, {} of them clean", score.logs, score.clean);
    let width = score.kinds.keys().map(|k| k.len()).max().unwrap_or(0).max("kind".len());
    let _ = writeln!(s, "{:<width$}  labelled  found  matched  precision  recall", "kind");
    for (kind, k) in &score.kinds {
        let _ = writeln!(
            s,
            "{kind:<width$}  {:>8}  {:>5}  {:>7}  {:>8.1}%  {:>5.1}%",
            k.expected,
            k.found,
            k.matched,
            100.0 * k.precision(),
            100.0 * k.recall()
        );
    }
    for miss in &score.misses {
        let _ = writeln!(s, "{miss}");
    }
    s
}
