//! `kulink bench`: kulink.ko's figures per kernel (boots, restores,
//! channels, NFLOG, vng), their ratios and targets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use kulink::outcome::{Format, RunOutcome};
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::progress;
use kulink_ko_suite::bench;
use kulink_ko_suite::output::Output;
use serde::Serialize;

use crate::args::{AccelArgs, FormatArgs, KernelArgs};
use crate::each_kernel::{EachKernel, OnError, Shape};

/// Measure kulink itself: with no subcommand, every figure per kernel
/// (boots, restores, channels, NFLOG, `vng --exec true`), the ratios and
/// the targets, as a table, JSON or a chart.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCmd>,
    #[command(flatten)]
    all: BenchAllArgs,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Boot kulink.ko's guest several times per kernel: the median guest
    /// uptime and wall time until its agent is ready, and the kernel log's
    /// longest silences on the way.
    Boot {
        #[command(flatten)]
        kernels: KernelArgs,
        /// Boots per kernel (1 to 50).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=50))]
        boots: u8,
        /// An argument for the guest kernel's command line, such as
        /// `initcall_debug` (repeatable).
        #[arg(long = "kernel-arg", value_name = "ARG")]
        kernel_args: Vec<String>,
        /// Also boot as many times without each step of kulink's boot
        /// tuning, one at a time: what each step saves.
        #[arg(long)]
        steps: bool,
        #[command(flatten)]
        format: FormatArgs,
        #[command(flatten)]
        accel: AccelArgs,
    },
    /// Events per second and latency of each of kulink.ko's channels, fed
    /// by the module's in-kernel generator, with every lost event accounted
    /// for by a counter.
    Channels {
        #[command(flatten)]
        kernels: KernelArgs,
        #[command(flatten)]
        plan: ChannelPlanArgs,
        #[command(flatten)]
        format: FormatArgs,
        #[command(flatten)]
        accel: AccelArgs,
    },
    /// Edit your module by one line and run `kulink test` with these
    /// arguments to its last verdict (on a copy of the module): the median
    /// wall time with saved guests, and with every guest booted.
    Edit {
        /// Timed runs each way (1 to 20), after one untimed run.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=20))]
        runs: u8,
        #[command(flatten)]
        format: FormatArgs,
        /// `kulink test`'s arguments, `--module DIR` among them.
        #[arg(last = true, required = true, value_name = "TEST_ARGS")]
        test_args: Vec<String>,
    },
}

/// What the channel runs measure.
#[derive(Args)]
struct ChannelPlanArgs {
    /// Events per throughput run.
    #[arg(long, default_value_t = 100_000)]
    count: u32,
    /// Events per second of the latency runs.
    #[arg(long, default_value_t = 1000)]
    latency_rate: u32,
    /// Events per latency run.
    #[arg(long, default_value_t = 2000)]
    latency_count: u32,
    /// Also scale the events (10^3 to 10^6), the unicast subscribers (1 to
    /// 16) and the multicast batch (1 to 128).
    #[arg(long)]
    scaling: bool,
    /// Echo requests from the wire per run against the kernel's NFLOG
    /// (needs the host's `nft`); 0 leaves NFLOG out.
    #[arg(long, default_value_t = 5000)]
    frames: u32,
}

impl ChannelPlanArgs {
    fn plan(&self) -> Result<bench::ChannelPlan> {
        let plan = bench::ChannelPlan {
            count: self.count,
            latency_rate: self.latency_rate,
            latency_count: self.latency_count,
            scaling: self.scaling,
            frames: self.frames,
        };
        plan.check()?;
        Ok(plan)
    }
}

/// `kulink bench` with no subcommand: everything.
#[derive(Args)]
struct BenchAllArgs {
    #[command(flatten)]
    kernels: KernelArgs,
    /// Cold boots, and starts from a saved guest, per kernel (1 to 50).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=50))]
    boots: u8,
    /// Runs of `vng --exec true` and of kulink's guest running `true`, on
    /// kernels with vng.config (0 to 20; 0 leaves them out).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=20))]
    command_runs: u8,
    #[command(flatten)]
    plan: ChannelPlanArgs,
    /// Also write the figures as a chart to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
}

impl BenchArgs {
    /// Runs the benchmark asked for. It fails on a splat or an unexplained
    /// drop; a target missed is a figure, not a failure.
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            None => self.all.run(),
            Some(BenchCmd::Boot { kernels, boots, kernel_args, steps, format, accel }) => {
                let (_, code) = measure(&kernels, &format, |kernel| {
                    bench::boot(kernel.clone(), accel.accel, boots.into(), &kernel_args, steps)
                })?;
                Ok(code)
            }
            Some(BenchCmd::Edit { runs, format, test_args }) => {
                let bench = super::bench_edit::measure(&test_args, runs.into())?;
                match format.format() {
                    Format::Table => print!("{}", super::bench_edit::table(&bench)),
                    Format::Json => print!("{}", kulink::render::pretty(&bench)),
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(BenchCmd::Channels { kernels, plan, format, accel }) => {
                let plan = plan.plan()?;
                let (_, code) =
                    measure(&kernels, &format, |kernel| bench::channels(kernel.clone(), accel.accel, &plan))?;
                Ok(code)
            }
        }
    }
}

impl BenchAllArgs {
    fn run(self) -> Result<ExitCode> {
        let plan = bench::SummaryPlan {
            boots: self.boots.into(),
            channels: self.plan.plan()?,
            command_runs: self.command_runs.into(),
        };
        if let Some(plot) = &self.plot {
            check_writable(plot)?;
        }
        let (outcomes, code) =
            measure(&self.kernels, &self.format, |kernel| bench::summary(kernel.clone(), self.accel.accel, &plan))?;
        if let Some(plot) = &self.plot {
            let summaries: Vec<bench::Summary> = kulink::render::judged(&outcomes).cloned().collect();
            bench::chart::write_svg(&summaries, plot)?;
            progress::note(format!("wrote the chart to {}", plot.display()));
        }
        Ok(code)
    }
}

/// What every benchmark's figures answer: were they measured cleanly.
trait Measured: Serialize {
    fn table(&self) -> String;
    fn clean(&self) -> bool;
}

impl Measured for bench::BootBench {
    fn table(&self) -> String {
        Output::BootBench(std::slice::from_ref(self)).render(Format::Table)
    }
    fn clean(&self) -> bool {
        self.kernel_log_clean
    }
}

impl Measured for bench::ChannelBench {
    fn table(&self) -> String {
        Output::ChannelBench(std::slice::from_ref(self)).render(Format::Table)
    }
    fn clean(&self) -> bool {
        self.kernel_log_clean && self.every_drop_explained
    }
}

impl Measured for bench::Summary {
    fn table(&self) -> String {
        Output::BenchSummary(std::slice::from_ref(self)).render(Format::Table)
    }
    fn clean(&self) -> bool {
        self.boot.clean() && self.channels.clean()
    }
}

/// Measures each kernel in turn; the JSON is always an array.
fn measure<M: Measured>(
    kernels: &KernelArgs,
    format: &FormatArgs,
    one: impl FnMut(&KernelChoice) -> Result<M>,
) -> Result<(Vec<RunOutcome<M>>, ExitCode)> {
    let each = EachKernel {
        format: format.format(),
        on_error: OnError::Stop,
        shape: Shape::Array,
        table: &M::table,
        passed: &M::clean,
    };
    each.run(&kernels.choices()?, one)
}

/// A file the run will write at its end: its directory must exist now,
/// not after the benchmark's minutes.
fn check_writable(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(kulink::usage_error(format!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}
