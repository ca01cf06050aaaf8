//! Kernels built from source: tinyconfig plus kulink's fragments, built
//! once per source version, fragments, compiler and recipe, with progress.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::built::BuiltKernel;
use super::fetch;
use super::listing::fragment_path;
use crate::cache::{self, Stamp};
use crate::catalog::{Arch, KernelSpec, Source};
use crate::{kconfig, paths, progress, tools};

/// Bump when the build recipe changes in a way the hash cannot see.
const RECIPE: &str = "tinyconfig + fragments, make all, v1";

/// Fragment files in order, with their contents.
fn fragments(spec: &KernelSpec) -> Result<Vec<(PathBuf, String)>> {
    spec.fragments
        .iter()
        .map(|f| {
            let path =
                fragment_path(f).with_context(|| format!("no fragment {f} beside the catalog or in kulink's"))?;
            let text = fs::read_to_string(&path).with_context(|| format!("read fragment {}", path.display()))?;
            Ok((path, text))
        })
        .collect()
}

fn compiler_identity(spec: &KernelSpec) -> String {
    Command::new(tools::gcc_for(spec.arch).program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The cache key: what was built (source + version) and how (fragments, compiler, recipe).
pub fn build_key(spec: &KernelSpec, source_version: &str) -> Result<String> {
    let frags = fragments(spec)?;
    let mut parts: Vec<Vec<u8>> = vec![RECIPE.into(), spec.id.clone().into(), source_version.into()];
    parts.push(compiler_identity(spec).into());
    for (path, text) in &frags {
        parts.push(path.file_name().unwrap_or_default().to_string_lossy().into_owned().into());
        parts.push(text.clone().into());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(format!("{}-{}-{}", spec.id, cache::name_part(source_version), cache::short_hash(&refs)))
}

/// Builds (or finds in the cache) a kernel from source.
pub fn ensure(spec: &KernelSpec) -> Result<BuiltKernel> {
    tools::require_all(tools::KERNEL_BUILD)?;
    tools::gcc_for(spec.arch).require()?;
    let (tree, source_version) = fetch::resolve_source(spec)?;
    let key = build_key(spec, &source_version)?;
    let build = paths::cache_dir().join("kernels").join(&key);
    let stamp = Stamp::built(&build);
    let is_tree = matches!(spec.sources.first(), Some(Source::Path { path }) if path.is_dir());
    let _lock = cache::lock(&paths::sibling(&build, "lock"), &format!("kernel {key}"))?;
    if !stamp.exists() || is_tree {
        build_kernel(spec, &tree, &build)?;
        stamp.write(&source_version)?;
    }
    let release = fs::read_to_string(build.join("include/config/kernel.release"))?.trim().to_owned();
    Ok(BuiltKernel {
        id: spec.id.clone(),
        release,
        bzimage: build.join(spec.arch.image()),
        arch: spec.arch,
        kdir: build,
        key,
        cmdline: spec.cmdline.clone(),
        image_cmdline: spec.image_cmdline.clone(),
        preload: Vec::new(),
        modules: None,
    })
}

/// What a fresh build of a shipped kernel compiles (820 to 930 files): the
/// total a first build counts toward.
const ESTIMATED_FILES: usize = 900;

fn build_kernel(spec: &KernelSpec, tree: &Path, build: &Path) -> Result<()> {
    // A rebuild of a local tree compiles only what changed: its count
    // would be a poor total for the next fresh build.
    let fresh = !build.join("vmlinux").exists();
    fs::create_dir_all(build)?;
    let frags = fragments(spec)?;
    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.arg("-C").arg(tree).arg(format!("O={}", build.display())).args(tools::make_arch_arguments(spec.arch));
        c.args(args);
        c
    };
    progress::note(format!("configuring kernel {} in {}", spec.id, build.display()));
    tools::run(&mut make(&["tinyconfig"]))?;
    let paths: Vec<&Path> = frags.iter().map(|(path, _)| path.as_path()).collect();
    let requested: kconfig::Options = frags.iter().flat_map(|(_, text)| kconfig::parse(text)).collect();
    let unmet = merge_config(tree, build, spec.arch, &paths, &requested)?;
    if !unmet.is_empty() {
        bail!(
            "kernel {}: olddefconfig dropped or changed requested options (missing dependency or option renamed?):\n  {}",
            spec.id,
            unmet.join("\n  ")
        );
    }

    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // How many files the last build of this kernel compiled: the total
    // progress counts toward.
    let count_file = build.parent().unwrap_or(build).join(format!("{}.files", spec.id));
    let last_count = fs::read_to_string(&count_file).ok().and_then(|s| s.trim().parse().ok());
    let compiled = make_with_progress(make(&[&format!("-j{jobs}")]), &spec.id, last_count, &build.join("build.log"))?;
    if fresh {
        let _ = fs::write(&count_file, compiled.to_string());
    }
    Ok(())
}

/// Merges `fragments` into the build's `.config`, lets `olddefconfig` settle
/// it, and returns what it did not honour of `requested` (a vanished
/// option is a silently broken build).
pub(super) fn merge_config(
    tree: &Path,
    build: &Path,
    arch: Arch,
    fragments: &[&Path],
    requested: &kconfig::Options,
) -> Result<Vec<String>> {
    let mut merge = Command::new(tree.join("scripts/kconfig/merge_config.sh"));
    merge.current_dir(tree).arg("-m").arg("-O").arg(build).arg(build.join(".config")).args(fragments);
    // merge_config.sh reads ARCH and CROSS_COMPILE from its environment.
    for argument in tools::make_arch_arguments(arch) {
        let (name, value) = argument.split_once('=').expect("NAME=VALUE");
        merge.env(name, value);
    }
    tools::run(&mut merge)?;
    let mut olddefconfig = Command::new("make");
    olddefconfig.arg("-C").arg(tree).arg(format!("O={}", build.display())).args(tools::make_arch_arguments(arch));
    tools::run(olddefconfig.arg("olddefconfig"))?;
    Ok(kconfig::unmet(requested, &fs::read_to_string(build.join(".config"))?))
}

/// Runs the kernel build, reporting files compiled as it goes and keeping
/// the full output in `log`; returns how many files it compiled.
pub(super) fn make_with_progress(mut cmd: Command, id: &str, expected: Option<usize>, log: &Path) -> Result<usize> {
    let started = Instant::now();
    let total = expected.unwrap_or(ESTIMATED_FILES) as u64;
    let task = progress::Task::start(format!("building kernel {id}"), progress::Unit::Files, Some(total));
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("start make")?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let mut out = String::new();
    let mut compiled = 0usize;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        if line.trim_start().starts_with("CC") {
            compiled += 1;
            task.set(compiled as u64);
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    fs::write(log, format!("{out}\n--- stderr ---\n{err}"))?;
    if !status.success() {
        bail!("kernel {id} build failed (full log: {}):\n{}", log.display(), tools::tail(&err, 40));
    }
    task.finish(format!("built in {}s ({compiled} files)", started.elapsed().as_secs()));
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::listing::{default_spec, list};

    #[test]
    fn the_shipped_list_is_valid() {
        let list = list().unwrap();
        assert!(list.iter().any(|k| k.default));
        for k in &list {
            fragments(k).unwrap();
        }
    }

    #[test]
    fn build_key_changes_with_version_and_fragments() {
        let spec = default_spec().unwrap();
        let a = build_key(&spec, "6.1.1-1").unwrap();
        assert_eq!(a, build_key(&spec, "6.1.1-1").unwrap(), "stable for the same input");
        assert_ne!(a, build_key(&spec, "6.1.2-1").unwrap());
        assert!(a.starts_with(&format!("{}-6.1.1-1-", spec.id)));
    }
}
