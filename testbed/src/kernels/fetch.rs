//! Kernel sources: a Debian linux-source package, an upstream tarball or a
//! local tree, found in the order a spec lists them, unpacked once into the
//! cache; and the cheap check that each one answers before any build.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::apt::{self, Apt};
use crate::cache::{self, Stamp};
use crate::catalog::{KernelSpec, Kind, Source};
use crate::{paths, progress, tools};

/// Unpacks a Debian linux-source package; returns the kernel tree.
fn fetch_debian(apt: &Apt, package: &str, version: &str) -> Result<PathBuf> {
    let dir = paths::cache_dir().join("src").join(format!("{package}_{}", cache::name_part(version)));
    let done = Stamp::unpacked(&dir);
    let _lock = cache::lock(&paths::sibling(&dir, "lock"), &format!("{package} {version}"))?;
    if !done.exists() {
        tools::require_all(&[tools::DPKG_DEB, tools::TAR, tools::XZ])?;
        let _ = fs::remove_dir_all(&dir);
        let tmp = paths::sibling(&dir, "download");
        let _ = fs::remove_dir_all(&tmp);
        let deb = apt.download(package, version, &tmp)?;
        apt::extract(&deb, &tmp.join("x"))?;
        let tarball = only_file(&tmp.join("x/usr/src"), ".tar.xz")?;
        progress::note(format!("unpacking {}", tarball.file_name().unwrap_or_default().to_string_lossy()));
        fs::create_dir_all(&dir)?;
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(&tarball))?;
        fs::remove_dir_all(&tmp)?;
        done.write(version)?;
    }
    kernel_tree_in(&dir)
}

/// Downloads a release tarball once into the cache.
fn fetch_tarball(url: &str) -> Result<PathBuf> {
    let name = url.rsplit('/').next().filter(|n| !n.is_empty()).context("tarball URL has no file name")?;
    let dir = paths::cache_dir().join("downloads");
    let dest = dir.join(name);
    let _lock = cache::lock(&paths::sibling(&dest, "lock"), name)?;
    if !dest.exists() {
        tools::CURL.require()?;
        fs::create_dir_all(&dir)?;
        let part = paths::sibling(&dest, "part");
        let task = progress::Task::start(format!("downloading {url}"), progress::Unit::Bytes, None);
        task.watching_size(&part, || {
            tools::run(
                Command::new("curl").args(["-fL", "--retry", "2", "--connect-timeout", "20", "-o"]).arg(&part).arg(url),
            )
        })?;
        task.finish("done");
        fs::rename(&part, &dest)?;
    }
    Ok(dest)
}

fn only_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let p = e?.path();
        if p.to_string_lossy().ends_with(suffix) {
            found.push(p);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("expected one {suffix} in {}, found {n}", dir.display()),
    }
}

/// The directory holding the top-level kernel Makefile: `dir` or its only child.
fn kernel_tree_in(dir: &Path) -> Result<PathBuf> {
    if dir.join("Kbuild").is_file() && dir.join("Makefile").is_file() {
        return Ok(dir.to_owned());
    }
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.join("Kbuild").is_file() && p.join("Makefile").is_file() {
            return Ok(p);
        }
    }
    bail!("no kernel source tree in {}", dir.display())
}

/// A user's tree is used in place; a tarball is unpacked once into the cache.
fn local_tree(path: &Path) -> Result<(PathBuf, String)> {
    if path.is_dir() {
        let tree = kernel_tree_in(path)?;
        let out = tools::run(Command::new("make").arg("-s").arg("-C").arg(&tree).arg("kernelversion"))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // A tree can change under us: key it by path, and let make rebuild.
        return Ok((
            tree.clone(),
            format!("{version}-tree-{}", cache::short_hash(&[tree.to_string_lossy().as_bytes()])),
        ));
    }
    let meta = fs::metadata(path).with_context(|| format!("kernel source {}", path.display()))?;
    let made_from = format!("{}:{}:{:?}", path.display(), meta.len(), meta.modified().ok());
    let hash = cache::short_hash(&[made_from.as_bytes()]);
    let dir = paths::cache_dir().join("src").join(format!("tarball-{hash}"));
    let _lock = cache::lock(&paths::sibling(&dir, "lock"), &path.display().to_string())?;
    let done = Stamp::unpacked(&dir);
    if !done.exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        progress::note(format!("unpacking {}", path.display()));
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(path))?;
        done.write(&made_from)?;
    }
    Ok((kernel_tree_in(&dir)?, format!("tarball-{hash}")))
}

/// Finds a source in the spec's order; returns the tree and its version string.
pub(super) fn resolve_source(spec: &KernelSpec) -> Result<(PathBuf, String)> {
    let mut errors = Vec::new();
    for source in &spec.sources {
        let attempt = match source {
            Source::Debian { debian, suites } => Apt::for_suites(suites).and_then(|apt| {
                let version = apt.candidate(debian)?;
                Ok((fetch_debian(&apt, debian, &version)?, version))
            }),
            Source::Tarball { tarball } => fetch_tarball(tarball).and_then(|t| local_tree(&t)),
            Source::Path { path } => local_tree(path),
        };
        match attempt {
            Ok(found) => return Ok(found),
            Err(e) => errors.push(format!("{source}: {e:#}")),
        }
    }
    bail!("no source for kernel {} worked:\n  {}", spec.id, errors.join("\n  "))
}

/// The kernel trees unpacked in the cache, each with its version as its
/// Makefile gives it (`7.3.4`). No fetching.
pub(super) fn unpacked_trees() -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(paths::cache_dir().join("src")) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.is_dir() && Stamp::unpacked(dir).exists())
        .filter_map(|dir| kernel_tree_in(&dir).ok())
        .filter_map(|tree| Some((tree_version(&fs::read_to_string(tree.join("Makefile")).ok()?)?, tree)))
        .collect()
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` from a kernel's top-level Makefile.
fn tree_version(makefile: &str) -> Option<String> {
    let field = |name: &str| {
        makefile.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    Some(format!("{}.{}.{}", field("VERSION")?, field("PATCHLEVEL")?, field("SUBLEVEL")?))
}

/// Checks, without downloading or building, that each kernel has a source
/// that answers (an apt candidate, a reachable or cached tarball, a path
/// that exists) and that the build tools are there. Names every kernel
/// that has none, with the fix, so a long build never starts in vain.
pub fn preflight(specs: &[KernelSpec]) -> Result<()> {
    if specs.iter().any(|s| s.kind() != Kind::Distro) {
        tools::require_all(tools::KERNEL_BUILD)?;
    }
    for spec in specs.iter().filter(|s| s.kind() == Kind::Cross) {
        tools::gcc_for(spec.arch).require()?;
        tools::qemu_for(spec.arch).require()?;
    }
    let problems: Vec<String> = specs.iter().filter_map(|spec| source_version(spec).err()).collect();
    if !problems.is_empty() {
        bail!(
            "{} kernel(s) have no source kulink can fetch; fix it, or leave them out with KULINK_SKIP_KERNELS:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    Ok(())
}

/// The version of the first source of `spec` that answers, found without
/// downloading: an apt candidate, a tarball's file name, a path. What it
/// says changes when the source would; `Err` names every source tried.
pub fn source_version(spec: &KernelSpec) -> std::result::Result<String, String> {
    let mut tried = Vec::new();
    if let Some(meta) = &spec.distro {
        let fix = "set KULINK_DEBIAN_MIRROR to a Debian mirror's URL";
        return Apt::for_suites(&spec.suites)
            .and_then(|apt| Ok(format!("{meta}={}", apt.candidate(meta)?)))
            .map_err(|e| format!("{}: {meta}: {e:#} ({fix})", spec.id));
    }
    for source in &spec.sources {
        let answer = match source {
            Source::Debian { debian, suites } => Apt::for_suites(suites)
                .and_then(|apt| Ok(format!("{debian}={}", apt.candidate(debian)?)))
                .with_context(|| format!("{debian}: enable its suite in apt, or set KULINK_DEBIAN_MIRROR")),
            Source::Tarball { tarball } => tarball_answers(tarball).map(|()| tarball.clone()),
            Source::Path { path } if path.exists() => Ok(path.display().to_string()),
            Source::Path { path } => Err(anyhow::anyhow!("{} does not exist", path.display())),
        };
        match answer {
            Ok(version) => return Ok(version),
            Err(e) => tried.push(format!("{e:#}")),
        }
    }
    Err(format!("{}: {}", spec.id, tried.join("; ")))
}

/// A tarball already downloaded, or a URL whose server answers.
fn tarball_answers(url: &str) -> Result<()> {
    let name = url.rsplit('/').next().unwrap_or_default();
    if !name.is_empty() && paths::cache_dir().join("downloads").join(name).is_file() {
        return Ok(());
    }
    tools::CURL.require()?;
    let out = Command::new("curl").args(["-fsIL", "--max-time", "15", "-o", "/dev/null", url]).status()?;
    if !out.success() {
        bail!("{url} does not answer: check the network, or download it and name it with {{ path = \"FILE\" }}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_s_version_is_read_from_its_makefile() {
        let makefile =
            "# SPDX-License-Identifier: GPL-2.0\nVERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\nEXTRAVERSION =\n";
        assert_eq!(tree_version(makefile).as_deref(), Some("7.3.4"));
        assert_eq!(tree_version("VERSION = 7\n"), None);
    }

    /// Sources are tried in order: a Debian package apt does not know, a
    /// tarball URL that does not exist, then a tarball that does.
    #[test]
    fn sources_fall_back_in_order() {
        if tools::CURL.find().is_none() || tools::TAR.find().is_none() {
            eprintln!("curl or tar missing: fallback not exercised");
            return;
        }
        let dir = std::env::temp_dir().join(format!("kulink-fallback-{}", std::process::id()));
        let tree = dir.join("linux-9.9");
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("Kbuild"), "").unwrap();
        fs::write(tree.join("Makefile"), "").unwrap();
        let tarball = dir.join("linux-9.9.tar");
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tarball).arg("linux-9.9")).unwrap();
        // SAFETY (env): nextest runs each test in a process of its own.
        std::env::set_var("KULINK_CACHE", dir.join("cache"));
        let spec = KernelSpec {
            id: "fallback".into(),
            version: "9.9".into(),
            default: false,
            arch: Default::default(),
            fragments: vec!["base.config".into()],
            sources: vec![
                Source::Debian { debian: "kulink-no-such-package".into(), suites: vec![] },
                Source::Tarball { tarball: format!("file://{}/missing.tar", dir.display()) },
                Source::Tarball { tarball: format!("file://{}", tarball.display()) },
            ],
            distro: None,
            suites: Vec::new(),
            cmdline: String::new(),
            image_cmdline: String::new(),
        };
        let (found, version) = resolve_source(&spec).unwrap();
        assert!(found.ends_with("linux-9.9"), "{found:?}");
        assert!(found.starts_with(dir.join("cache")), "unpacked into the cache: {found:?}");
        assert!(version.starts_with("tarball-"));
        let err = resolve_source(&KernelSpec { sources: spec.sources[..2].to_vec(), ..spec }).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("kulink-no-such-package") && msg.contains("missing.tar"), "names every failure: {msg}");
        std::env::remove_var("KULINK_CACHE");
        let _ = fs::remove_dir_all(&dir);
    }
}
