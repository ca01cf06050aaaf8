//! /dev/kulink: read() of binary records (O_NONBLOCK + epoll through tokio),
//! write() of synthetic events, and the ioctl checks.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::extension::Dropped;
use kulink_ko_contract::observed::ChardevSeen;
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::uapi::{self, FromBytes, IntoBytes, RawEvent, RawStats};
use kulink_ko_contract::Channel;
use kulink_ko_contract::{Event, Stats};
use tokio::io::unix::AsyncFd;

use crate::netlink::{self, Outbox};
use crate::pace::Pacer;

pub const DEV: &str = "/dev/kulink";
const RECORD: usize = std::mem::size_of::<RawEvent>();

pub fn open(nonblocking: bool) -> io::Result<File> {
    let flags = if nonblocking { libc::O_NONBLOCK } else { 0 };
    OpenOptions::new().read(true).write(true).custom_flags(flags).open(DEV)
}

/// Registers a device file with tokio's reactor.
pub fn async_fd(file: File) -> Result<AsyncFd<File>> {
    // SAFETY: the File owns its fd, keeps it open until dropped and always
    // reports the same one; the AsyncFd owns the File from here on.
    unsafe { AsyncFd::register(file) }.map_err(|e| anyhow::anyhow!("register {DEV} with tokio: {e}"))
}

/// The whole records in `bytes`.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Event> + '_ {
    bytes
        .chunks_exact(RECORD)
        .map(|chunk| Event::from_raw(&RawEvent::read_from_bytes(chunk).expect("chunk is one record")))
}

/// Sends every whole record in `bytes` as an event of `channel`.
pub fn emit_records(bytes: &[u8], channel: Channel, out: &Outbox) {
    let received = monotonic_ns();
    for event in records(bytes) {
        out.ext(netlink::event_msg(channel, None, received, event));
    }
}

/// Every record queued on a non-blocking file, oldest first.
pub fn read_queued(file: &File) -> io::Result<Vec<Event>> {
    let mut events = Vec::new();
    read_each(file, |bytes| events.extend(records(bytes)))?;
    Ok(events)
}

/// Reads everything queued on a non-blocking file; `Ok(true)` if anything came.
pub fn drain(file: &File, channel: Channel, out: &Outbox) -> io::Result<bool> {
    read_each(file, |bytes| emit_records(bytes, channel, out))
}

/// One read() of a non-blocking file, as a slow consumer makes it;
/// `Ok(false)` once the queue is empty.
pub fn read_once(file: &File, channel: Channel, out: &Outbox) -> io::Result<bool> {
    let mut buf = [0u8; 8 * RECORD];
    match (&*file).read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            emit_records(&buf[..n], channel, out);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Empties the file's queue: at once, or one read() per turn of `pacer`.
pub async fn consume(file: &File, channel: Channel, out: &Outbox, pacer: &mut Pacer) -> io::Result<()> {
    while pacer.slow() {
        pacer.turn().await;
        if !read_once(file, channel, out)? {
            return Ok(());
        }
    }
    drain(file, channel, out).map(drop)
}

/// Hands each read() of a non-blocking file to `got` until the queue is
/// empty; `Ok(true)` if anything came.
pub fn read_each(file: &File, mut got: impl FnMut(&[u8])) -> io::Result<bool> {
    let mut buf = [0u8; 8 * RECORD];
    let mut any = false;
    loop {
        match (&*file).read(&mut buf) {
            Ok(0) => return Ok(any),
            Ok(n) => {
                got(&buf[..n]);
                any = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
            Err(e) => return Err(e),
        }
    }
}

/// The `chardev` channel: a reader woken by epoll.
pub fn spawn_reader(out: Outbox, mut pacer: Pacer) -> Result<(tokio::task::JoinHandle<()>, FileGauge)> {
    let file = open(true).with_context(|| format!("open {DEV}"))?;
    let gauge = FileGauge { channel: Channel::Chardev, file: file.try_clone()? };
    let fd = async_fd(file)?;
    let task = tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable().await else { return };
            match consume(fd.get_ref(), Channel::Chardev, &out, &mut pacer).await {
                Ok(_) => guard.clear_ready(),
                Err(e) => {
                    out.warning(format!("{DEV} read: {e}"));
                    return;
                }
            }
        }
    });
    Ok((task, gauge))
}

/// One of the agent's /dev/kulink files, watched from outside its task.
pub struct FileGauge {
    pub channel: Channel,
    pub file: File,
}

impl FileGauge {
    /// The module's count of records this file's full queue refused.
    pub fn dropped(&self) -> Result<Dropped> {
        let mut count: u64 = 0;
        ioctl(&self.file, uapi::IOC_GET_DROPPED, &mut count)
            .with_context(|| format!("KULINK_IOC_GET_DROPPED on the {} file", self.channel))?;
        Ok(Dropped { channel: self.channel, subscriber: None, count })
    }
}

/// write() of one synthetic event.
pub fn write_synthetic(event: &Event) -> Result<()> {
    write_event(&open(false)?, event).context("write a synthetic event")
}

/// write() of one synthetic event to an open file.
pub fn write_event(file: &File, event: &Event) -> io::Result<()> {
    let mut raw = event.to_raw();
    // The kernel numbers and timestamps it.
    raw.seq = 0;
    raw.tstamp_ns = 0;
    raw.flags = uapi::EVF_SYNTHETIC;
    (&*file).write(raw.as_bytes()).map(drop)
}

/// A raw ioctl: the checks pass deliberately bad pointers, which typed
/// wrappers (nix's ioctl macros) cannot express.
pub fn ioctl<T>(file: &File, request: u32, arg: *mut T) -> io::Result<()> {
    // SAFETY: `arg` points to a live T of the size the request encodes, or
    // is a deliberately bad pointer the kernel must reject without touching.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as libc::c_ulong, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn ioctl_stats(file: &File) -> io::Result<Stats> {
    let mut raw = RawStats::default();
    ioctl(file, uapi::IOC_GET_STATS, &mut raw)?;
    Ok(Stats::from_raw(&raw))
}

/// The ioctls and bad arguments, each with what it gave. `netlink_stats`:
/// GET_STATS read just before, while traffic is quiet.
pub fn observe(netlink_stats: Stats) -> Result<ChardevSeen> {
    let file = open(true)?;
    let stats = StepOutcome::of(ioctl_stats(&file));
    let mut filter: u32 = 1 << 8;
    let set_filter = StepOutcome::of(ioctl(&file, uapi::IOC_SET_FILTER, &mut filter));
    let mut got: u32 = 0;
    let get_filter = StepOutcome::of(ioctl(&file, uapi::IOC_GET_FILTER, &mut got).map(|()| got));
    let stats_to_bad_pointer = StepOutcome::of(ioctl(&file, uapi::IOC_GET_STATS, std::ptr::dangling_mut::<RawStats>()));
    let filter_from_bad_pointer = StepOutcome::of(ioctl(&file, uapi::IOC_SET_FILTER, std::ptr::dangling_mut::<u32>()));
    let unknown_request = (u32::from(uapi::IOC_MAGIC) << 8) | 0x7f;
    let unknown_ioctl = StepOutcome::of(ioctl(&file, unknown_request, std::ptr::null_mut::<u8>()));
    let mut sig: i32 = libc::SIGUSR1;
    let non_rt_signal = StepOutcome::of(ioctl(&file, uapi::IOC_SET_SIGNAL, &mut sig));
    let mut small = [0u8; 10];
    let short_read = StepOutcome::of((&file).read(&mut small).map(drop));
    let mut one = [0u8; RECORD];
    let empty_read = StepOutcome::of((&file).read(&mut one).map(drop));
    let wrong_size_write = StepOutcome::of((&file).write(&[0u8; 10]).map(drop));
    let reserved = RawEvent { reserved: [1, 0, 0, 0, 0, 0], ..Default::default() };
    let reserved_bytes_write = StepOutcome::of((&file).write(reserved.as_bytes()).map(drop));
    let own_seq = RawEvent { seq: 5, ..Default::default() };
    let own_seq_write = StepOutcome::of((&file).write(own_seq.as_bytes()).map(drop));
    Ok(ChardevSeen {
        stats,
        netlink_stats,
        filter,
        set_filter,
        get_filter,
        stats_to_bad_pointer,
        filter_from_bad_pointer,
        unknown_ioctl,
        non_rt_signal,
        short_read,
        empty_read,
        wrong_size_write,
        reserved_bytes_write,
        own_seq_write,
    })
}
