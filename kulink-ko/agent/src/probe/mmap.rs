//! The mmap probe: what /dev/kulink allows through mmap and mprotect, a
//! read() blocked when the file gets mapped, and one stream of records
//! across mmap, munmap and a second mmap.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use kulink_ko_contract::probe::{MmapLifecycle, StepOutcome, MMAP_ECHO_ID};
use kulink_ko_contract::uapi::RawEvent;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::{outcome, synthetic};
use crate::chardev;
use crate::mmap_ring::{self, Mapping};

/// How long a blocked read() may take to notice the file was mapped.
const WAKE_TIMEOUT: Duration = Duration::from_secs(3);

pub fn lifecycle() -> Result<MmapLifecycle> {
    let len = mmap_ring::ring_len()?;
    let (read, write, exec) = (ProtFlags::PROT_READ, ProtFlags::PROT_WRITE, ProtFlags::PROT_EXEC);
    let map = |prot, flags| Ok::<_, anyhow::Error>(Mapping::new(chardev::open(true)?, len, prot, flags));
    let map_private = StepOutcome::of(map(read | write, MapFlags::MAP_PRIVATE)?);
    let map_exec = StepOutcome::of(map(read | exec, MapFlags::MAP_SHARED)?);
    let shared = map(read | write, MapFlags::MAP_SHARED)?.context("mmap /dev/kulink shared")?;
    let mprotect_exec = StepOutcome::of(shared.protect(read | write | exec));
    drop(shared);

    let blocked_read = blocked_read_then_map()?;

    let file = chardev::open(true)?;
    let mut written = Vec::new();
    let mut write = |echo_seq| -> Result<()> {
        let event = synthetic(MMAP_ECHO_ID, echo_seq);
        chardev::write_event(&file, &event).context("write to /dev/kulink")?;
        written.push(event);
        Ok(())
    };
    write(1)?;
    let ring = mmap_ring::map(&file)?;
    write(2)?;
    let first_ring = StepOutcome::Ok(ring.written());
    let unmap = StepOutcome::of(ring.unmap());
    write(3)?;
    let read_after_unmap = StepOutcome::of(chardev::read_queued(&file));
    let (map_again, second_ring) = match mmap_ring::map(&file) {
        Ok(ring) => {
            write(4)?;
            (StepOutcome::Ok(()), StepOutcome::Ok(ring.written()))
        }
        Err(e) => (outcome::<()>(Err(e)), StepOutcome::Failed("no second mapping".into())),
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
fn blocked_read_then_map() -> Result<StepOutcome> {
    let file = chardev::open(false).context("open /dev/kulink")?;
    let reader = file.try_clone()?;
    // An empty handler without SA_RESTART, so read() returns EINTR.
    let action = SigAction::new(SigHandler::Handler(interrupt), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR2, &action) }.context("sigaction SIGUSR2")?;
    let (tid_tx, tid_rx) = mpsc::sync_channel(1);
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let thread = std::thread::spawn(move || {
        let _ = tid_tx.send(nix::sys::pthread::pthread_self());
        let mut record = [0u8; std::mem::size_of::<RawEvent>()];
        let _ = done_tx.send((&reader).read(&mut record).map(drop));
    });
    let tid = tid_rx.recv().context("reader thread")?;
    std::thread::sleep(Duration::from_millis(300));
    let mapping = mmap_ring::map(&file)?;
    let result = match done_rx.recv_timeout(WAKE_TIMEOUT) {
        Ok(result) => StepOutcome::of(result),
        Err(_) => {
            // The thread is alive until it sends its result.
            let _ = nix::sys::pthread::pthread_kill(tid, Signal::SIGUSR2);
            let _ = done_rx.recv_timeout(WAKE_TIMEOUT);
            StepOutcome::Failed(format!("read() still blocked {}s after mmap", WAKE_TIMEOUT.as_secs()))
        }
    };
    let _ = thread.join();
    drop(mapping);
    Ok(result)
}
