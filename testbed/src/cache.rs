//! kulink's cache on disk: names made from what a thing was built from,
//! locks that let several kulinks share it, and stamps that mark a
//! directory complete. Kernels, sources and modules all keep it this way.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::progress;

/// Twelve hex digits naming a list of inputs (each length-prefixed, so
/// `["ab", "c"]` and `["a", "bc"]` differ).
pub fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `s` as part of a file name: letters, digits, `.` and `-` kept, anything
/// else (a Debian version's `~`, `:`, `+`) made `_`.
pub fn name_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// An exclusive lock on a file in the cache, held while the value lives.
pub struct CacheLock(#[allow(dead_code)] File);

pub fn lock(path: &Path, what: &str) -> Result<CacheLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("create lock {}", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        progress::note(format!("waiting for another kulink that is building {what}"));
        // SAFETY: as above, blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("lock {}: {}", path.display(), std::io::Error::last_os_error());
        }
    }
    Ok(CacheLock(file))
}

/// A file whose presence says a cache directory is complete; it holds what
/// the directory was made from. Written last, so a crash leaves none.
pub struct Stamp(PathBuf);

impl Stamp {
    /// A built kernel's or module's stamp.
    pub fn built(dir: &Path) -> Stamp {
        Stamp(dir.join(".kulink-built"))
    }

    /// An unpacked source's stamp.
    pub fn unpacked(dir: &Path) -> Stamp {
        Stamp(dir.join(".kulink-complete"))
    }

    pub fn exists(&self) -> bool {
        self.0.exists()
    }

    /// What the directory was made from, if it is complete.
    pub fn read(&self) -> Option<String> {
        fs::read_to_string(&self.0).ok()
    }

    pub fn write(&self, made_from: &str) -> Result<()> {
        fs::write(&self.0, made_from).with_context(|| format!("write {}", self.0.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_tell_apart_where_parts_split() {
        assert_eq!(short_hash(&[b"ab", b"c"]).len(), 12);
        assert_ne!(short_hash(&[b"ab", b"c"]), short_hash(&[b"a", b"bc"]));
        assert_eq!(short_hash(&[b"ab", b"c"]), short_hash(&[b"ab", b"c"]));
    }

    #[test]
    fn debian_versions_become_file_names() {
        assert_eq!(name_part("6.12.117-1~deb12u1"), "6.12.117-1_deb12u1");
        assert_eq!(name_part("1:2.3+b1"), "1_2.3_b1");
    }
}
