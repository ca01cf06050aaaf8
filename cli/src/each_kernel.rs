//! The one loop every command runs its kernels through: each kernel's
//! verdict in turn, tables printed as each finishes, the exit code of the
//! worst.

use std::process::ExitCode;

use anyhow::Result;
use kulink::outcome::{Format, RunError, RunOutcome};
use kulink::render::pretty;
use kulink::testbed::artifacts::KernelChoice;
use kulink::EXIT_FAILED;
use serde::Serialize;

/// What a command does when a kernel cannot be judged (no kernel, no boot).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Name it on stderr and go on; its place in the JSON holds the error.
    GoOn,
    /// Stop there, with the error (as a JSON object under `--json`).
    Stop,
}

/// How the JSON of the verdicts looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Always an array, one element per kernel.
    Array,
    /// The one report as an object when one kernel was asked for.
    OneOrArray {
        /// More than one kernel was asked for.
        several: bool,
    },
}

/// One command's pass over its kernels.
pub struct EachKernel<'a, R> {
    /// Tables or JSON.
    pub format: Format,
    /// Going on past an error, or not.
    pub on_error: OnError,
    /// The JSON's shape.
    pub shape: Shape,
    /// A verdict for people.
    pub table: &'a dyn Fn(&R) -> String,
    /// Whether a verdict passed.
    pub passed: &'a dyn Fn(&R) -> bool,
}

impl<R: Serialize> EachKernel<'_, R> {
    /// Judges each kernel with `judge`, prints every verdict, and returns
    /// them with the exit code: 1 for a failed verdict, the error's own
    /// code for a kernel that could not be judged.
    pub fn run(
        &self,
        kernels: &[KernelChoice],
        mut judge: impl FnMut(&KernelChoice) -> Result<R>,
    ) -> Result<(Vec<RunOutcome<R>>, ExitCode)> {
        let mut outcomes = Vec::new();
        let mut code = ExitCode::SUCCESS;
        for kernel in kernels {
            match judge(kernel) {
                Ok(report) => {
                    if self.format == Format::Table {
                        print!("{}", (self.table)(&report));
                    }
                    if !(self.passed)(&report) && code == ExitCode::SUCCESS {
                        code = ExitCode::from(EXIT_FAILED as u8);
                    }
                    outcomes.push(RunOutcome::Report(report));
                }
                Err(e) => {
                    let error = RunError::new(&kernel.label(), &e);
                    if self.on_error == OnError::Stop {
                        if self.format == Format::Json {
                            print!("{}", pretty(&error));
                        }
                        return Err(e);
                    }
                    eprintln!("kulink: kernel {}: error: {e:#}", error.kernel);
                    code = ExitCode::from(error.exit_code as u8);
                    outcomes.push(RunOutcome::Error(error));
                }
            }
        }
        if self.format == Format::Json {
            print!("{}", self.json(&outcomes));
        }
        Ok((outcomes, code))
    }

    fn json(&self, outcomes: &[RunOutcome<R>]) -> String {
        match (self.shape, outcomes) {
            (Shape::OneOrArray { several: false }, [RunOutcome::Report(report)]) => pretty(report),
            _ => pretty(outcomes),
        }
    }
}
