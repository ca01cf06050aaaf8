//! What of a guest is its test's: the test's modules, their parameters and
//! the suite's settings. A guest that may be saved boots without them and
//! is handed them after ([`TestSetup`]), so that one saved guest serves
//! every build of the module; any other guest carries them in its image
//! and on its command line, as the agent loads them at boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use kulink_protocol::{preload_line, GuestFileBytes, TestSetup};

use super::BootOptions;
use crate::arch::Arch;
use crate::artifacts::Artifacts;

/// Modules loaded before the one under test, in order, each with its
/// parameters (`name=value`, space-separated).
pub(super) type Preload = Vec<(PathBuf, String)>;

/// Where a deferred guest keeps the test's modules loaded before the one
/// under test.
const BEFORE_DIR: &str = "/lib/modules/before";

/// The kernel's own drivers: what every guest loads at boot.
pub(super) fn drivers(art: &Artifacts) -> Preload {
    art.kernel.preload.iter().map(|ko| (ko.clone(), String::new())).collect()
}

/// What the agent loads at boot before the module under test: the kernel's
/// own drivers, then the test's modules with their parameters.
pub(super) fn preload_at_boot(art: &Artifacts, opts: &BootOptions) -> Preload {
    drivers(art).into_iter().chain(loaded_before(art, opts)).collect()
}

/// The test's modules loaded before the one under test, each with its
/// parameters.
fn loaded_before(art: &Artifacts, opts: &BootOptions) -> Preload {
    let params = opts.loaded_before_params.iter().cloned().chain(std::iter::repeat(String::new()));
    art.loaded_before.iter().cloned().zip(params).collect()
}

/// What a deferred guest is handed once it has booted: the files of the
/// test's modules, which to load and how, and the suite's settings.
/// `module_path` is where the module under test goes; `scratch` a
/// directory of the guest's own.
pub(super) fn deferred(
    art: &Artifacts,
    opts: &BootOptions,
    module_path: Option<&str>,
    scratch: &Path,
    strip: bool,
) -> Result<TestSetup> {
    let read = |ko: &Path| match strip {
        true => without_debug_sections(ko, art.kernel.arch, scratch),
        false => fs::read(ko).with_context(|| format!("read module {}", ko.display())),
    };
    let mut files = Vec::new();
    let mut preload = Vec::new();
    for (i, (ko, params)) in loaded_before(art, opts).iter().enumerate() {
        let name = ko.file_name().unwrap_or_default().to_string_lossy();
        let path = format!("{BEFORE_DIR}/{i:02}-{name}");
        preload.push(preload_line(&path, params));
        files.push(GuestFileBytes { path, bytes: read(ko)? });
    }
    if let (Some(ko), Some(path)) = (&art.module, module_path) {
        files.push(GuestFileBytes { path: path.to_owned(), bytes: read(ko)? });
    }
    Ok(TestSetup {
        files,
        preload,
        module: module_path.filter(|_| opts.load_module).map(str::to_owned),
        extension: opts.extension.clone(),
    })
}

/// The image's copies of the test's modules, without their debug sections,
/// in `scratch`: the module under test, and `preload` with the test's own
/// modules among it replaced (the kernel's drivers stay as they are).
pub(super) fn stripped_for_image(
    art: &Artifacts,
    preload: Preload,
    scratch: &Path,
) -> Result<(Option<PathBuf>, Preload)> {
    let dir = scratch.join("stripped");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    // The module's own file name ends each copy's: the guest's path and
    // the evidence name it by that.
    let copy = |ko: &Path, prefix: &str| -> Result<PathBuf> {
        let to = dir.join(format!("{prefix}{}", ko.file_name().unwrap_or_default().to_string_lossy()));
        fs::write(&to, without_debug_sections(ko, art.kernel.arch, scratch)?)
            .with_context(|| format!("write {}", to.display()))?;
        Ok(to)
    };
    let module = art.module.as_deref().map(|ko| copy(ko, "")).transpose()?;
    let preload = preload
        .into_iter()
        .enumerate()
        .map(|(n, (ko, params))| match art.loaded_before.contains(&ko) {
            true => Ok((copy(&ko, &format!("{n:02}-"))?, params)),
            false => Ok((ko, params)),
        })
        .collect::<Result<_>>()?;
    Ok((module, preload))
}

/// A module's bytes without its debug sections, which the kernel never
/// loads: a 3 MB module can be 80 KB without them, and they cross the
/// control port as hex. The host keeps the whole file, for symbolizing.
/// Where objcopy cannot strip it the whole file goes.
fn without_debug_sections(ko: &Path, arch: Arch, scratch: &Path) -> Result<Vec<u8>> {
    let prefix = if arch.is_host() { String::new() } else { format!("{}-", arch.gnu_triplet()) };
    let out = scratch.join(format!("stripped-{}", ko.file_name().unwrap_or_default().to_string_lossy()));
    let stripped = Command::new(format!("{prefix}objcopy"))
        .arg("--strip-debug")
        .arg(ko)
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let from = if stripped { out.as_path() } else { ko };
    let bytes = fs::read(from).with_context(|| format!("read module {}", from.display()));
    let _ = fs::remove_file(&out);
    bytes
}
