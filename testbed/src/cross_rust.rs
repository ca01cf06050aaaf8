//! The Rust toolchain that builds another architecture's agent: Debian's
//! `rustc-web` and its standard libraries, fetched with kulink's private
//! apt configuration and unpacked into the cache. rustup cannot add
//! targets where its servers are out of reach, and Debian's cross
//! standard libraries are foreign-architecture packages, which the host's
//! dpkg would have to be told of: nothing is installed on the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::apt::{self, Apt};
use crate::arch::Arch;
use crate::cache::{self, Stamp};
use crate::{paths, progress, tools};

/// The compiler; its dependencies that start with [`FOLLOWED`] come too.
const COMPILER: &str = "rustc-web";
/// The standard library for a target, by Debian architecture.
const STD: &str = "libstd-rust-web-dev";
/// The compiler's own libraries: its standard library's shared object and
/// LLVM. What else it links (libc, libstdc++) the host has.
const FOLLOWED: &[&str] = &["libstd-rust-web", "libllvm"];

/// A Rust compiler that targets [`Arch`]s other than the host's.
#[derive(Debug, Clone)]
pub struct CrossRust {
    /// The `rustc` program.
    pub rustc: PathBuf,
    /// What `LD_LIBRARY_PATH` must hold for it to run.
    pub library_path: std::ffi::OsString,
}

impl CrossRust {
    /// The toolchain with `arch`'s standard library, fetched and unpacked
    /// the first time.
    pub fn for_arch(arch: Arch) -> Result<Self> {
        tools::gcc_for(arch).require()?;
        let apt = Apt::for_other_architectures()?;
        let version = apt.candidate(COMPILER)?;
        let root = paths::checked_cache_dir()?.join("rust").join(cache::name_part(&version));
        let _lock = cache::lock(&paths::sibling(&root, "lock"), "Debian's Rust toolchain")?;
        // A stamp per part, in a directory of its own: the parts unpack into one tree.
        let stamp = |part: &str| -> Result<Stamp> {
            let dir = root.join(".kulink").join(part);
            fs::create_dir_all(&dir)?;
            Ok(Stamp::built(&dir))
        };
        let compiler = stamp("compiler")?;
        if !compiler.exists() {
            progress::note(format!("fetching Debian's Rust {version} into {}", root.display()));
            for package in compiler_packages(&apt)? {
                unpack(&apt, &package, &version, &root)?;
            }
            compiler.write(&version)?;
        }
        let target = stamp(arch.debian())?;
        if !target.exists() {
            unpack(&apt, &format!("{STD}:{}", arch.debian()), &version, &root)?;
            target.write(&version)?;
        }
        let toolchain = Self::in_root(&root)?;
        toolchain.check()?;
        Ok(toolchain)
    }

    /// The compiler unpacked under `root` and its libraries' directories.
    fn in_root(root: &Path) -> Result<Self> {
        let lib = root.join("usr/lib");
        let llvm = fs::read_dir(&lib)
            .with_context(|| format!("read {}", lib.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("llvm-")))
            .map(|p| p.join("lib"));
        let dirs = std::iter::once(lib.join(Arch::host().unwrap_or_default().gnu_triplet())).chain(llvm);
        let library_path = std::env::join_paths(dirs).context("a cache path holds ':'")?;
        Ok(Self { rustc: root.join("usr/bin/rustc"), library_path })
    }

    /// The compiler runs: the libraries it needs from the host are there.
    fn check(&self) -> Result<()> {
        let out = self.command().arg("--version").output().with_context(|| format!("run {}", self.rustc.display()))?;
        if !out.status.success() {
            bail!(
                "Debian's rustc in {} does not run on this host:\n{}",
                self.rustc.display(),
                tools::tail(&String::from_utf8_lossy(&out.stderr), 5)
            );
        }
        Ok(())
    }

    /// `rustc` with its libraries found.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.rustc);
        c.env("LD_LIBRARY_PATH", &self.library_path);
        c
    }

    /// What cargo needs in its environment to build a static program for
    /// `arch` with this compiler, linked by Debian's cross gcc.
    pub fn cargo_env(&self, arch: Arch) -> Vec<(String, std::ffi::OsString)> {
        let target = arch.rust_target().to_uppercase().replace('-', "_");
        vec![
            ("RUSTC".into(), self.rustc.clone().into()),
            ("LD_LIBRARY_PATH".into(), self.library_path.clone()),
            (format!("CARGO_TARGET_{target}_LINKER"), format!("{}-gcc", arch.gnu_triplet()).into()),
            (format!("CARGO_TARGET_{target}_RUSTFLAGS"), "-C target-feature=+crt-static".into()),
        ]
    }
}

/// The compiler and the libraries it runs with, for the host.
fn compiler_packages(apt: &Apt) -> Result<Vec<String>> {
    let mut packages = vec![COMPILER.to_owned()];
    let mut next = 0;
    while let Some(package) = packages.get(next).cloned() {
        next += 1;
        for name in depends_names(&apt.depends_field(&package)?) {
            if FOLLOWED.iter().any(|f| name.starts_with(f)) && !packages.contains(&name) {
                packages.push(name);
            }
        }
    }
    Ok(packages)
}

/// The package names of a Depends field (`a (>= 1), b | c` gives a, b, c).
fn depends_names(field: &str) -> Vec<String> {
    field
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .map(|name| name.split(':').next().unwrap_or(name).to_owned())
        .collect()
}

/// Downloads `package` (the version of the compiler, for the toolchain's
/// own packages) and unpacks it under `root`.
fn unpack(apt: &Apt, package: &str, compiler_version: &str, root: &Path) -> Result<()> {
    let name = package.split(':').next().unwrap_or(package);
    let version = if name.starts_with("libllvm") { apt.candidate(package)? } else { compiler_version.to_owned() };
    let debs = paths::sibling(root, "debs");
    let deb = apt.download(package, &version, &debs)?;
    apt::extract(&deb, root)?;
    let _ = fs::remove_dir_all(&debs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_depends_field_gives_its_package_names() {
        let field = "libc6 (>= 2.34), libstd-rust-web-dev (= 1.85.0+dfsg3-1~deb12u3), gcc | clang:any, libllvm19";
        assert_eq!(depends_names(field), ["libc6", "libstd-rust-web-dev", "gcc", "clang", "libllvm19"]);
    }

    #[test]
    fn cargo_is_told_the_target_s_linker_and_a_static_link() {
        let rust = CrossRust { rustc: "/c/usr/bin/rustc".into(), library_path: "/c/lib".into() };
        let env = rust.cargo_env(Arch::Arm64);
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_string_lossy().into_owned());
        assert_eq!(get("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER").as_deref(), Some("aarch64-linux-gnu-gcc"));
        assert_eq!(
            get("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS").as_deref(),
            Some("-C target-feature=+crt-static")
        );
        assert_eq!(get("RUSTC").as_deref(), Some("/c/usr/bin/rustc"));
    }
}
