//! The `kulink` command line: a thin front end that parses flags into the
//! library's and kulink.ko's suite's types, runs them over each kernel, and
//! prints what they return. One file per command under `cmd/`.

mod args;
mod bars;
mod cmd;
mod each_kernel;
mod environment;
mod junit;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use kulink::testbed::{paths, progress};

/// Shown under --help: what the exit code means.
const EXIT_CODES: &str = "\
Exit codes:
  0  passed
  1  an assertion failed: the guest ran, and something it reported was wrong or missing
  2  a usage or configuration mistake: a bad flag or value, an unknown kernel id, a bad
     kernel-config/kernels.toml; nothing was fetched or built
  3  an infrastructure problem: a missing tool, a failed download or build, a guest that
     never came up, an unusable cache";

#[derive(Parser)]
#[command(name = "kulink", version, about = "Prove that what a kernel module sends reaches user space intact")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a kernel, inject ICMP, and show what every channel saw.
    Run(cmd::run::RunArgs),
    /// Replay a capture (or kulink's corpus of malformed frames) into a
    /// guest with kulink.ko and judge every channel: exactly the frames the
    /// kernel's receive rules hand to PRE_ROUTING as ICMP, once, in order.
    Inject(cmd::inject::InjectArgs),
    /// Fuzz a module's generic netlink family from its YNL spec (mutated
    /// messages, each of which must get an ACK or an error) or its device
    /// node (ioctls, reads, writes, mmaps and polls with hostile
    /// arguments), with a clean kernel log.
    Fuzz(cmd::fuzz::FuzzArgs),
    /// Flood kulink.ko with echo requests, as fast as the wire takes them,
    /// while the agent reads slowly; then account for every event on every
    /// channel: delivered, or counted as dropped by the module (and by the
    /// agent's own sockets and ring).
    Flood(cmd::flood::FloodArgs),
    /// Measure kulink itself: with no subcommand, every figure per kernel
    /// (boots, restores, channels, NFLOG, `vng --exec true`), the ratios
    /// and the targets, as a table, JSON or a chart.
    Bench(cmd::bench::BenchArgs),
    /// Judge a recorded run again and print its verdict as `run` did, or
    /// read a failed run's evidence again (the newest, without DIR).
    Report(cmd::report::ReportArgs),
    /// Test your own module: build it for each kernel, boot with it loaded,
    /// record a generic netlink group, replay a capture, run COMMAND in the
    /// guest; passes when COMMAND exits 0 in time (and its KTAP cases
    /// pass), the group carried what --expect lists, and the kernel log is
    /// clean.
    Test(cmd::test::TestArgs),
    /// An interactive shell (busybox) in a guest with your module loaded,
    /// to look around; with --gdb, the gdb command line that attaches to
    /// the guest with the module's symbols. Ctrl-D ends it.
    Shell(cmd::shell::ShellArgs),
    /// The kernels kulink knows.
    Kernels(cmd::kernels::KernelsArgs),
    /// Judge a console log's kernel reports, or measure the judge on a
    /// corpus of labelled logs (precision and recall per kind).
    Splats(cmd::splats::SplatsArgs),
}

fn main() -> ExitCode {
    let after_help = format!("{EXIT_CODES}\n\nEnvironment:\n{}", environment::help().trim_end());
    let matches = Cli::command().after_help(after_help).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Bars for a person at a terminal; plain lines (the default) in logs.
    if std::io::stderr().is_terminal() {
        progress::set_renderer(Box::new(bars::Bars::new()));
    }
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kulink: error: {e:#}");
            ExitCode::from(kulink::exit_code(&e) as u8)
        }
    }
}

fn run(command: Cmd) -> Result<ExitCode> {
    paths::checked_cache_dir()?;
    match command {
        Cmd::Run(args) => args.run(),
        Cmd::Inject(args) => args.run(),
        Cmd::Fuzz(args) => args.run(),
        Cmd::Flood(args) => args.run(),
        Cmd::Bench(args) => args.run(),
        Cmd::Report(args) => args.run(),
        Cmd::Test(args) => args.run(),
        Cmd::Shell(args) => args.run(),
        Cmd::Kernels(args) => args.run(),
        Cmd::Splats(args) => args.run(),
    }
}
