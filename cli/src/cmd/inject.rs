//! `kulink inject`: a capture, or kulink's corpus of malformed frames,
//! through a guest with kulink.ko.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use kulink::testbed::frames::Wire;
use kulink::testbed::vm::Backend;
use kulink_ko_suite::corpus;
use kulink_ko_suite::run::Traffic;

use crate::args::{AccelArgs, FormatArgs, KernelArgs};

/// Replay a capture (or kulink's corpus of malformed frames) into a guest
/// with kulink.ko and judge every channel: exactly the frames the kernel's
/// receive rules hand to PRE_ROUTING as ICMP, once, in order.
#[derive(Args)]
pub struct InjectArgs {
    /// An Ethernet pcap file; its frames are readdressed to the guest.
    #[arg(long, required_unless_present = "corpus", conflicts_with = "corpus")]
    pcap: Option<PathBuf>,
    /// kulink's own corpus (kulink-ko/corpus/malformed.pcap and .tsv).
    #[arg(long)]
    corpus: bool,
    #[command(flatten)]
    kernels: KernelArgs,
    /// Frames sent per second.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
    /// Record the run in this directory, as `run --out` does.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl InjectArgs {
    /// Sends the frames on each kernel and judges every channel.
    pub fn run(self) -> Result<ExitCode> {
        // Without --pcap, clap has made sure --corpus was given.
        let frames = match &self.pcap {
            Some(path) => kulink::testbed::pcap::read(path)?,
            None => corpus::entries(&Wire::default()).into_iter().map(|e| e.frame).collect(),
        };
        let traffic = Traffic::Frames { frames, gap: Duration::from_secs(1) / self.rate };
        let kernels = self.kernels.choices()?;
        let (accel, format) = (self.accel.accel, self.format.format());
        super::run::run_on(&kernels, self.kernels.several(), Backend::Qemu, accel, &traffic, format, self.out)
    }
}
