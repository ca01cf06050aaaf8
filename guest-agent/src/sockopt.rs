//! The `sockopt` check: the module's setsockopt/getsockopt on an IPv4
//! socket. Set a message, get the kernel's answer and the stats, and see
//! bad lengths and a caller without CAP_NET_ADMIN refused.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use kulink_wire::control::CheckResult;
use kulink_wire::uapi::{self, FromBytes, RawStats};
use kulink_wire::Stats;

use crate::checks::Steps;

const MESSAGE: &str = "a message from userspace";
const CAP_NET_ADMIN: u32 = 12;

pub fn socket() -> Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType};
    nix::sys::socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(io::Error::from)
        .context("IPv4 socket")
}

// kulink's own option numbers and capset(2) have no wrapper in nix:
// the calls below stay on libc.

pub fn set(fd: &OwnedFd, opt: i32, value: &[u8]) -> io::Result<()> {
    // SAFETY: value is valid for its length.
    let rc = unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::IPPROTO_IP, opt, value.as_ptr().cast(), value.len() as libc::socklen_t)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn get(fd: &OwnedFd, opt: i32, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut n = len as libc::socklen_t;
    // SAFETY: buf has room for n bytes; n is updated by the kernel.
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_IP, opt, buf.as_mut_ptr().cast(), &mut n) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The kernel's answer to KULINK_SO_GET_MSG, without its NUL.
pub fn message(fd: &OwnedFd) -> io::Result<String> {
    get(fd, uapi::SO_GET_MSG, 256).map(|b| String::from_utf8_lossy(&b).trim_end_matches('\0').to_owned())
}

pub fn check(netlink: &Stats) -> Result<CheckResult> {
    let fd = socket()?;
    let mut steps = Steps::default();

    let sent = set(&fd, uapi::SO_SET_MSG, MESSAGE.as_bytes());
    steps.expect("set \"a message from userspace\"", sent.is_ok(), &sent);
    let reply = message(&fd);
    let want = format!("{}, you said: {MESSAGE}", uapi::SO_REPLY);
    steps.expect(&format!("get answers {want:?}"), reply.as_deref().ok() == Some(want.as_str()), &reply);
    let stats = get(&fd, uapi::SO_GET_STATS, std::mem::size_of::<RawStats>())
        .map(|b| RawStats::read_from_bytes(&b).ok().map(|r| Stats::from_raw(&r)));
    steps.expect("stats get equals generic netlink GET_STATS", matches!(&stats, Ok(Some(s)) if s == netlink), &stats);

    steps.errno("set with length 0", set(&fd, uapi::SO_SET_MSG, &[]), libc::EINVAL);
    steps.errno("set longer than the limit", set(&fd, uapi::SO_SET_MSG, &[b'x'; 200]), libc::EINVAL);
    steps.errno("stats get with a wrong length", get(&fd, uapi::SO_GET_STATS, 8).map(drop), libc::EINVAL);
    steps.errno("message get into a 4-byte buffer", get(&fd, uapi::SO_GET_MSG, 4).map(drop), libc::EINVAL);

    // Capabilities are per thread on Linux: drop CAP_NET_ADMIN in one.
    let unprivileged = std::thread::spawn(move || -> io::Result<(io::Result<()>, io::Result<()>)> {
        drop_cap(CAP_NET_ADMIN)?;
        Ok((set(&fd, uapi::SO_SET_MSG, b"x"), get(&fd, uapi::SO_GET_MSG, 256).map(drop)))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("capability thread panicked"))?
    .context("drop CAP_NET_ADMIN")?;
    steps.errno("set without CAP_NET_ADMIN", unprivileged.0, libc::EPERM);
    steps.errno("get without CAP_NET_ADMIN", unprivileged.1, libc::EPERM);
    Ok(steps.finish())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Removes one capability from the calling thread's effective set.
fn drop_cap(cap: u32) -> io::Result<()> {
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader { version: VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data slots.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
