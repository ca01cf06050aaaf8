//! The `mmap-ring` channel: /dev/kulink mapped, records consumed in place.
//! head is loaded with acquire (the kernel published the record with
//! release), tail is stored with release once the records are read.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use kulink_wire::control::{channel, AgentMsg};
use kulink_wire::uapi::{self, RawEvent, RingHeader};
use kulink_wire::Event;
use std::os::fd::AsRawFd;

use crate::chardev;
use crate::netlink::{self, Outbox};
use crate::system::monotonic_ns;

const PAGE: usize = 4096;

pub struct Ring {
    base: *mut u8,
    len: usize,
    capacity: u64,
    data_offset: usize,
}

// SAFETY: the mapping is only touched by the task that owns the Ring.
unsafe impl Send for Ring {}

impl Ring {
    fn header(&self) -> *mut RingHeader {
        self.base.cast()
    }

    pub fn head(&self) -> u64 {
        // SAFETY: the header page stays mapped while self lives; the kernel
        // writes head with a release store.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.header()).head) }.load(Ordering::Acquire)
    }

    pub fn set_tail(&self, tail: u64) {
        // SAFETY: as above; tail is ours to write.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.header()).tail) }.store(tail, Ordering::Release)
    }

    pub fn record(&self, index: u64) -> RawEvent {
        let offset = self.data_offset + (index % self.capacity) as usize * std::mem::size_of::<RawEvent>();
        // SAFETY: offset is inside the data pages (index modulo capacity);
        // the acquire load of head made the record's bytes visible.
        unsafe { std::ptr::read_volatile(self.base.add(offset).cast::<RawEvent>()) }
    }
}

impl Ring {
    /// Every record the kernel wrote since the mapping began, oldest first
    /// (for a consumer that never advanced tail).
    pub fn written(&self) -> Vec<Event> {
        (0..self.head()).map(|i| Event::from_raw(&self.record(i))).collect()
    }

    /// munmap(), with its result.
    pub fn unmap(self) -> std::io::Result<()> {
        let ring = std::mem::ManuallyDrop::new(self);
        // SAFETY: unmapping exactly what mmap returned, once: Drop is skipped.
        if unsafe { libc::munmap(ring.base.cast(), ring.len) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Bytes of a ring mapping: the header page and ring_pages data pages.
pub fn ring_len() -> Result<usize> {
    let pages: usize = std::fs::read_to_string("/proc/sys/kulink/ring_pages")
        .context("read ring_pages")?
        .trim()
        .parse()
        .context("parse ring_pages")?;
    Ok((pages + 1) * PAGE)
}

/// Maps a /dev/kulink file shared and read-write, as a consumer must.
/// (mmap is unsafe under any wrapper; libc's is used as it is.)
pub fn map(fd: i32) -> Result<Ring> {
    let len = ring_len()?;
    // SAFETY: a fresh shared mapping of the device; checked for failure.
    let base =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error()).context("mmap /dev/kulink");
    }
    // SAFETY: the first page is the header, mapped just above.
    let hdr = unsafe { std::ptr::read_volatile(base.cast::<RingHeader>()) };
    let ring =
        Ring { base: base.cast(), len, capacity: u64::from(hdr.capacity), data_offset: hdr.data_offset as usize };
    if hdr.version != uapi::RING_VERSION || hdr.record_size as usize != std::mem::size_of::<RawEvent>() {
        bail!("unexpected ring header {hdr:?}");
    }
    if ring.capacity == 0 || ring.data_offset + ring.capacity as usize * hdr.record_size as usize > len {
        bail!("ring header does not fit the mapping: {hdr:?}");
    }
    Ok(ring)
}

pub fn spawn(out: Outbox) -> Result<tokio::task::JoinHandle<()>> {
    let file = chardev::open(true).context("open /dev/kulink for the ring")?;
    let ring = map(file.as_raw_fd())?;
    let fd = chardev::async_fd(file)?;
    Ok(tokio::spawn(async move {
        let mut tail = 0u64;
        loop {
            let Ok(mut guard) = fd.readable().await else { return };
            let head = ring.head();
            if head.wrapping_sub(tail) > ring.capacity {
                let _ = out.send(AgentMsg::Warning { message: format!("ring head {head} runs past tail {tail}") });
                tail = head;
            }
            let received = monotonic_ns();
            while tail != head {
                let event = Event::from_raw(&ring.record(tail));
                tail += 1;
                let _ = out.send(netlink::event_msg(channel::MMAP_RING, None, received, event));
            }
            ring.set_tail(tail);
            guard.clear_ready();
        }
    }))
}
