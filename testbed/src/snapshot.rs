//! Saved guests. The first guest of a kind boots, and once its agent has
//! booted, before any of the test's modules is loaded, QEMU saves it (its
//! migration stream, to a file in the cache); every later guest of that
//! kind starts from the file instead of booting, and is then given its
//! test's modules. Each still gets a QEMU, sockets, console and wire of its own:
//! only the guest's memory and devices come from the file.
//!
//! "Of a kind" means the same QEMU command line (but for the run
//! directory and the TSC rate's last digits), the same kernel file and the
//! same image bytes: a different agent, kernel argument or file makes
//! another kind, but not a different module under test or its parameters.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::cache::{self, CacheLock, Stamp};
use crate::{paths, progress, qmp, splat};

/// `KULINK_SNAPSHOTS=off` boots every guest (for timing a boot, or to rule
/// the saved guests out).
pub const ENV: &str = "KULINK_SNAPSHOTS";

/// Files of a saved guest.
const STATE: &str = "vm.state";
const CONSOLE: &str = "console.log";
const KERNEL_LOG: &str = "kernel.log";
const BOOTED: &str = "booted.json";
/// Present instead of a saved guest when restoring one failed: guests of
/// that kind boot, and none is saved again.
const UNRESTORABLE: &str = "unrestorable.txt";

/// Saved guests kept; the least recently used go first.
const KEEP: usize = 48;

/// Whether guests may be saved and restored here.
pub fn enabled() -> bool {
    !matches!(std::env::var(ENV).as_deref(), Ok("off" | "0" | "no"))
}

/// What names a kind of guest: the QEMU arguments with the run directory
/// left out (each guest has its own) and the TSC rate in whole MHz (it is
/// measured afresh by each process), the image's bytes and the kernel file.
pub fn key(args: &[OsString], run_dir: &Path, initrd: &Path, kernel: &Path) -> Result<String> {
    let dir = run_dir.to_string_lossy();
    let args: Vec<String> = args.iter().map(|a| normalize(&a.to_string_lossy().replace(&*dir, "@"))).collect();
    let image = fs::read(initrd).with_context(|| format!("read {}", initrd.display()))?;
    let kernel = file_identity(kernel)?;
    let qemu = crate::tools::QEMU.find().map(|p| file_identity(&p)).transpose()?.unwrap_or_default();
    Ok(cache::short_hash(&[args.join("\0").as_bytes(), &image, kernel.as_bytes(), qemu.as_bytes()]))
}

/// `tsc_early_khz=2894563` as `tsc_early_khz=2894xxx`: the last digits
/// vary from one measurement to the next.
fn normalize(arg: &str) -> String {
    arg.split(' ')
        .map(|word| match word.strip_prefix("tsc_early_khz=") {
            Some(khz) if khz.len() > 3 => format!("tsc_early_khz={}xxx", &khz[..khz.len() - 3]),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file as its path, size and modification time (kernels in the cache
/// are never rewritten in place).
fn file_identity(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    let mtime = meta.modified()?.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Ok(format!("{}:{}:{}", path.display(), meta.len(), mtime.as_nanos()))
}

/// How a boot uses its kind's saved guest.
pub enum Use {
    /// Start from it.
    Restore(Slot, Saved),
    /// There is none: boot, then save one ([`save`]).
    Save(Slot),
}

/// Where the QEMU that saves a guest serves its monitor.
const MONITOR: &str = "qmp.sock";

/// Looks up the kind of guest `args` start (see [`key`]): the saved guest
/// to restore, with the QEMU arguments that load it, and the boot's
/// console and kernel log copied to `logs`; or the slot to save into, with the
/// arguments that let it be saved; or nothing, where restoring failed
/// before. The slot stays locked while the value lives.
pub fn open(
    args: &[OsString],
    run_dir: &Path,
    initrd: &Path,
    kernel: &Path,
    logs: &Logs,
) -> Result<Option<(Use, Vec<OsString>)>> {
    let slot = Slot::lock(&key(args, run_dir, initrd, kernel)?)?;
    Ok(match slot.find() {
        Found::Saved(saved) => {
            fs::copy(&saved.console, &logs.console).context("copy the saved guest's console")?;
            // The agent's copy of the kernel log, up to the save.
            let kernel_log = saved.console.with_file_name(KERNEL_LOG);
            if kernel_log.exists() {
                fs::copy(&kernel_log, &logs.kernel_log).context("copy the saved guest's kernel log")?;
            }
            let extra = qmp::incoming_args(&saved.state)?;
            Some((Use::Restore(slot, saved), extra))
        }
        Found::Empty => Some((Use::Save(slot), qmp::saving_args(&run_dir.join(MONITOR)))),
        Found::Unrestorable => None,
    })
}

/// Saves the guest `run_dir`'s QEMU runs, booted with [`Use::Save`]'s
/// arguments and now booted (`booted` is the agent's word, as JSON), unless its console has a splat; it runs on
/// either way. A failure to save is noted and changes nothing else.
pub fn save(slot: Slot, run_dir: &Path, logs: &Logs, booted: &str) {
    if !splat::scan(&fs::read_to_string(&logs.console).unwrap_or_default()).is_empty() {
        return;
    }
    let saved = (|| {
        let state = slot.state_file()?;
        qmp::Monitor::connect(&run_dir.join(MONITOR))?.save(&state)?;
        slot.save(logs, booted)
    })();
    if let Err(e) = saved {
        slot.discard();
        progress::note(format!("could not save the guest for later tests; they will boot ({e:#})"));
    }
}

/// Marks a saved guest that did not come back as unrestorable, and says
/// why.
pub fn restore_failed(slot: Slot, error: &anyhow::Error) {
    let why = format!("{error:#}");
    let _ = slot.mark_unrestorable(&why);
    progress::note(format!("a saved guest did not come back; guests of its kind will boot ({why})"));
}

/// One kind's place in the cache, locked while this process uses it.
pub struct Slot {
    dir: PathBuf,
    _lock: CacheLock,
}

/// What a slot holds.
pub enum Found {
    /// A saved guest.
    Saved(Saved),
    /// Nothing yet: boot, then save.
    Empty,
    /// Restoring failed once (the file beside says why).
    Unrestorable,
}

/// A guest's logs: its console, and the agent's copy of the kernel log.
pub struct Logs {
    /// The console.
    pub console: PathBuf,
    /// The kernel log at every level.
    pub kernel_log: PathBuf,
}

/// A saved guest's files.
pub struct Saved {
    /// The migration stream.
    pub state: PathBuf,
    /// The console of its boot, up to the save.
    pub console: PathBuf,
    /// The agent's word that it had booted, as JSON.
    pub booted: String,
    /// When it was saved.
    pub saved_at: SystemTime,
}

impl Slot {
    /// Locks `key`'s slot: one process at a time saves or restores a kind.
    pub fn lock(key: &str) -> Result<Self> {
        let root = paths::checked_cache_dir()?.join("snapshots");
        let dir = root.join(key);
        let lock = cache::lock(&root.join(format!("{key}.lock")), "a saved guest")?;
        Ok(Self { dir, _lock: lock })
    }

    /// What the slot holds.
    pub fn find(&self) -> Found {
        if self.dir.join(UNRESTORABLE).exists() {
            return Found::Unrestorable;
        }
        // The stamp is written once, by the save: its time is the save's.
        let (saved_at, booted) = match (Stamp::built(&self.dir).modified(), fs::read_to_string(self.dir.join(BOOTED))) {
            (Some(saved_at), Ok(booted)) => (saved_at, booted),
            _ => return Found::Empty,
        };
        // Its age says what was used last, for eviction.
        let _ = filetime_now(&self.dir.join(BOOTED));
        Found::Saved(Saved { state: self.dir.join(STATE), console: self.dir.join(CONSOLE), booted, saved_at })
    }

    /// Where [`Slot::save`] wants the migration stream written.
    pub fn state_file(&self) -> Result<PathBuf> {
        let _ = fs::remove_dir_all(&self.dir);
        fs::create_dir_all(&self.dir).with_context(|| format!("create {}", self.dir.display()))?;
        Ok(self.dir.join(STATE))
    }

    /// Completes a save whose stream is in [`Slot::state_file`]: the boot's
    /// console, the kernel log and the agent's word that it had booted go
    /// beside it, then the stamp.
    pub fn save(&self, logs: &Logs, booted: &str) -> Result<()> {
        fs::copy(&logs.console, self.dir.join(CONSOLE)).context("keep the saved guest's console")?;
        if logs.kernel_log.exists() {
            fs::copy(&logs.kernel_log, self.dir.join(KERNEL_LOG)).context("keep the saved guest's kernel log")?;
        }
        fs::write(self.dir.join(BOOTED), booted).context("keep the saved guest's word that it had booted")?;
        Stamp::built(&self.dir).write("saved guest")?;
        evict(self.dir.parent().expect("slots live in a directory"), KEEP);
        Ok(())
    }

    /// Marks the kind as one whose saved guest did not restore.
    pub fn mark_unrestorable(&self, why: &str) -> Result<()> {
        let _ = fs::remove_dir_all(&self.dir);
        fs::create_dir_all(&self.dir)?;
        fs::write(self.dir.join(UNRESTORABLE), why).context("mark a saved guest unrestorable")
    }

    /// Forgets a save that did not complete.
    pub fn discard(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Sets a file's modification time to now.
fn filetime_now(path: &Path) -> std::io::Result<()> {
    fs::File::options().append(true).open(path)?.set_modified(SystemTime::now())
}

/// Removes the least recently used saved guests beyond `keep`, skipping
/// any another process holds.
fn evict(root: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(root) else { return };
    let mut slots: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let used = fs::metadata(p.join(BOOTED)).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            (used, p)
        })
        .collect();
    if slots.len() <= keep {
        return;
    }
    slots.sort();
    for (_, dir) in &slots[..slots.len() - keep] {
        let lock = dir.with_extension("lock");
        if let Some(_held) = cache::try_lock(&lock) {
            let _ = fs::remove_dir_all(dir);
            let _ = fs::remove_file(&lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tsc_rates_last_digits_do_not_make_another_kind() {
        let a = normalize("console=ttyS0 tsc_early_khz=2894563 tsc=reliable");
        assert_eq!(a, "console=ttyS0 tsc_early_khz=2894xxx tsc=reliable");
        assert_eq!(a, normalize("console=ttyS0 tsc_early_khz=2894117 tsc=reliable"));
        assert_ne!(a, normalize("console=ttyS0 tsc_early_khz=2895117 tsc=reliable"));
    }

    #[test]
    fn keys_leave_out_the_run_directory_and_see_the_image() {
        let dir = std::env::temp_dir().join(format!("kulink-snapkey-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (initrd, kernel) = (dir.join("initramfs.cpio"), dir.join("bzImage"));
        fs::write(&initrd, b"image").unwrap();
        fs::write(&kernel, b"kernel").unwrap();
        let args = |run: &str| -> Vec<OsString> { vec!["-initrd".into(), format!("{run}/initramfs.cpio").into()] };
        let one = key(&args("/tmp/kulink-1-0"), Path::new("/tmp/kulink-1-0"), &initrd, &kernel).unwrap();
        let two = key(&args("/tmp/kulink-2-5"), Path::new("/tmp/kulink-2-5"), &initrd, &kernel).unwrap();
        assert_eq!(one, two);
        fs::write(&initrd, b"image2").unwrap();
        let other = key(&args("/tmp/kulink-1-0"), Path::new("/tmp/kulink-1-0"), &initrd, &kernel).unwrap();
        assert_ne!(one, other, "other image bytes, another kind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_keeps_the_most_recently_used() {
        let root = std::env::temp_dir().join(format!("kulink-snapevict-{}", std::process::id()));
        for (n, age) in [("a", 30), ("b", 10), ("c", 20)] {
            let dir = root.join(n);
            fs::create_dir_all(&dir).unwrap();
            let file = fs::File::create(dir.join(BOOTED)).unwrap();
            file.set_modified(SystemTime::now() - std::time::Duration::from_secs(age)).unwrap();
        }
        evict(&root, 2);
        assert!(!root.join("a").exists(), "the oldest goes");
        assert!(root.join("b").exists() && root.join("c").exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
