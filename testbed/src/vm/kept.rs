//! Where a failed run's evidence goes: a directory of its own under the
//! cache, named by kernel, time and process, the newest [`KEPT_RUNS`]
//! kept. A guest's run directory (sockets, image) lives in the temp dir,
//! where Unix socket paths are short enough, and goes with the guest.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{CONSOLE, KERNEL_LOG, PLAN, TRANSCRIPT};
use crate::splat::{self, Splat};
use crate::traces::ModuleFile;
use crate::{paths, tools};

/// How many failed runs' evidence the cache keeps.
pub const KEPT_RUNS: usize = 30;

/// The files of a run directory that are evidence; the rest (sockets, the
/// image) is not.
const EVIDENCE: [&str; 6] = [CONSOLE, KERNEL_LOG, TRANSCRIPT, PLAN, "qemu.log", MODULES];

/// The test's module files, a line each (`KO<TAB>SOURCE DIR`), so that a
/// report read again later names source lines.
const MODULES: &str = "modules.txt";

/// Where the evidence of failed runs is kept.
pub fn evidence_root() -> PathBuf {
    paths::cache_dir().join("evidence")
}

/// A fresh name for the evidence of a guest on kernel `kernel_id`.
pub(super) fn evidence_dir(kernel_id: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let kernel: String =
        kernel_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    evidence_root().join(format!("{kernel}-{secs}-{}-{n}", std::process::id()))
}

/// Moves the evidence of run directory `run` (if a guest started there)
/// to `to`, removes `run`, and lets the oldest evidence beyond
/// [`KEPT_RUNS`] go.
pub(super) fn keep(run: &Path, to: &Path) -> Result<()> {
    let files: Vec<PathBuf> = EVIDENCE.iter().map(|name| run.join(name)).filter(|f| f.exists()).collect();
    if files.is_empty() {
        // Nothing started: nothing to keep.
        let _ = fs::remove_dir_all(run);
        return Ok(());
    }
    fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for file in files {
        let name = file.file_name().unwrap_or_default();
        // The temp dir may be another file system than the cache.
        fs::copy(&file, to.join(name)).with_context(|| format!("keep {}", file.display()))?;
    }
    let _ = fs::remove_dir_all(run);
    evict(&evidence_root(), KEPT_RUNS);
    Ok(())
}

/// Writes the test's module files into run directory `run`, to be kept
/// with the rest.
pub(super) fn note_modules(run: &Path, modules: &[ModuleFile]) {
    let lines: String = modules.iter().map(|m| format!("{}\t{}\n", m.ko.display(), m.source_dir.display())).collect();
    let _ = fs::write(run.join(MODULES), lines);
}

/// A failed run's evidence, read again: its splats (with source lines
/// while the module's build is still in the cache) and the end of its
/// kernel log.
#[derive(Debug, Serialize)]
pub struct Evidence {
    /// Where it is.
    pub dir: PathBuf,
    /// The kernel's version line, as the log has it.
    pub kernel: Option<String>,
    /// Every splat of the console.
    pub splats: Vec<Splat>,
    /// The last lines of the kernel log at every level (of the console
    /// where the agent's copy is missing).
    pub log_tail: Vec<String>,
}

/// How many of the kernel log's last lines [`Evidence`] shows.
const TAIL_LINES: usize = 30;

impl Evidence {
    /// Reads the evidence in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let console = fs::read_to_string(dir.join(CONSOLE))
            .with_context(|| format!("{} is not a failed run's evidence: it has no {CONSOLE}", dir.display()))?;
        let modules: Vec<ModuleFile> = fs::read_to_string(dir.join(MODULES))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(ko, source)| ModuleFile { ko: ko.into(), source_dir: source.into() })
            .collect();
        let log = fs::read_to_string(dir.join(KERNEL_LOG)).unwrap_or_else(|_| console.clone());
        let kernel = log.lines().find_map(|l| l.split_once("Linux version ").map(|(_, v)| v.trim().to_owned()));
        Ok(Self {
            dir: dir.to_owned(),
            kernel,
            splats: splat::scan_console_and_log(&console, || log.clone(), &modules),
            log_tail: tools::tail(&log, TAIL_LINES).lines().map(str::to_owned).collect(),
        })
    }
}

/// The newest failed run's evidence directory, if the cache keeps one.
pub fn newest_evidence() -> Option<PathBuf> {
    newest_first(&evidence_root()).into_iter().next()
}

/// Removes the oldest directories under `root` (by modification time)
/// beyond the newest `keep`.
fn evict(root: &Path, keep: usize) {
    for old in newest_first(root).into_iter().skip(keep) {
        let _ = fs::remove_dir_all(old);
    }
}

/// What `root` holds, the most recently modified first.
fn newest_first(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> =
        entries.filter_map(|e| e.ok()).filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path()))).collect();
    runs.sort_unstable_by_key(|run| std::cmp::Reverse(run.0));
    runs.into_iter().map(|(_, path)| path).collect()
}

/// Removes the run directories of kulink processes that are gone (killed
/// before they could clean up), once per process.
pub(super) fn sweep_orphaned_run_dirs() {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(run_dir_owner) else { continue };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// The process a run directory's name (`kulink-PID-N`) says made it.
pub(super) fn run_dir_owner(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix("kulink-")?.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_directories_are_taken_for_one() {
        assert_eq!(run_dir_owner("kulink-123-0"), Some(123));
        assert_eq!(run_dir_owner("kulink-embed-123"), None);
        assert_eq!(run_dir_owner("kulink-test-123-faults"), None);
        assert_eq!(run_dir_owner("kulink-known-bugs-1-2000-01-01.toml"), None);
    }

    #[test]
    fn the_newest_are_kept() {
        let root = std::env::temp_dir().join(format!("kulink-evict-{}", std::process::id()));
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            fs::create_dir_all(root.join(name)).unwrap();
            let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 * (i as u64 + 1));
            fs::File::open(root.join(name)).unwrap().set_modified(at).unwrap();
        }
        evict(&root, 2);
        let mut left: Vec<String> =
            fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["b", "c"]);
        fs::remove_dir_all(root).unwrap();
    }
}
