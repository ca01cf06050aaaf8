//! Device bursts: system calls with hostile arguments on a device node
//! (a fuzzer's), made by a helper process, this same binary started with
//! [`HELPER_ARG`]. The helper keeps them away from PID 1: a module that
//! signals, maps or kills its caller harms only the helper, and whatever
//! it did to the helper is reported rather than taking the guest down.
//!
//! The calls go through `libc` directly: they must reach the kernel with
//! any number and any pointer, which the safe wrappers rightly refuse.

use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;

use anyhow::{bail, Context, Result};
use kulink_protocol::{DeviceAnswers, DeviceArg, DeviceBurst, DeviceCall, DEVICE_ARENA, NOBODY};
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;

/// The argument that makes the agent binary a burst helper.
pub const HELPER_ARG: &str = "--kulink-device-burst";

/// Bytes of inaccessible guard after the arena: no offset a driver adds
/// to a pointer it was given plausibly reaches past it.
const GUARD: usize = 63 << 20;

/// The start of x86-64's direct map: a kernel address user space may not
/// hand to `copy_to_user`.
const KERNEL_ADDRESS: u64 = 0xffff_8880_0000_0000;

/// Runs `burst` in a helper process and gathers what each call returned.
pub async fn burst(burst: DeviceBurst) -> Result<DeviceAnswers> {
    let mut command = crate::helper::command(HELPER_ARG);
    command.kill_on_drop(true);
    if burst.unprivileged {
        // Leaving uid 0 clears every capability (std also drops groups).
        command.uid(NOBODY).gid(NOBODY);
    }
    let child = command.spawn().context("cannot start the device burst helper")?;
    let (fed, output) = crate::helper::feed_and_wait(child, serde_json::to_vec(&burst)?).await;
    let output = output.context("the device burst helper")?;
    let mut lines = std::str::from_utf8(&output.stdout)?.lines().map(str::parse::<i64>);
    let killed_by = output.status.signal();
    if killed_by.is_none() && !output.status.success() {
        bail!("the device burst helper failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    if killed_by.is_none() {
        fed.context("writing the burst to its helper")?;
    }
    let opened = lines.next().context("the device burst helper said nothing")??;
    let results = lines.collect::<Result<Vec<_>, _>>()?;
    Ok(DeviceAnswers { opened, results, killed_by })
}

/// The helper's life: read the burst from stdin, make each call, write
/// each result on a line of its own as soon as it is known (so that what
/// came before a fatal signal still gets out).
pub fn helper_main() -> i32 {
    match make_calls() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            2
        }
    }
}

fn make_calls() -> Result<()> {
    // A module may be asked to signal its caller; the results say so
    // better than a dead helper. SIGKILL and SIGSTOP still come through.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)?;
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let burst: DeviceBurst = serde_json::from_slice(&input).context("the burst")?;
    let arena = Arena::new()?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let opened = reopen(&burst.path);
    writeln!(out, "{}", opened.as_ref().map_or_else(|e| negative(*e), |_| 0))?;
    out.flush()?;
    let Ok(fd) = opened else { return Ok(()) };
    let mut fd = Some(fd);
    for call in &burst.calls {
        let result = match (call, &fd) {
            (DeviceCall::Reopen, _) => {
                drop(fd.take());
                match reopen(&burst.path) {
                    Ok(reopened) => {
                        fd = Some(reopened);
                        0
                    }
                    Err(e) => negative(e),
                }
            }
            (call, Some(fd)) => arena.make(fd.as_raw_fd(), call),
            (_, None) => -i64::from(libc::EBADF),
        };
        writeln!(out, "{result}")?;
        out.flush()?;
    }
    Ok(())
}

fn negative(errno: nix::errno::Errno) -> i64 {
    -i64::from(errno as i32)
}

fn reopen(path: &str) -> Result<OwnedFd, nix::errno::Errno> {
    open(path, OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
}

/// Where buffers point: `DEVICE_ARENA` bytes read-write, then `GUARD`
/// bytes nothing may touch.
struct Arena {
    base: *mut u8,
}

impl Arena {
    fn new() -> Result<Self> {
        let size = DEVICE_ARENA as usize + GUARD;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                bail!("cannot reserve the arena: {}", std::io::Error::last_os_error());
            }
            if libc::mprotect(base, DEVICE_ARENA as usize, libc::PROT_READ | libc::PROT_WRITE) != 0 {
                bail!("cannot open the arena: {}", std::io::Error::last_os_error());
            }
            base.cast::<u8>()
        };
        Ok(Self { base })
    }

    /// The number or address `arg` stands for, with a buffer's bytes put
    /// in place.
    fn resolve(&self, arg: &DeviceArg) -> u64 {
        match arg {
            DeviceArg::Null => 0,
            DeviceArg::Unmapped => self.base as u64 + u64::from(DEVICE_ARENA),
            DeviceArg::Kernel => KERNEL_ADDRESS,
            DeviceArg::Value(v) => *v,
            DeviceArg::Buffer { offset, bytes } => {
                let offset = (*offset).min(DEVICE_ARENA) as usize;
                let n = bytes.len().min(DEVICE_ARENA as usize - offset);
                // SAFETY: offset + n stays inside the read-write arena, which
                // only this thread uses.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(offset), n) };
                self.base as u64 + offset as u64
            }
        }
    }

    /// Makes one call on `fd`: its return value, or the negative errno.
    fn make(&self, fd: i32, call: &DeviceCall) -> i64 {
        // SAFETY: every pointer the kernel gets is null, a kernel address
        // (refused by the kernel), or inside the arena and its guard, so no
        // length lets it write over memory this process uses.
        let rc: i64 = unsafe {
            match call {
                DeviceCall::Ioctl { request, arg } => {
                    i64::from(libc::ioctl(fd, libc::c_ulong::from(*request), self.resolve(arg)))
                }
                DeviceCall::Read { len, buf } => {
                    libc::read(fd, self.resolve(buf) as *mut libc::c_void, *len as usize) as i64
                }
                DeviceCall::Write { len, buf } => {
                    libc::write(fd, self.resolve(buf) as *const libc::c_void, *len as usize) as i64
                }
                DeviceCall::Mmap { len, offset, prot, shared } => {
                    let flags = if *shared { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
                    let at = libc::mmap(std::ptr::null_mut(), *len as usize, *prot, flags, fd, *offset as libc::off_t);
                    if at == libc::MAP_FAILED {
                        -1
                    } else {
                        libc::munmap(at, *len as usize);
                        0
                    }
                }
                DeviceCall::Poll { events } => {
                    let mut pfd = libc::pollfd { fd, events: *events, revents: 0 };
                    match libc::poll(&mut pfd, 1, 0) {
                        n if n < 0 => -1,
                        _ => i64::from(pfd.revents as u16),
                    }
                }
                DeviceCall::Reopen => 0,
            }
        };
        if rc < 0 {
            -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
        } else {
            rc
        }
    }
}
