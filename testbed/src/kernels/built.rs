//! A kernel ready to boot, and the build directory modules are built against.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::arch::Arch;
use crate::cache;

/// A bootable kernel and the build directory modules are built against.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltKernel {
    /// The catalog id, or the label of a source or prebuilt kernel.
    pub id: String,
    /// `uname -r` of the kernel.
    pub release: String,
    /// The bootable image (`arch/x86/boot/bzImage`).
    pub bzimage: PathBuf,
    /// The architecture it runs on.
    pub arch: Arch,
    /// The build directory out-of-tree modules are built against.
    pub kdir: PathBuf,
    /// Identifies this exact build in the module cache.
    pub key: String,
    /// Extra kernel command line from the spec.
    pub cmdline: String,
    /// Extra kernel command line when kulink's own image boots it.
    pub image_cmdline: String,
    /// Modules to load before the module under test, in dependency order
    /// (distro kernels build virtio as modules).
    pub preload: Vec<PathBuf>,
    /// A distribution kernel's own modules (`lib/modules/RELEASE`), indexed:
    /// what a module under test uses from them is loaded before it.
    pub modules: Option<PathBuf>,
}

impl BuiltKernel {
    /// The kernel's effective configuration: the `.config` of its build
    /// directory (a distribution kernel's headers carry theirs).
    pub fn config(&self) -> Result<String> {
        let path = self.kdir.join(".config");
        fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))
    }
}

/// A prebuilt kernel image with the build dir it came from.
pub fn prebuilt(bzimage: &Path, kdir: &Path) -> Result<BuiltKernel> {
    if !bzimage.is_file() {
        bail!("kernel image {} does not exist", bzimage.display());
    }
    if !kdir.join("Makefile").is_file() {
        bail!("{} is not a kernel build directory (no Makefile)", kdir.display());
    }
    if !kdir.join("Module.symvers").is_file() {
        bail!("{} has no Module.symvers: run `make modules_prepare` or a full `make` there", kdir.display());
    }
    let release = fs::read_to_string(kdir.join("include/config/kernel.release"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let key = cache::short_hash(&[bzimage.to_string_lossy().as_bytes(), kdir.to_string_lossy().as_bytes()]);
    Ok(BuiltKernel {
        id: format!("prebuilt-{release}"),
        release,
        bzimage: bzimage.canonicalize()?,
        arch: Arch::X86_64,
        kdir: kdir.canonicalize()?,
        key,
        cmdline: String::new(),
        image_cmdline: String::new(),
        preload: Vec::new(),
        modules: None,
    })
}
