//! A guest for your own module: which kernel, which module and how it is
//! loaded, what else goes into the image, and how big the machine is.
//! `kulink test` boots its guests this way, and so can a test in any crate.
//!
//! ```no_run
//! use std::time::Duration;
//! use kulink::GuestBuilder;
//!
//! # fn main() -> anyhow::Result<()> {
//! let mut guest = GuestBuilder::kernel_id("6.1")
//!     .module("examples/udpcount/module")
//!     .param("every", "2")
//!     .shell()
//!     .boot()?;
//! let ran = guest.run(&["/bin/sh", "-c", "cat /sys/kernel/udpcount/every"], Duration::from_secs(10))?;
//! assert_eq!(ran.stdout.trim(), "2");
//! guest.shutdown()?.check()?;
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;
use std::path::PathBuf;

use anyhow::Result;
use kulink_protocol::{Extension, NoExtension, MODULE_PARAM_KEY};
use kulink_testbed::accel::AccelChoice;
use kulink_testbed::artifacts::{AgentSource, Artifacts, KernelChoice, Recipe};
#[cfg(doc)]
use kulink_testbed::coverage;
use kulink_testbed::initramfs::GuestFile;
use kulink_testbed::known_bugs::KnownBugs;
use kulink_testbed::usage_error;
use kulink_testbed::vm::{Backend, BootOptions, Vm};
use kulink_testbed::{kconfig, tools};

/// A running guest with a module under test and the core agent: files,
/// programs, modules, generic netlink, frames, the kernel log (see
/// [`Vm`]).
pub type ModuleGuest = Vm<NoExtension>;

/// What to boot: a kernel, optionally a module built against it, and the
/// machine around them. Every setter checks nothing; [`GuestBuilder::check`]
/// (called by [`GuestBuilder::boot`]) names what is wrong before anything
/// is built.
///
/// `X` is the agent's protocol extension: none ([`NoExtension`], the
/// core agent) unless [`GuestBuilder::plugin`] names an agent with a
/// plug-in of its own, as kulink.ko's suite does.
#[derive(Debug, Clone)]
pub struct GuestBuilder<X: Extension = NoExtension> {
    kernel: KernelChoice,
    /// In load order; the last is the module under test.
    modules: Vec<ModuleDir>,
    /// Parameters given before any module: a mistake [`GuestBuilder::check`]
    /// names.
    orphan_params: Vec<(String, String)>,
    agent: AgentSource,
    /// Host programs to bring with their libraries, as given.
    programs: Vec<PathBuf>,
    /// Kernel options on top of the kernel's own, as given: an option
    /// line or a fragment file.
    kconfig: Vec<String>,
    /// Kernel options the guest needs, with what needs them.
    needs: Vec<(String, String)>,
    known_bugs: Vec<PathBuf>,
    options: BootOptions,
    extension: PhantomData<X>,
}

impl GuestBuilder {
    /// A guest on this kernel, with no module yet, and the core agent.
    pub fn new(kernel: KernelChoice) -> Self {
        Self {
            kernel,
            modules: Vec::new(),
            orphan_params: Vec::new(),
            agent: AgentSource::bare(),
            programs: Vec::new(),
            kconfig: Vec::new(),
            needs: Vec::new(),
            known_bugs: Vec::new(),
            options: BootOptions { coverage: coverage_from_env(), ..BootOptions::default() },
            extension: PhantomData,
        }
    }

    /// A guest on a kernel of the catalog (kulink's, or `KULINK_CATALOG`).
    pub fn kernel_id(id: &str) -> Self {
        Self::new(KernelChoice::Listed(Some(id.to_owned())))
    }
}

impl<X: Extension> GuestBuilder<X> {
    /// An agent whose plug-in speaks extension `Y`: `package` is a
    /// package of the caller's own cargo workspace (the one whose test or
    /// program runs, found from `CARGO_MANIFEST_DIR`, else the current
    /// directory): a binary whose `main` calls `kulink_agent_core::serve`
    /// with its plug-in.
    /// Its boot keys are set with [`GuestBuilder::boot_key`].
    pub fn plugin<Y: Extension>(self, package: &str) -> GuestBuilder<Y> {
        let caller = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
        self.plugin_in(caller, package)
    }

    /// [`GuestBuilder::plugin`] from the workspace that holds `workspace`
    /// (any directory in it).
    pub fn plugin_in<Y: Extension>(self, workspace: impl Into<PathBuf>, package: &str) -> GuestBuilder<Y> {
        GuestBuilder {
            kernel: self.kernel,
            modules: self.modules,
            orphan_params: self.orphan_params,
            agent: AgentSource { workspace: workspace.into(), package: package.to_owned() },
            programs: self.programs,
            kconfig: self.kconfig,
            needs: self.needs,
            known_bugs: self.known_bugs,
            options: self.options,
            extension: PhantomData,
        }
    }

    /// A key the agent's plug-in reads at boot (`kulink.<key>=<value>` on
    /// the kernel command line).
    pub fn boot_key(mut self, key: &str, value: &str) -> Self {
        self.options.extension.insert(key.to_owned(), value.to_owned());
        self
    }

    /// QEMU with kulink's own image (the default), or virtme-ng.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.options.backend = backend;
        self
    }

    /// A module: a directory whose Kbuild (or Makefile) builds one `.ko`.
    /// It is built against the kernel, cached by the hash of its sources,
    /// and loaded before the agent reports ready. Given more than once,
    /// the modules load in the order given and the last is the module
    /// under test (the one [`Vm::load_module`] and [`Vm::unload_module`]
    /// act on); each is built with the symbols the ones before it export.
    ///
    /// ```no_run
    /// # fn main() -> anyhow::Result<()> {
    /// let guest = kulink::GuestBuilder::kernel_id("6.1")
    ///     .module("provider").param("base", "40")   // exports a symbol
    ///     .module("consumer").param("addend", "2")  // uses it
    ///     .boot()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn module(mut self, dir: impl Into<PathBuf>) -> Self {
        self.modules.push(ModuleDir { dir: dir.into(), params: Vec::new() });
        self
    }

    /// A parameter of the module given last, at load time (`name=value`).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        let param = (name.to_owned(), value.to_owned());
        match self.modules.last_mut() {
            Some(module) => module.params.push(param),
            None => self.orphan_params.push(param),
        }
        self
    }

    /// `false` puts the module under test in the image unloaded, for
    /// [`Vm::load_module`]; its parameters of [`GuestBuilder::param`] then
    /// do not apply. Modules before it still load at boot.
    pub fn load_at_boot(mut self, load: bool) -> Self {
        self.options.load_module = load;
        self
    }

    /// A host file copied into the image at `guest` (an absolute path).
    pub fn file(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.options.files.push(GuestFile { host: host.into(), guest: guest.to_owned() });
        self
    }

    /// A dynamically linked host program (a name on `PATH`, or a path)
    /// with the shared libraries and the loader it needs, each at its host
    /// path in the image: a tool such as `nft` runs in the guest as on the
    /// host.
    pub fn host_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.programs.push(program.into());
        self
    }

    /// A file of kernel bugs known not to be the module's (repeatable):
    /// a splat an entry matches is accepted, and told so, until the
    /// entry's date; after it the splat fails the run again. The format is
    /// [`known_bugs`](kulink_testbed::known_bugs)'s; a file named
    /// [`KNOWN_BUGS_FILE`] in a module's directory is read too.
    pub fn known_bugs(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_bugs.push(file.into());
        self
    }

    /// Kernel options on top of the kernel's own: one line as `.config`
    /// writes it (`CONFIG_CONNECTOR=y`, `# CONFIG_X is not set`) or a
    /// fragment file. The guest then boots a variant of a catalog kernel
    /// built from source, built once from a copy of the kernel's build and
    /// cached. A file named [`MODULE_FRAGMENT`] in a module's directory is
    /// taken too.
    pub fn kconfig(mut self, option_or_file: &str) -> Self {
        self.kconfig.push(option_or_file.to_owned());
        self
    }

    /// A kernel option the guest needs (`CONFIG_KUNIT`), and what needs it
    /// (`KUnit suites`): a kernel without it is a usage error that says
    /// so, before any module is built against it.
    pub fn needs_option(mut self, option: &str, why: &str) -> Self {
        self.needs.push((option.to_owned(), why.to_owned()));
        self
    }

    /// The modules built with coverage counters, and each run's coverage
    /// of their sources added, before the guest powers off, to the lcov
    /// tracefile in `dir` ([`coverage::TRACEFILE`]; [`coverage::publish`]
    /// renders it). The kernel must have [`coverage::KERNEL_OPTION`]. Set
    /// for every guest by [`COVERAGE_ENV`].
    pub fn coverage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.coverage = Some(dir.into());
        self
    }

    /// The host's root file system, read-only, at
    /// [`HOST_ROOT_DIR`](kulink_protocol::HOST_ROOT_DIR) (`/host`), its
    /// `/usr` over the image's and `/bin`, `/sbin`, `/lib` and `/lib64`
    /// completed from it: the host's Python, iproute2, nftables or
    /// kselftest binaries run at their host paths. A catalog kernel built
    /// from source without 9p boots as a variant with it; a distribution
    /// kernel without it is a usage error. Mounted once the guest is
    /// ready, so the guest is still saved and restored.
    pub fn host_root(mut self) -> Self {
        self.options.host_root = true;
        self
    }

    /// busybox at /bin/busybox with a link for each of its applets
    /// (`/bin/sh`, `/bin/true`, `/usr/bin/awk`...), from the host's
    /// `busybox-static`; a file given at an applet's path takes its place.
    pub fn shell(mut self) -> Self {
        self.options.shell = true;
        self
    }

    /// busybox, and a port for a person's shell ([`Vm::shell_port`],
    /// [`Vm::run_shell`]).
    pub fn interactive(mut self) -> Self {
        self.options.shell = true;
        self.options.interactive = true;
        self
    }

    /// QEMU's gdb stub on a loopback port ([`Vm::gdb_command`] says how
    /// to attach). Such a guest always boots: it is never saved.
    pub fn gdb(mut self) -> Self {
        self.options.gdb = true;
        self
    }

    /// One more kernel command-line argument (`kmemleak=on`, say), after
    /// the kernel's own from `kernels.toml`.
    pub fn kernel_arg(mut self, arg: &str) -> Self {
        self.options.kernel_args.push(arg.to_owned());
        self
    }

    /// Guest memory in MiB (256 unless set).
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.options.memory_mb = memory_mb;
        self
    }

    /// Virtual CPUs (1 unless set).
    pub fn cpus(mut self, cpus: u32) -> Self {
        self.options.cpus = cpus;
        self
    }

    /// KVM, TCG, or KVM with TCG as the fallback (the default).
    pub fn accel(mut self, accel: AccelChoice) -> Self {
        self.options.accel = accel;
        self
    }

    /// Whether the guest may start from a saved guest of its kind (and be
    /// saved for later ones); on unless set (see [`BootOptions::restore`]).
    pub fn restore(mut self, restore: bool) -> Self {
        self.options.restore = restore;
        self
    }

    /// Leaves one step of kulink's boot tuning out, to measure what it
    /// saves (see [`BootStep`](kulink_testbed::boot_steps::BootStep)).
    pub fn without_step(mut self, step: kulink_testbed::boot_steps::BootStep) -> Self {
        self.options.without_step = Some(step);
        self
    }

    /// The kernel this guest boots.
    pub fn kernel(&self) -> &KernelChoice {
        &self.kernel
    }

    /// Says what is wrong with the module directory, a parameter, a file or
    /// the machine's size, before anything is built.
    pub fn check(&self) -> Result<()> {
        if let Some((name, value)) = self.orphan_params.first() {
            return Err(usage_error(format!("module parameter {name}={value} comes before any module")));
        }
        for ModuleDir { dir, .. } in &self.modules {
            if !dir.join("Kbuild").is_file() && !dir.join("Makefile").is_file() {
                return Err(usage_error(format!(
                    "module {}: no Kbuild or Makefile there (give the directory that builds your .ko)",
                    dir.display()
                )));
            }
        }
        let params = self.modules.iter().flat_map(|m| &m.params);
        if let Some((name, value)) = params.into_iter().find(|(n, v)| {
            n.is_empty() || n.contains(|c: char| c.is_whitespace() || c == '=') || v.contains(char::is_whitespace)
        }) {
            return Err(usage_error(format!(
                "module parameter {name}={value}: a name is one word and a value holds no spaces (it travels on the kernel command line)"
            )));
        }
        if let Some(arg) =
            self.options.kernel_args.iter().find(|a| {
                a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') || a.starts_with("kulink.")
            })
        {
            return Err(usage_error(format!(
                "kernel argument {arg:?}: one word without quotes, and not kulink.* (the agent's own keys)"
            )));
        }
        if self.options.cpus == 0 || self.options.memory_mb < 64 {
            return Err(usage_error(format!(
                "a guest needs at least one CPU and 64 MiB (asked: {} CPUs, {} MiB)",
                self.options.cpus, self.options.memory_mb
            )));
        }
        self.programs.iter().try_for_each(|p| find_program(p).map(drop))?;
        if self.options.coverage.is_some() {
            tools::require_all(&[tools::LCOV, tools::GENHTML])?;
        }
        if let Some(file) = self.options.files.iter().find(|f| self.options.host_root && f.guest.starts_with("/usr/")) {
            return Err(usage_error(format!(
                "{}: the host's /usr covers the image's when the host's root is mounted; give the file another path",
                file.guest
            )));
        }
        self.overlay()?;
        self.known_bug_entries()?;
        self.options.files.iter().try_for_each(GuestFile::check).map_err(|e| usage_error(format!("{e:#}")))
    }

    /// Builds (or finds in the cache) the kernel, the module and the agent.
    pub fn prepare(&self) -> Result<Artifacts> {
        self.check()?;
        let (under_test, before) = match self.modules.split_last() {
            Some((last, before)) => (Some(last.dir.clone()), before.iter().map(|m| m.dir.clone()).collect()),
            None => (None, Vec::new()),
        };
        Artifacts::prepare(
            &self.kernel,
            &Recipe {
                module_dir: under_test,
                loaded_before: before,
                agent: self.agent.clone(),
                kconfig: self.overlay()?,
                needs: self.needs.clone(),
                coverage: self.options.coverage.is_some(),
                host_root: self.options.host_root,
            },
        )
    }

    /// Prepares, then boots a guest and waits until its agent is ready.
    pub fn boot(&self) -> Result<Vm<X>> {
        let artifacts = self.prepare()?;
        self.boot_prepared(&artifacts)
    }

    /// Boots a guest from artifacts [`GuestBuilder::prepare`] made (tests
    /// that boot several guests prepare once).
    pub fn boot_prepared(&self, artifacts: &Artifacts) -> Result<Vm<X>> {
        let mut options = self.boot_options();
        options.known_bugs = self.known_bug_entries()?;
        for program in &self.programs {
            options.files.extend(tools::program_with_libraries(&find_program(program)?)?);
        }
        Vm::boot(artifacts, &options)
    }

    /// The known kernel bugs the run accepts: the modules' own
    /// [`KNOWN_BUGS_FILE`]s, then the files given.
    fn known_bug_entries(&self) -> Result<KnownBugs> {
        let own = self.modules.iter().map(|m| m.dir.join(KNOWN_BUGS_FILE)).filter(|f| f.is_file());
        own.chain(self.known_bugs.iter().cloned())
            .try_fold(KnownBugs::default(), |all, file| Ok(all.and(KnownBugs::load(&file)?)))
    }

    /// Every kernel option asked for: the modules' own fragments, then
    /// those given, later ones winning; a line or file that is none is a
    /// usage error.
    pub fn overlay(&self) -> Result<kconfig::Options> {
        let mut overlay = kconfig::Options::new();
        let fragments = self.modules.iter().map(|m| m.dir.join(MODULE_FRAGMENT)).filter(|f| f.is_file());
        for file in fragments {
            overlay.extend(fragment(&file)?);
        }
        for given in &self.kconfig {
            let path = std::path::Path::new(given);
            if path.is_file() {
                overlay.extend(fragment(path)?);
                continue;
            }
            let one = kconfig::parse(given);
            if one.len() != 1 || given.lines().count() != 1 {
                return Err(usage_error(format!(
                    "--kconfig {given}: give one option as .config writes it (CONFIG_NAME=value, or \"# CONFIG_NAME is not set\"), or a fragment file"
                )));
            }
            overlay.extend(one);
        }
        Ok(overlay)
    }

    fn boot_options(&self) -> BootOptions {
        let mut options = self.options.clone();
        let Some((under_test, before)) = self.modules.split_last() else { return options };
        for (name, value) in &under_test.params {
            options.extension.insert(format!("{MODULE_PARAM_KEY}{name}"), value.clone());
        }
        options.loaded_before_params = before.iter().map(ModuleDir::params_line).collect();
        options
    }
}

/// The environment variable that gives every guest
/// [`GuestBuilder::coverage`] in this directory: a whole suite's coverage
/// of its modules.
pub const COVERAGE_ENV: &str = "KULINK_COVERAGE";

fn coverage_from_env() -> Option<PathBuf> {
    std::env::var_os(COVERAGE_ENV).filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

/// A module and what its guest carries, as data: what `kulink test` and
/// `kulink fuzz` make of their flags, and a [`GuestBuilder`] on any kernel.
#[derive(Debug, Clone)]
pub struct ModuleSetup {
    /// A Kbuild directory that builds one module: the module under test.
    pub module: PathBuf,
    /// Modules loaded before it, in this order, with their defaults (see
    /// [`GuestBuilder::module`]).
    pub loaded_before: Vec<PathBuf>,
    /// Its parameters at load, NAME=VALUE.
    pub params: Vec<(String, String)>,
    /// Host files copied into the image.
    pub files: Vec<GuestFile>,
    /// Host programs brought with their libraries (see
    /// [`GuestBuilder::host_program`]).
    pub programs: Vec<PathBuf>,
    /// busybox with its applets (see [`GuestBuilder::shell`]).
    pub shell: bool,
    /// Kernel options on top of the kernel's (see [`GuestBuilder::kconfig`]).
    pub kconfig: Vec<String>,
    /// Files of known kernel bugs (see [`GuestBuilder::known_bugs`]).
    pub known_bugs: Vec<PathBuf>,
    /// Arguments for the kernel's command line (see [`GuestBuilder::kernel_arg`]).
    pub kernel_args: Vec<String>,
    /// Guest memory in MiB, when not the default.
    pub memory_mb: Option<u32>,
    /// Virtual CPUs, when not the default.
    pub cpus: Option<u32>,
    /// QEMU's gdb stub (see [`GuestBuilder::gdb`]).
    pub gdb: bool,
    /// KVM, TCG, or KVM with TCG as the fallback.
    pub accel: AccelChoice,
    /// Where the module's coverage goes (see [`GuestBuilder::coverage`]).
    pub coverage: Option<PathBuf>,
    /// The host's root at `/host`, its tools at their paths (see
    /// [`GuestBuilder::host_root`]).
    pub host_root: bool,
}

impl ModuleSetup {
    /// The module in `dir` alone, in a guest of the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            module: dir.into(),
            loaded_before: Vec::new(),
            params: Vec::new(),
            files: Vec::new(),
            programs: Vec::new(),
            shell: false,
            kconfig: Vec::new(),
            known_bugs: Vec::new(),
            kernel_args: Vec::new(),
            memory_mb: None,
            cpus: None,
            gdb: false,
            accel: AccelChoice::Auto,
            coverage: None,
            host_root: false,
        }
    }

    /// The guest on `kernel`.
    pub fn builder(&self, kernel: KernelChoice) -> GuestBuilder {
        let mut guest = GuestBuilder::new(kernel).accel(self.accel);
        for dir in self.loaded_before.iter().chain([&self.module]) {
            guest = guest.module(dir);
        }
        for (name, value) in &self.params {
            guest = guest.param(name, value);
        }
        for file in &self.files {
            guest = guest.file(&file.host, &file.guest);
        }
        for program in &self.programs {
            guest = guest.host_program(program);
        }
        if self.shell {
            guest = guest.shell();
        }
        for option in &self.kconfig {
            guest = guest.kconfig(option);
        }
        for file in &self.known_bugs {
            guest = guest.known_bugs(file);
        }
        for arg in &self.kernel_args {
            guest = guest.kernel_arg(arg);
        }
        if let Some(memory_mb) = self.memory_mb {
            guest = guest.memory_mb(memory_mb);
        }
        if let Some(cpus) = self.cpus {
            guest = guest.cpus(cpus);
        }
        if self.gdb {
            guest = guest.gdb();
        }
        if let Some(dir) = &self.coverage {
            guest = guest.coverage(dir);
        }
        if self.host_root {
            guest = guest.host_root();
        }
        guest
    }

    /// The files the image gets before any library: the test's own, and
    /// each host program at its host path.
    pub fn files_given(&self) -> Result<Vec<GuestFile>> {
        let programs = self.programs.iter().map(|p| find_program(p)).map(|found| {
            let path = found?;
            Ok(GuestFile { guest: path.to_string_lossy().into_owned(), host: path })
        });
        self.files.iter().cloned().map(Ok).chain(programs).collect()
    }
}

/// The name of a module's own configuration fragment, read from its
/// directory: the kernel options the module needs.
pub const MODULE_FRAGMENT: &str = "kulink.config";

/// The file of known kernel bugs kulink reads from a module's directory
/// (see [`GuestBuilder::known_bugs`]).
pub const KNOWN_BUGS_FILE: &str = "kulink-known-bugs.toml";

/// The options a fragment file sets; one that sets none is a mistake.
fn fragment(path: &std::path::Path) -> Result<kconfig::Options> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage_error(format!("configuration fragment {}: {e}", path.display())))?;
    let options = kconfig::parse(&text);
    if options.is_empty() {
        return Err(usage_error(format!("configuration fragment {} sets no CONFIG_ option", path.display())));
    }
    Ok(options)
}

/// A program given by name is looked up on `PATH`, then in sbin.
pub fn find_program(program: &std::path::Path) -> Result<PathBuf> {
    let found = if program.components().count() > 1 {
        program.is_file().then(|| program.to_path_buf())
    } else {
        // Administration tools live in sbin, which a user's PATH may lack.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let sbin = ["/usr/sbin", "/sbin"].map(PathBuf::from);
        std::env::split_paths(&path).chain(sbin).map(|dir| dir.join(program)).find(|p| p.is_file())
    };
    found.ok_or_else(|| {
        usage_error(format!("host program {} not found (is it installed, and on PATH?)", program.display()))
    })
}

/// A module's directory and its parameters.
#[derive(Debug, Clone)]
struct ModuleDir {
    dir: PathBuf,
    params: Vec<(String, String)>,
}

impl ModuleDir {
    /// `name=value ...`, as finit_module takes them.
    fn params_line(&self) -> String {
        self.params.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/udpcount/module"))
    }

    #[test]
    fn mistakes_are_named_before_anything_is_built() {
        let err = |b: GuestBuilder| format!("{:#}", b.check().unwrap_err());
        let ok = GuestBuilder::kernel_id("6.1").module(example()).param("every", "2");
        ok.check().unwrap();
        assert!(err(GuestBuilder::kernel_id("6.1").module("/nonexistent")).contains("no Kbuild or Makefile"));
        assert!(err(ok.clone().param("msg", "a b")).contains("module parameter msg=a b"));
        assert!(err(ok.clone().param("", "1")).contains("a name is one word"));
        assert!(err(ok.clone().cpus(0)).contains("at least one CPU"));
        assert!(err(ok.clone().file("/etc/hostname", "relative")).contains("must be absolute"));
        assert_eq!(kulink_testbed::exit_code(&ok.clone().memory_mb(16).check().unwrap_err()), 2);
        ok.clone().kernel_arg("kmemleak=on").check().unwrap();
        assert!(err(ok.clone().kernel_arg("a b")).contains("kernel argument \"a b\""));
        assert!(err(ok.clone().kernel_arg("kulink.port=x")).contains("not kulink.*"));
        assert!(err(ok.clone().kernel_arg("")).contains("one word"));
        ok.clone().host_program("ls").check().unwrap();
        assert!(err(ok.clone().host_program("no-such-program")).contains("host program no-such-program not found"));
        assert!(err(ok.clone().host_program("/nonexistent/nft")).contains("not found"));
        ok.clone().kconfig("CONFIG_CONNECTOR=y").kconfig("# CONFIG_PROC_EVENTS is not set").check().unwrap();
        assert!(err(ok.clone().kconfig("CONNECTOR")).contains("--kconfig CONNECTOR: give one option"));
        assert!(err(ok.clone().kconfig("/etc/hostname")).contains("sets no CONFIG_ option"));
        let overlay = ok.clone().kconfig("CONFIG_CONNECTOR=y").kconfig("CONFIG_CONNECTOR=m").overlay().unwrap();
        assert_eq!(overlay.get("CONFIG_CONNECTOR"), Some(&Some("m".to_owned())), "the later one wins");
    }

    #[test]
    fn parameters_travel_as_boot_keys() {
        let options = GuestBuilder::kernel_id("6.1").module(example()).param("every", "2").cpus(2).boot_options();
        assert_eq!(options.extension.get("param.every").map(String::as_str), Some("2"));
        assert_eq!(options.cpus, 2);
        assert!(options.load_module);
        assert!(options.loaded_before_params.is_empty());
    }

    #[test]
    fn modules_load_in_order_each_with_its_own_parameters() {
        let builder = GuestBuilder::kernel_id("6.1")
            .module("/a")
            .param("x", "1")
            .param("y", "2")
            .module("/b")
            .module("/c")
            .param("z", "3");
        let options = builder.boot_options();
        assert_eq!(options.loaded_before_params, ["x=1 y=2", ""]);
        assert_eq!(options.extension.get("param.z").map(String::as_str), Some("3"));
        assert_eq!(options.extension.len(), 1);
        let orphan = GuestBuilder::kernel_id("6.1").param("x", "1").module(example());
        assert!(format!("{:#}", orphan.check().unwrap_err()).contains("x=1 comes before any module"));
    }
}
