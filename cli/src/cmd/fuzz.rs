//! `kulink fuzz`: a module's generic netlink family from its YNL spec, or
//! its device node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kulink::render::fuzz_table;
use kulink::testbed::artifacts::KernelChoice;
use kulink::{device_fuzz, fuzz};

use crate::args::{AccelArgs, FormatArgs, GuestArgs, KernelArgs};
use crate::each_kernel::{EachKernel, OnError, Shape};

/// Fuzz a module's generic netlink family from its YNL spec (mutated
/// messages, each of which must get an ACK or an error) or its device node
/// (ioctls, reads, writes, mmaps and polls with hostile arguments), with a
/// clean kernel log.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["spec", "device"])))]
pub struct FuzzArgs {
    #[command(flatten)]
    guest: GuestArgs,
    /// The family's YNL spec (its name is the family fuzzed).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The module's device node in the guest, such as /dev/NAME.
    #[arg(long, value_parser = device_path)]
    device: Option<String>,
    /// One of the device's own ioctl numbers (decimal or 0x hex); repeat
    /// for each. Other numbers of the same type are tried too.
    #[arg(long, conflicts_with = "spec", value_parser = ioctl_number)]
    ioctl: Vec<u32>,
    #[command(flatten)]
    kernels: KernelArgs,
    /// Messages to send, or calls to make.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    count: u64,
    /// Seed of the mutations: the same seed sends the same messages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Send as uid 65534 without capabilities: operations whose spec flags
    /// ask for CAP_NET_ADMIN must refuse every message (EPERM); a device
    /// must let that user open it.
    #[arg(long)]
    unprivileged: bool,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
}

impl FuzzArgs {
    /// Fuzzes the module on each kernel asked for.
    pub fn run(self) -> Result<ExitCode> {
        let spec = self.spec.as_deref().map(kulink::ynl::load_spec).transpose()?;
        let kernels = self.kernels.choices()?;
        let setup = self.guest.setup(self.accel.accel);
        let guest = |kernel: &KernelChoice| setup.builder(kernel.clone());
        // The module and its guest are checked once, before any build.
        if let Some(first) = kernels.first() {
            guest(first).check()?;
        }
        let sender = if self.unprivileged { fuzz::Sender::Unprivileged } else { fuzz::Sender::Root };
        let count = self.count as usize;
        let each = EachKernel {
            format: self.format.format(),
            on_error: OnError::Stop,
            shape: Shape::OneOrArray { several: self.kernels.several() },
            table: &|report| fuzz_table(report) + "\n",
            passed: &|report: &fuzz::FuzzReport| report.passed,
        };
        let (_, code) = each.run(&kernels, |kernel| {
            let guest = guest(kernel);
            match (&spec, &self.device) {
                (Some(spec), _) => fuzz::run(&guest, spec, count, self.seed, sender),
                (None, Some(device)) => device_fuzz::run(&guest, device, &self.ioctl, count, self.seed, sender),
                (None, None) => unreachable!("clap requires --spec or --device"),
            }
        })?;
        Ok(code)
    }
}

/// A device node's path in the guest: absolute, under /dev.
fn device_path(path: &str) -> Result<String, String> {
    match path.strip_prefix("/dev/") {
        Some(name) if !name.is_empty() && !name.split('/').any(|part| part.is_empty() || part == "..") => {
            Ok(path.to_owned())
        }
        _ => Err(format!("{path} is not a device node's path: want /dev/NAME")),
    }
}

/// An ioctl number, decimal or 0x hex.
fn ioctl_number(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text} is not a 32-bit ioctl number: {e}"))
}
