//! Why a guest stopped answering, told with its console: a kernel panic,
//! QEMU's end, or a hang.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use kulink_protocol::Extension;

use super::{Vm, CONSOLE};
use crate::agent_link::NoAnswer;
use crate::{splat, tools, KernelFailure};

impl<X: Extension> Vm<X> {
    /// Says why the agent stopped answering: the kernel went down (a
    /// [`KernelFailure`]), QEMU ended, or the guest hangs; with the
    /// console's tail.
    pub(super) fn explain(&mut self, error: anyhow::Error) -> anyhow::Error {
        // A closed port: the guest is going down; a panicking kernel takes
        // a moment to print and let QEMU go.
        let grace = if error.is::<NoAnswer>() { Duration::ZERO } else { PANIC_GRACE };
        let ended = exit_within(&mut self.child, grace);
        let console = self.console();
        let tail = tools::tail(&console, 40);
        if let Some(panic) = panic_line(&console) {
            return anyhow::Error::new(KernelFailure(format!(
                "{error:#}: the guest kernel panicked: {panic}\n--- console tail ---\n{tail}"
            )));
        }
        let why = match ended {
            Some(status) => match std::os::unix::process::ExitStatusExt::signal(&status) {
                Some(signal) => format!("QEMU was killed by signal {signal}, not by kulink"),
                None => format!("QEMU exited ({status})"),
            },
            None if error.is::<NoAnswer>() => "the guest runs but its agent does not answer: it hangs".into(),
            None => "QEMU still runs".into(),
        };
        anyhow::anyhow!("{error:#}: {why}\n--- console tail ---\n{tail}")
    }
}

/// How long a guest whose agent went silent gets to finish panicking.
pub(super) const PANIC_GRACE: Duration = Duration::from_secs(5);

/// How QEMU ended, if it does within `grace`.
pub(super) fn exit_within(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait().ok().flatten() {
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            ended => return ended,
        }
    }
}

/// The console line of a kernel panic, if the guest had one.
pub(super) fn panic_line(console: &str) -> Option<String> {
    splat::scan(console).into_iter().find(|s| s.kind == "panic").map(|s| s.text)
}

pub(super) fn console_tail(dir: &Path, lines: usize) -> String {
    let console = fs::read_to_string(dir.join(CONSOLE)).unwrap_or_default();
    let qemu = fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
    let mut s = tools::tail(&console, lines);
    if !qemu.trim().is_empty() {
        s += &format!("\n--- qemu ---\n{}", tools::tail(&qemu, 10));
    }
    s
}
