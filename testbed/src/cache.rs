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

/// A lock on a file in the cache, held while the value lives.
pub struct CacheLock(#[allow(dead_code)] File);

/// An exclusive lock: this process builds or changes `what`.
pub fn lock(path: &Path, what: &str) -> Result<CacheLock> {
    lock_as(path, what, libc::LOCK_EX)
}

/// A shared lock: this process only reads `what`, which no holder of the
/// exclusive lock may change meanwhile.
pub fn lock_shared(path: &Path, what: &str) -> Result<CacheLock> {
    lock_as(path, what, libc::LOCK_SH)
}

/// An exclusive lock if no one else holds the file, without waiting.
pub fn try_lock(path: &Path) -> Option<CacheLock> {
    let file = File::options().create(true).truncate(false).write(true).open(path).ok()?;
    // SAFETY: flock on an fd we own.
    (unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0).then_some(CacheLock(file))
}

fn lock_as(path: &Path, what: &str, kind: libc::c_int) -> Result<CacheLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("create lock {}", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) } != 0 {
        progress::note(format!("waiting for another kulink that is using {what}"));
        // SAFETY: as above, blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), kind) } != 0 {
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

    /// When the stamp was written or last touched.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        fs::metadata(&self.0).and_then(|m| m.modified()).ok()
    }

    /// What the directory was made from, if it is complete.
    pub fn read(&self) -> Option<String> {
        fs::read_to_string(&self.0).ok()
    }

    pub fn write(&self, made_from: &str) -> Result<()> {
        fs::write(&self.0, made_from).with_context(|| format!("write {}", self.0.display()))
    }

    /// Marks the directory as just used: its stamp's time is its last use,
    /// for eviction.
    pub fn touch(&self) {
        let _ =
            fs::File::options().append(true).open(&self.0).and_then(|f| f.set_modified(std::time::SystemTime::now()));
    }

    /// When the directory was last used (or completed), if it is complete.
    pub fn last_used(&self) -> Option<std::time::SystemTime> {
        fs::metadata(&self.0).and_then(|m| m.modified()).ok()
    }

    /// Takes the stamp away: the directory is no longer complete (a copy of
    /// a complete one, say, that has yet to be made into something else).
    pub fn remove(&self) -> Result<()> {
        match fs::remove_file(&self.0) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", self.0.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_share_the_lock_and_a_writer_waits_for_them() {
        let dir = std::env::temp_dir().join(format!("kulink-lock-test-{}", std::process::id()));
        let path = dir.join("apt.lock");
        let try_exclusive = || {
            let file = File::options().write(true).open(&path).unwrap();
            // SAFETY: flock on an fd we own.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
        };
        let (a, b) = (lock_shared(&path, "lists").unwrap(), lock_shared(&path, "lists").unwrap());
        assert!(!try_exclusive(), "a writer must wait while readers read");
        drop((a, b));
        assert!(try_exclusive());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
