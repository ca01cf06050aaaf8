//! One guest: QEMU with the testbed's initramfs, its wire, its control port.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink_protocol::{
    BootConfig, Command as AgentCommand, DeviceAnswers, DeviceBurst, Extension, GenlAnswer, GenlBurst, GenlDelivery,
    GenlEvent, GenlMessage, GenlRequest, Netns, Ran, Ready, Reply,
};

use kulink_genl::{Message, Spec};

use crate::accel::{first_accel, record_kvm_verdict, Accel, AccelChoice};
use crate::agent_link::{AgentLink, NoAnswer, Refused};
use crate::artifacts::Artifacts;
use crate::frames::Wire;
use crate::initramfs::{GuestFile, Image};
use crate::peer::{self, FrameSender, Peer};
use crate::qemu::{self, QemuConfig};
use crate::snapshot::{self, Use};
use crate::splat::{self, Splat};
use crate::{process_tree, progress, tools, usage_error, KernelFailure};

/// A KVM guest that is not ready by then is taken as hung.
const KVM_WATCHDOG: Duration = Duration::from_secs(10);
/// Generous for TCG on a loaded 2-core host.
const TCG_BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a burst of `count` messages or calls may take: a TCG guest
/// takes about a millisecond each; allow ten.
fn burst_timeout(count: usize) -> Duration {
    REQUEST_TIMEOUT + Duration::from_millis(10 * count as u64)
}

/// Whether guests may start from saved ones here: not when
/// `KULINK_SNAPSHOTS=off` (see [`BootOptions::restore`]).
pub fn snapshots_enabled() -> bool {
    snapshot::enabled()
}

/// Files a guest's directory keeps: what evidence a failed run leaves.
pub const CONSOLE: &str = "console.log";
/// The agent's messages and the host's requests, as JSON lines.
pub const TRANSCRIPT: &str = "agent.jsonl";
const PLAN: &str = "plan.txt";

/// What starts the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// QEMU directly, with the testbed's own initramfs (the agent is PID 1).
    Qemu,
    /// virtme-ng: the host's root file system over 9p, the agent run with
    /// --exec. Needs a kernel with vng.config (the default kernel has it).
    Vng,
}

impl Backend {
    /// Every backend, by the name a user gives it.
    pub const NAMES: [(&'static str, Self); 2] = [("qemu", Self::Qemu), ("vng", Self::Vng)];
}

#[derive(Debug, Clone)]
/// How to boot a guest. [`Default`] gives 256 MiB, one CPU, QEMU with KVM
/// when it works, and the module loaded at boot.
pub struct BootOptions {
    /// QEMU with the testbed's image, or virtme-ng.
    pub backend: Backend,
    /// KVM, TCG, or KVM with TCG as the fallback.
    pub accel: AccelChoice,
    /// The plug-in's boot keys (`kulink.<key>=<value>`).
    pub extension: std::collections::BTreeMap<String, String>,
    /// The addresses on the rootless wire.
    pub wire: Wire,
    /// Guest memory in MiB.
    pub memory_mb: u32,
    /// Virtual CPUs (TCG runs them on host threads of their own).
    pub cpus: u32,
    /// Load the module under test before the agent reports ready; `false`
    /// leaves it in the image for [`Vm::load_module`].
    pub load_module: bool,
    /// Parameters of the modules loaded before it
    /// ([`Artifacts::loaded_before`]), in the same order (`name=value`,
    /// space-separated); missing ones are empty.
    pub loaded_before_params: Vec<String>,
    /// The test's own files in the image (QEMU backend).
    pub files: Vec<GuestFile>,
    /// busybox at /bin/busybox and /bin/sh (QEMU backend; the host's
    /// `busybox-static`).
    pub shell: bool,
    /// Kernel command-line arguments after the kernel's own
    /// (`kmemleak=on`, say).
    pub kernel_args: Vec<String>,
    /// Start from a saved guest of the same kind when there is one, and
    /// save this one for later guests when there is not (QEMU backend;
    /// `KULINK_SNAPSHOTS=off` turns it off everywhere). The guest is the
    /// same as a booted one at its Ready, with fresh randomness and the
    /// wall clock set; `false` always boots (timing a boot, say).
    pub restore: bool,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Qemu,
            accel: AccelChoice::Auto,
            extension: Default::default(),
            wire: Wire::default(),
            memory_mb: 256,
            cpus: 1,
            load_module: true,
            loaded_before_params: Vec::new(),
            files: Vec::new(),
            shell: false,
            kernel_args: Vec::new(),
            restore: true,
        }
    }
}

/// Decodes what subscriptions to `family` carried, in order: by `spec`
/// when there is one, as raw attributes otherwise. A lost message (the
/// agent's socket overran) is an error: a test cannot judge what it did
/// not see.
pub fn decode_deliveries(family: &str, spec: Option<&Spec>, deliveries: &[GenlDelivery]) -> Result<Vec<Message>> {
    deliveries
        .iter()
        .filter(|d| d.family == family)
        .map(|d| match &d.event {
            GenlEvent::Message(m) => Message::decode(spec, m.command, &m.attrs)
                .with_context(|| format!("{}/{}: undecodable message", d.family, d.group)),
            GenlEvent::Lost => bail!("{}/{}: the agent's socket overran and messages were lost", d.family, d.group),
        })
        .collect()
}

/// What the guest left behind once it stopped.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The whole kernel log (the serial console).
    pub console: String,
    /// Every Oops, BUG, WARN, KASAN or lockdep report in it.
    pub splats: Vec<Splat>,
}

impl Finished {
    /// The splat verdict: an error listing every splat with the end of the
    /// console, or `Ok` for a clean kernel log.
    pub fn check(&self) -> Result<()> {
        if self.splats.is_empty() {
            return Ok(());
        }
        let found: Vec<String> =
            self.splats.iter().map(|s| format!("{} (line {}): {}", s.kind, s.line, s.text)).collect();
        bail!(
            "the kernel log has {} splat(s):\n{}\n--- console tail ---\n{}",
            found.len(),
            found.join("\n"),
            tools::tail(&self.console, 60)
        )
    }
}

/// A running guest whose agent speaks the core protocol with extension `X`.
///
/// ```no_run
/// use std::time::Duration;
/// use kulink_testbed::artifacts::{AgentSource, Artifacts, KernelChoice, Recipe};
/// use kulink_testbed::genl::Spec;
/// use kulink_testbed::protocol::NoExtension;
/// use kulink_testbed::vm::{BootOptions, Vm};
/// use serde_json::json;
///
/// # fn main() -> anyhow::Result<()> {
/// let recipe = Recipe {
///     module_dir: Some("module".into()),
///     loaded_before: Vec::new(),
///     agent: AgentSource::bare(),
/// };
/// let artifacts = Artifacts::prepare(&KernelChoice::Listed(None), &recipe)?;
/// let mut vm: Vm<NoExtension> = Vm::boot(&artifacts, &BootOptions { shell: true, ..Default::default() })?;
/// let ran = vm.run(&["/bin/sh", "-c", "echo 3 > /sys/kernel/udpcount/every"], Duration::from_secs(10))?;
/// assert!(ran.success(), "{}", ran.stderr);
/// let spec = Spec::load("udpcount.yaml".as_ref())?;
/// let counts = vm.genl_call(&spec, "get", &json!({}), true)?; // a dump
/// println!("{} ports counted; kernel log:\n{}", counts.len(), vm.console());
/// vm.shutdown()?.check()?; // fails on any splat
/// # Ok(())
/// # }
/// ```
pub struct Vm<X: Extension> {
    child: Child,
    dir: PathBuf,
    link: AgentLink<X>,
    peer: Peer,
    ready: Ready<X>,
    accel: Accel,
    /// Host wall time from QEMU start to the agent's Ready (restored: to
    /// its answer to [`AgentCommand::Restored`]).
    wall_boot: Duration,
    /// Started from a saved guest rather than booted.
    restored: bool,
    wire: Wire,
    /// The module under test, as the guest sees its file.
    module: Option<String>,
    /// Keep `dir` when the guest goes: something failed.
    keep: bool,
}

enum BootError {
    /// The guest never became ready: a hung accelerator or a broken guest;
    /// its run directory, kept as evidence unless another try follows.
    NotReady(anyhow::Error, PathBuf),
    /// A saved guest did not come back (that was said); its run directory.
    NotRestored(PathBuf),
    Other(anyhow::Error),
}

impl<X: Extension> Vm<X> {
    /// Boots a guest from `art` and waits until its agent reports ready (or
    /// fails with the console's tail).
    pub fn boot(art: &Artifacts, opts: &BootOptions) -> Result<Self> {
        tools::QEMU.require()?;
        if opts.backend == Backend::Vng {
            tools::VNG.require()?;
            if opts.shell || !opts.files.is_empty() || !art.loaded_before.is_empty() {
                return Err(usage_error(
                    "files, a shell and modules loaded before the one under test go into kulink's own image: \
                     use the qemu backend (vng boots the host's root)",
                ));
            }
        }
        opts.files.iter().try_for_each(GuestFile::check)?;
        let busybox = if opts.shell { Some(tools::static_busybox()?) } else { None };
        let mut accel = first_accel(opts.accel);
        let mut restore = true;
        loop {
            match Self::try_boot(art, opts, busybox.as_deref(), accel, restore) {
                Ok(vm) => {
                    if accel == Accel::Kvm && opts.accel == AccelChoice::Auto {
                        record_kvm_verdict(true);
                    }
                    return Ok(vm);
                }
                Err(BootError::NotReady(e, dir)) if accel == Accel::Kvm && opts.accel == AccelChoice::Auto => {
                    progress::note(format!(
                        "the KVM guest was not ready within {}s; using TCG from now on ({e:#})",
                        KVM_WATCHDOG.as_secs()
                    ));
                    // The note above keeps what it showed; the TCG guest gets a directory of its own.
                    let _ = fs::remove_dir_all(dir);
                    record_kvm_verdict(false);
                    accel = Accel::Tcg;
                }
                Err(BootError::NotRestored(dir)) => {
                    // Said where it happened; this guest boots instead.
                    let _ = fs::remove_dir_all(dir);
                    restore = false;
                }
                Err(BootError::NotReady(e, _) | BootError::Other(e)) => return Err(e),
            }
        }
    }

    fn try_boot(
        art: &Artifacts,
        opts: &BootOptions,
        busybox: Option<&Path>,
        accel: Accel,
        restore: bool,
    ) -> Result<Self, BootError> {
        let other = BootError::Other;
        let dir = run_dir().map_err(other)?;
        let clock = if accel == Accel::Tcg { qemu::tcg_clock_args() } else { String::new() };
        let preload = preload_list(art, opts);
        let image =
            Image { agent: &art.agent, module: art.module.as_deref(), preload: &preload, files: &opts.files, busybox };
        let mut boot = BootConfig::new(opts.wire.guest_ip, opts.wire.prefix);
        boot.extension = opts.extension.clone();
        // vng boots the host's root: the module is where the host has it.
        let module_path = match opts.backend {
            Backend::Qemu => image.module_path(),
            Backend::Vng => art.module.as_ref().map(|m| m.display().to_string()),
        };
        boot.module = module_path.clone().filter(|_| opts.load_module);
        let cfg = QemuConfig {
            accel,
            kernel: art.kernel.bzimage.clone(),
            initrd: dir.join("initramfs.cpio"),
            boot,
            kernel_args: kernel_args(art, opts, &clock),
            memory_mb: opts.memory_mb,
            cpus: opts.cpus,
            console_log: dir.join(CONSOLE),
            control_socket: dir.join("ctl.sock"),
            wire_guest: dir.join("guest.sock"),
            wire_peer: dir.join("peer.sock"),
            wire: opts.wire,
        };
        let listener = UnixListener::bind(&cfg.control_socket).context("bind the control socket").map_err(other)?;
        let peer = Peer::bind(&cfg.wire_peer, &cfg.wire_guest, opts.wire).map_err(other)?;
        let log = fs::File::create(dir.join("qemu.log")).context("create qemu.log").map_err(other)?;
        let mut slot = None;
        let mut command = match opts.backend {
            Backend::Qemu => {
                image.write(&cfg.initrd).map_err(other)?;
                let mut args = qemu::all_args(&cfg).map_err(other)?;
                if restore && opts.restore && snapshot::enabled() {
                    if let Some((s, extra)) =
                        snapshot::open(&args, &dir, &cfg.initrd, &cfg.kernel, &cfg.console_log).map_err(other)?
                    {
                        args.extend(extra);
                        slot = Some(s);
                    }
                }
                let line: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                let _ = fs::write(dir.join("qemu.args"), line.join("\n"));
                let mut c = Command::new("qemu-system-x86_64");
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

        let started = Instant::now();
        let mut child =
            command.stdin(Stdio::null()).spawn().context("start the guest's virtual machine").map_err(other)?;

        let setup = (|| {
            let stream = accept(&listener, &mut child, &dir, Duration::from_secs(10))?;
            peer::wait_for_socket(&cfg.wire_guest, Duration::from_secs(10))?;
            AgentLink::new(stream, &dir.join(TRANSCRIPT))
        })();
        let mut link = match setup {
            Ok(link) => link,
            Err(e) => {
                process_tree::kill(&mut child);
                return Err(match slot {
                    Some(Use::Restore(slot, _)) => {
                        snapshot::restore_failed(slot, &e);
                        BootError::NotRestored(dir)
                    }
                    _ => other(e),
                });
            }
        };
        let (ready, restored) = match slot {
            Some(Use::Restore(slot, saved)) => match restored_ready(&mut link, &saved.ready) {
                Ok(ready) => (ready, true),
                Err(e) => {
                    process_tree::kill(&mut child);
                    snapshot::restore_failed(slot, &e);
                    return Err(BootError::NotRestored(dir));
                }
            },
            cold => {
                let ready = wait_ready(&mut link, &mut child, &cfg, &dir, accel)?;
                if let Some(Use::Save(slot)) = cold {
                    let json = serde_json::to_string(&ready).map_err(|e| other(e.into()))?;
                    snapshot::save(slot, &dir, &cfg.console_log, &json);
                }
                (ready, false)
            }
        };
        Ok(Self {
            child,
            dir,
            link,
            peer,
            ready,
            accel,
            wall_boot: started.elapsed(),
            restored,
            wire: opts.wire,
            module: module_path,
            keep: false,
        })
    }

    /// Sends one request to the agent and waits for its answer.
    pub fn request(&mut self, cmd: AgentCommand<X>) -> Result<Reply<X>> {
        self.request_within(cmd, REQUEST_TIMEOUT)
    }

    /// A request. When the agent did not answer (a kernel panic ends it
    /// too), the console's tail tells why and the evidence is kept.
    pub fn request_within(&mut self, cmd: AgentCommand<X>, timeout: Duration) -> Result<Reply<X>> {
        self.link.request(cmd, timeout).map_err(|e| {
            if e.is::<Refused>() {
                return e;
            }
            self.keep = true;
            self.explain(e)
        })
    }

    /// Says why the agent stopped answering: the kernel went down (a
    /// [`KernelFailure`]), QEMU ended, or the guest hangs; with the
    /// console's tail.
    fn explain(&mut self, error: anyhow::Error) -> anyhow::Error {
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

    /// This guest's directory: sockets, image, console log, transcript, plan.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps this guest's console log, agent transcript and plan when it
    /// goes (a failed run), and says where.
    pub fn keep_evidence(&mut self) {
        self.keep = true;
    }

    /// Records what is about to be sent, for the evidence of a failed run.
    pub fn note_plan(&self, description: &str) {
        let _ = fs::write(self.dir.join(PLAN), description);
    }

    /// A request for the agent's plug-in, answered by the plug-in.
    pub fn ext(&mut self, cmd: X::Command) -> Result<X::Reply> {
        self.ext_within(cmd, REQUEST_TIMEOUT)
    }

    /// [`Vm::ext`] for a request that takes longer than most.
    pub fn ext_within(&mut self, cmd: X::Command, timeout: Duration) -> Result<X::Reply> {
        match self.request_within(AgentCommand::Ext { ext: cmd }, timeout)? {
            Reply::Ext(reply) => Ok(reply),
            other => bail!("the plug-in's request was answered by the core: {other:?}"),
        }
    }

    /// Reads a file in the guest.
    pub fn read_file(&mut self, path: &str) -> Result<String> {
        match self.request(AgentCommand::ReadFile { path: path.into() })? {
            Reply::Text(text) => Ok(text),
            other => bail!("read {path} answered {other:?}"),
        }
    }

    /// The kernel's log buffer as the guest holds it: every message, at
    /// every level, each as `<level>[uptime] text` (see
    /// [`AgentCommand::KernelLog`]); [`Vm::console`] has only what passed
    /// the console's loglevel.
    pub fn kernel_log(&mut self) -> Result<String> {
        match self.request(AgentCommand::KernelLog)? {
            Reply::Text(text) => Ok(text),
            other => bail!("the kernel log was answered by {other:?}"),
        }
    }

    /// Writes a file in the guest (one write(), like `echo data > path`).
    pub fn write_file(&mut self, path: &str, data: &str) -> Result<()> {
        self.request(AgentCommand::WriteFile { path: path.into(), data: data.into() }).map(drop)
    }

    /// Runs a program in the guest (`argv[0]` is its path; no shell), killed
    /// once `timeout` passes; its exit status and output.
    pub fn run(&mut self, argv: &[&str], timeout: Duration) -> Result<Ran> {
        self.run_maybe_in(None, argv, timeout)
    }

    /// Runs a program as [`Vm::run`] does, in network and user namespaces
    /// of its own linked to the wire (see [`Netns`]; [`Wire::netns`] makes
    /// one). Each run gets fresh namespaces.
    pub fn run_in(&mut self, netns: Netns, argv: &[&str], timeout: Duration) -> Result<Ran> {
        self.run_maybe_in(Some(netns), argv, timeout)
    }

    fn run_maybe_in(&mut self, netns: Option<Netns>, argv: &[&str], timeout: Duration) -> Result<Ran> {
        self.check_netns(netns)?;
        let cmd = AgentCommand::Run {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            timeout_ms: timeout.as_millis() as u64,
            netns,
        };
        // The agent answers once the program is gone: allow for the kill.
        match self.request_within(cmd, timeout + REQUEST_TIMEOUT)? {
            Reply::Ran(ran) => Ok(ran),
            other => bail!("running {argv:?} was answered by {other:?}"),
        }
    }

    /// Starts a program in the guest and leaves it running (a consumer
    /// daemon, say): returns its pid once it has written its first line,
    /// which is its word that it is ready (see [`AgentCommand::Start`]).
    pub fn start(&mut self, argv: &[&str], ready_timeout: Duration) -> Result<(u32, String)> {
        self.start_maybe_in(None, argv, ready_timeout)
    }

    /// Starts a program as [`Vm::start`] does, in network and user
    /// namespaces of its own linked to the wire (see [`Vm::run_in`]).
    pub fn start_in(&mut self, netns: Netns, argv: &[&str], ready_timeout: Duration) -> Result<(u32, String)> {
        self.start_maybe_in(Some(netns), argv, ready_timeout)
    }

    fn start_maybe_in(
        &mut self,
        netns: Option<Netns>,
        argv: &[&str],
        ready_timeout: Duration,
    ) -> Result<(u32, String)> {
        self.check_netns(netns)?;
        let cmd = AgentCommand::Start {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ready_timeout_ms: ready_timeout.as_millis() as u64,
            netns,
        };
        match self.request_within(cmd, ready_timeout + REQUEST_TIMEOUT)? {
            Reply::Started { pid, first_line } => Ok((pid, first_line)),
            other => bail!("starting {argv:?} was answered by {other:?}"),
        }
    }

    fn check_netns(&self, netns: Option<Netns>) -> Result<()> {
        match netns {
            Some(netns) => self.wire.check_netns(&netns).map_err(usage_error),
            None => Ok(()),
        }
    }

    /// What a program [`Vm::start`] began has written to stdout so far.
    pub fn output(&mut self, pid: u32) -> Result<String> {
        match self.request(AgentCommand::Output { pid })? {
            Reply::Text(text) => Ok(text),
            other => bail!("the output of program {pid} was answered by {other:?}"),
        }
    }

    /// Sends `signal` to a program [`Vm::start`] began (`SIGKILL`: it
    /// crashes) and returns how it ended and all it wrote.
    pub fn stop(&mut self, pid: u32, signal: i32) -> Result<Ran> {
        // The agent allows 10 s before it kills the program's group.
        match self.request_within(AgentCommand::Stop { pid, signal }, Duration::from_secs(10) + REQUEST_TIMEOUT)? {
            Reply::Ran(ran) => Ok(ran),
            other => bail!("stopping program {pid} was answered by {other:?}"),
        }
    }

    /// Loads the module under test (booted with
    /// [`BootOptions::load_module`] off, or unloaded) with these parameters
    /// (`name=value`, space-separated). The kernel's refusal is an error
    /// carrying its errno.
    pub fn load_module(&mut self, params: &str) -> Result<()> {
        let path = self.module.clone().context("this guest was booted without a module")?;
        self.request(AgentCommand::LoadModule { path, params: params.into() }).map(drop)
    }

    /// Unloads the module under test (`delete_module`, never waiting for
    /// its users: a module in use is an error carrying EBUSY or EAGAIN).
    pub fn unload_module(&mut self) -> Result<()> {
        let name = self.module_name().context("this guest was booted without a module")?;
        self.request(AgentCommand::UnloadModule { name }).map(drop)
    }

    /// The module under test's name, as the kernel knows it: its file's
    /// name without `.ko`, dashes as underscores.
    pub fn module_name(&self) -> Option<String> {
        let file = self.module.as_deref()?.rsplit('/').next()?;
        Some(file.strip_suffix(".ko").unwrap_or(file).replace('-', "_"))
    }

    /// Joins multicast group `group` of generic netlink family `family`
    /// (by name, as the module registered them). What the group carries
    /// from now on is recorded: see [`Vm::genl_deliveries`].
    pub fn genl_subscribe(&mut self, family: &str, group: &str) -> Result<()> {
        self.request(AgentCommand::GenlSubscribe { family: family.into(), group: group.into() }).map(drop)
    }

    /// Sends a generic netlink request; the messages that answered it (a
    /// refusal is an error carrying the kernel's errno).
    pub fn genl_request(&mut self, request: GenlRequest) -> Result<Vec<GenlMessage>> {
        match self.request(AgentCommand::GenlRequest(request))? {
            Reply::Genl(messages) => Ok(messages),
            other => bail!("a generic netlink request was answered by {other:?}"),
        }
    }

    /// Sends raw messages to a generic netlink family one by one, on a
    /// socket of their own, and says what answered each (see
    /// [`AgentCommand::GenlBurst`]). Meant for malformed messages: a fuzzer.
    pub fn genl_burst(&mut self, burst: GenlBurst) -> Result<Vec<GenlAnswer>> {
        let count = burst.messages.len();
        match self.request_within(AgentCommand::GenlBurst(burst), burst_timeout(count))? {
            Reply::GenlBurst(answers) if answers.len() == count => Ok(answers),
            other => bail!("a burst of {count} generic netlink messages was answered by {other:?}"),
        }
    }

    /// Makes system calls on a device node in the guest, in a helper
    /// process, and says what each returned (see
    /// [`AgentCommand::DeviceBurst`]). Meant for hostile arguments: a fuzzer.
    pub fn device_burst(&mut self, burst: DeviceBurst) -> Result<DeviceAnswers> {
        let count = burst.calls.len();
        match self.request_within(AgentCommand::DeviceBurst(burst), burst_timeout(count))? {
            Reply::DeviceBurst(answers) if answers.results.len() <= count => Ok(answers),
            other => bail!("a burst of {count} calls on a device was answered by {other:?}"),
        }
    }

    /// What the generic netlink subscriptions carried so far, in order.
    pub fn genl_deliveries(&self) -> &[GenlDelivery] {
        self.link.genl()
    }

    /// Records what the subscriptions carry until `done` holds for it or
    /// the timeout passes; says whether it held.
    pub fn collect_genl_until(&mut self, timeout: Duration, done: impl FnMut(&[GenlDelivery]) -> bool) -> Result<bool> {
        self.link.collect_genl_until(timeout, done)
    }

    /// The messages the subscriptions to `spec`'s family carried so far,
    /// decoded by it (see [`decode_deliveries`]).
    pub fn genl_messages(&self, spec: &Spec) -> Result<Vec<Message>> {
        decode_deliveries(&spec.name, Some(spec), self.genl_deliveries())
    }

    /// Sends operation `op` of `spec`'s family with these attributes (a
    /// JSON object, see [`Spec::encode`]) and decodes the answer.
    pub fn genl_call(&mut self, spec: &Spec, op: &str, attrs: &serde_json::Value, dump: bool) -> Result<Vec<Message>> {
        let (command, attrs) = spec.encode(op, attrs).map_err(|e| usage_error(e.to_string()))?;
        let request = GenlRequest { family: spec.name.clone(), command, version: spec.version, dump, attrs };
        self.genl_request(request)?
            .iter()
            .map(|m| {
                Message::decode(Some(spec), m.command, &m.attrs).with_context(|| format!("{} {op} reply", spec.name))
            })
            .collect()
    }

    /// Has the guest ping 127.0.0.1 `count` times with echo id `id`.
    pub fn ping_loopback(&mut self, id: u16, count: u16) -> Result<()> {
        self.request(AgentCommand::PingLoopback { id, count }).map(drop)
    }

    /// Sends one Ethernet frame to the guest's NIC.
    pub fn send_frame(&self, frame: &[u8]) -> Result<()> {
        self.peer.send(frame)
    }

    /// Replays captured frames to the guest (see [`crate::pcap::replay`]):
    /// when this returns, the guest has taken every one of them in.
    pub fn replay(&self, frames: &[Vec<u8>], gap: Duration) -> Result<()> {
        crate::pcap::replay(&self.peer, &self.wire, frames, gap)
    }

    /// The host end of the wire: what the guest sent, ARP it was answered.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// A handle that sends frames to the guest from another thread (the
    /// traffic under a module's load and unload cycles, say).
    pub fn frame_sender(&self) -> FrameSender {
        self.peer.sender()
    }

    /// The addresses on the wire.
    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// What the agent reported once it was ready.
    pub fn ready(&self) -> &Ready<X> {
        &self.ready
    }

    /// The accelerator this guest got.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// Host wall time from QEMU start to the agent's Ready, or for a
    /// restored guest to its first answer.
    pub fn wall_boot(&self) -> Duration {
        self.wall_boot
    }

    /// Whether this guest started from a saved one (see
    /// [`BootOptions::restore`]) rather than booting.
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Records the plug-in's messages until `done` holds for them or the
    /// timeout passes; says whether it held.
    pub fn collect_until(&mut self, timeout: Duration, done: impl FnMut(&[X::Message]) -> bool) -> Result<bool> {
        self.link.collect_until(timeout, done)
    }

    /// The plug-in's messages recorded so far.
    pub fn messages(&self) -> &[X::Message] {
        self.link.messages()
    }

    /// Removes and returns the plug-in's messages recorded so far for
    /// which `wanted` holds; keeps the others, in order.
    pub fn take_messages(&mut self, wanted: impl FnMut(&X::Message) -> bool) -> Vec<X::Message> {
        self.link.take_messages(wanted)
    }

    /// Problems the agent survived, and messages nobody asked for.
    pub fn warnings(&self) -> &[String] {
        self.link.warnings()
    }

    /// The kernel log so far: the guest's console, as QEMU wrote it.
    pub fn console(&self) -> String {
        fs::read_to_string(self.dir.join(CONSOLE)).unwrap_or_default()
    }

    /// Powers the guest off and scans its console for splats.
    pub fn shutdown(mut self) -> Result<Finished> {
        self.power_off()
    }

    /// [`Vm::shutdown`], keeping the `Vm` (and with it the evidence) until
    /// the caller has judged the run.
    pub fn power_off(&mut self) -> Result<Finished> {
        let asked = self.request(AgentCommand::Shutdown);
        let deadline = Instant::now() + Duration::from_secs(15);
        let exited = loop {
            match self.child.try_wait()? {
                Some(_) => break true,
                // A kernel without ACPI (virtme-ng's init powers off) halts
                // instead: the guest is done, QEMU just does not notice.
                None if self.console().contains("reboot: System halted") => {
                    process_tree::kill(&mut self.child);
                    break true;
                }
                None if Instant::now() >= deadline => break false,
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let console = self.console();
        if let Err(e) = asked {
            self.keep = true;
            bail!("shutdown failed: {e:#}\n--- console tail ---\n{}", tools::tail(&console, 30));
        }
        if !exited {
            self.keep = true;
            bail!("the guest did not power off\n--- console tail ---\n{}", tools::tail(&console, 30));
        }
        let splats = splat::scan(&console);
        self.keep |= !splats.is_empty();
        Ok(Finished { console, splats })
    }
}

impl<X: Extension> Drop for Vm<X> {
    fn drop(&mut self) {
        process_tree::kill(&mut self.child);
        if self.keep || std::thread::panicking() {
            let kept: Vec<&str> =
                [CONSOLE, TRANSCRIPT, PLAN].into_iter().filter(|f| self.dir.join(f).exists()).collect();
            progress::note(format!(
                "the evidence of a failed run is in {}: {} ({TRANSCRIPT}: the agent's messages)",
                self.dir.display(),
                kept.join(", ")
            ));
        } else if std::env::var_os("KULINK_KEEP").is_some() {
            progress::note(format!("kept {}", self.dir.display()));
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh directory for one guest's sockets, image and logs. Unix socket
/// paths are short-limited, so it lives under the temp dir, not the cache.
/// What the agent loads before the module under test: the kernel's own
/// drivers, then the test's modules with their parameters.
fn preload_list(art: &Artifacts, opts: &BootOptions) -> Vec<(PathBuf, String)> {
    let drivers = art.kernel.preload.iter().map(|ko| (ko.clone(), String::new()));
    let params = opts.loaded_before_params.iter().cloned().chain(std::iter::repeat(String::new()));
    drivers.chain(art.loaded_before.iter().cloned().zip(params)).collect()
}

/// Waits for a booting guest's Ready; a guest that never gets there is
/// explained by its console: a panic, or what the agent said.
fn wait_ready<X: Extension>(
    link: &mut AgentLink<X>,
    child: &mut Child,
    cfg: &QemuConfig,
    dir: &Path,
    accel: Accel,
) -> Result<Ready<X>, BootError> {
    let timeout = if accel == Accel::Kvm { KVM_WATCHDOG } else { TCG_BOOT_TIMEOUT };
    let result = link.ready(timeout);
    if let Ok(Some(ready)) = result {
        return Ok(ready);
    }
    // A kernel that panics on the way up (the module under test at load,
    // say) lets QEMU go by itself: give it a moment.
    if result.is_err() {
        exit_within(child, PANIC_GRACE);
    }
    process_tree::kill(child);
    let console = fs::read_to_string(&cfg.console_log).unwrap_or_default();
    if let Some(panic) = panic_line(&console) {
        return Err(BootError::Other(anyhow::Error::new(KernelFailure(format!(
            "guest ({}) did not come up: the kernel panicked: {panic}\n--- console tail ({}) ---\n{}",
            accel.name(),
            cfg.console_log.display(),
            tools::tail(&console, 30)
        )))));
    }
    let why = match result {
        Err(e) => format!("{e:#}"),
        _ => format!("not ready within {}s", timeout.as_secs()),
    };
    let error = anyhow::anyhow!(
        "guest ({}) did not come up: {why}\n--- console tail ({}) ---\n{}",
        accel.name(),
        cfg.console_log.display(),
        console_tail(dir, 30)
    );
    Err(BootError::NotReady(error, dir.to_path_buf()))
}

/// How long a restored guest may take to answer: loading the saved file
/// and the first request.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(30);

/// Tells a restored guest's agent so (fresh randomness, the wall clock);
/// its answer is the guest's word that it is back. Its Ready is the saved
/// one, written to the transcript as the agent sent it then.
fn restored_ready<X: Extension>(link: &mut AgentLink<X>, saved: &str) -> Result<Ready<X>> {
    let ready: Ready<X> = serde_json::from_str(saved).context("the saved guest's Ready")?;
    link.note_ready(&ready);
    let mut seed = vec![0u8; 32];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, &mut seed).context("read /dev/urandom")?;
    let realtime_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    link.request(AgentCommand::Restored { seed, realtime_ns }, RESTORE_TIMEOUT)?;
    Ok(ready)
}

/// The kernel's arguments after the agent's: the TSC's rate, the kernel's
/// own (its image's too, unless vng boots it), then the test's.
fn kernel_args(art: &Artifacts, opts: &BootOptions, clock: &str) -> String {
    let image = if opts.backend == Backend::Qemu { art.kernel.image_cmdline.as_str() } else { "" };
    let args = [clock, &art.kernel.cmdline, image].into_iter().chain(opts.kernel_args.iter().map(String::as_str));
    args.flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

/// How long a guest whose agent went silent gets to finish panicking.
const PANIC_GRACE: Duration = Duration::from_secs(5);

/// How QEMU ended, if it does within `grace`.
fn exit_within(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait().ok().flatten() {
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            ended => return ended,
        }
    }
}

/// The console line of a kernel panic, if the guest had one.
fn panic_line(console: &str) -> Option<String> {
    splat::scan(console).into_iter().find(|s| s.kind == "panic").map(|s| s.text)
}

fn run_dir() -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kulink-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn console_tail(dir: &Path, lines: usize) -> String {
    let console = fs::read_to_string(dir.join(CONSOLE)).unwrap_or_default();
    let qemu = fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
    let mut s = tools::tail(&console, lines);
    if !qemu.trim().is_empty() {
        s += &format!("\n--- qemu ---\n{}", tools::tail(&qemu, 10));
    }
    s
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
