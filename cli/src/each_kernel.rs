//! The one loop every command runs its kernels through: each kernel's
//! verdict in turn, tables printed as each finishes, the exit code of the
//! worst.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

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
        let mut verdicts = Verdicts::new();
        for kernel in kernels {
            self.take(kernel, judge(kernel), &mut verdicts)?;
        }
        Ok(self.finish(verdicts))
    }

    /// As [`EachKernel::run`], with up to `jobs` kernels judged at once;
    /// the verdicts still come in the kernels' order, each as soon as it and
    /// those before it are in.
    pub fn run_parallel(
        &self,
        kernels: &[KernelChoice],
        jobs: usize,
        judge: impl Fn(&KernelChoice) -> Result<R> + Sync,
    ) -> Result<(Vec<RunOutcome<R>>, ExitCode)>
    where
        R: Send,
    {
        let jobs = jobs.clamp(1, kernels.len().max(1));
        if jobs == 1 {
            return self.run(kernels, judge);
        }
        let next = AtomicUsize::new(0);
        let mut verdicts = Verdicts::new();
        std::thread::scope(|scope| {
            let (done, judged) = mpsc::channel();
            for _ in 0..jobs {
                let (done, next, judge) = (done.clone(), &next, &judge);
                scope.spawn(move || loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(kernel) = kernels.get(n) else { return };
                    if done.send((n, judge(kernel))).is_err() {
                        return;
                    }
                });
            }
            drop(done);
            let mut waiting = BTreeMap::new();
            for (n, result) in judged {
                waiting.insert(n, result);
                while let Some(result) = waiting.remove(&verdicts.outcomes.len()) {
                    let kernel = &kernels[verdicts.outcomes.len()];
                    if let Err(e) = self.take(kernel, result, &mut verdicts) {
                        // The kernels being judged finish first; the rest are not begun.
                        next.store(kernels.len(), Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(())
        })?;
        Ok(self.finish(verdicts))
    }

    /// One kernel's verdict, or why there is none: printed, counted, kept.
    fn take(&self, kernel: &KernelChoice, result: Result<R>, verdicts: &mut Verdicts<R>) -> Result<()> {
        match result {
            Ok(report) => {
                if self.format == Format::Table {
                    print!("{}", (self.table)(&report));
                }
                if !(self.passed)(&report) && verdicts.code == ExitCode::SUCCESS {
                    verdicts.code = ExitCode::from(EXIT_FAILED as u8);
                }
                verdicts.outcomes.push(RunOutcome::Report(report));
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
                verdicts.code = ExitCode::from(error.exit_code as u8);
                verdicts.outcomes.push(RunOutcome::Error(error));
            }
        }
        Ok(())
    }

    fn finish(&self, verdicts: Verdicts<R>) -> (Vec<RunOutcome<R>>, ExitCode) {
        if self.format == Format::Json {
            print!("{}", self.json(&verdicts.outcomes));
        }
        (verdicts.outcomes, verdicts.code)
    }

    fn json(&self, outcomes: &[RunOutcome<R>]) -> String {
        match (self.shape, outcomes) {
            (Shape::OneOrArray { several: false }, [RunOutcome::Report(report)]) => pretty(report),
            _ => pretty(outcomes),
        }
    }
}

/// The verdicts so far, in the kernels' order, and the exit code they make.
struct Verdicts<R> {
    outcomes: Vec<RunOutcome<R>>,
    code: ExitCode,
}

impl<R> Verdicts<R> {
    fn new() -> Self {
        Self { outcomes: Vec::new(), code: ExitCode::SUCCESS }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[test]
    fn kernels_judged_at_once_come_out_in_their_order() {
        let kernels: Vec<KernelChoice> = ["a", "b", "c", "d"].map(|id| KernelChoice::Listed(Some(id.into()))).into();
        let each = EachKernel {
            format: Format::Json,
            on_error: OnError::GoOn,
            shape: Shape::Array,
            table: &|_: &String| String::new(),
            passed: &|report: &String| report != "c",
        };
        let finished = Mutex::new(Vec::new());
        // The first kernel waits until the last is judged: it finishes last
        // whatever the host's speed, which only kernels judged at once can.
        let (last_done, wait_for_last) = std::sync::mpsc::channel();
        let (last_done, wait_for_last) = (Mutex::new(last_done), Mutex::new(wait_for_last));
        let judge = |kernel: &KernelChoice| {
            let id = kernel.label();
            if id == "a" {
                wait_for_last.lock().unwrap().recv_timeout(Duration::from_secs(60)).expect("d is judged meanwhile");
            }
            finished.lock().unwrap().push(id.clone());
            if id == "d" {
                last_done.lock().unwrap().send(()).unwrap();
            }
            if id == "b" {
                anyhow::bail!("no kernel b");
            }
            Ok(id)
        };
        let (outcomes, code) = each.run_parallel(&kernels, 2, judge).unwrap();
        assert_eq!(finished.lock().unwrap().last().map(String::as_str), Some("a"), "judged at once");
        let order: Vec<String> = outcomes
            .iter()
            .map(|o| match o {
                RunOutcome::Report(id) => id.clone(),
                RunOutcome::Error(e) => format!("error {}", e.kernel),
            })
            .collect();
        assert_eq!(order, ["a", "error b", "c", "d"]);
        assert_eq!(code, ExitCode::from(RunError::new("b", &anyhow::anyhow!("no kernel b")).exit_code as u8));
    }
}
