//! `kulink bench edit`: the loop a module author lives in, timed. The
//! module under test is edited by one line, and `kulink test` with the
//! given arguments runs to its last verdict: with saved guests, and with
//! every guest booted (`KULINK_SNAPSHOTS=off`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use kulink::testbed::vm::SNAPSHOTS_ENV;
use kulink::testbed::{progress, usage_error, ModuleFailure};
use kulink::{EXIT_FAILED, EXIT_USAGE};
use serde::Serialize;

/// What one bench of the edit loop measured.
#[derive(Debug, Serialize)]
pub struct EditBench {
    /// The `kulink test` arguments, with the module's copy in its place.
    pub test_args: Vec<String>,
    /// Runs per way.
    pub runs: usize,
    /// Wall time from the edit to the last verdict, with saved guests:
    /// each run's, and their median.
    pub saved_ms: Vec<u64>,
    /// Their median.
    pub saved_ms_median: u64,
    /// The same with every guest booted.
    pub booted_ms: Vec<u64>,
    /// Their median.
    pub booted_ms_median: u64,
}

/// Copies the module under test (the last `--module DIR` of `test_args`)
/// to a directory of its own, then times `runs` edit-to-verdict loops
/// each way, after one untimed run that builds what is missing and saves
/// the guests.
pub fn measure(test_args: &[String], runs: usize) -> Result<EditBench> {
    let at = module_arg(test_args)?;
    let original = PathBuf::from(&test_args[at]);
    let source = first_c_file(&original)?;
    let scratch = tempfile_dir()?;
    let copy = scratch.join("module");
    copy_dir(&original, &copy)?;
    let mut args = test_args.to_vec();
    args[at] = copy.display().to_string();
    let edited = copy.join(source.file_name().context("a C file has a name")?);
    let result = (|| {
        progress::note("bench edit: a first, untimed run builds what is missing and saves the guests");
        test_once(&args, true)?;
        let mut edit = 0;
        let mut timed = |saving: bool| -> Result<Vec<u64>> {
            (0..runs)
                .map(|_| {
                    edit += 1;
                    let started = Instant::now();
                    append_line(&edited, &format!("/* kulink bench edit {edit} */"))?;
                    test_once(&args, saving)?;
                    Ok(started.elapsed().as_millis() as u64)
                })
                .collect()
        };
        let saved_ms = timed(true)?;
        let booted_ms = timed(false)?;
        Ok(EditBench {
            test_args: args.clone(),
            runs,
            saved_ms_median: median(&saved_ms),
            saved_ms,
            booted_ms_median: median(&booted_ms),
            booted_ms,
        })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// The bench as a table.
pub fn table(bench: &EditBench) -> String {
    let runs = |ms: &[u64]| ms.iter().map(|m| format!("{:.1}", *m as f64 / 1000.0)).collect::<Vec<_>>().join(" ");
    let ratio = bench.booted_ms_median as f64 / bench.saved_ms_median.max(1) as f64;
    format!(
        "edit to verdict: kulink test {}\n\
         saved guests   {:>6.1} s median of {} (runs: {})\n\
         every boot     {:>6.1} s median of {} (runs: {}), {ratio:.1}x the time\n",
        bench.test_args.join(" "),
        bench.saved_ms_median as f64 / 1000.0,
        bench.runs,
        runs(&bench.saved_ms),
        bench.booted_ms_median as f64 / 1000.0,
        bench.runs,
        runs(&bench.booted_ms),
    )
}

/// Where the module under test's directory is in `args`: after the last
/// `--module`.
fn module_arg(args: &[String]) -> Result<usize> {
    let at = args.iter().rposition(|a| a == "--module").map(|i| i + 1);
    match at.filter(|&i| i < args.len()) {
        Some(i) if Path::new(&args[i]).is_dir() => Ok(i),
        Some(i) => Err(usage_error(format!("--module {}: not a directory", args[i]))),
        None => Err(usage_error("bench edit needs kulink test's arguments with --module DIR (after --)")),
    }
}

/// The module's first C file by name: the one edited.
fn first_c_file(dir: &Path) -> Result<PathBuf> {
    let mut c_files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    c_files.sort();
    c_files.into_iter().next().ok_or_else(|| usage_error(format!("{} has no .c file to edit", dir.display())))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kulink-bench-edit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// The files of a module's directory (not its subdirectories' build
/// output: Kbuild keeps none there that a build needs).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().context("a file has a name")?))
                .with_context(|| format!("copy {}", path.display()))?;
        }
    }
    Ok(())
}

fn append_line(file: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f =
        std::fs::OpenOptions::new().append(true).open(file).with_context(|| format!("open {}", file.display()))?;
    writeln!(f, "{line}").with_context(|| format!("edit {}", file.display()))
}

/// One `kulink test` to its last verdict, which must pass: a bench of a
/// failing test would time the failure.
fn test_once(args: &[String], saving: bool) -> Result<()> {
    let exe = std::env::current_exe().context("find the kulink binary")?;
    let mut command = Command::new(exe);
    command.arg("test").args(args).stdin(Stdio::null());
    if !saving {
        command.env(SNAPSHOTS_ENV, "off");
    }
    let out = command.output().context("run kulink test")?;
    if out.status.success() {
        return Ok(());
    }
    let said = format!(
        "kulink test did not pass ({}); the bench times a passing test:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Its exit code says whose the failure is: the module's, or kulink's.
    Err(match out.status.code() {
        Some(EXIT_FAILED) => anyhow::Error::new(ModuleFailure(said)),
        Some(EXIT_USAGE) => usage_error(said),
        _ => anyhow::anyhow!(said),
    })
}

fn median(ms: &[u64]) -> u64 {
    let mut sorted = ms.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_under_test_is_the_last_module_given() {
        let dir = std::env::temp_dir().display().to_string();
        let args: Vec<String> =
            ["--module", "/nonexistent", "--module", &dir, "--kernel", "6.1", "--", "/opt/t"].map(String::from).into();
        assert_eq!(module_arg(&args).unwrap(), 3);
        let missing: Vec<String> = ["--kernel", "6.1"].map(String::from).into();
        assert!(format!("{:#}", module_arg(&missing).unwrap_err()).contains("needs kulink test's arguments"));
        let not_dir: Vec<String> = ["--module", "/nonexistent"].map(String::from).into();
        assert!(format!("{:#}", module_arg(&not_dir).unwrap_err()).contains("not a directory"));
    }

    #[test]
    fn the_median_is_the_middle_run() {
        assert_eq!(median(&[900, 300, 500, 700, 100]), 500);
        assert_eq!(median(&[]), 0);
    }
}
