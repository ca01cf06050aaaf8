//! Loading a module of the test's in a forked child: an Oops in its init
//! kills the child, not PID 1, as for every request that enters the module
//! (see [`in_child`](crate::in_child)). A fork, not a new process of the
//! agent's binary: exec'ing 4 MB under emulation cost about 90 ms of every
//! boot and restore, a fork a few. The child only makes system calls
//! before it exits, which is all a fork of a threaded process may do.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use kulink_protocol::{FailureKind, CHILD_DIED};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, ForkResult, Pid};

use crate::in_child::{failed, gave_up_on};
use crate::system;

/// Loads the module at `path` with `params`; its init may take `patience`
/// before it is told stuck. A refusal is `finit_module PATH: ERRNO`; a
/// child that died or stuck is a [`KernelFailed`](crate::in_child::KernelFailed).
pub async fn load(path: &str, params: &str, patience: Duration) -> Result<()> {
    let file = File::open(path).with_context(|| format!("open module {path}"))?;
    let params = std::ffi::CString::new(params).context("module parameters")?;
    let flags = system::init_flags(path).bits();
    let (read, write) = pipe().context("a pipe for the loading child")?;
    // SAFETY: the child makes system calls only (finit_module, write, _exit),
    // each async-signal-safe, and touches no lock another thread may hold.
    let child = match unsafe { fork() }.context("fork a child to load the module")? {
        ForkResult::Child => {
            // SAFETY: plain system calls on descriptors and memory the parent set up.
            unsafe {
                let done = libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), flags);
                let errno: i32 = if done == 0 { 0 } else { *libc::__errno_location() };
                libc::write(write.as_raw_fd(), errno.to_ne_bytes().as_ptr().cast(), 4);
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(write);
    let answer = tokio::task::spawn_blocking(move || answer_within(read, patience))
        .await
        .context("wait for the loading child")?;
    match answer {
        Answer::Errno(0) => reap(child).map(drop),
        Answer::Errno(errno) => {
            reap(child)?;
            Err(anyhow!(Errno::from_raw(errno))).with_context(|| format!("finit_module {path}"))
        }
        Answer::Ended => match reap(child)? {
            WaitStatus::Signaled(_, signal, _) => {
                Err(failed(FailureKind::Died, format!("{CHILD_DIED}{}", signal.as_str())))
            }
            WaitStatus::Exited(_, code) => Err(anyhow!("the loading child exited with {code} without an answer")),
            _ => Err(anyhow!("the loading child ended without an answer")),
        },
        Answer::Late => Err(gave_up_on(child.as_raw() as u32, patience)),
    }
}

/// What the child said through the pipe.
enum Answer {
    /// `finit_module`'s errno, 0 for loaded.
    Errno(i32),
    /// The pipe closed with no answer: the child died.
    Ended,
    /// Nothing within the patience.
    Late,
}

fn answer_within(read: OwnedFd, patience: Duration) -> Answer {
    let millis = u16::try_from(patience.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&read), PollFlags::POLLIN)];
    match nix::poll::poll(&mut fds, PollTimeout::from(millis)) {
        Ok(0) => return Answer::Late,
        Ok(_) => {}
        Err(_) => return Answer::Ended,
    }
    let mut bytes = [0u8; 4];
    match nix::unistd::read(&read, &mut bytes) {
        Ok(4) => Answer::Errno(i32::from_ne_bytes(bytes)),
        _ => Answer::Ended,
    }
}

fn reap(child: Pid) -> Result<WaitStatus> {
    waitpid(child, None).context("wait for the loading child")
}
