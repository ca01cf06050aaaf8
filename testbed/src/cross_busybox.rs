//! busybox for the shell of another architecture's guest: Debian's
//! `busybox-static` of that architecture, fetched with kulink's private apt
//! configuration and unpacked into the cache. Its applets are those the
//! host's busybox lists: Debian builds busybox with one configuration for
//! every architecture, and the foreign program cannot run here to say.

use anyhow::Result;

use crate::apt::{self, Apt};
use crate::arch::Arch;
use crate::cache::{self, Stamp};
use crate::tools::Busybox;
use crate::{paths, progress};

const PACKAGE: &str = "busybox-static";

/// busybox for a guest of `arch`: the host's own, or Debian's build for
/// that architecture, fetched the first time.
pub fn for_guest(arch: Arch) -> Result<Busybox> {
    let host = Busybox::host()?;
    if arch.is_host() {
        return Ok(host);
    }
    let applets = host.applets;
    let apt = Apt::for_other_architectures()?;
    let wanted = format!("{PACKAGE}:{}", arch.debian());
    let version = apt.candidate(&wanted)?;
    let root = paths::checked_cache_dir()?.join("busybox").join(arch.name()).join(cache::name_part(&version));
    let _lock = cache::lock(&paths::sibling(&root, "lock"), &format!("busybox for {arch}"))?;
    let stamp = Stamp::built(&root);
    if !stamp.exists() {
        progress::note(format!("fetching Debian's busybox {version} for {arch} guests"));
        let debs = paths::sibling(&root, "debs");
        let deb = apt.download(&wanted, &version, &debs)?;
        std::fs::create_dir_all(&root)?;
        apt::extract(&deb, &root)?;
        let _ = std::fs::remove_dir_all(&debs);
        stamp.write(&version)?;
    }
    Ok(Busybox { path: root.join("bin/busybox"), applets })
}
