//! The flag groups several commands share, declared once and flattened into
//! each command that takes them.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use kulink::builder::ModuleSetup;
use kulink::outcome::Format;
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::initramfs::GuestFile;
use kulink::testbed::kernels;

/// Which kernels of the catalog.
#[derive(Args)]
pub struct KernelArgs {
    /// Kernel ids from kernel-config/kernels.toml and groups (`all`,
    /// `distro`), comma-separated; the default kernel if left out.
    #[arg(long)]
    pub kernel: Option<String>,
}

impl KernelArgs {
    /// Every kernel asked for, each id checked before anything is built.
    pub fn choices(&self) -> Result<Vec<KernelChoice>> {
        KernelChoice::listed(self.kernel.as_deref())
    }

    /// More than one kernel may have been asked for: verdicts then come as
    /// a list, and one kernel's failure does not stop the others.
    pub fn several(&self) -> bool {
        several(self.kernel.as_deref())
    }
}

/// Whether a `--kernel` value may name more than one kernel.
pub fn several(kernel: Option<&str>) -> bool {
    kernel.is_some_and(|k| k.contains(',') || kernels::GROUPS.iter().any(|(group, _)| k.trim() == *group))
}

/// How the guest's CPU is emulated.
#[derive(Args)]
pub struct AccelArgs {
    /// KVM, TCG, or KVM with TCG as the fallback.
    #[arg(long, default_value = "auto", value_parser = named(&AccelChoice::NAMES))]
    pub accel: AccelChoice,
}

/// A flag whose values are the core's named choices: clap lists them and
/// refuses others (the core itself knows nothing of clap).
pub fn named<T: Copy + Send + Sync + 'static>(
    choices: &'static [(&'static str, T)],
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(choices.iter().map(|(name, _)| *name))
        .map(move |name| choices.iter().find(|(n, _)| *n == name).expect("a listed name").1)
}

/// For people or for programs.
#[derive(Args)]
pub struct FormatArgs {
    /// Print JSON instead of the tables: one object, or an array of one
    /// per kernel where the command takes several.
    #[arg(long)]
    pub json: bool,
}

impl FormatArgs {
    /// The format asked for.
    pub fn format(&self) -> Format {
        Format::of(self.json)
    }
}

/// The module under test and what goes into its guest.
#[derive(Args)]
pub struct GuestArgs {
    /// The module's Kbuild directory (it must build exactly one .ko).
    /// Repeatable: the modules load in the order given, each with its
    /// defaults, and the last is the module under test.
    #[arg(long, required = true)]
    pub module: Vec<PathBuf>,
    /// A parameter of the module under test at load, NAME=VALUE (repeatable).
    #[arg(long = "module-param", value_name = "NAME=VALUE", value_parser = kulink::module_test::parse_param)]
    pub params: Vec<(String, String)>,
    /// A host file to put in the guest, HOST_PATH:GUEST_PATH (repeatable).
    #[arg(long = "file", value_name = "SRC:DST", value_parser = parse_file)]
    pub files: Vec<GuestFile>,
    /// A host program (a name on PATH, or a path) with the shared libraries
    /// and loader it needs, each at its host path in the guest (repeatable).
    #[arg(long = "host-program", value_name = "NAME")]
    pub programs: Vec<PathBuf>,
    /// busybox in the guest with every applet (/bin/sh, /bin/true,
    /// /usr/bin/awk...), from the host's busybox-static. A command that is
    /// an applet, or a script for one, brings it anyway.
    #[arg(long)]
    pub shell: bool,
    /// The host's root file system, read-only, at /host in the guest, with
    /// the host's /usr over the image's and /bin, /sbin, /lib and /lib64
    /// leading into it: the host's Python, iproute2, nftables or kselftest
    /// binaries run at their paths. A kernel without 9p boots as a variant
    /// with it; a distribution kernel without 9p built in is refused.
    #[arg(long = "host-root")]
    pub host_root: bool,
    /// A kernel option on top of the kernel's own, as .config writes it
    /// (CONFIG_CONNECTOR=y), or a fragment file (repeatable): the module
    /// then boots on a variant of each catalog kernel, built once from a
    /// copy of its build. A module's own kulink.config is taken too.
    #[arg(long = "kconfig", value_name = "OPTION|FILE")]
    pub kconfig: Vec<String>,
    /// A file of kernel bugs known not to be the module's (repeatable):
    /// a splat one of its entries matches passes, with a note, until the
    /// entry's date. A module's own kulink-known-bugs.toml is read too.
    #[arg(long = "known-bugs", value_name = "FILE")]
    pub known_bugs: Vec<PathBuf>,
    /// An argument for the guest kernel's command line, after the kernel's
    /// own (repeatable): `slub_debug=FZ`, `maxcpus=1`...
    #[arg(long = "kernel-arg", value_name = "ARG")]
    pub kernel_args: Vec<String>,
    /// Guest memory in MiB (256 unless given).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(64..=65536))]
    pub memory: Option<u32>,
    /// Virtual CPUs (1 unless given).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub cpus: Option<u32>,
}

impl GuestArgs {
    /// The module and its guest's contents, booted with `accel`.
    pub fn setup(mut self, accel: AccelChoice) -> ModuleSetup {
        let module = self.module.pop().expect("clap requires --module");
        ModuleSetup {
            loaded_before: self.module,
            params: self.params,
            files: self.files,
            programs: self.programs,
            shell: self.shell,
            host_root: self.host_root,
            kconfig: self.kconfig,
            known_bugs: self.known_bugs,
            kernel_args: self.kernel_args,
            memory_mb: self.memory,
            cpus: self.cpus,
            accel,
            ..ModuleSetup::new(module)
        }
    }
}

fn parse_file(spec: &str) -> Result<GuestFile, String> {
    GuestFile::parse(spec).map_err(|e| format!("{e:#}"))
}
