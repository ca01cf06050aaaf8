//! Unmodified Debian distribution kernels: the image package, its headers
//! (the module under test is built against them), and the kernel's own
//! modules, indexed so that the drivers the guest needs and whatever the
//! module under test uses are loaded before it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::built::BuiltKernel;
use crate::apt::{self, Apt};
use crate::cache::{self, Stamp};
use crate::catalog::KernelSpec;
use crate::{paths, tools, usage_error};

mod modules;
mod reach;

pub use modules::ModuleIndex;

/// Drivers the guest needs: PCI transport, the wire, the control port, the
/// veth pairs of programs run in namespaces of their own, and nftables with
/// its `log group` path to NFLOG (what source kernels build in).
const NEEDED: &[&str] =
    &["virtio_pci", "virtio_net", "virtio_console", "veth", "nf_tables", "nft_log", "nfnetlink_log"];

/// A distribution kernel's packages, as the package lists resolve them.
struct Packages {
    /// The versioned image package (`linux-image-6.1.0-50-cloud-amd64`).
    image: String,
    /// Its version.
    version: String,
    /// The release and flavour (`6.1.0-50-cloud-amd64`).
    flavour: String,
}

impl Packages {
    fn resolve(apt: &Apt, spec: &KernelSpec) -> Result<Self> {
        let meta = spec.distro.as_deref().context("not a distribution kernel")?;
        let versioned =
            |p: &str| p.strip_prefix("linux-image-").is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        let image = if versioned(meta) {
            meta.to_owned()
        } else {
            // Newer metapackages also depend on linux-base-* and linux-modules-*.
            let depends = apt.dependencies(meta)?;
            depends.into_iter().find(|p| versioned(p)).with_context(|| format!("{meta} depends on no kernel image"))?
        };
        let flavour = image.strip_prefix("linux-image-").context("image package is not linux-image-*")?.to_owned();
        Ok(Self { version: apt.candidate(&image)?, image, flavour })
    }

    fn headers(&self) -> String {
        format!("linux-headers-{}", self.flavour)
    }
}

pub fn ensure(spec: &KernelSpec) -> Result<BuiltKernel> {
    let apt = Apt::for_suites(&spec.suites)?;
    let packages = Packages::resolve(&apt, spec)?;
    let Packages { image, version, flavour } = &packages;
    let key = format!("{}-{flavour}-{}", spec.id, cache::name_part(version));
    let root = paths::cache_dir().join("kernels").join(&key);
    let stamp = Stamp::built(&root);
    let _lock = cache::lock(&paths::sibling(&root, "lock"), image)?;
    if !stamp.exists() {
        if let Some(why) = judge(spec, &apt, &packages)? {
            return Err(usage_error(out_of_reach(spec, &why)));
        }
        let _ = fs::remove_dir_all(&root);
        let headers = packages.headers();
        let mut wanted = vec![image.clone(), headers.clone()];
        // The headers need their -common part and linux-kbuild (host tools).
        wanted.extend(
            apt.dependencies(&headers)?
                .into_iter()
                .filter(|d| d.starts_with("linux-headers-") || d.starts_with("linux-kbuild-")),
        );
        let downloads = paths::sibling(&root, "download");
        for pkg in &wanted {
            let v = apt.candidate(pkg)?;
            let deb = apt.download(pkg, &v, &downloads)?;
            apt::extract(&deb, &root)?;
        }
        fs::remove_dir_all(&downloads)?;
        relocate_headers(&root, flavour)?;
        stamp.write(version)?;
    }
    let bzimage = root.join(format!("boot/vmlinuz-{flavour}"));
    let kdir = root.join(format!("usr/src/linux-headers-{flavour}"));
    if !bzimage.is_file() || !kdir.join("Module.symvers").is_file() {
        bail!("{image} {version} did not unpack to a kernel and headers in {}", root.display());
    }
    // Indexing runs depmod the first time: a fresh unpack, or a cache
    // entry from before kulink indexed them.
    let modules = modules_dir(&root, flavour);
    let preload = ModuleIndex::of(&modules)?.load_order(NEEDED.iter().copied());
    Ok(BuiltKernel {
        id: spec.id.clone(),
        release: flavour.clone(),
        bzimage,
        arch: spec.arch,
        kdir,
        key,
        cmdline: spec.cmdline.clone(),
        image_cmdline: spec.image_cmdline.clone(),
        preload,
        modules: Some(modules),
    })
}

/// Where a package unpacked its modules: `lib/modules/RELEASE`, or under
/// `usr/` in releases with a merged /usr.
fn modules_dir(root: &Path, flavour: &str) -> PathBuf {
    let plain = root.join("lib/modules").join(flavour);
    if plain.is_dir() {
        plain
    } else {
        root.join("usr/lib/modules").join(flavour)
    }
}

/// What this host lacks to build modules for the kernel, read from the
/// package lists (and kept, for listings); `None` when it lacks nothing.
fn judge(spec: &KernelSpec, apt: &Apt, packages: &Packages) -> Result<Option<String>> {
    let why = reach::lacks(reach::needs(apt, &packages.headers())?, reach::Host::this()?)
        .map(|lacks| format!("{} {} needs {lacks}", packages.image, packages.version));
    reach::keep(spec, why.as_deref())?;
    Ok(why)
}

/// Why this host cannot use a distribution kernel, `None` when it can:
/// from the cache when the kernel or a verdict is there, else from the
/// package lists (nothing is downloaded but the lists).
pub fn why_out_of_reach(spec: &KernelSpec) -> Result<Option<String>> {
    if super::cached_build(spec).is_some() {
        return Ok(None);
    }
    if let Some(verdict) = reach::kept(spec) {
        return Ok(verdict);
    }
    let apt = Apt::for_suites(&spec.suites)?;
    judge(spec, &apt, &Packages::resolve(&apt, spec)?)
}

/// The sentence that refuses a kernel out of reach, before any download.
pub fn out_of_reach(spec: &KernelSpec, why: &str) -> String {
    let release = spec.suites.first().map(|s| s.split('-').next().unwrap_or(s)).unwrap_or("newer");
    format!(
        "kernel {} (Debian {}) is out of reach on this host: {why}. A Debian {release} host has what it needs; \
         here, test on a kernel built from source (`kulink kernels list`)",
        spec.id,
        spec.suites.join(", ")
    )
}

/// The kernel's own modules that `built` (modules built against it) use,
/// each after what it needs: from each one's `depends` (modpost writes it
/// from the headers' Module.symvers) and the kernel's modules.dep, as
/// modprobe would load them. Empty for a kernel with no modules of its own.
pub fn dependencies(kernel: &BuiltKernel, built: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let Some(dir) = &kernel.modules else { return Ok(Vec::new()) };
    let index = ModuleIndex::of(dir)?;
    let mut names = Vec::new();
    for ko in built {
        names.extend(depends_of(ko)?);
    }
    Ok(index.load_order(names.iter().map(String::as_str)))
}

/// What `make` must be told to build modules against a distribution
/// kernel's headers on this host. The headers name the exact compiler the
/// kernel was built with (`gcc-10` in `.kernelvariables`); where the host
/// has only a newer gcc (which the reach check allows), that one builds.
/// Headers that carry a `vmlinux` for module BTF need pahole, as Debian's
/// linux-kbuild does: a missing one is named before the build.
pub fn make_arguments(kdir: &Path) -> Result<Vec<String>> {
    let config = fs::read_to_string(kdir.join(".config")).unwrap_or_default();
    if kdir.join("vmlinux").is_file() && config.lines().any(|l| l == "CONFIG_DEBUG_INFO_BTF_MODULES=y") {
        tools::PAHOLE.require()?;
    }
    let variables = fs::read_to_string(kdir.join(".kernelvariables")).unwrap_or_default();
    let named = variables
        .lines()
        .filter(|l| l.trim_start().starts_with("CC "))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ')'))
        .find(|word| word.strip_prefix("gcc-").is_some_and(|v| v.parse::<u32>().is_ok()));
    Ok(match named {
        Some(gcc) if tools::Tool::on_path(gcc).is_none() => vec!["CC=gcc".into()],
        _ => Vec::new(),
    })
}

fn depends_of(module: &Path) -> Result<Vec<String>> {
    let out = tools::run(Command::new(tools::MODINFO.require()?).args(["-F", "depends"]).arg(module))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
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
