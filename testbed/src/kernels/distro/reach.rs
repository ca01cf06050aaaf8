//! Whether this host can build modules for a distribution kernel. The
//! kernel's headers name the compiler it was built with, and its
//! `linux-kbuild` tools (fixdep, modpost) link the C library of their
//! release: both are read from the package lists before anything is
//! fetched, so a kernel this host cannot use is named with the reason, not
//! found out by a failed build.

use std::ffi::CStr;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::apt::Apt;
use crate::catalog::KernelSpec;
use crate::paths;

/// What building modules for a kernel asks of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The major version of the gcc the kernel was built with.
    pub gcc: u32,
    /// The oldest C library its kbuild tools run with (major, minor).
    pub glibc: (u32, u32),
}

/// What the host has, in the same terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// The major version of the host's `gcc`.
    pub gcc: u32,
    /// The host's C library (major, minor).
    pub glibc: (u32, u32),
}

/// Reads a kernel's needs from the package lists: the headers' compiler
/// (`gcc-N`, or `linux-compiler-gcc-N-ARCH` before Debian 13), and
/// `libc6 (>= X.Y)` of its linux-kbuild.
pub fn needs(apt: &Apt, headers: &str) -> Result<Needs> {
    let depends = apt.depends_field(headers)?;
    let packages: Vec<&str> = depends.split(',').map(|d| d.split_whitespace().next().unwrap_or("")).collect();
    let gcc = packages
        .iter()
        .find_map(|p| gcc_major(p))
        .with_context(|| format!("{headers} names no compiler (gcc-N) among its dependencies: {depends}"))?;
    let kbuild = packages
        .iter()
        .find(|p| p.starts_with("linux-kbuild-"))
        .with_context(|| format!("{headers} depends on no linux-kbuild package: {depends}"))?;
    let glibc = libc_requirement(&apt.depends_field(kbuild)?).unwrap_or((2, 0));
    Ok(Needs { gcc, glibc })
}

/// The gcc major version a compiler package stands for.
fn gcc_major(package: &str) -> Option<u32> {
    let rest = package.strip_prefix("linux-compiler-gcc-").or_else(|| package.strip_prefix("gcc-"))?;
    rest.split('-').next()?.parse().ok()
}

/// `libc6 (>= 2.38)` in a Depends field, as (2, 38).
fn libc_requirement(depends: &str) -> Option<(u32, u32)> {
    let spec = depends.split(',').map(str::trim).find(|d| d.starts_with("libc6 "))?;
    version_pair(spec.split(">=").nth(1)?.trim_end_matches(')').trim())
}

fn version_pair(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    Some((parts.next()?.parse().ok()?, parts.next().unwrap_or("0").parse().ok()?))
}

impl Host {
    /// This host: `gcc -dumpversion` and the running C library.
    pub fn this() -> Result<Self> {
        let out = Command::new("gcc").arg("-dumpversion").output().context("run gcc -dumpversion")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let gcc = version_pair(text.trim()).context("gcc -dumpversion printed no version")?.0;
        // SAFETY: glibc returns a pointer to a static, NUL-terminated string.
        let glibc = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
        let glibc = version_pair(&glibc.to_string_lossy()).context("the C library names no version")?;
        Ok(Self { gcc, glibc })
    }
}

/// `None` when the host can build modules for a kernel with `needs`, else
/// what it lacks. A newer gcc than the kernel's builds its modules; an
/// older one does not know the kernel's flags.
pub fn lacks(needs: Needs, host: Host) -> Option<String> {
    let mut missing = Vec::new();
    if host.gcc < needs.gcc {
        missing.push(format!("gcc {} (this host has gcc {})", needs.gcc, host.gcc));
    }
    if host.glibc < needs.glibc {
        missing.push(format!(
            "glibc {}.{} or newer for its linux-kbuild tools (this host has {}.{})",
            needs.glibc.0, needs.glibc.1, host.glibc.0, host.glibc.1
        ));
    }
    (!missing.is_empty()).then(|| missing.join(" and "))
}

/// Where the verdict on a kernel is kept, so that listing kernels and
/// selecting tests read a file rather than the package lists each time.
fn verdict_file(spec: &KernelSpec) -> PathBuf {
    paths::cache_dir().join("kernels").join(format!("{}.reach", spec.id))
}

/// A kept verdict: `Some(None)` usable, `Some(Some(why))` out of reach,
/// `None` when none is kept or the package lists changed since.
pub fn kept(spec: &KernelSpec) -> Option<Option<String>> {
    let file = verdict_file(spec);
    let written = fs::metadata(&file).and_then(|m| m.modified()).ok()?;
    let lists = fs::metadata(Apt::lists_stamp(&spec.suites)).and_then(|m| m.modified()).ok()?;
    if lists > written {
        return None;
    }
    let text = fs::read_to_string(file).ok()?;
    Some(text.strip_prefix("out of reach: ").map(|why| why.trim().to_owned()))
}

/// Keeps a verdict for [`kept`].
pub fn keep(spec: &KernelSpec, why_not: Option<&str>) -> Result<()> {
    let file = verdict_file(spec);
    fs::create_dir_all(file.parent().expect("under kernels/"))?;
    fs::write(&file, why_not.map(|w| format!("out of reach: {w}\n")).unwrap_or_else(|| "usable\n".into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: Host = Host { gcc: 12, glibc: (2, 36) };

    #[test]
    fn a_kbuild_package_s_c_library_is_read_from_its_depends() {
        assert_eq!(libc_requirement("libc6 (>= 2.38), libelf1t64 (>= 0.144), libssl3t64 (>= 3.0.0)"), Some((2, 38)));
        assert_eq!(libc_requirement("libc6 (>= 2.14), libelf1 (>= 0.142)"), Some((2, 14)));
        assert_eq!(libc_requirement("libelf1"), None);
        assert_eq!(version_pair("12"), Some((12, 0)));
        assert_eq!(gcc_major("linux-compiler-gcc-10-x86"), Some(10));
        assert_eq!(gcc_major("gcc-14"), Some(14));
        assert_eq!(gcc_major("linux-kbuild-6.12.95+deb12"), None);
        assert_eq!(version_pair("2.36"), Some((2, 36)));
    }

    #[test]
    fn older_kernels_are_in_reach_and_newer_toolchains_are_named() {
        assert_eq!(lacks(Needs { gcc: 10, glibc: (2, 14) }, BOOKWORM), None, "bullseye");
        assert_eq!(lacks(Needs { gcc: 12, glibc: (2, 34) }, BOOKWORM), None, "bookworm-backports");
        let why = lacks(Needs { gcc: 14, glibc: (2, 38) }, BOOKWORM).unwrap();
        assert_eq!(
            why,
            "gcc 14 (this host has gcc 12) and glibc 2.38 or newer for its linux-kbuild tools (this host has 2.36)"
        );
    }
}
