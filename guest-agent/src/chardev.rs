//! /dev/kulink: read() of binary records (O_NONBLOCK + epoll through tokio),
//! write() of synthetic events, and the ioctl checks.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_wire::control::CheckResult;
use kulink_wire::uapi::{self, FromBytes, IntoBytes, RawEvent, RawStats};
use kulink_wire::Channel;
use kulink_wire::{Event, Stats};
use tokio::io::unix::AsyncFd;

use crate::checks::Steps;
use crate::netlink::{self, Outbox};

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

/// Hands each read() of a non-blocking file to `got` until the queue is
/// empty; `Ok(true)` if anything came.
fn read_each(file: &File, mut got: impl FnMut(&[u8])) -> io::Result<bool> {
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
pub fn spawn_reader(out: Outbox) -> Result<tokio::task::JoinHandle<()>> {
    let fd = async_fd(open(true).with_context(|| format!("open {DEV}"))?)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable().await else { return };
            match drain(fd.get_ref(), Channel::Chardev, &out) {
                Ok(_) => guard.clear_ready(),
                Err(e) => {
                    out.warning(format!("{DEV} read: {e}"));
                    return;
                }
            }
        }
    }))
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

/// The ioctl and argument checks, each with the errno it must give.
pub fn check(netlink: &Stats) -> Result<CheckResult> {
    let file = open(true)?;
    let mut steps = Steps::default();

    let stats = ioctl_stats(&file);
    steps.expect("GET_STATS equals generic netlink GET_STATS", stats.as_ref().ok() == Some(netlink), &stats);

    let mut filter: u32 = 1 << 8;
    let set = ioctl(&file, uapi::IOC_SET_FILTER, &mut filter);
    let mut got: u32 = 0;
    let get = ioctl(&file, uapi::IOC_GET_FILTER, &mut got);
    steps.expect("SET_FILTER then GET_FILTER gives it back", set.is_ok() && get.is_ok() && got == filter, &got);

    let bad = ioctl(&file, uapi::IOC_GET_STATS, std::ptr::dangling_mut::<RawStats>());
    steps.errno("GET_STATS to a bad pointer", bad, libc::EFAULT);
    let bad = ioctl(&file, uapi::IOC_SET_FILTER, std::ptr::dangling_mut::<u32>());
    steps.errno("SET_FILTER from a bad pointer", bad, libc::EFAULT);
    let unknown = ioctl(&file, (u32::from(uapi::IOC_MAGIC) << 8) | 0x7f, std::ptr::null_mut::<u8>());
    steps.errno("an unknown ioctl", unknown, libc::ENOTTY);
    let mut sig: i32 = libc::SIGUSR1;
    let signal = ioctl(&file, uapi::IOC_SET_SIGNAL, &mut sig);
    steps.errno("SET_SIGNAL with a non-real-time signal", signal, libc::EINVAL);

    let mut small = [0u8; 10];
    steps.errno("read() shorter than a record", (&file).read(&mut small).map(drop), libc::EINVAL);
    let mut one = [0u8; RECORD];
    steps.errno("O_NONBLOCK read() of an empty queue", (&file).read(&mut one).map(drop), libc::EAGAIN);
    steps.errno("write() of a wrong size", (&file).write(&[0u8; 10]).map(drop), libc::EINVAL);
    let mut bad_event = RawEvent { reserved: [1, 0, 0, 0, 0, 0], ..Default::default() };
    steps.errno(
        "write() of an event with reserved bytes set",
        (&file).write(bad_event.as_bytes()).map(drop),
        libc::EINVAL,
    );
    bad_event = RawEvent { seq: 5, ..Default::default() };
    steps.errno(
        "write() of an event that names its own seq",
        (&file).write(bad_event.as_bytes()).map(drop),
        libc::EINVAL,
    );
    Ok(steps.finish())
}
