//! Which lines of a module the tests reached. A module built with
//! `GCOV_PROFILE=y` against a kernel with `CONFIG_GCOV_KERNEL` counts its
//! lines and functions; before the guest powers off, its counters (`.gcda`
//! files under debugfs' `gcov/`, at the build directory's path) come to the
//! host, where lcov reads them beside the build's `.gcno` files. Each run
//! is merged into one lcov tracefile per directory a user names, across
//! runs and kernels, with the paths of the module's own sources.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use kulink_protocol::FileBytes;
use lcov::Report;
use serde::Serialize;

use crate::traces::ModuleFile;
use crate::{cache, tools};

/// The kernel option a module's coverage needs.
pub const KERNEL_OPTION: &str = "CONFIG_GCOV_KERNEL";

/// The make variable that instruments every object of a module build.
pub const MAKE_ARGUMENT: &str = "GCOV_PROFILE=y";

/// The suffix of the counters' files.
pub const COUNTERS: &str = ".gcda";

/// The merged tracefile in a coverage directory.
pub const TRACEFILE: &str = "lcov.info";

/// The HTML report's directory in a coverage directory.
pub const HTML: &str = "html";

/// Where the guest's debugfs shows the counters of a module built in
/// `build_dir` on the host.
pub fn guest_dir(build_dir: &Path) -> String {
    format!("/sys/kernel/debug/gcov{}", build_dir.display())
}

/// One source file's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// The source file, in the module's directory.
    pub file: PathBuf,
    /// Lines that hold code.
    pub lines: u32,
    /// Of those, lines run at least once.
    pub lines_hit: u32,
    /// Functions.
    pub functions: u32,
    /// Of those, functions entered at least once.
    pub functions_hit: u32,
}

impl FileCoverage {
    /// Lines run, in percent of lines that hold code.
    pub fn line_percent(&self) -> f64 {
        percent(self.lines_hit, self.lines)
    }

    /// Functions entered, in percent.
    pub fn function_percent(&self) -> f64 {
        percent(self.functions_hit, self.functions)
    }
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        100.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    }
}

/// The figures of every file in `report`, by file.
pub fn summary(report: &Report) -> Vec<FileCoverage> {
    let mut by_file: BTreeMap<PathBuf, FileCoverage> = BTreeMap::new();
    for (key, value) in &report.sections {
        let entry = by_file.entry(key.source_file.clone()).or_insert_with(|| FileCoverage {
            file: key.source_file.clone(),
            lines: 0,
            lines_hit: 0,
            functions: 0,
            functions_hit: 0,
        });
        entry.lines += value.lines.len() as u32;
        entry.lines_hit += value.lines.values().filter(|l| l.count > 0).count() as u32;
        entry.functions += value.functions.len() as u32;
        entry.functions_hit += value.functions.values().filter(|f| f.count > 0).count() as u32;
    }
    by_file.into_values().collect()
}

/// The figures of all files together, named `total`.
pub fn total(files: &[FileCoverage]) -> FileCoverage {
    FileCoverage {
        file: PathBuf::from("total"),
        lines: files.iter().map(|f| f.lines).sum(),
        lines_hit: files.iter().map(|f| f.lines_hit).sum(),
        functions: files.iter().map(|f| f.functions).sum(),
        functions_hit: files.iter().map(|f| f.functions_hit).sum(),
    }
}

/// The module's counters as lcov reads them: `counters` (from
/// [`guest_dir`]) beside the `.gcno` files of its build, read in `scratch`;
/// only the module's own sources are kept (not the kernel's headers, not
/// the build's generated files), named by their paths in its directory.
pub fn capture(module: &ModuleFile, counters: &[FileBytes], scratch: &Path) -> Result<Report> {
    tools::require_all(&[tools::LCOV])?;
    let build_dir = module.ko.parent().context("a module file has a directory")?;
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(scratch).with_context(|| format!("create {}", scratch.display()))?;
    for counter in counters {
        let at = scratch.join(&counter.path);
        let notes = build_dir.join(&counter.path).with_extension("gcno");
        fs::create_dir_all(at.parent().expect("under scratch"))?;
        fs::write(&at, &counter.bytes)?;
        fs::copy(&notes, at.with_extension("gcno")).with_context(|| {
            format!("{} has no {}: was it built for coverage?", build_dir.display(), notes.display())
        })?;
    }
    let tracefile = scratch.join(TRACEFILE);
    let out = Command::new("lcov")
        .args(["--quiet", "--capture", "--directory"])
        .arg(scratch)
        .arg("--output-file")
        .arg(&tracefile)
        .output()
        .context("run lcov")?;
    if !out.status.success() {
        bail!(
            "lcov could not read the coverage of {}: {}",
            module.ko.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report = Report::from_file(&tracefile).with_context(|| format!("read {}", tracefile.display()))?;
    Ok(own_sources(report, build_dir, &module.source_dir))
}

/// `report` with the build copy's paths made the module directory's (each
/// file by its real path, so a header two modules share is one file), and
/// every file that is not the module's left out.
fn own_sources(report: Report, build_dir: &Path, source_dir: &Path) -> Report {
    let mut own = Report::new();
    for (mut key, value) in report.sections {
        let Ok(under) = key.source_file.strip_prefix(build_dir) else { continue };
        let source = source_dir.join(under);
        if !source.is_file() {
            continue;
        }
        key.source_file = source.canonicalize().unwrap_or(source);
        key.test_name = String::new();
        let mut one = Report::new();
        one.sections.insert(key, value);
        own.merge_lossy(one);
    }
    own
}

/// Adds `report` to the tracefile in `dir` (made if missing), under a lock:
/// runs in parallel add to the same one.
pub fn merge_into(dir: &Path, report: Report) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let _lock = cache::lock(&dir.join(".lock"), "the coverage tracefile")?;
    let tracefile = dir.join(TRACEFILE);
    let mut merged = if tracefile.is_file() {
        Report::from_file(&tracefile).with_context(|| format!("read {}", tracefile.display()))?
    } else {
        Report::new()
    };
    merged.merge_lossy(report);
    write(&merged, &tracefile)
}

fn write(report: &Report, tracefile: &Path) -> Result<()> {
    let text: String = report.clone().into_records().map(|record| format!("{record}\n")).collect();
    let partial = tracefile.with_extension("partial");
    fs::write(&partial, text).with_context(|| format!("write {}", partial.display()))?;
    fs::rename(&partial, tracefile).with_context(|| format!("write {}", tracefile.display()))
}

/// The tracefile in `dir` as figures per file, with its HTML report
/// written (made anew) in `dir`/[`HTML`].
pub fn publish(dir: &Path) -> Result<Vec<FileCoverage>> {
    let tracefile = dir.join(TRACEFILE);
    let report = Report::from_file(&tracefile).with_context(|| format!("read {}", tracefile.display()))?;
    tools::require_all(&[tools::GENHTML])?;
    let html = dir.join(HTML);
    let _ = fs::remove_dir_all(&html);
    let out = Command::new("genhtml")
        .args(["--quiet", "--output-directory"])
        .arg(&html)
        .arg(&tracefile)
        .output()
        .context("run genhtml")?;
    if !out.status.success() {
        bail!("genhtml could not render {}: {}", tracefile.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(summary(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> Report {
        Report::from_reader(lcov::Reader::new(text.as_bytes())).unwrap()
    }

    #[test]
    fn figures_count_lines_and_functions_run_per_file() {
        let files = summary(&report(
            "TN:\nSF:/m/a.c\nFN:3,f\nFN:9,g\nFNDA:2,f\nFNDA:0,g\nDA:3,2\nDA:4,2\nDA:9,0\nend_of_record\n\
             SF:/m/b.h\nDA:1,0\nend_of_record\n",
        ));
        let a = FileCoverage { file: "/m/a.c".into(), lines: 3, lines_hit: 2, functions: 2, functions_hit: 1 };
        let b = FileCoverage { file: "/m/b.h".into(), lines: 1, lines_hit: 0, functions: 0, functions_hit: 0 };
        assert_eq!(files, [a.clone(), b.clone()]);
        let all = total(&files);
        assert_eq!((all.lines, all.lines_hit, all.functions, all.functions_hit), (4, 2, 2, 1));
        assert_eq!(format!("{:.1}", all.line_percent()), "50.0");
    }

    #[test]
    fn only_the_module_s_own_sources_are_kept_by_their_paths() {
        let source = std::env::temp_dir().join(format!("kulink-coverage-{}", std::process::id()));
        fs::create_dir_all(&source).unwrap();
        fs::write(source.join("m.c"), "").unwrap();
        let kept = own_sources(
            report(
                "TN:kernel\nSF:/cache/build/m.c\nDA:1,1\nend_of_record\n\
                 SF:/cache/build/m.mod.c\nDA:1,1\nend_of_record\n\
                 SF:/kernel/include/linux/skbuff.h\nDA:1,1\nend_of_record\n",
            ),
            Path::new("/cache/build"),
            &source,
        );
        let files: Vec<_> = kept.sections.keys().map(|k| (k.test_name.clone(), k.source_file.clone())).collect();
        assert_eq!(files, [(String::new(), source.canonicalize().unwrap().join("m.c"))]);
        fs::remove_dir_all(&source).unwrap();
    }
}
