//! The mmap probe: what /dev/kulink allows through mmap and mprotect, a
//! read() blocked when the file gets mapped, and one stream of records
//! across mmap, munmap and a second mmap.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use kulink_wire::probe::{MmapLifecycle, Outcome, MMAP_ECHO_ID};
use kulink_wire::uapi::RawEvent;

use super::{outcome, synthetic};
use crate::{chardev, mmap_ring};

/// How long a blocked read() may take to notice the file was mapped.
const WAKE_TIMEOUT: Duration = Duration::from_secs(3);

pub fn lifecycle() -> Result<MmapLifecycle> {
    let len = mmap_ring::ring_len()?;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let map_private = Outcome::of(map(&chardev::open(true)?, len, rw, libc::MAP_PRIVATE));
    let map_exec = Outcome::of(map(&chardev::open(true)?, len, libc::PROT_READ | libc::PROT_EXEC, libc::MAP_SHARED));
    let shared = map(&chardev::open(true)?, len, rw, libc::MAP_SHARED).context("mmap /dev/kulink shared")?;
    // SAFETY: changes the protection of a mapping this function owns.
    let mprotect_exec = Outcome::of(cvt(unsafe { libc::mprotect(shared.base, len, rw | libc::PROT_EXEC) }));
    drop(shared);

    let blocked_read = blocked_read_then_map()?;

    let file = chardev::open(true)?;
    let fd = file.as_raw_fd();
    let mut written = Vec::new();
    let mut write = |echo_seq| -> Result<()> {
        let event = synthetic(MMAP_ECHO_ID, echo_seq);
        chardev::write_event(&file, &event).context("write to /dev/kulink")?;
        written.push(event);
        Ok(())
    };
    write(1)?;
    let ring = mmap_ring::map(fd)?;
    write(2)?;
    let first_ring = Outcome::Ok(ring.written());
    let unmap = Outcome::of(ring.unmap());
    write(3)?;
    let read_after_unmap = Outcome::of(chardev::read_queued(&file));
    let (map_again, second_ring) = match mmap_ring::map(fd) {
        Ok(ring) => {
            write(4)?;
            (Outcome::Ok(()), Outcome::Ok(ring.written()))
        }
        Err(e) => (outcome::<()>(Err(e)), Outcome::Failed("no second mapping".into())),
    };
    Ok(MmapLifecycle {
        map_private: map_private.unit(),
        map_exec: map_exec.unit(),
        mprotect_exec,
        blocked_read,
        written,
        first_ring,
        unmap,
        read_after_unmap,
        map_again,
        second_ring,
    })
}

extern "C" fn interrupt(_: libc::c_int) {}

/// A thread blocks in read() on an empty file; then the file is mapped.
/// If the read is still blocked after WAKE_TIMEOUT, a signal frees it.
fn blocked_read_then_map() -> Result<Outcome> {
    let file = chardev::open(false).context("open /dev/kulink")?;
    let reader = file.try_clone()?;
    // SAFETY: an empty handler without SA_RESTART, so read() returns EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = interrupt as *const () as libc::sighandler_t;
        cvt(libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()))?;
    }
    let (tid_tx, tid_rx) = mpsc::sync_channel(1);
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let thread = std::thread::spawn(move || {
        let _ = tid_tx.send(nix::sys::pthread::pthread_self());
        let mut record = [0u8; std::mem::size_of::<RawEvent>()];
        let _ = done_tx.send((&reader).read(&mut record).map(drop));
    });
    let tid = tid_rx.recv().context("reader thread")?;
    std::thread::sleep(Duration::from_millis(300));
    let mapping = mmap_ring::map(file.as_raw_fd())?;
    let result = match done_rx.recv_timeout(WAKE_TIMEOUT) {
        Ok(result) => Outcome::of(result),
        Err(_) => {
            // The thread is alive until it sends its result.
            let _ = nix::sys::pthread::pthread_kill(tid, nix::sys::signal::Signal::SIGUSR2);
            let _ = done_rx.recv_timeout(WAKE_TIMEOUT);
            Outcome::Failed(format!("read() still blocked {}s after mmap", WAKE_TIMEOUT.as_secs()))
        }
    };
    let _ = thread.join();
    drop(mapping);
    Ok(result)
}

/// A mapping of /dev/kulink, unmapped when dropped.
struct Mapping {
    base: *mut libc::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly what mmap returned.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn map(file: &File, len: usize, prot: libc::c_int, flags: libc::c_int) -> io::Result<Mapping> {
    // SAFETY: a new mapping of the device; checked for failure.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, file.as_raw_fd(), 0) };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Mapping { base, len })
}

fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
