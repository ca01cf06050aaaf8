//! The `sockopt` channel: the module's setsockopt/getsockopt on an IPv4
//! socket. Set a message, get the kernel's answer and the stats, then bad
//! lengths and a caller without CAP_NET_ADMIN.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use kulink_ko_contract::observed::{SockoptSeen, SOCKOPT_MESSAGE};
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::uapi::{self, FromBytes, RawStats};
use kulink_ko_contract::Stats;

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

/// `netlink_stats`: GET_STATS read just before, while traffic is quiet.
pub fn observe(netlink_stats: Stats) -> Result<SockoptSeen> {
    let fd = socket()?;
    let set_message = StepOutcome::of(set(&fd, uapi::SO_SET_MSG, SOCKOPT_MESSAGE.as_bytes()));
    let message = StepOutcome::of(message(&fd));
    let stats = StepOutcome::of(get(&fd, uapi::SO_GET_STATS, std::mem::size_of::<RawStats>()));
    let stats = match stats {
        StepOutcome::Ok(bytes) => RawStats::read_from_bytes(&bytes).map_or_else(
            |_| StepOutcome::Failed(format!("{} bytes, not a struct kulink_stats", bytes.len())),
            |raw| StepOutcome::Ok(Stats::from_raw(&raw)),
        ),
        StepOutcome::Errno(e) => StepOutcome::Errno(e),
        StepOutcome::Failed(why) => StepOutcome::Failed(why),
    };
    let set_empty = StepOutcome::of(set(&fd, uapi::SO_SET_MSG, &[]));
    let set_too_long = StepOutcome::of(set(&fd, uapi::SO_SET_MSG, &[b'x'; 200]));
    let stats_wrong_length = StepOutcome::of(get(&fd, uapi::SO_GET_STATS, 8).map(drop));
    let message_short_buffer = StepOutcome::of(get(&fd, uapi::SO_GET_MSG, 4).map(drop));

    // Capabilities are per thread on Linux: drop CAP_NET_ADMIN in one.
    let (set_unprivileged, get_unprivileged) = std::thread::spawn(move || -> io::Result<(StepOutcome, StepOutcome)> {
        drop_cap(CAP_NET_ADMIN)?;
        Ok((
            StepOutcome::of(set(&fd, uapi::SO_SET_MSG, b"x")),
            StepOutcome::of(get(&fd, uapi::SO_GET_MSG, 256).map(drop)),
        ))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("capability thread panicked"))?
    .context("drop CAP_NET_ADMIN")?;
    Ok(SockoptSeen {
        set_message,
        message,
        stats,
        netlink_stats,
        set_empty,
        set_too_long,
        stats_wrong_length,
        message_short_buffer,
        set_unprivileged,
        get_unprivileged,
    })
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
