//! `kulink run`: kulink.ko's main job: boot a kernel, inject ICMP, and show
//! what every channel saw.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kulink::outcome::Format;
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::progress;
use kulink::testbed::vm::Backend;
use kulink_ko_suite::output::Output;
use kulink_ko_suite::plan::Plan;
use kulink_ko_suite::record;
use kulink_ko_suite::run::{self, RunOptions, Traffic};

use crate::args::{AccelArgs, FormatArgs};
use crate::each_kernel::{EachKernel, OnError, Shape};

/// Boot a kernel, inject ICMP, and show what every channel saw.
#[derive(Args)]
pub struct RunArgs {
    /// Kernel ids from kernel-config/kernels.toml, comma-separated, `all`,
    /// or a bzImage path (with --kdir).
    #[arg(long)]
    kernel: Option<String>,
    /// Build directory of the --kernel image (needs Module.symvers).
    #[arg(long, requires = "kernel")]
    kdir: Option<PathBuf>,
    /// A kernel source tree or tarball to build with kulink's config fragment.
    #[arg(long, conflicts_with_all = ["kernel", "kdir"])]
    kernel_src: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
    /// What starts the guest: QEMU with kulink's initramfs, or virtme-ng.
    #[arg(long, default_value = "qemu", value_parser = crate::args::named(&Backend::NAMES))]
    backend: Backend,
    /// Echo requests to inject (other frames come on top).
    #[arg(long, default_value_t = 32, value_parser = echoes_in_range())]
    echoes: u16,
    /// Record the run in this directory (with several kernels, one
    /// directory per kernel inside it); by default under the cache.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `--echoes` within what a standard plan allows (`Plan::ECHOES`).
fn echoes_in_range() -> clap::builder::RangedI64ValueParser<u16> {
    let range = Plan::ECHOES;
    clap::value_parser!(u16).range(i64::from(*range.start())..=i64::from(*range.end()))
}

impl RunArgs {
    /// Runs the main job on each kernel asked for.
    pub fn run(self) -> Result<ExitCode> {
        let kernels =
            KernelChoice::from_flags(self.kernel.as_deref(), self.kdir.as_deref(), self.kernel_src.as_deref())?;
        let several = crate::args::several(self.kernel.as_deref());
        let traffic = Traffic::Standard { echoes: self.echoes };
        run_on(&kernels, several, self.backend, self.accel.accel, &traffic, self.format.format(), self.out)
    }
}

/// The main job with `traffic` on each kernel, each run recorded: in `out`
/// (a directory per kernel when there are several), else under the cache.
pub fn run_on(
    kernels: &[KernelChoice],
    several: bool,
    backend: Backend,
    accel: AccelChoice,
    traffic: &Traffic,
    format: Format,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    let job = |kernel: &KernelChoice| RunOptions { kernel: kernel.clone(), backend, accel, traffic: traffic.clone() };
    // The traffic is checked once, before any kernel is fetched or booted.
    if let Some(first) = kernels.first() {
        job(first).check()?;
    }
    let each = EachKernel {
        format,
        on_error: if several { OnError::GoOn } else { OnError::Stop },
        shape: Shape::OneOrArray { several },
        table: &|report| Output::Run(report).render(Format::Table),
        passed: &|report| report.passed,
    };
    let (_, code) = each.run(kernels, |kernel| {
        let label = kernel.label();
        let dir = match &out {
            Some(dir) if several => dir.join(&label),
            Some(dir) => dir.clone(),
            None => record::default_dir(&label),
        };
        let report = run::run(&job(kernel), &dir)?;
        progress::note(format!("run recorded in {} (`kulink report DIR` judges it again)", dir.display()));
        Ok(report)
    })?;
    Ok(code)
}
