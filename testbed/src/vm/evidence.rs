//! Why a guest stopped answering, told with its console: a kernel panic,
//! QEMU's end, or a hang.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use kulink_protocol::{Extension, FailureKind, CHILD_DIED, CHILD_STUCK};

use super::{Vm, CONSOLE};
use crate::agent_link::{KernelFailed, NoAnswer};
use crate::splat::{self, Splat};
use crate::traces::ModuleFile;
use crate::{tools, KernelFailure, ModuleFailure};

impl<X: Extension> Vm<X> {
    /// Says why the agent stopped answering: the kernel went down or Oopsed
    /// (a [`KernelFailure`]), QEMU ended, or the guest hangs; with the
    /// console's tail.
    pub(super) fn explain(&mut self, error: anyhow::Error) -> anyhow::Error {
        // A closed port: the guest is going down; a panicking kernel takes
        // a moment to print and let QEMU go.
        let grace = if error.is::<NoAnswer>() { Duration::ZERO } else { PANIC_GRACE };
        let ended = exit_within(&mut self.child, grace);
        let console = self.console();
        // request_within keeps the evidence.
        let tail = kept_tail(&self.evidence_dir().join(CONSOLE), &tools::tail(&console, 40));
        if let Some(panic) = panic_line(&console) {
            return anyhow::Error::new(KernelFailure(format!("{error:#}: the guest kernel panicked: {panic}\n{tail}")));
        }
        let killed = ended.is_some_and(|s| std::os::unix::process::ExitStatusExt::signal(&s).is_some());
        let oops = splat::scan_with_sources(&console, &self.module_files).into_iter().find(Splat::is_fault);
        if let (Some(oops), false) = (oops, killed) {
            // The task serving the request died in the kernel: an agent
            // thread, or PID 1 itself.
            return anyhow::Error::new(KernelFailure(format!(
                "{error:#}: the kernel Oopsed serving it: {oops}\n{tail}"
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
        anyhow::anyhow!("{error:#}: {why}\n{tail}")
    }
}

impl<X: Extension> Vm<X> {
    /// A request the kernel failed: the process serving it died (with the
    /// fault that killed it, once the console has it) or is stuck. The
    /// module under test's failure; the guest goes on serving.
    pub(super) fn module_failed(&mut self, failed: KernelFailed) -> anyhow::Error {
        let mut message = failed.message;
        if failed.kind == FailureKind::Died {
            // A plain scan while waiting; source lines (objdump) once.
            let deadline = Instant::now() + FAULT_GRACE;
            while !splat::scan(&self.console()).iter().any(Splat::is_fault) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let fault = splat::scan_with_sources(&self.console(), &self.module_files).into_iter().find(Splat::is_fault);
            if let Some(fault) = fault {
                message += &format!(", in the kernel: {fault}");
            }
        } else {
            message = splat::with_frame_sources(&message, &self.module_files);
        }
        anyhow::Error::new(ModuleFailure(message))
    }
}

/// How long the console may lag behind the agent's word that a request's
/// process died.
const FAULT_GRACE: Duration = Duration::from_secs(2);

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
    splat::panic_line(console)
}

/// The test's modules a boot loads: their file names, the one under test
/// last (what [`module_at_boot`] may blame), and their built files (for
/// the source lines of a fault in one).
#[derive(Debug, Default)]
pub(super) struct TestModules {
    pub names: Vec<String>,
    pub files: Vec<ModuleFile>,
}

/// Why the test's own modules kept a guest from coming up, if they did:
/// one of them refused to load (the agent's fatal `finit_module` line,
/// with the module's own lines), its init faulted or hung in the agent's
/// child that loaded it, or the kernel panicked while loading one; a
/// fault is told with its place in the module's source.
pub(super) fn module_at_boot(console: &str, modules: &TestModules) -> Option<String> {
    let ours = |path: &str| {
        modules.names.iter().find(|m| path.ends_with(&format!("/{m}")) || path.ends_with(&format!("-{m}")))
    };
    let fault = || {
        splat::scan_with_sources(console, &modules.files)
            .into_iter()
            .find(Splat::is_fault)
            .map(|fault| format!(", in the kernel: {fault}"))
            .unwrap_or_default()
    };
    for line in console.lines() {
        // The kernel log's record (`[ 1.1] kulink-agent: ...`), not a copy a
        // process wrote to the console, which other lines may cut into.
        let Some(rest) = line.split("] kulink-agent: fatal: finit_module ").nth(1) else { continue };
        let Some((path, why)) = rest.split_once(": ") else { continue };
        if let Some(module) = ours(path) {
            let own = own_lines(console, module);
            // The agent's child that loaded it died or hung in its init.
            if let Some(signal) = why.strip_prefix(CHILD_DIED) {
                return Some(format!(
                    "{module} failed to load: the process loading it was killed by {signal}{}{own}",
                    fault()
                ));
            }
            if why.starts_with(CHILD_STUCK) {
                return Some(format!("{module} failed to load: its init was {why}{own}"));
            }
            return Some(format!("{module} failed to load: the kernel refused it with {why}{own}"));
        }
    }
    let panic = panic_line(console)?;
    let loading = console.contains("kulink-agent: started") && !console.contains("kulink-agent: module loaded");
    let module = modules.names.last().filter(|_| loading)?;
    Some(format!("the kernel panicked while loading {module}: {}{}", panic.trim(), fault()))
}

/// The console lines a module printed (`name: ...`, as `pr_fmt` writes
/// them) or the kernel printed about it (`[name]`), after a blank line.
fn own_lines(console: &str, file: &str) -> String {
    let name = file.split(".ko").next().unwrap_or(file).replace('-', "_");
    let lines: Vec<&str> = console
        .lines()
        .filter(|l| !l.contains("kulink-agent:"))
        .filter(|l| l.contains(&format!("] {name}: ")) || l.contains(&format!("[{name}]")))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("; its log:\n{}", lines.join("\n"))
}

/// `tail` of a console under a line that says where the console is kept.
pub(super) fn kept_tail(kept_console: &Path, tail: &str) -> String {
    format!("--- console tail ({}) ---\n{tail}", kept_console.display())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MODULES: &[&str] = &["provider.ko", "busy.ko"];

    fn modules() -> TestModules {
        TestModules { names: MODULES.iter().map(|m| (*m).to_owned()).collect(), files: Vec::new() }
    }

    #[test]
    fn a_module_that_refuses_to_load_is_named_with_its_errno_and_lines() {
        let console = "[    0.9] kulink-agent: started\n\
                       [    1.0] busy: refusing to load, as asked\n\
                       [    1.1] kulink-agent: fatal: finit_module /lib/modules/test/busy.ko: EBUSY: Device or resource busy\n";
        assert_eq!(
            module_at_boot(console, &modules()).unwrap(),
            "busy.ko failed to load: the kernel refused it with EBUSY: Device or resource busy; its log:\n\
             [    1.0] busy: refusing to load, as asked"
        );
        let preloaded =
            "[ 1.1] kulink-agent: fatal: finit_module /lib/modules/preload/01-provider.ko: ENOENT: No such file\n";
        let cut_into = format!(
            "kulink-agent: fatal: finit_module /lib/modules/test/busy.ko: EBUSY: Device or resource busy[ 1.2] \n{console}"
        );
        assert!(module_at_boot(&cut_into, &modules()).unwrap().starts_with(
            "busy.ko failed to load: the kernel refused it with EBUSY: Device or resource busy; its log:"
        ));
        assert!(module_at_boot(preloaded, &modules()).unwrap().starts_with("provider.ko failed to load"));
    }

    #[test]
    fn an_init_that_faults_in_the_agent_s_child_is_told_with_the_fault() {
        let console = "[    0.9] kulink-agent: started\n\
                       [    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
                       [    1.0] RIP: 0010:busy_init+0x5/0x20 [busy]\n\
                       [    1.2] kulink-agent: fatal: finit_module /lib/modules/test/busy.ko: the process making the request was killed by SIGKILL\n";
        let told = module_at_boot(console, &modules()).unwrap();
        assert_eq!(
            told,
            "busy.ko failed to load: the process loading it was killed by SIGKILL, in the kernel: BUG at console \
             line 2: [    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000; \
             RIP: 0010:busy_init+0x5/0x20 [busy]; its log:\n[    1.0] RIP: 0010:busy_init+0x5/0x20 [busy]"
        );
        let stuck = "[ 1.2] kulink-agent: fatal: finit_module /lib/modules/test/busy.ko: not done within 60s: stuck in uninterruptible sleep in busy_init [busy]\n";
        assert_eq!(
            module_at_boot(stuck, &modules()).unwrap(),
            "busy.ko failed to load: its init was not done within 60s: stuck in uninterruptible sleep in busy_init [busy]"
        );
    }

    #[test]
    fn a_driver_of_the_kernel_s_own_is_not_the_test_s() {
        let console = "[ 1.1] kulink-agent: fatal: finit_module /lib/modules/preload/00-virtio_pci.ko: ENOEXEC: Exec format error\n";
        assert_eq!(module_at_boot(console, &modules()), None);
    }

    #[test]
    fn a_panic_while_the_module_loads_names_it_and_one_after_does_not() {
        let panic = "[    2.0] Kernel panic - not syncing: busy: as asked\n";
        let loading = format!("[    0.9] kulink-agent: started\n{panic}");
        assert_eq!(
            module_at_boot(&loading, &modules()).unwrap(),
            "the kernel panicked while loading busy.ko: [    2.0] Kernel panic - not syncing: busy: as asked"
        );
        let after = format!("[    0.9] kulink-agent: started\n[    1.0] kulink-agent: module loaded\n{panic}");
        assert_eq!(module_at_boot(&after, &modules()), None);
        assert_eq!(module_at_boot(&loading, &TestModules::default()), None, "no module of the test's");
    }
}
