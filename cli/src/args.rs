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
    #[arg(long)]
    pub module: PathBuf,
    /// A parameter for the module at load, NAME=VALUE (repeatable).
    #[arg(long = "module-param", value_name = "NAME=VALUE", value_parser = kulink::module_test::parse_param)]
    pub params: Vec<(String, String)>,
    /// A host file to put in the guest, HOST_PATH:GUEST_PATH (repeatable).
    #[arg(long = "file", value_name = "SRC:DST", value_parser = parse_file)]
    pub files: Vec<GuestFile>,
    /// busybox as /bin/sh in the guest (from the host's busybox-static).
    #[arg(long)]
    pub shell: bool,
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
}

impl GuestArgs {
    /// The module and its guest's contents, booted with `accel`.
    pub fn setup(self, accel: AccelChoice) -> ModuleSetup {
        ModuleSetup {
            module: self.module,
            params: self.params,
            files: self.files,
            shell: self.shell,
            kconfig: self.kconfig,
            known_bugs: self.known_bugs,
            gdb: false,
            accel,
        }
    }
}

fn parse_file(spec: &str) -> Result<GuestFile, String> {
    GuestFile::parse(spec).map_err(|e| format!("{e:#}"))
}
