//! The signal channels of /dev/kulink, received through a signalfd:
//! `signal-sigio` (O_ASYNC + F_SETOWN: SIGIO, then read what is queued) and
//! `signal-rt` (a real-time signal per event, si_int = its sequence number).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::extension::Notice;
use kulink_ko_contract::uapi;
use kulink_ko_contract::Channel;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::io::unix::AsyncFd;

use crate::chardev;
use crate::chardev::FileGauge;
use crate::netlink::Outbox;
use crate::pace::Pacer;

/// The real-time signal kulink is asked to send.
pub fn rt_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

// nix's Signal has no real-time signals, so the mask and the signalfd for
// SIGRTMIN+1 stay on libc.
fn mask() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigemptyset.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        libc::sigaddset(&mut set, rt_signal());
        set
    }
}

/// Blocks the signals before any thread starts, so every thread inherits
/// the mask and they are only ever taken from the signalfd.
pub fn block() -> Result<()> {
    let set = mask();
    // SAFETY: a valid set; the old mask is not needed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc)).context("block SIGIO and the real-time signal");
    }
    Ok(())
}

fn signalfd() -> Result<OwnedFd> {
    let set = mask();
    // SAFETY: a new signalfd for a valid set.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("signalfd");
    }
    // SAFETY: fd is fresh and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms a /dev/kulink file for SIGIO to us and for the real-time signal.
fn arm(file: &File) -> Result<()> {
    // SAFETY: fcntl on a valid fd with integer arguments (nix has no F_SETOWN).
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETOWN, libc::getpid()) } < 0 {
        return Err(io::Error::last_os_error()).context("F_SETOWN");
    }
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL).context("F_GETFL")?);
    fcntl(file, FcntlArg::F_SETFL(flags | OFlag::O_ASYNC | OFlag::O_NONBLOCK)).context("F_SETFL O_ASYNC")?;
    register_rt(file, rt_signal())
}

pub fn register_rt(file: &File, sig: i32) -> Result<()> {
    let mut sig = sig;
    // SAFETY: the request takes a pointer to an s32.
    if unsafe { libc::ioctl(file.as_raw_fd(), uapi::IOC_SET_SIGNAL as libc::c_ulong, &mut sig) } < 0 {
        return Err(io::Error::last_os_error()).context("KULINK_IOC_SET_SIGNAL");
    }
    Ok(())
}

/// The blocked signals, as a non-blocking signalfd registered with tokio.
pub fn signals() -> Result<AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd keeps the signalfd open for the AsyncFd's life.
    unsafe { AsyncFd::register(signalfd()?) }.map_err(|e| anyhow::anyhow!("register signalfd: {e}"))
}

/// One signal from a non-blocking signalfd; `None` when none is pending.
pub fn read_one(signals: &OwnedFd) -> Option<libc::signalfd_siginfo> {
    // SAFETY: plain data, all zeroes is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reading one siginfo into a buffer of its size.
    let n = unsafe { libc::read(signals.as_raw_fd(), (&raw mut info).cast(), size) };
    (n == size as isize).then_some(info)
}

/// The signal channels' task: one signal per turn of `pacer`, and after
/// SIGIO the file's queue emptied, as a SIGIO consumer must (the signal
/// does not queue), but one read() per turn.
pub fn spawn(out: Outbox, mut pacer: Pacer) -> Result<(tokio::task::JoinHandle<()>, FileGauge)> {
    let file = chardev::open(true).context("open /dev/kulink for signals")?;
    arm(&file)?;
    let gauge = FileGauge { channel: Channel::SignalSigio, file: file.try_clone()? };
    let sfd = signals()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok(mut guard) = sfd.readable().await else { return };
            loop {
                pacer.turn().await;
                let Some(info) = read_one(sfd.get_ref()) else { break };
                let received = monotonic_ns();
                if info.ssi_signo == libc::SIGIO as u32 {
                    if let Err(e) = chardev::consume(&file, Channel::SignalSigio, &out, &mut pacer).await {
                        out.warning(format!("read after SIGIO: {e}"));
                    }
                } else {
                    out.ext(Notice::Notify {
                        channel: Channel::SignalRt,
                        seq: u64::from(info.ssi_int as u32),
                        received_ns: received,
                    });
                }
            }
            guard.clear_ready();
        }
    });
    Ok((task, gauge))
}

/// Child mode: register for the real-time signal, then exit at once.
pub fn child_main() -> i32 {
    match chardev::open(false).map_err(anyhow::Error::from).and_then(|f| register_rt(&f, rt_signal())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kulink-sigchild: {e:#}");
            1
        }
    }
}
