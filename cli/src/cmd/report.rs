//! `kulink report`: a recorded run of kulink.ko's main job, judged again.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kulink_ko_suite::output::Output;
use kulink_ko_suite::record::RunRecord;

use crate::args::FormatArgs;

/// Judge a recorded run again and print its verdict as `run` did.
#[derive(Args)]
pub struct ReportArgs {
    /// A run directory (`kulink run --out DIR`, or the one `run` named).
    dir: PathBuf,
    #[command(flatten)]
    format: FormatArgs,
}

impl ReportArgs {
    /// Reads the record and prints the verdict.
    pub fn run(self) -> Result<ExitCode> {
        let report = kulink_ko_suite::run::judge(&RunRecord::load(&self.dir)?)?;
        print!("{}", Output::Run(&report).render(self.format.format()));
        Ok(super::verdict(report.passed))
    }
}
