//! Variants: a catalog kernel built from source, plus a configuration
//! overlay of the test's. A variant starts as a copy of the cached base
//! build, so Kbuild, which tracks the options every file depends on,
//! recompiles only what the changed options touch.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::build::{make_with_progress, merge_config};
use super::built::BuiltKernel;
use crate::cache::{self, Stamp};
use crate::catalog::KernelSpec;
use crate::{kconfig, paths, progress, tools, usage_error};

/// Marks a variant's directory: `<base key>+<overlay hash>`.
pub const SEPARATOR: char = '+';

/// Variants kept in the cache, the most recently used: each is a copy of a
/// whole build, about 200 MB.
const KEEP: usize = 8;

/// The overlay as a fragment: one line per option, in name order.
pub fn fragment(overlay: &kconfig::Options) -> String {
    overlay
        .iter()
        .map(|(name, value)| match value {
            Some(value) => format!("{name}={value}\n"),
            None => format!("# {name} is not set\n"),
        })
        .collect()
}

/// Builds (or finds in the cache) `base` with `overlay` on top.
pub fn ensure(spec: &KernelSpec, base: &BuiltKernel, overlay: &kconfig::Options) -> Result<BuiltKernel> {
    let text = fragment(overlay);
    let key = format!("{}{SEPARATOR}{}", base.key, cache::short_hash(&[text.as_bytes()]));
    let dir = paths::cache_dir().join("kernels").join(&key);
    let stamp = Stamp::built(&dir);
    let _lock = cache::lock(&paths::sibling(&dir, "lock"), &format!("kernel {key}"))?;
    if !stamp.exists() {
        // A failed variant's copy is 200 MB that nothing will use.
        if let Err(e) = build(spec, base, &dir, &text, overlay) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        stamp.write(&base.release)?;
    } else {
        stamp.touch();
    }
    evict(dir.parent().expect("under kernels/"), KEEP);
    let release = fs::read_to_string(dir.join("include/config/kernel.release"))?.trim().to_owned();
    Ok(BuiltKernel {
        id: name(&base.id, &text),
        release,
        bzimage: dir.join(base.arch.image()),
        kdir: dir,
        key,
        ..base.clone()
    })
}

/// A variant's name: the kernel's id and the overlay's lines
/// (`6.1+CONFIG_CONNECTOR=y`), as commands print it and `kernels list`
/// shows it.
fn name(id: &str, fragment: &str) -> String {
    format!("{id}{SEPARATOR}{}", fragment.trim_end().replace('\n', ","))
}

/// The variants of `base_dir` (a cached build) in the cache: each one's
/// name (`ID+OPTION,...`) and directory.
pub fn cached(id: &str, base_dir: &Path) -> Vec<(String, PathBuf)> {
    let prefix = format!("{}{SEPARATOR}", base_dir.file_name().unwrap_or_default().to_string_lossy());
    let Ok(entries) = fs::read_dir(base_dir.parent().unwrap_or(base_dir)) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
        .filter(|p| Stamp::built(p).exists())
        .filter_map(|p| {
            let overlay = fs::read_to_string(p.join("kulink-overlay.config")).ok()?;
            Some((name(id, &overlay), p))
        })
        .collect();
    found.sort();
    found
}

/// Removes the variants of base builds that are gone (a fragment or the
/// compiler changed), then the least recently used beyond `keep`; a variant
/// another process holds stays.
fn evict(kernels: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(kernels) else { return };
    let mut variants: Vec<(bool, std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            let (base, _) = name.split_once(SEPARATOR)?;
            let used = Stamp::built(&p).last_used()?;
            Some((kernels.join(base).is_dir(), used, p))
        })
        .collect();
    // Orphans first, then the oldest.
    variants.sort();
    let orphans = variants.iter().filter(|(has_base, ..)| !has_base).count();
    let extra = variants.len().saturating_sub(keep).max(orphans);
    for (_, _, dir) in &variants[..extra] {
        let lock = paths::sibling(dir, "lock");
        if let Some(_held) = cache::try_lock(&lock) {
            let _ = fs::remove_dir_all(dir);
            let _ = fs::remove_file(&lock);
        }
    }
}

fn build(spec: &KernelSpec, base: &BuiltKernel, dir: &Path, text: &str, overlay: &kconfig::Options) -> Result<()> {
    tools::require_all(tools::KERNEL_BUILD)?;
    let tree = fs::read_link(base.kdir.join("source"))
        .with_context(|| format!("{}: a variant needs a kernel built from source", base.kdir.display()))?;
    let options = text.trim_end().replace('\n', " ");
    progress::note(format!("copying kernel {}'s build for the variant {options}", spec.id));
    let _ = fs::remove_dir_all(dir);
    let partial = paths::sibling(dir, "partial");
    let _ = fs::remove_dir_all(&partial);
    // Times are kept: they are what tells make what is up to date.
    tools::run(Command::new("cp").arg("-a").arg("--reflink=auto").arg(&base.kdir).arg(&partial))?;
    // The copy carries the base's stamp: a variant is built only once its
    // own build is done.
    Stamp::built(&partial).remove()?;
    relocate(&partial, &base.kdir, dir)?;
    fs::rename(&partial, dir)?;
    let overlay_file = dir.join("kulink-overlay.config");
    fs::write(&overlay_file, text)?;
    let unmet = merge_config(&tree, dir, base.arch, &[&overlay_file], overlay)?;
    if !unmet.is_empty() {
        return Err(usage_error(format!(
            "kernel {} cannot take the configuration asked for: olddefconfig dropped or changed (a missing dependency, or an option this kernel does not have?):\n  {}",
            spec.id,
            unmet.join("\n  ")
        )));
    }
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let label = format!("{} with {options}", spec.id);
    let mut make = Command::new("make");
    make.arg("-C").arg(&tree).arg(format!("O={}", dir.display())).args(tools::make_arch_arguments(base.arch));
    make.arg(format!("-j{jobs}"));
    make_with_progress(make, &label, Some(50), &dir.join("build.log"))?;
    Ok(())
}

/// Rewrites the base build's directory to the copy's in every text file of
/// the copy: the build's own tools (objtool) record absolute paths, and a
/// path that changed would rebuild them, and with them every object.
fn relocate(copy: &Path, from: &Path, to: &Path) -> Result<()> {
    let (from, to) = (from.to_string_lossy().into_owned(), to.to_string_lossy().into_owned());
    let mut dirs: Vec<PathBuf> = vec![copy.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                let path = entry.path();
                let bytes = fs::read(&path)?;
                if bytes.contains(&0) || !bytes.windows(from.len()).any(|w| w == from.as_bytes()) {
                    continue;
                }
                let text = String::from_utf8_lossy(&bytes).replace(&from, &to);
                // The file's time stays: make must not take it for new.
                let modified = entry.metadata()?.modified()?;
                fs::write(&path, text)?;
                fs::File::options().write(true).open(&path)?.set_modified(modified)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_is_one_fragment_whatever_the_order_given() {
        let a = kconfig::parse("CONFIG_CONNECTOR=y\n# CONFIG_PROC_EVENTS is not set\n");
        let b = kconfig::parse("# CONFIG_PROC_EVENTS is not set\nCONFIG_CONNECTOR=y\n");
        assert_eq!(fragment(&a), "CONFIG_CONNECTOR=y\n# CONFIG_PROC_EVENTS is not set\n");
        assert_eq!(fragment(&a), fragment(&b));
    }

    #[test]
    fn eviction_takes_orphans_then_the_least_recently_used() {
        let root = std::env::temp_dir().join(format!("kulink-variant-evict-{}", std::process::id()));
        let make = |name: &str, age_s: u64| {
            let dir = root.join(name);
            fs::create_dir_all(&dir).unwrap();
            Stamp::built(&dir).write("6.1").unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
            fs::File::options().append(true).open(dir.join(".kulink-built")).unwrap().set_modified(when).unwrap();
        };
        make("6.1-a", 500);
        make("6.1-a+old", 300);
        make("6.1-a+recent", 100);
        make("6.1-a+newest", 10);
        make("6.1-gone+orphan", 1);
        let held = cache::try_lock(&paths::sibling(&root.join("6.1-a+recent"), "lock")).unwrap();
        evict(&root, 2);
        let left = |name: &str| root.join(name).is_dir();
        assert!(left("6.1-a"), "a base build is no variant");
        assert!(!left("6.1-gone+orphan"), "its base is gone");
        assert!(!left("6.1-a+old"), "the least recently used");
        assert!(left("6.1-a+recent") && left("6.1-a+newest"));
        drop(held);
        evict(&root, 1);
        assert!(!left("6.1-a+recent") && left("6.1-a+newest"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn relocation_rewrites_text_keeps_binaries_and_times() {
        let root = std::env::temp_dir().join(format!("kulink-relocate-{}", std::process::id()));
        let (old, new) = (root.join("old-build"), root.join("new-build"));
        fs::create_dir_all(new.join("tools")).unwrap();
        let cmd = new.join("tools/.check.o.cmd");
        fs::write(&cmd, format!("cmd_{0}/tools/check.o := gcc -o {0}/tools/check.o\n", old.display())).unwrap();
        let binary = new.join("tools/objtool");
        let bytes = [old.to_string_lossy().as_bytes(), &[0u8, 1, 2]].concat();
        fs::write(&binary, &bytes).unwrap();
        let before = fs::metadata(&cmd).unwrap().modified().unwrap();
        relocate(&new, &old, &new).unwrap();
        let text = fs::read_to_string(&cmd).unwrap();
        assert_eq!(text, format!("cmd_{0}/tools/check.o := gcc -o {0}/tools/check.o\n", new.display()));
        assert_eq!(fs::metadata(&cmd).unwrap().modified().unwrap(), before);
        assert_eq!(fs::read(&binary).unwrap(), bytes, "binaries are left alone");
        fs::remove_dir_all(&root).unwrap();
    }
}
