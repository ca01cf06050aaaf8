//! `kulink flood`: kulink.ko flooded while its consumer reads slowly, with
//! every event accounted for.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use kulink::outcome::Format;
use kulink_ko_contract::extension::Pace;
use kulink_ko_suite::flood::{self, Flood};
use kulink_ko_suite::output::Output;

use crate::args::{AccelArgs, FormatArgs, KernelArgs};
use crate::each_kernel::{EachKernel, OnError, Shape};

/// Flood kulink.ko with echo requests, as fast as the wire takes them,
/// while the agent reads slowly; then account for every event on every
/// channel: delivered, or counted as dropped by the module (and by the
/// agent's own sockets and ring).
#[derive(Args)]
pub struct FloodArgs {
    #[command(flatten)]
    kernels: KernelArgs,
    /// Echo requests to send.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u16).range(1..))]
    frames: u16,
    /// The slow consumer: one read per this many milliseconds on each
    /// channel (1 to 10 000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    read_every_ms: u32,
    /// Receive buffer of the agent's event sockets, in bytes.
    #[arg(long, default_value_t = 64 << 10, value_parser = clap::value_parser!(u32).range(4096..=(64 << 20)))]
    socket_buffer: u32,
    /// Usermode helper runs allowed per second during the flood
    /// (kulink.ko's umh_rate, 1 to 1 000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    umh_rate: u32,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
}

impl FloodArgs {
    /// Floods each kernel asked for in turn.
    pub fn run(self) -> Result<ExitCode> {
        let pace = Pace { read_every_ms: self.read_every_ms, socket_buffer: Some(self.socket_buffer) };
        let flood =
            Flood { frames: self.frames, pace, umh_rate: self.umh_rate, drain_timeout: Duration::from_secs(120) };
        let each = EachKernel {
            format: self.format.format(),
            on_error: OnError::Stop,
            shape: Shape::OneOrArray { several: self.kernels.several() },
            table: &|run| Output::Flood(run).render(Format::Table),
            passed: &|run: &flood::FloodRun| run.passed,
        };
        let accel = self.accel.accel;
        let (_, code) =
            each.run(&self.kernels.choices()?, |kernel| flood::boot_and_run(kernel.clone(), accel, &flood))?;
        Ok(code)
    }
}
