//! Running work as an unprivileged user inside the agent (PID 1, root).
//!
//! Linux keeps credentials per thread; glibc's `setresuid` and friends
//! (and nix's wrappers of them) change every thread of the process at
//! once, which would take root from the agent for good. The raw system
//! calls change only the calling thread, so a thread of its own can drop
//! to an unprivileged user, do its work and end, and the agent stays root.

use std::future::Future;

use anyhow::{bail, Context, Result};

/// Runs `work` to completion on a new thread that first becomes uid and
/// gid `id` with no supplementary groups and no capabilities.
pub async fn run_as<T, F>(id: u32, work: impl FnOnce() -> F + Send + 'static) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>>,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("as-uid-{id}"))
        .spawn(move || {
            let outcome = drop_thread_to(id).and_then(|()| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(work())
            });
            let _ = done.send(outcome);
        })
        .context("cannot start a thread")?;
    result.await.context("the unprivileged thread ended without an answer")?
}

/// Makes the calling thread (only) uid and gid `id`, without groups.
/// Leaving uid 0 this way clears its permitted and effective capabilities.
fn drop_thread_to(id: u32) -> Result<()> {
    let id = libc::c_long::from(id);
    // SAFETY: system calls on the calling thread's own credentials; the
    // group list is empty, so its null pointer is never read.
    check("setgroups", unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) })?;
    // SAFETY: as above, integers only.
    check("setresgid", unsafe { libc::syscall(libc::SYS_setresgid, id, id, id) })?;
    // SAFETY: as above, integers only.
    check("setresuid", unsafe { libc::syscall(libc::SYS_setresuid, id, id, id) })?;
    let status = std::fs::read_to_string("/proc/thread-self/status").context("/proc/thread-self/status")?;
    let effective = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim);
    if effective.and_then(|hex| u64::from_str_radix(hex, 16).ok()) != Some(0) {
        bail!("uid {id} still has capabilities: CapEff {effective:?}");
    }
    Ok(())
}

fn check(call: &str, rc: libc::c_long) -> Result<()> {
    if rc != 0 {
        bail!("{call}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
