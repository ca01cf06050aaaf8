//! `kulink report`: a recorded run of kulink.ko's main job judged again, or
//! a failed run's evidence read again.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kulink::render::{coverage_table, kernel_log, pretty};
use kulink::testbed::coverage;
use kulink::testbed::vm::{newest_evidence, Evidence};
use kulink::usage_error;
use kulink_ko_suite::output::Output;
use kulink_ko_suite::record::RunRecord;

use crate::args::FormatArgs;

/// Judge a recorded run again and print its verdict as `run` did; read
/// a failed run's evidence (its splats, with the module's source lines,
/// and the end of its kernel log); or render coverage (a directory of
/// `kulink test --coverage` or `KULINK_COVERAGE`) as HTML and per file.
#[derive(Args)]
pub struct ReportArgs {
    /// A run directory (`kulink run --out DIR`, or the one `run` named), or
    /// a failed run's evidence (the directory `kulink test` named), or a
    /// coverage directory; none: the newest evidence.
    dir: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
}

/// What `run` records beside its logs; evidence has none.
const RUN_RECORD: &str = "run.json";

impl ReportArgs {
    /// Reads the record or the evidence and prints the verdict.
    pub fn run(self) -> Result<ExitCode> {
        let dir = match self.dir {
            Some(dir) => dir,
            None => newest_evidence().ok_or_else(|| {
                usage_error("no failed run's evidence is kept yet: name a run directory (`kulink run --out DIR`)")
            })?,
        };
        if dir.join(RUN_RECORD).exists() {
            let report = kulink_ko_suite::run::judge(&RunRecord::load(&dir)?)?;
            print!("{}", Output::Run(&report).render(self.format.format()));
            return Ok(super::verdict(report.passed));
        }
        if dir.join(coverage::TRACEFILE).exists() {
            let files = coverage::publish(&dir)?;
            match self.format.json {
                true => print!("{}", pretty(&files)),
                false => print!("{}", coverage_table(&files)),
            }
            return Ok(ExitCode::SUCCESS);
        }
        let evidence = Evidence::load(&dir).map_err(|e| usage_error(format!("{e:#}")))?;
        if self.format.json {
            print!("{}", pretty(&evidence));
        } else {
            print!("{}", evidence_table(&evidence, &dir));
        }
        Ok(super::verdict(evidence.splats.is_empty()))
    }
}

fn evidence_table(evidence: &Evidence, dir: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "evidence {}", dir.display());
    if let Some(kernel) = &evidence.kernel {
        let _ = writeln!(s, "kernel   {kernel}");
    }
    kernel_log(&mut s, &evidence.splats);
    let _ = writeln!(s, "the kernel log's last lines:");
    for line in &evidence.log_tail {
        let _ = writeln!(s, "    {line}");
    }
    s
}
