//! One guest: QEMU with the testbed's initramfs, its wire, its control port.
//! The guest's life (options, accessors, power-off) is here; the rooms
//! below hold one job each: `boot` (accelerator fallback, saved guests,
//! backends), `requests` to the agent, `genl` decoding, `evidence`,
//! which explains a failure with the console, `kept`, where a failed
//! run's evidence goes, and `interactive`: a person's shell and gdb.

mod boot;
mod evidence;
mod genl;
mod interactive;
mod kept;
mod requests;
mod test_setup;

use crate::arch::Arch;
use kulink_genl::byte_order::Order;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Result};
use kulink_protocol::{Command as AgentCommand, Extension, Ready};

use crate::accel::{Accel, AccelChoice};
use crate::agent_link::AgentLink;
use crate::boot_steps::BootStep;
use crate::coverage::{self, FileCoverage};
use crate::frames::Wire;
use crate::initramfs::GuestFile;
use crate::known_bugs::{today, Accepted, Judged, KnownBugs};
use crate::peer::{FrameSender, Peer};
use crate::snapshot;
use crate::splat::{self, Splat};
use crate::traces::ModuleFile;
use crate::{process_tree, progress, tools};

pub use genl::{decode_deliveries, netlink_records};
pub use kept::{evidence_root, newest_evidence, Evidence, KEPT_RUNS};

/// Whether guests may start from saved ones here: not when
/// `KULINK_SNAPSHOTS=off` (see [`BootOptions::restore`]).
pub fn snapshots_enabled() -> bool {
    snapshot::enabled()
}

/// The variable that turns saved guests off (`KULINK_SNAPSHOTS=off`).
pub const SNAPSHOTS_ENV: &str = snapshot::ENV;

/// How a guest started, with the boot figure that belongs to that start:
/// `"started": "booted"` and `boot_ms`, or `"restored"` with `saved_at`
/// and `saved_boot_ms`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "started", rename_all = "lowercase")]
pub enum Started {
    /// It booted: the figure is this run's.
    Booted {
        /// Guest uptime when the agent was ready.
        boot_ms: u64,
    },
    /// It came from a saved guest: the figure is the saved boot's.
    Restored {
        /// When the saved guest was saved (RFC 3339, UTC).
        saved_at: String,
        /// Guest uptime when the agent had booted, in the boot that was
        /// saved.
        saved_boot_ms: u64,
    },
}

impl Started {
    /// A restored guest's, saved at `saved_at` from a boot whose agent
    /// had booted at `boot_ms` guest uptime.
    pub fn restored(saved_at: SystemTime, boot_ms: u64) -> Self {
        Self::Restored { saved_at: humantime::format_rfc3339_seconds(saved_at).to_string(), saved_boot_ms: boot_ms }
    }
}

/// Files a guest's directory keeps: what evidence a failed run leaves.
pub const CONSOLE: &str = "console.log";
/// The kernel's log at every level, as the agent copied it.
pub const KERNEL_LOG: &str = "kernel.log";
/// The agent's messages and the host's requests, as JSON lines.
pub const TRANSCRIPT: &str = "agent.jsonl";
/// What frames a test was about to send.
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
    /// ([`Artifacts::loaded_before`](crate::artifacts::Artifacts::loaded_before)), in the same order (`name=value`,
    /// space-separated); missing ones are empty.
    pub loaded_before_params: Vec<String>,
    /// The test's own files in the image (QEMU backend).
    pub files: Vec<GuestFile>,
    /// busybox at /bin/busybox with a link for each applet (QEMU backend;
    /// the host's `busybox-static`).
    pub shell: bool,
    /// A port for a person's shell ([`Vm::run_shell`]; needs `shell`).
    pub interactive: bool,
    /// QEMU's gdb stub on a TCP port of the host's loopback
    /// ([`Vm::gdb_command`]).
    pub gdb: bool,
    /// Kernel command-line arguments after the kernel's own
    /// (`kmemleak=on`, say).
    pub kernel_args: Vec<String>,
    /// Start from a saved guest of the same kind when there is one, and
    /// save this one for later guests when there is not (QEMU backend;
    /// `KULINK_SNAPSHOTS=off` turns it off everywhere). The guest is the
    /// same as a booted one at its Ready, with fresh randomness and the
    /// wall clock set; `false` always boots (timing a boot, say).
    pub restore: bool,
    /// Kernel bugs known not to be the module's, accepted until their
    /// entries expire (see [`known_bugs`](crate::known_bugs)).
    pub known_bugs: KnownBugs,
    /// A directory whose lcov tracefile the modules' coverage is added to
    /// before the guest powers off (modules built for coverage: see
    /// [`Recipe::coverage`](crate::artifacts::Recipe::coverage)).
    pub coverage: Option<PathBuf>,
    /// The host's root file system, read-only, at
    /// [`HOST_ROOT_DIR`](kulink_protocol::HOST_ROOT_DIR), its `/usr` over
    /// the image's (QEMU backend; the kernel needs 9p: see
    /// [`Recipe::host_root`](crate::artifacts::Recipe::host_root)). Mounted
    /// once the guest is ready or restored, so such a guest is saved too.
    pub host_root: bool,
    /// One step of kulink's boot tuning left out, to measure what it saves
    /// (`kulink bench boot --steps`).
    pub without_step: Option<BootStep>,
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
            interactive: false,
            gdb: false,
            kernel_args: Vec::new(),
            restore: true,
            known_bugs: KnownBugs::default(),
            coverage: None,
            host_root: false,
            without_step: None,
        }
    }
}

/// What the guest left behind once it stopped.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The whole kernel log (the serial console).
    pub console: String,
    /// Every Oops, BUG, WARN, KASAN or lockdep report in it, but those
    /// accepted as known kernel bugs.
    pub splats: Vec<Splat>,
    /// The splats accepted as known kernel bugs.
    pub accepted: Vec<Accepted>,
    /// Known-bug entries that matched a splat after they expired.
    pub expired: Vec<String>,
    /// This run's coverage of the modules' sources, by file, when
    /// [`BootOptions::coverage`] asked for it.
    pub coverage: Vec<FileCoverage>,
}

impl Finished {
    /// The splat verdict: an error listing every splat with the end of the
    /// console, or `Ok` for a clean kernel log.
    pub fn check(&self) -> Result<()> {
        if self.splats.is_empty() {
            return Ok(());
        }
        let found: Vec<String> = self.splats.iter().map(ToString::to_string).chain(self.expired.clone()).collect();
        bail!(
            "the kernel log has {} splat(s):\n{}\n--- console tail ---\n{}",
            self.splats.len(),
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
///     kconfig: Default::default(),
///     needs: Vec::new(),
///     coverage: false,
///     host_root: false,
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
    /// The guest's architecture: the byte order of what it sends.
    arch: Arch,
    /// Host wall time from QEMU start to the agent's Ready, restored or
    /// not (a restored guest loads the test's modules after the restore).
    wall_boot: Duration,
    /// When the saved guest it started from was saved; `None` if it booted.
    saved_at: Option<SystemTime>,
    /// How it started, with the boot figure of that start.
    started: Started,
    wire: Wire,
    /// The module under test, as the guest sees its file.
    module: Option<String>,
    /// The test's module files on the host, to read their reports' source
    /// lines from.
    module_files: Vec<ModuleFile>,
    /// The kernel's id (a variant's too), for known bugs.
    kernel_id: String,
    /// The known kernel bugs its splats are judged against.
    known_bugs: KnownBugs,
    /// Where the modules' coverage goes before power-off.
    coverage: Option<PathBuf>,
    /// Keep `dir`'s evidence when the guest goes: something failed.
    keep: bool,
    /// Where it is kept.
    evidence: PathBuf,
    /// QEMU's end of the shell port, until [`Vm::open_shell`] takes it.
    shell: Option<std::os::unix::net::UnixStream>,
    /// The host's TCP port of QEMU's gdb stub.
    gdb_port: Option<u16>,
    /// The kernel's image with its symbols, for gdb.
    vmlinux: PathBuf,
}

impl<X: Extension> Vm<X> {
    /// The guest's architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The byte order of the guest's netlink: its headers and host-order
    /// values (see [`kulink_genl::byte_order`]).
    pub fn byte_order(&self) -> Order {
        if self.arch.is_big_endian() {
            Order::Big
        } else {
            Order::Little
        }
    }

    /// This guest's directory: sockets, image, console log, transcript, plan.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps this guest's console log, agent transcript and plan when it
    /// goes (a failed run), in [`Vm::evidence_dir`], and says where.
    pub fn keep_evidence(&mut self) {
        self.keep = true;
    }

    /// Where this guest's evidence goes if it is kept: a directory of its
    /// own under the cache, made when the guest goes.
    pub fn evidence_dir(&self) -> &Path {
        &self.evidence
    }

    /// Records what is about to be sent, for the evidence of a failed run.
    pub fn note_plan(&self, description: &str) {
        let _ = fs::write(self.dir.join(PLAN), description);
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

    /// Host wall time from QEMU start to the agent's Ready, restored or
    /// not.
    pub fn wall_boot(&self) -> Duration {
        self.wall_boot
    }

    /// How this guest started: booted, with its figure, or restored, with
    /// the figure of the boot that was saved.
    pub fn started(&self) -> &Started {
        &self.started
    }

    /// Whether this guest started from a saved one (see
    /// [`BootOptions::restore`]) rather than booting.
    pub fn restored(&self) -> bool {
        self.saved_at.is_some()
    }

    /// When the saved guest this one started from was saved; `None` if
    /// this guest booted.
    pub fn saved_at(&self) -> Option<SystemTime> {
        self.saved_at
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
    /// the caller has judged the run. A guest that already went down in a
    /// splat is judged by its console.
    pub fn power_off(&mut self) -> Result<Finished> {
        // After an Oops the agent may be stuck behind the task that died:
        // its console is the verdict, so it is not waited for long.
        let oopsed = splat::scan(&self.console()).iter().any(Splat::is_fault);
        // Counters are read while the modules still run; after an Oops the
        // run has failed and its figures would count for nothing.
        let coverage = match &self.coverage {
            Some(dir) if !oopsed => self.take_coverage(&dir.clone()),
            _ => Ok(Vec::new()),
        };
        let asked = if oopsed {
            self.request_within(AgentCommand::Shutdown, Duration::from_secs(3))
        } else {
            self.request(AgentCommand::Shutdown)
        };
        let wait = if oopsed && asked.is_err() { Duration::ZERO } else { Duration::from_secs(15) };
        let deadline = Instant::now() + wait;
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
        let full_log = || fs::read_to_string(self.dir.join(KERNEL_LOG)).unwrap_or_default();
        let splats = splat::scan_console_and_log(&console, full_log, &self.module_files);
        let Judged { failing: splats, accepted, expired } = self.known_bugs.judge(splats, &self.kernel_id, &today());
        for known in &accepted {
            progress::note(format!(
                "accepted as a known kernel bug until {} ({}): {}",
                known.until, known.reason, known.splat
            ));
        }
        self.keep |= !splats.is_empty() || asked.is_err() || !exited;
        let finished = Finished { console, splats, accepted, expired, coverage: Vec::new() };
        // A guest that went down in a splat (the agent, PID 1, killed in an
        // Oops, say) is judged by its console: the splats are the verdict.
        if !finished.splats.is_empty() {
            return Ok(finished);
        }
        let console = &finished.console;
        if let Err(e) = asked {
            bail!("shutdown failed: {e:#}\n--- console tail ---\n{}", tools::tail(console, 30));
        }
        if !exited {
            bail!("the guest did not power off\n--- console tail ---\n{}", tools::tail(console, 30));
        }
        Ok(Finished { coverage: coverage?, ..finished })
    }

    /// Reads the counters of every module of the test, adds them to the
    /// tracefile in `dir`, and returns this run's figures.
    fn take_coverage(&mut self, dir: &Path) -> Result<Vec<FileCoverage>> {
        let mut run = lcov::Report::new();
        for (n, module) in self.module_files.clone().iter().enumerate() {
            let build_dir = module.ko.parent().expect("a module file has a directory");
            // A module the test never loaded has no counters.
            let counters = self.read_files(&coverage::guest_dir(build_dir), coverage::COUNTERS)?;
            if !counters.is_empty() {
                run.merge_lossy(coverage::capture(module, &counters, &self.dir.join(format!("coverage-{n}")))?);
            }
        }
        let figures = coverage::summary(&run);
        coverage::merge_into(dir, run)?;
        Ok(figures)
    }
}

impl<X: Extension> Drop for Vm<X> {
    fn drop(&mut self) {
        process_tree::kill(&mut self.child);
        if self.keep || std::thread::panicking() {
            let kept: Vec<&str> =
                [CONSOLE, KERNEL_LOG, TRANSCRIPT, PLAN].into_iter().filter(|f| self.dir.join(f).exists()).collect();
            kept::note_modules(&self.dir, &self.module_files);
            match kept::keep(&self.dir, &self.evidence) {
                Ok(()) => progress::note(format!(
                    "the evidence of a failed run is in {}: {} ({TRANSCRIPT}: the agent's messages)",
                    self.evidence.display(),
                    kept.join(", ")
                )),
                Err(e) => progress::note(format!(
                    "the evidence of a failed run is in {} ({e:#} in {})",
                    self.dir.display(),
                    self.evidence.display()
                )),
            }
        } else if std::env::var_os("KULINK_KEEP").is_some() {
            progress::note(format!("kept {}", self.dir.display()));
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
