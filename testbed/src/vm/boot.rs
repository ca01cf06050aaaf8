//! Starting a guest: QEMU or virtme-ng, from a saved guest when one of its
//! kind exists, and under TCG when KVM hangs; then waiting for its agent.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink_protocol::{BootConfig, Booted, Command as AgentCommand, Extension, Ready, TestSetup};

use super::evidence::{console_tail, exit_within, kept_tail, module_at_boot, panic_line, TestModules, PANIC_GRACE};
use super::{kept, test_setup};
use super::{Backend, BootOptions, Started, Vm, CONSOLE, KERNEL_LOG, TRANSCRIPT};
use crate::accel::{first_accel, record_kvm_verdict, Accel, AccelChoice};
use crate::agent_link::AgentLink;
use crate::artifacts::Artifacts;
use crate::boot_steps::BootStep;
use crate::initramfs::{module_guest_path, GuestFile, Image};
use crate::peer::{self, Peer};
use crate::qemu::{self, QemuConfig};
use crate::snapshot::{self, Use};
use crate::{process_tree, progress, tools, usage_error, KernelFailure, ModuleFailure};

/// A KVM guest that is not ready by then is taken as hung.
const KVM_WATCHDOG: Duration = Duration::from_secs(10);
/// Generous for TCG on a loaded 2-core host.
const TCG_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

enum BootError {
    /// The guest never became ready: a hung accelerator or a broken guest;
    /// its evidence is kept unless another try follows.
    NotReady(anyhow::Error),
    /// A saved guest did not come back (that was said).
    NotRestored,
    Other(anyhow::Error),
}

impl<X: Extension> Vm<X> {
    /// Boots a guest from `art` and waits until its agent reports ready (or
    /// fails with the console's tail).
    pub fn boot(art: &Artifacts, opts: &BootOptions) -> Result<Self> {
        let arch = art.kernel.arch;
        tools::qemu_for(arch).require()?;
        if !arch.is_host() {
            check_foreign(arch, opts)?;
        }
        if opts.backend == Backend::Vng {
            tools::VNG.require()?;
            if opts.shell || !opts.files.is_empty() || !art.loaded_before.is_empty() || opts.host_root {
                return Err(usage_error(
                    "files, a shell, the host's root at /host and modules loaded before the one under test \
                     go into kulink's own image: use the qemu backend (vng boots the host's root as /)",
                ));
            }
        }
        opts.files.iter().try_for_each(GuestFile::check)?;
        if opts.interactive && !opts.shell {
            return Err(usage_error("a person's shell needs a shell in the guest: boot with busybox (`shell`)"));
        }
        if opts.backend == Backend::Vng && (opts.interactive || opts.gdb) {
            return Err(usage_error("an interactive shell and gdb need the qemu backend"));
        }
        let busybox = if opts.shell { Some(crate::cross_busybox::for_guest(arch)?) } else { None };
        // Another architecture's guest is emulated, whatever the host has.
        let mut accel = if arch.is_host() { first_accel(opts.accel) } else { Accel::Tcg };
        let mut restore = true;
        kept::sweep_orphaned_run_dirs();
        loop {
            let dir = run_dir()?;
            let evidence = kept::evidence_dir(&art.kernel.id);
            match Self::try_boot(art, opts, busybox.as_ref(), accel, restore, &dir, &evidence) {
                Ok(mut vm) => {
                    if opts.host_root {
                        vm.request(AgentCommand::MountHostRoot)?;
                    }
                    if accel == Accel::Kvm && opts.accel == AccelChoice::Auto {
                        record_kvm_verdict(true);
                    }
                    return Ok(vm);
                }
                Err(BootError::NotReady(e)) if accel == Accel::Kvm && opts.accel == AccelChoice::Auto => {
                    progress::note(format!(
                        "the KVM guest was not ready within {}s; using TCG from now on ({e:#})",
                        KVM_WATCHDOG.as_secs()
                    ));
                    // The note above keeps what it showed; the TCG guest gets a directory of its own.
                    let _ = fs::remove_dir_all(dir);
                    record_kvm_verdict(false);
                    accel = Accel::Tcg;
                }
                Err(BootError::NotRestored) => {
                    // Said where it happened; this guest boots instead.
                    let _ = fs::remove_dir_all(dir);
                    restore = false;
                }
                Err(BootError::NotReady(e) | BootError::Other(e)) => {
                    kept::note_modules(&dir, &art.module_files);
                    if let Err(not_kept) = kept::keep(&dir, &evidence) {
                        progress::note(format!("the evidence stays in {}: {not_kept:#}", dir.display()));
                    }
                    return Err(e);
                }
            }
        }
    }

    fn try_boot(
        art: &Artifacts,
        opts: &BootOptions,
        busybox: Option<&tools::Busybox>,
        accel: Accel,
        restore: bool,
        dir: &Path,
        evidence: &Path,
    ) -> Result<Self, BootError> {
        let other = BootError::Other;
        let arch = art.kernel.arch;
        let clock = match accel {
            Accel::Tcg => qemu::tcg_clock_args(arch, opts.without_step),
            Accel::Kvm => String::new(),
        };
        // A gdb stub's port differs each time: such a guest is never saved.
        let may_save = opts.backend == Backend::Qemu
            && restore
            && opts.restore
            && !opts.gdb
            && arch.restores()
            && snapshot::enabled();
        // vng boots the host's root: the module is where the host has it.
        let module_path = match opts.backend {
            Backend::Qemu => art.module.as_deref().map(module_guest_path),
            Backend::Vng => art.module.as_ref().map(|m| m.display().to_string()),
        };
        let strip = opts.without_step != Some(BootStep::StrippedModules);
        let mut boot = BootConfig::new(opts.wire.guest_ip, opts.wire.prefix);
        // A guest that may be saved gets the test's part once it has booted.
        let (preload, deferred) = if may_save {
            let setup = test_setup::deferred(art, opts, module_path.as_deref(), dir, strip).map_err(other)?;
            boot.deferred = true;
            (test_setup::drivers(art), Some(setup))
        } else {
            boot.extension = opts.extension.clone();
            boot.module = module_path.clone().filter(|_| opts.load_module);
            (test_setup::preload_at_boot(art, opts), None)
        };
        let (module, preload) = match &deferred {
            Some(_) => (None, preload),
            None if strip => test_setup::stripped_for_image(art, preload, dir).map_err(other)?,
            None => (art.module.clone(), preload),
        };
        let image =
            Image { agent: &art.agent, module: module.as_deref(), preload: &preload, files: &opts.files, busybox };
        let cfg = QemuConfig {
            arch,
            accel,
            kernel: art.kernel.bzimage.clone(),
            initrd: dir.join("initramfs.cpio"),
            boot,
            kernel_args: kernel_args(art, opts, &clock),
            memory_mb: opts.memory_mb,
            cpus: opts.cpus,
            console_log: dir.join(CONSOLE),
            kernel_log: dir.join(KERNEL_LOG),
            shell_socket: opts.interactive.then(|| dir.join("shell.sock")),
            gdb_port: if opts.gdb { Some(free_loopback_port().map_err(other)?) } else { None },
            host_root: opts.host_root,
            control_socket: dir.join("ctl.sock"),
            wire_guest: dir.join("guest.sock"),
            wire_peer: dir.join("peer.sock"),
            wire: opts.wire,
        };
        let logs = snapshot::Logs { console: cfg.console_log.clone(), kernel_log: cfg.kernel_log.clone() };
        let listener = UnixListener::bind(&cfg.control_socket).context("bind the control socket").map_err(other)?;
        let shell_listener = match &cfg.shell_socket {
            Some(socket) => Some(UnixListener::bind(socket).context("bind the shell socket").map_err(other)?),
            None => None,
        };
        let peer = Peer::bind(&cfg.wire_peer, &cfg.wire_guest, opts.wire).map_err(other)?;
        let log = fs::File::create(dir.join("qemu.log")).context("create qemu.log").map_err(other)?;
        let mut slot = None;
        let mut command = match opts.backend {
            Backend::Qemu => {
                image.write(&cfg.initrd).map_err(other)?;
                let mut args = qemu::all_args(&cfg).map_err(other)?;
                if may_save {
                    if let Some((s, extra)) =
                        snapshot::open(&args, dir, &cfg.initrd, &cfg.kernel, &logs).map_err(other)?
                    {
                        args.extend(extra);
                        slot = Some(s);
                    }
                }
                let line: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                let _ = fs::write(dir.join("qemu.args"), line.join("\n"));
                let mut c = Command::new(tools::qemu_for(arch).program);
                c.args(args).stdout(log.try_clone().map_err(|e| other(e.into()))?).stderr(log);
                c
            }
            Backend::Vng => {
                // vng prints the console: it is the log the splat scan reads.
                let console = fs::File::create(&cfg.console_log).context("create console.log").map_err(other)?;
                let mut c = tools::VNG.command().map_err(other)?;
                c.args(qemu::vng_args(&cfg, &art.agent).map_err(other)?)
                    .stdout(console.try_clone().map_err(|e| other(e.into()))?)
                    .stderr(console);
                c
            }
        };

        let start = Instant::now();
        let mut child =
            command.stdin(Stdio::null()).spawn().context("start the guest's virtual machine").map_err(other)?;

        let setup = (|| {
            let stream = accept(&listener, &mut child, dir, Duration::from_secs(10))?;
            let shell = match &shell_listener {
                Some(listener) => Some(accept(listener, &mut child, dir, Duration::from_secs(10))?),
                None => None,
            };
            peer::wait_for_socket(&cfg.wire_guest, Duration::from_secs(10))?;
            Ok((AgentLink::new(stream, &dir.join(TRANSCRIPT))?, shell))
        })();
        let (mut link, shell) = match setup {
            Ok(setup) => setup,
            Err(e) => {
                process_tree::kill(&mut child);
                return Err(match slot {
                    Some(Use::Restore(slot, _)) => {
                        snapshot::restore_failed(slot, &e);
                        BootError::NotRestored
                    }
                    _ => other(e),
                });
            }
        };
        let modules = test_modules(art, opts);
        let (ready, saved) = match (deferred, slot) {
            (None, _) => (wait_ready(&mut link, &mut child, &cfg, evidence, accel, &modules)?, None),
            (Some(setup), slot) => {
                let saved = match slot {
                    Some(Use::Restore(slot, saved)) => match restored(&mut link, &saved.booted) {
                        Ok(booted) => Some((saved.saved_at, booted)),
                        Err(e) => {
                            process_tree::kill(&mut child);
                            snapshot::restore_failed(slot, &e);
                            return Err(BootError::NotRestored);
                        }
                    },
                    slot => {
                        let booted = wait_booted(&mut link, &mut child, &cfg, evidence, accel)?;
                        if let Some(Use::Save(slot)) = slot {
                            let json = serde_json::to_string(&booted).map_err(|e| other(e.into()))?;
                            snapshot::save(slot, dir, &logs, &json);
                        }
                        None
                    }
                };
                (resume(&mut link, &mut child, &cfg, evidence, accel, &modules, setup)?, saved)
            }
        };
        let started = match &saved {
            Some((at, booted)) => Started::restored(*at, booted.boot_ms),
            None => Started::Booted { boot_ms: ready.boot_ms },
        };

        let mut vm = Self {
            child,
            dir: dir.to_owned(),
            link,
            peer,
            ready,
            accel,
            arch,
            wall_boot: start.elapsed(),
            saved_at: saved.map(|(at, _)| at),
            started,
            wire: opts.wire,
            module: module_path,
            module_files: art.module_files.clone(),
            kernel_id: art.kernel.id.clone(),
            known_bugs: opts.known_bugs.clone(),
            coverage: opts.coverage.clone(),
            keep: false,
            evidence: evidence.to_owned(),
            shell,
            gdb_port: cfg.gdb_port,
            vmlinux: art.kernel.kdir.join("vmlinux"),
        };
        vm.tell_unknown_kernel_args(&opts.kernel_args);
        Ok(vm)
    }

    /// Says which of the test's kernel arguments the kernel ignored.
    fn tell_unknown_kernel_args(&mut self, given: &[String]) {
        if given.is_empty() {
            return;
        }
        let log = self.kernel_log().unwrap_or_default();
        for arg in unknown_kernel_args(&log, given) {
            progress::note(format!(
                "kernel {}: it does not know the argument {arg} and handed it to user space, so it has no effect \
                 (a sysctl goes on the command line as sysctl.NAME=VALUE from Linux 5.8, or as its own parameter: \
                 oops=panic for kernel.panic_on_oops)",
                self.kernel_id
            ));
        }
    }
}

/// The arguments of `given` that the kernel says it does not know
/// (`Unknown kernel command line parameters "a=1 b", will be passed to user
/// space.`, printed at boot since Linux 5.5).
fn unknown_kernel_args<'a>(kernel_log: &str, given: &'a [String]) -> Vec<&'a str> {
    let Some(unknown) = kernel_log
        .lines()
        .find_map(|line| line.split("Unknown kernel command line parameters \"").nth(1)?.split('"').next())
    else {
        return Vec::new();
    };
    let unknown: Vec<&str> = unknown.split_whitespace().collect();
    given.iter().map(String::as_str).filter(|arg| unknown.contains(arg)).collect()
}

/// What a guest of another architecture than the host's cannot have, named
/// before anything is built: the host's programs (vng's root, a shell from
/// the host's busybox) do not run on it, and KVM cannot run it.
fn check_foreign(arch: crate::arch::Arch, opts: &BootOptions) -> Result<()> {
    let host = crate::arch::Arch::host().map_or(std::env::consts::ARCH, |a| a.name());
    let refused = if opts.backend == Backend::Vng {
        Some("the vng backend boots the host's own programs")
    } else if opts.accel == AccelChoice::Kvm {
        Some("KVM runs only the host's own architecture (TCG emulates the others)")
    } else {
        None
    };
    match refused {
        Some(why) => Err(usage_error(format!("an {arch} guest on this {host} host cannot have that: {why}"))),
        None => Ok(()),
    }
}

/// The test's modules the boot loads, the one under test last: what
/// [`module_at_boot`] may blame.
fn test_modules(art: &Artifacts, opts: &BootOptions) -> TestModules {
    let under_test = art.module.as_ref().filter(|_| opts.load_module);
    let names = art
        .loaded_before
        .iter()
        .chain(under_test)
        .filter_map(|ko| ko.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    TestModules { names, files: art.module_files.clone() }
}

/// Waits for a booting guest's Ready; a guest that never gets there is
/// explained by its console: the test's module that did not load or
/// brought the kernel down, a panic, or what the agent said.
fn wait_ready<X: Extension>(
    link: &mut AgentLink<X>,
    child: &mut Child,
    cfg: &QemuConfig,
    evidence: &Path,
    accel: Accel,
    modules: &TestModules,
) -> Result<Ready<X>, BootError> {
    wait_boot_message(|link, timeout| link.ready(timeout), link, child, cfg, evidence, accel, modules)
}

/// Waits for a deferred guest's word that it has booted (no module of
/// the test's is loaded by then); explained as [`wait_ready`] explains it.
fn wait_booted<X: Extension>(
    link: &mut AgentLink<X>,
    child: &mut Child,
    cfg: &QemuConfig,
    evidence: &Path,
    accel: Accel,
) -> Result<Booted, BootError> {
    wait_boot_message(|link, timeout| link.booted(timeout), link, child, cfg, evidence, accel, &TestModules::default())
}

/// Waits with `wait` for one of a boot's messages, within the boot's time
/// for the accelerator; a guest that never sends it is told by its console.
fn wait_boot_message<X: Extension, T>(
    wait: impl FnOnce(&mut AgentLink<X>, Duration) -> Result<Option<T>>,
    link: &mut AgentLink<X>,
    child: &mut Child,
    cfg: &QemuConfig,
    evidence: &Path,
    accel: Accel,
    modules: &TestModules,
) -> Result<T, BootError> {
    let timeout = if accel == Accel::Kvm { KVM_WATCHDOG } else { TCG_BOOT_TIMEOUT };
    match wait(link, timeout) {
        Ok(Some(message)) => Ok(message),
        result => Err(not_ready(result.map(|_| ()), timeout, child, cfg, evidence, accel, modules)),
    }
}

/// Why a guest did not get where it was waited for (`waited` is how the
/// wait ended: an error, or `Ok` at the `timeout`), from its console.
fn not_ready(
    waited: Result<()>,
    timeout: Duration,
    child: &mut Child,
    cfg: &QemuConfig,
    evidence: &Path,
    accel: Accel,
    modules: &TestModules,
) -> BootError {
    let kept_console = evidence.join(CONSOLE);
    // A kernel that panics on the way up (the module under test at load,
    // say) lets QEMU go by itself: give it a moment.
    if waited.is_err() {
        exit_within(child, PANIC_GRACE);
    }
    process_tree::kill(child);
    let console = fs::read_to_string(&cfg.console_log).unwrap_or_default();
    if let Some(sentence) = module_at_boot(&console, modules) {
        let tail = kept_tail(&kept_console, &tools::tail(&console, 30));
        return BootError::Other(anyhow::Error::new(ModuleFailure(format!("{sentence}\n{tail}"))));
    }
    if let Some(panic) = panic_line(&console) {
        let tail = kept_tail(&kept_console, &tools::tail(&console, 30));
        return BootError::Other(anyhow::Error::new(KernelFailure(format!(
            "guest ({}) did not come up: the kernel panicked: {panic}\n{tail}",
            accel.name()
        ))));
    }
    let why = match waited {
        Err(e) => format!("{e:#}"),
        Ok(()) => format!("not ready within {}s", timeout.as_secs()),
    };
    let tail = kept_tail(&kept_console, &console_tail(cfg.console_log.parent().unwrap_or(Path::new(".")), 30));
    let error = anyhow::anyhow!("guest ({}) did not come up: {why}\n{tail}", accel.name());
    BootError::NotReady(error)
}

/// How long a booted guest may take to take the test's files.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);

/// Hands a deferred guest its test, then waits for its Ready as a boot
/// would: a module that fails to load ends the guest, and is told so.
fn resume<X: Extension>(
    link: &mut AgentLink<X>,
    child: &mut Child,
    cfg: &QemuConfig,
    evidence: &Path,
    accel: Accel,
    modules: &TestModules,
    setup: TestSetup,
) -> Result<Ready<X>, BootError> {
    if let Err(e) = link.request(AgentCommand::Resume(setup), RESUME_TIMEOUT) {
        return Err(not_ready(Err(e), RESUME_TIMEOUT, child, cfg, evidence, accel, modules));
    }
    wait_ready(link, child, cfg, evidence, accel, modules)
}

/// How long a restored guest may take to answer: loading the saved file
/// and the first request.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(30);

/// Tells a restored guest's agent so (fresh randomness, the wall clock);
/// its answer is the guest's word that it is back. Its word that it had
/// booted is the saved one, written to the transcript as the agent sent it
/// then.
fn restored<X: Extension>(link: &mut AgentLink<X>, saved: &str) -> Result<Booted> {
    let booted: Booted = serde_json::from_str(saved).context("the saved guest's word that it had booted")?;
    link.note_booted(&booted);
    let mut seed = vec![0u8; 32];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, &mut seed).context("read /dev/urandom")?;
    let realtime_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    link.request(AgentCommand::Restored { seed, realtime_ns }, RESTORE_TIMEOUT)?;
    Ok(booted)
}

/// The kernel's arguments after the agent's: the TSC's rate, the kernel's
/// own (its image's too, unless vng boots it), then the test's.
fn kernel_args(art: &Artifacts, opts: &BootOptions, clock: &str) -> String {
    let image = if opts.backend == Backend::Qemu { art.kernel.image_cmdline.as_str() } else { "" };
    let args = [clock, &art.kernel.cmdline, image].into_iter().chain(opts.kernel_args.iter().map(String::as_str));
    args.flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

/// A fresh directory for one guest's sockets, image and logs. Unix socket
/// paths are short-limited, so it lives under the temp dir, not the cache.
fn run_dir() -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kulink-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// A TCP port of the host's loopback nobody listens on now, for QEMU's gdb
/// stub (another process may take it first: QEMU then says so).
fn free_loopback_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port for gdb")?;
    Ok(listener.local_addr()?.port())
}

/// Accepts QEMU's connection to the control socket, or explains why not.
fn accept(
    listener: &UnixListener,
    child: &mut Child,
    dir: &Path,
    timeout: Duration,
) -> Result<std::os::unix::net::UnixStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accept the control connection"),
        }
        if let Some(status) = child.try_wait()? {
            bail!("the virtual machine exited at start-up ({status}):\n{}", console_tail(dir, 10));
        }
        if Instant::now() >= deadline {
            bail!("QEMU did not connect to the control socket within {}s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_the_kernel_does_not_know_are_named() {
        let log = "<6>[    0.0] Command line: console=ttyS0 panic_on_oops=1 oops=panic quiet\n\
                   <5>[    0.06] Unknown kernel command line parameters \"quiet panic_on_oops=1\", will be passed to user space.\n";
        let given = ["oops=panic".to_owned(), "panic_on_oops=1".to_owned()];
        assert_eq!(unknown_kernel_args(log, &given), ["panic_on_oops=1"]);
        assert!(unknown_kernel_args("<6>[ 0.0] Command line: oops=panic\n", &given).is_empty());
    }
}
