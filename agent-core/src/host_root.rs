//! The host's root file system in the guest: mounted read-only over 9p at
//! `/host`, its `/usr` laid over the image's, and the image's top
//! directories completed as a merged `/usr` would have them, so a host
//! tool (and its interpreter, loader and libraries) runs at its host path.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::{Context, Result};
use kulink_protocol::{HOST_ROOT_DIR, HOST_ROOT_MERGED, HOST_ROOT_TAG};
use nix::mount::MsFlags;

/// 9p's options: the protocol every supported kernel speaks, 256 KiB
/// messages (the largest the virtio transport of 5.10 takes) and, the
/// share being read-only, the page cache kept across opens.
const OPTIONS: &str = "trans=virtio,version=9p2000.L,msize=262144,cache=loose";

/// Mounts the host's root and lays its `/usr` over the image's.
pub fn mount() -> Result<()> {
    fs::create_dir_all(HOST_ROOT_DIR).with_context(|| format!("mkdir {HOST_ROOT_DIR}"))?;
    nix::mount::mount(Some(HOST_ROOT_TAG), HOST_ROOT_DIR, Some("9p"), MsFlags::MS_RDONLY, Some(OPTIONS))
        .with_context(|| format!("mount the host's root (9p {HOST_ROOT_TAG}) on {HOST_ROOT_DIR}"))?;
    let host = Path::new(HOST_ROOT_DIR);
    fs::create_dir_all("/usr").context("mkdir /usr")?;
    nix::mount::mount(Some(&host.join("usr")), "/usr", None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .context("bind the host's /usr on /usr")?;
    for top in HOST_ROOT_MERGED {
        complete(&Path::new("/").join(top), &Path::new("/usr").join(top))?;
    }
    Ok(())
}

/// `top` as a merged `/usr` has it: a link to `usr` when the image lacks
/// it, else each name of `usr` it lacks a link into `usr` (the image's own
/// files, busybox's `/bin/sh` and the modules in `/lib`, stay).
fn complete(top: &Path, usr: &Path) -> Result<()> {
    if !usr.is_dir() {
        return Ok(());
    }
    match fs::symlink_metadata(top) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return symlink(usr, top).with_context(|| format!("link {} to {}", top.display(), usr.display()))
        }
        Err(e) => return Err(e).with_context(|| format!("stat {}", top.display())),
        Ok(meta) if !meta.is_dir() => return Ok(()),
        Ok(_) => {}
    }
    for entry in fs::read_dir(usr).with_context(|| format!("read {}", usr.display()))? {
        let name = entry?.file_name();
        let at = top.join(&name);
        if fs::symlink_metadata(&at).is_err() {
            symlink(usr.join(&name), &at).with_context(|| format!("link {}", at.display()))?;
        }
    }
    Ok(())
}
