//! The `mmap-ring` channel: /dev/kulink mapped, records consumed in place.
//! head is loaded with acquire (the kernel published the record with
//! release), tail is stored with release once the records are read.

use std::ffi::c_void;
use std::io;
use std::mem::ManuallyDrop;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::uapi::{self, RawEvent, RingHeader};
use kulink_ko_contract::Channel;
use kulink_ko_contract::Event;
use nix::sys::mman::{self, MapFlags, ProtFlags};

use crate::chardev;
use crate::netlink::{self, Outbox};
use crate::pace::{Pacer, RingOverflow};

const PAGE: usize = 4096;

/// A mapping of /dev/kulink, unmapped when dropped.
pub struct Mapping {
    base: NonNull<c_void>,
    len: usize,
}

// SAFETY: the mapping is only touched by the task that owns it.
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn new(file: impl AsFd, len: usize, prot: ProtFlags, flags: MapFlags) -> io::Result<Mapping> {
        let length = NonZeroUsize::new(len).ok_or(io::ErrorKind::InvalidInput)?;
        // SAFETY: a new mapping at an address the kernel picks: nothing
        // else in this process points into it.
        let base = unsafe { mman::mmap(None, length, prot, flags, file, 0) }?;
        Ok(Mapping { base, len })
    }

    /// mprotect() of the whole mapping, with its result.
    pub fn protect(&self, prot: ProtFlags) -> io::Result<()> {
        // SAFETY: this mapping only, and no reference into it is held.
        Ok(unsafe { mman::mprotect(self.base, self.len, prot) }?)
    }

    /// munmap(), with its result.
    pub fn unmap(self) -> io::Result<()> {
        let mapping = ManuallyDrop::new(self);
        // SAFETY: exactly what mmap returned, once: Drop is skipped.
        Ok(unsafe { mman::munmap(mapping.base, mapping.len) }?)
    }

    fn bytes(&self) -> *mut u8 {
        self.base.as_ptr().cast()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly what mmap returned.
        let _ = unsafe { mman::munmap(self.base, self.len) };
    }
}

pub struct Ring {
    mapping: Mapping,
    capacity: u64,
    data_offset: usize,
}

impl Ring {
    fn header(&self) -> *mut RingHeader {
        self.mapping.bytes().cast()
    }

    pub fn head(&self) -> u64 {
        // SAFETY: the header page stays mapped while self lives; the kernel
        // writes head with a release store.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.header()).head) }.load(Ordering::Acquire)
    }

    /// Records the kernel dropped because the ring was full.
    pub fn overflow(&self) -> u64 {
        // SAFETY: as above; the kernel writes it with WRITE_ONCE.
        unsafe { std::ptr::read_volatile(&raw const (*self.header()).overflow) }
    }

    pub fn set_tail(&self, tail: u64) {
        // SAFETY: as above; tail is ours to write.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.header()).tail) }.store(tail, Ordering::Release)
    }

    pub fn record(&self, index: u64) -> RawEvent {
        let offset = self.data_offset + (index % self.capacity) as usize * std::mem::size_of::<RawEvent>();
        // SAFETY: offset is inside the data pages (index modulo capacity);
        // the acquire load of head made the record's bytes visible.
        unsafe { std::ptr::read_volatile(self.mapping.bytes().add(offset).cast::<RawEvent>()) }
    }
}

impl Ring {
    /// Every record the kernel wrote since the mapping began, oldest first
    /// (for a consumer that never advanced tail).
    pub fn written(&self) -> Vec<Event> {
        (0..self.head()).map(|i| Event::from_raw(&self.record(i))).collect()
    }

    /// munmap(), with its result.
    pub fn unmap(self) -> io::Result<()> {
        self.mapping.unmap()
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
pub fn map(file: impl AsFd) -> Result<Ring> {
    let len = ring_len()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = Mapping::new(file, len, rw, MapFlags::MAP_SHARED).context("mmap /dev/kulink")?;
    // SAFETY: the first page is the header, mapped just above.
    let hdr = unsafe { std::ptr::read_volatile(mapping.bytes().cast::<RingHeader>()) };
    let ring = Ring { mapping, capacity: u64::from(hdr.capacity), data_offset: hdr.data_offset as usize };
    if hdr.version != uapi::RING_VERSION || hdr.record_size as usize != std::mem::size_of::<RawEvent>() {
        bail!("unexpected ring header {hdr:?}");
    }
    if ring.capacity == 0 || ring.data_offset + ring.capacity as usize * hdr.record_size as usize > len {
        bail!("ring header does not fit the mapping: {hdr:?}");
    }
    Ok(ring)
}

/// The ring's reader: every record up to head at once, or one per turn of
/// `pacer`. It keeps `overflow` at the header's count.
pub fn spawn(out: Outbox, mut pacer: Pacer, overflow: RingOverflow) -> Result<tokio::task::JoinHandle<()>> {
    let file = chardev::open(true).context("open /dev/kulink for the ring")?;
    let ring = map(&file)?;
    let fd = chardev::async_fd(file)?;
    Ok(tokio::spawn(async move {
        let mut tail = 0u64;
        loop {
            let Ok(mut guard) = fd.readable().await else { return };
            pacer.turn().await;
            let head = ring.head();
            if head.wrapping_sub(tail) > ring.capacity {
                out.warning(format!("ring head {head} runs past tail {tail}"));
                tail = head;
            }
            let until = if pacer.slow() { head.min(tail + 1) } else { head };
            let received = monotonic_ns();
            while tail != until {
                let event = Event::from_raw(&ring.record(tail));
                tail += 1;
                out.ext(netlink::event_msg(Channel::MmapRing, None, received, event));
            }
            ring.set_tail(tail);
            overflow.store(ring.overflow(), Ordering::Relaxed);
            // Records left behind keep the file readable for the next turn.
            if tail == head {
                guard.clear_ready();
            }
        }
    }))
}
