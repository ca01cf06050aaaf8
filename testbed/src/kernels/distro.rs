//! Unmodified Debian distribution kernels: the image package, its headers
//! (the module under test is built against them), and the virtio drivers it
//! ships as modules, which the agent loads first.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::built::BuiltKernel;
use crate::apt::{self, Apt};
use crate::cache::{self, Stamp};
use crate::catalog::KernelSpec;
use crate::{paths, tools};

/// Drivers the guest needs: PCI transport, the wire, the control port, the
/// veth pairs of programs run in namespaces of their own, and nftables with
/// its `log group` path to NFLOG (what source kernels build in).
const NEEDED: &[&str] =
    &["virtio_pci", "virtio_net", "virtio_console", "veth", "nf_tables", "nft_log", "nfnetlink_log"];

pub fn ensure(spec: &KernelSpec) -> Result<BuiltKernel> {
    let apt = Apt::for_suites(&spec.suites)?;
    let meta = spec.distro.as_deref().context("not a distribution kernel")?;
    let image = if meta.starts_with("linux-image-") && meta.chars().nth(12).is_some_and(|c| c.is_ascii_digit()) {
        meta.to_owned()
    } else {
        apt.first_dependency(meta)?
    };
    let flavour = image.strip_prefix("linux-image-").context("image package is not linux-image-*")?.to_owned();
    let version = apt.candidate(&image)?;
    let key = format!("{}-{flavour}-{}", spec.id, cache::name_part(&version));
    let root = paths::cache_dir().join("kernels").join(&key);
    let stamp = Stamp::built(&root);
    let _lock = cache::lock(&paths::sibling(&root, "lock"), &image)?;
    if !stamp.exists() {
        let _ = fs::remove_dir_all(&root);
        let headers = format!("linux-headers-{flavour}");
        let mut packages = vec![image.clone(), headers.clone()];
        // The headers need their -common part and linux-kbuild (host tools).
        packages.extend(
            apt.dependencies(&headers)?
                .into_iter()
                .filter(|d| d.starts_with("linux-headers-") || d.starts_with("linux-kbuild-")),
        );
        let downloads = paths::sibling(&root, "download");
        for pkg in &packages {
            let v = apt.candidate(pkg)?;
            let deb = apt.download(pkg, &v, &downloads)?;
            apt::extract(&deb, &root)?;
        }
        fs::remove_dir_all(&downloads)?;
        relocate_headers(&root, &flavour)?;
        stamp.write(&version)?;
    }
    let bzimage = root.join(format!("boot/vmlinuz-{flavour}"));
    let kdir = root.join(format!("usr/src/linux-headers-{flavour}"));
    if !bzimage.is_file() || !kdir.join("Module.symvers").is_file() {
        bail!("{image} {version} did not unpack to a kernel and headers in {}", root.display());
    }
    let preload = preload_order(&root.join(format!("lib/modules/{flavour}")), NEEDED)?;
    Ok(BuiltKernel {
        id: spec.id.clone(),
        release: flavour,
        bzimage,
        kdir,
        key,
        cmdline: spec.cmdline.clone(),
        image_cmdline: spec.image_cmdline.clone(),
        preload,
    })
}

/// Does a cache directory's name say it holds the image of `version`?
pub fn is_key_of(name: &str, version: &str) -> bool {
    name.ends_with(&format!("-{}", cache::name_part(version)))
}

/// The headers' Makefile includes /usr/src/...-common by absolute path:
/// point it at the unpacked copy.
fn relocate_headers(root: &Path, flavour: &str) -> Result<()> {
    let makefile = root.join(format!("usr/src/linux-headers-{flavour}/Makefile"));
    let text = fs::read_to_string(&makefile).with_context(|| format!("read {}", makefile.display()))?;
    let usr_src = root.join("usr/src");
    fs::write(&makefile, text.replace("/usr/src/", &format!("{}/", usr_src.display())))?;
    Ok(())
}

/// Finds `name.ko` (module names use `_`, files may use `-`).
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let want = format!("{}.ko", name.replace('-', "_"));
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|f| f.to_string_lossy().replace('-', "_") == want) {
                return Some(p);
            }
        }
    }
    None
}

fn depends_of(module: &Path) -> Result<Vec<String>> {
    tools::MODINFO.require()?;
    let out = tools::run(Command::new("modinfo").args(["-F", "depends"]).arg(module))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

/// The module files to load for `names`, each after its dependencies.
fn preload_order(modules: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    fn visit(modules: &Path, name: &str, seen: &mut BTreeSet<String>, out: &mut Vec<PathBuf>) -> Result<()> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let Some(file) = find_module(modules, name) else {
            // Built in: nothing to load.
            return Ok(());
        };
        for dep in depends_of(&file)? {
            visit(modules, &dep, seen, out)?;
        }
        out.push(file);
        Ok(())
    }
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    for name in names {
        visit(modules, name, &mut seen, &mut out)?;
    }
    Ok(out)
}
