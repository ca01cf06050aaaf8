//! Ending a guest's whole process tree. `vng` starts `virtme-run`, which
//! forks QEMU; killing only the direct child leaves the rest orphaned and
//! running. The tree stays in the caller's process group, so a terminal's
//! Ctrl+C or a test runner's group kill reaches all of it too.

use std::process::Child;

/// Every process below `pid`, read from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            Some((pid, parent_of(pid)?))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|&&(_, ppid)| ppid == parent).map(|&(p, _)| p));
        i += 1;
    }
    found.remove(0);
    found
}

/// Makes this process the reaper of every orphan below it, so that a
/// process a guest leaves behind still shows up among its [`descendants`]
/// (tests that check nothing is left).
pub fn adopt_orphans() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The processes still below this one, zombies reaped first (they are gone
/// in all but name), each as `pid: command line`.
pub fn left_behind() -> Vec<String> {
    // SAFETY: waitpid with WNOHANG on any child; no status wanted.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    descendants(std::process::id())
        .into_iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!("{pid}: {}", String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
}

/// The parent pid from /proc/PID/stat ("pid (comm) state ppid ...").
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields follow the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Kills `child` and everything below it, and reaps `child`. The tree is
/// read before anything dies, so nothing escapes by being reparented.
pub fn kill(child: &mut Child) {
    loop {
        let below = descendants(child.id());
        if below.is_empty() {
            break;
        }
        for pid in below {
            // SAFETY: kill(2) with a pid we just found below our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        // Let the dead be reaped by their parents before looking again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Running or sleeping: not gone, not a zombie waiting to be reaped.
    fn alive(pid: u32) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
    }

    #[test]
    fn a_grandchild_is_found_and_killed_with_its_parent() {
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 60 & wait"]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while descendants(child.id()).is_empty() {
            assert!(Instant::now() < deadline, "sh never started sleep");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sleep = descendants(child.id())[0];
        assert_eq!(parent_of(sleep), Some(child.id()));
        kill(&mut child);
        assert!(!alive(child.id()));
        assert!(!alive(sleep), "the grandchild outlived its parent");
    }
}
