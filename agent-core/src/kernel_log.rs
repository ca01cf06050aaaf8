//! The kernel's log at every level, copied record by record to the
//! virtio-serial port named [`KERNEL_LOG_PORT`], which the host writes to a
//! file: the module's `pr_info` lines are evidence even where the
//! console's loglevel hides them.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kulink_protocol::KERNEL_LOG_PORT;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Whether the copy has every record the kernel had when it last looked.
static CAUGHT_UP: AtomicBool = AtomicBool::new(true);

/// Starts copying, from the oldest record the kernel still holds, on a
/// thread of its own. A guest without the port (an older host) or without
/// `/dev/kmsg` just goes without.
pub fn forward() {
    let Ok(path) = crate::port::find_port(KERNEL_LOG_PORT) else { return };
    let kmsg = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg");
    let (Ok(kmsg), Ok(port)) = (kmsg, OpenOptions::new().write(true).open(&path)) else {
        crate::system::log("the kernel log cannot be copied to the host");
        return;
    };
    CAUGHT_UP.store(false, Ordering::SeqCst);
    std::thread::spawn(move || copy(kmsg, port));
}

fn copy(mut kmsg: File, mut port: File) {
    // The copy yields to the agent's own work: on one emulated CPU it
    // would otherwise stretch the boot it records.
    // SAFETY: setpriority on this thread's own id, with a valid nice value.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    // One read() is one record; the kernel's own bound is 8 KiB.
    let mut record = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut record) {
            Ok(0) => return,
            Ok(n) => {
                CAUGHT_UP.store(false, Ordering::SeqCst);
                let Some(line) = line_of(&String::from_utf8_lossy(&record[..n])) else { continue };
                if port.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                CAUGHT_UP.store(true, Ordering::SeqCst);
                let mut wait = [PollFd::new(kmsg.as_fd(), PollFlags::POLLIN)];
                if poll(&mut wait, PollTimeout::NONE).is_err() {
                    return;
                }
            }
            // Records overwritten before they were read: go on with the
            // next one the kernel has.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Waits, up to `bound`, until the copy has every record so far: the
/// guest is about to go, and an Oops's last lines are the ones that
/// matter.
pub fn drain(bound: Duration) {
    let deadline = Instant::now() + bound;
    while !CAUGHT_UP.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `/dev/kmsg` record (`6,339,5140900,-;text`, then dictionary lines)
/// as `dmesg -r` prints it: `<6>[    5.140900] text`.
fn line_of(record: &str) -> Option<String> {
    let (header, text) = record.split_once(';')?;
    let mut fields = header.split(',');
    let level = fields.next()?.parse::<u32>().ok()? & 7;
    let micros = fields.nth(1)?.parse::<u64>().ok()?;
    let text = text.lines().next().unwrap_or_default();
    Some(format!("<{level}>[{:5}.{:06}] {text}\n", micros / 1_000_000, micros % 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_as_dmesg_prints_it() {
        assert_eq!(
            line_of("6,339,5140900,-;kulink_sleeper: loaded\n SUBSYSTEM=x\n").as_deref(),
            Some("<6>[    5.140900] kulink_sleeper: loaded\n")
        );
        // The facility is above the level's three bits.
        assert_eq!(line_of("14,2,1,-;user\n").as_deref(), Some("<6>[    0.000001] user\n"));
        assert_eq!(line_of("no header"), None);
    }
}
