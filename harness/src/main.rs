//! The `kulink` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kulink::bench;
use kulink::flood::{self, Flood};
use kulink::job::{self, JobOptions, Traffic};
use kulink::module_test::{self, GenlWatch, ModuleTest};
use kulink::output::{Format, KernelRow, Output, RunOutcome};
use kulink::plan::Plan;
use kulink::record::{self, RunRecord};
use kulink::report::RunError;
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::frames::Wire;
use kulink::testbed::genl::Spec;
use kulink::testbed::initramfs::GuestFile;
use kulink::testbed::vm::Backend;
use kulink::testbed::{kernels, paths, progress};
use kulink::{corpus, device_fuzz, expect, fuzz, GuestBuilder};
use kulink::{usage_error, EXIT_FAILED};
use kulink_wire::control::Pace;

/// Shown under --help: what the exit code means and what the environment changes.
const AFTER_HELP: &str = "\
Exit codes:
  0  passed
  1  an assertion failed: the guest ran, and something it reported was wrong or missing
  2  a usage or configuration mistake: a bad flag or value, an unknown kernel id, a bad
     kernel-config/kernels.toml; nothing was fetched or built
  3  an infrastructure problem: a missing tool, a failed download or build, a guest that
     never came up, an unusable cache

Environment:
  KULINK_CACHE           the build cache (default $XDG_CACHE_HOME/kulink or ~/.cache/kulink)
  KULINK_DEBIAN_MIRROR   the Debian mirror for kulink's private apt configuration (default:
                         the one the host's apt uses)
  KULINK_KERNELS         kernel ids to test, comma-separated (KULINK_KERNEL: one id); all by default
  KULINK_SKIP_KERNELS    kernel ids to leave out of the test matrix
  KULINK_KEEP            keep each guest's directory (console log, image, sockets)
  KULINK_AGENT           a prebuilt guest agent instead of building it
  KULINK_REPO            the kulink source tree, when the binary runs from elsewhere";

#[derive(Parser)]
#[command(
    name = "kulink",
    version,
    about = "Prove that what a kernel module sends reaches user space intact",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a kernel, inject ICMP, and show what every channel saw.
    Run {
        /// A kernel id from kernel-config/kernels.toml, `all`, or a bzImage path (with --kdir).
        #[arg(long)]
        kernel: Option<String>,
        /// Build directory of the --kernel image (needs Module.symvers).
        #[arg(long, requires = "kernel")]
        kdir: Option<PathBuf>,
        /// A kernel source tree or tarball to build with kulink's config fragment.
        #[arg(long, conflicts_with_all = ["kernel", "kdir"])]
        kernel_src: Option<PathBuf>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
        /// What starts the guest: QEMU with kulink's initramfs, or virtme-ng.
        #[arg(long, value_enum, default_value = "qemu")]
        backend: Backend,
        /// Echo requests to inject (other frames come on top).
        #[arg(long, default_value_t = 32, value_parser = echoes_in_range())]
        echoes: u16,
        /// Record the run in this directory (with `--kernel all`, one
        /// directory per kernel inside it); by default under the cache.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replay a capture (or kulink's corpus of malformed frames) into a
    /// guest with kulink.ko and judge every channel: exactly the frames the
    /// kernel's receive rules hand to PRE_ROUTING as ICMP, once, in order.
    Inject {
        /// An Ethernet pcap file; its frames are readdressed to the guest.
        #[arg(long, required_unless_present = "corpus", conflicts_with = "corpus")]
        pcap: Option<PathBuf>,
        /// kulink's own corpus (corpus/malformed.pcap, corpus/malformed.tsv).
        #[arg(long)]
        corpus: bool,
        /// A kernel id from kernel-config/kernels.toml, or `all`.
        #[arg(long)]
        kernel: Option<String>,
        /// Frames sent per second.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rate: u32,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
        /// Record the run in this directory, as `run --out` does.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fuzz a module's generic netlink family from its YNL spec (mutated
    /// messages, each of which must get an ACK or an error) or its device
    /// node (ioctls, reads, writes, mmaps and polls with hostile
    /// arguments), with a clean kernel log.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["spec", "device"])))]
    Fuzz {
        /// A Kbuild directory that builds the module.
        #[arg(long)]
        module: PathBuf,
        /// The family's YNL spec (its name is the family fuzzed).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// The module's device node in the guest, such as /dev/NAME.
        #[arg(long, value_parser = device_path)]
        device: Option<String>,
        /// One of the device's own ioctl numbers (decimal or 0x hex);
        /// repeat for each. Other numbers of the same type are tried too.
        #[arg(long, conflicts_with = "spec", value_parser = ioctl_number)]
        ioctl: Vec<u32>,
        /// A kernel id from kernel-config/kernels.toml.
        #[arg(long)]
        kernel: Option<String>,
        /// Messages to send, or calls to make.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        count: u64,
        /// Seed of the mutations: the same seed sends the same messages.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Send as uid 65534 without capabilities: operations whose spec
        /// flags ask for CAP_NET_ADMIN must refuse every message (EPERM);
        /// a device must let that user open it.
        #[arg(long)]
        unprivileged: bool,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
    },
    /// Flood kulink.ko with echo requests, as fast as the wire takes them,
    /// while the agent reads slowly; then account for every event on every
    /// channel: delivered, or counted as dropped by the module (and by the
    /// agent's own sockets and ring).
    Flood {
        /// A kernel id from kernel-config/kernels.toml.
        #[arg(long)]
        kernel: Option<String>,
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
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
    },
    /// Measure kulink itself: with no subcommand, every figure per kernel
    /// (boots, restores, channels, NFLOG, `vng --exec true`), the ratios
    /// and the targets, as a table, JSON or a chart.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        command: Option<BenchCmd>,
        #[command(flatten)]
        all: BenchAllArgs,
    },
    /// Judge a recorded run again and print its verdict as `run` did.
    Report {
        /// A run directory (`kulink run --out DIR`, or the one `run` named).
        dir: PathBuf,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Test your own module: build it for each kernel, boot with it loaded,
    /// record a generic netlink group, replay a capture, run COMMAND in the
    /// guest; passes when COMMAND exits 0 in time (and its KTAP cases
    /// pass), the group carried what --expect lists, and the kernel log is
    /// clean.
    Test(TestArgs),
    /// The kernels kulink knows.
    Kernels {
        #[command(subcommand)]
        command: KernelsCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Boot kulink.ko's guest several times per kernel: the median guest
    /// uptime and wall time until its agent is ready, and the kernel log's
    /// longest silences on the way.
    Boot {
        /// Kernel ids, comma-separated, or `all`; the default kernel if
        /// left out.
        #[arg(long)]
        kernel: Option<String>,
        /// Boots per kernel (1 to 50).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=50))]
        boots: u8,
        /// An argument for the guest kernel's command line, such as
        /// `initcall_debug` (repeatable).
        #[arg(long = "kernel-arg", value_name = "ARG")]
        kernel_args: Vec<String>,
        /// Print a JSON array, one object per kernel, instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
    },
    /// Events per second and latency of each of kulink.ko's channels, fed
    /// by the module's in-kernel generator, with every lost event
    /// accounted for by a counter.
    Channels {
        /// Kernel ids, comma-separated, or `all`; the default kernel if
        /// left out.
        #[arg(long)]
        kernel: Option<String>,
        #[command(flatten)]
        plan: ChannelPlanArgs,
        /// Print a JSON array, one object per kernel, instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
    },
}

/// What the channel runs measure.
#[derive(clap::Args)]
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
    /// Also scale the events (10^3 to 10^6), the unicast subscribers
    /// (1 to 16) and the multicast batch (1 to 128).
    #[arg(long)]
    scaling: bool,
    /// Echo requests from the wire per run against the kernel's NFLOG
    /// (needs the host's `nft`); 0 leaves NFLOG out.
    #[arg(long, default_value_t = 5000)]
    frames: u32,
}

impl ChannelPlanArgs {
    fn plan(&self) -> Result<bench::Plan> {
        let plan = bench::Plan {
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
#[derive(clap::Args)]
struct BenchAllArgs {
    /// Kernel ids, comma-separated, or `all`; the default kernel if left
    /// out.
    #[arg(long)]
    kernel: Option<String>,
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
    /// Print a JSON array, one object per kernel, instead of the table.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelChoice,
}

#[derive(Subcommand)]
enum KernelsCmd {
    /// List the kernels and whether each is built.
    List {
        #[arg(long)]
        json: bool,
        /// Only the ids of the kernels KULINK_KERNELS and
        /// KULINK_SKIP_KERNELS select, as a JSON array (for CI matrices).
        #[arg(long, conflicts_with = "json")]
        ids: bool,
    },
    /// Fetch and build kernels into the cache: ids (comma-separated) or
    /// `all`. Goes on past a failure and reports every one at the end.
    Build { ids: String },
    /// The source a kernel would be built from, resolved without
    /// downloading (`linux-source-6.1=6.1.192-2`): a cache key for CI.
    Source { id: String },
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

fn parse_file(spec: &str) -> Result<GuestFile, String> {
    GuestFile::parse(spec).map_err(|e| format!("{e:#}"))
}

/// `kulink test` on each kernel in turn; like `run --kernel all`, one
/// kernel's infrastructure failure does not stop the others.
/// `kulink bench`: every figure on each kernel, then the table or JSON,
/// and the chart when asked for. Fails on a splat or an unexplained drop;
/// a target missed is a figure, not a failure.
fn bench_all(args: BenchAllArgs) -> Result<ExitCode> {
    let plan = bench::SummaryPlan {
        boots: args.boots.into(),
        channels: args.plan.plan()?,
        command_runs: args.command_runs.into(),
    };
    if let Some(plot) = &args.plot {
        check_writable(plot)?;
    }
    let mut summaries = Vec::new();
    for kernel in listed_kernels(args.kernel.as_deref())? {
        summaries.push(bench::summary(kernel, args.accel, &plan)?);
    }
    print!("{}", Output::BenchSummary(&summaries).render(Format::of(args.json)));
    if let Some(plot) = &args.plot {
        bench::chart::write_svg(&summaries, plot)?;
        kulink::testbed::progress::note(format!("wrote the chart to {}", plot.display()));
    }
    let good = summaries
        .iter()
        .all(|s| s.boot.kernel_log_clean && s.channels.kernel_log_clean && s.channels.every_drop_explained);
    Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
}

/// A file the run will write at its end: its directory must exist now,
/// not after the benchmark's minutes.
fn check_writable(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(kulink::testbed::usage_error(format!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

fn test_module(
    test: &ModuleTest,
    kernels: Vec<KernelChoice>,
    format: Format,
    junit: Option<&Path>,
) -> Result<ExitCode> {
    let mut runs = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for kernel in kernels {
        match test.run(&kernel) {
            Ok(report) => {
                if format == Format::Table {
                    print!("{}", Output::ModuleTest(&report).render(format));
                }
                if !report.passed && code == ExitCode::SUCCESS {
                    code = ExitCode::from(EXIT_FAILED as u8);
                }
                runs.push(RunOutcome::Report(report));
            }
            Err(e) => {
                let error = RunError::new(&kernel.label(), &e);
                eprintln!("kulink: kernel {}: error: {e:#}", error.kernel);
                code = ExitCode::from(error.exit_code as u8);
                runs.push(RunOutcome::Error(error));
            }
        }
    }
    if format == Format::Json {
        print!("{}", Output::ModuleTests(&runs).render(format));
    }
    if let Some(path) = junit {
        std::fs::write(path, kulink::junit::render(&runs)).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(code)
}

#[derive(clap::Args)]
struct TestArgs {
    /// The module's Kbuild directory (it must build exactly one .ko).
    #[arg(long)]
    module: PathBuf,
    /// A parameter for the module at load, NAME=VALUE (repeatable).
    #[arg(long = "module-param", value_name = "NAME=VALUE", value_parser = module_test::parse_param)]
    params: Vec<(String, String)>,
    /// Kernel ids, comma-separated, or `all`; the default kernel if left out.
    #[arg(long)]
    kernel: Option<String>,
    /// A host file to put in the guest, HOST_PATH:GUEST_PATH (repeatable).
    #[arg(long = "file", value_name = "SRC:DST", value_parser = parse_file)]
    files: Vec<GuestFile>,
    /// busybox as /bin/sh in the guest (from the host's busybox-static).
    #[arg(long)]
    shell: bool,
    /// Record this generic netlink multicast group from boot on.
    #[arg(long, value_name = "FAMILY:GROUP")]
    genl: Option<String>,
    /// The family's YNL spec, to decode its messages into named fields
    /// (without it they come as raw attributes).
    #[arg(long, value_name = "FILE", requires = "genl")]
    spec: Option<PathBuf>,
    /// Ethernet frames to replay to the guest before COMMAND starts (it
    /// sees their effects; MAC addresses are rewritten to the wire's).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// The messages the group must carry, in order, exactly once (YAML:
    /// a list of {op, attrs}; fields not named are not compared).
    #[arg(long, value_name = "FILE", requires = "genl")]
    expect: Option<PathBuf>,
    /// Also write the verdicts as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run COMMAND in network and user namespaces of its own: root there,
    /// nobody (65534) outside, with `lo` and an `eth0` at 192.0.2.100/24
    /// whose veth pair the guest forwards to and from the wire (the peer is
    /// 192.0.2.1). Replayed frames still go to the guest's own address.
    #[arg(long)]
    netns: bool,
    /// Seconds COMMAND may run before it is killed.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print a JSON array, one object per kernel, instead of the tables.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelChoice,
    /// The program to run in the guest (an absolute guest path) and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

impl TestArgs {
    /// The test, with every file it names read and checked before any build.
    fn test(self) -> Result<ModuleTest> {
        let spec = self.spec.as_deref().map(Spec::load).transpose().map_err(|e| usage_error(format!("--spec: {e}")))?;
        let genl = self.genl.as_deref().map(|text| GenlWatch::new(text, spec)).transpose()?;
        let test = ModuleTest {
            module: self.module,
            params: self.params,
            files: self.files,
            shell: self.shell,
            accel: self.accel,
            command: self.command,
            netns: self.netns,
            timeout: Duration::from_secs(self.timeout),
            genl,
            traffic: self.pcap.as_deref().map(kulink::testbed::pcap::read).transpose()?.unwrap_or_default(),
            expected: self.expect.as_deref().map(expect::load).transpose()?,
        };
        test.check()?;
        Ok(test)
    }

    fn kernels(&self) -> Result<Vec<KernelChoice>> {
        listed_kernels(self.kernel.as_deref())
    }
}

/// Catalog ids, comma-separated, or `all`; the default kernel for none.
/// Every id is checked before anything is built.
fn listed_kernels(ids: Option<&str>) -> Result<Vec<KernelChoice>> {
    let specs = match ids {
        None => vec![kernels::default_spec()?],
        Some("all") => kernels::list()?,
        Some(ids) => kernels::ids_in(ids).map(kernels::find).collect::<Result<_>>()?,
    };
    Ok(specs.into_iter().map(|k| KernelChoice::Listed(Some(k.id))).collect())
}

/// `--echoes` within what a standard plan allows (`Plan::ECHOES`).
fn echoes_in_range() -> clap::builder::RangedI64ValueParser<u16> {
    let range = Plan::ECHOES;
    clap::value_parser!(u16).range(i64::from(*range.start())..=i64::from(*range.end()))
}

/// `--kernel all`, or the one kernel `kernel_choice` makes of the flags;
/// every catalog id is checked before anything is built.
fn kernel_choices(kernel: Option<String>, kdir: Option<PathBuf>, src: Option<PathBuf>) -> Result<Vec<KernelChoice>> {
    let choices: Vec<KernelChoice> = match kernel.as_deref() {
        Some("all") => kernels::list()?.into_iter().map(|k| KernelChoice::Listed(Some(k.id))).collect(),
        _ => vec![kernel_choice(kernel, kdir, src)?],
    };
    for choice in &choices {
        if let KernelChoice::Listed(Some(id)) = choice {
            kernels::find(id)?;
        }
    }
    Ok(choices)
}

/// One job per kernel, each sending `traffic`.
fn jobs(choices: Vec<KernelChoice>, backend: Backend, accel: AccelChoice, traffic: &Traffic) -> Vec<JobOptions> {
    choices.into_iter().map(|kernel| JobOptions { kernel, backend, accel, traffic: traffic.clone() }).collect()
}

fn kernel_choice(kernel: Option<String>, kdir: Option<PathBuf>, src: Option<PathBuf>) -> Result<KernelChoice> {
    Ok(match (kernel, kdir, src) {
        (_, _, Some(src)) => KernelChoice::Source(src),
        (Some(image), Some(kdir), None) => KernelChoice::Prebuilt { bzimage: image.into(), kdir },
        (Some(id), None, None) if std::path::Path::new(&id).is_file() => {
            return Err(usage_error(format!(
                "--kernel {id} is an image file: also give its build directory with --kdir"
            )))
        }
        (id, None, None) => KernelChoice::Listed(id),
        (None, Some(_), None) => unreachable!("clap requires --kernel with --kdir"),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Bars for a person at a terminal; plain lines (the default) in logs.
    if std::io::stderr().is_terminal() {
        progress::set_renderer(Box::new(progress::Bars::new()));
    }
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kulink: error: {e:#}");
            ExitCode::from(kulink::exit_code(&e) as u8)
        }
    }
}

/// Runs each job. With `all`, one kernel's infrastructure failure is
/// reported and the others still run; `--json` then prints an array with an
/// error object in that kernel's place. Tables are printed as each kernel
/// finishes, JSON once at the end.
fn run_jobs(jobs: &[JobOptions], all: bool, format: Format, dir: Option<PathBuf>) -> Result<ExitCode> {
    let mut runs = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for opts in jobs {
        let label = opts.kernel.label();
        let run_dir = match &dir {
            Some(dir) if all => dir.join(&label),
            Some(dir) => dir.clone(),
            None => record::default_dir(&label),
        };
        match job::run(opts, &run_dir) {
            Ok(report) => {
                progress::note(format!("run recorded in {} (`kulink report DIR` judges it again)", run_dir.display()));
                if format == Format::Table {
                    print!("{}", Output::Run(&report).render(format));
                }
                if !report.passed && code == ExitCode::SUCCESS {
                    code = ExitCode::from(EXIT_FAILED as u8);
                }
                runs.push(RunOutcome::Report(report));
            }
            Err(e) => {
                let error = RunError::new(&label, &e);
                if !all {
                    if format == Format::Json {
                        print!("{}", Output::RunError(&error).render(format));
                    }
                    return Err(e);
                }
                eprintln!("kulink: kernel {}: error: {e:#}", error.kernel);
                code = ExitCode::from(error.exit_code as u8);
                runs.push(RunOutcome::Error(error));
            }
        }
    }
    if format == Format::Json {
        let text = match runs.as_slice() {
            [RunOutcome::Report(report)] if !all => Output::Run(report).render(format),
            _ => Output::Runs(&runs).render(format),
        };
        print!("{text}");
    }
    Ok(code)
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    paths::checked_cache_dir()?;
    match cli.command {
        Cmd::Report { dir, json } => {
            let report = job::judge(&RunRecord::load(&dir)?)?;
            print!("{}", Output::Run(&report).render(Format::of(json)));
            Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Run { kernel, kdir, kernel_src, json, accel, backend, echoes, out } => {
            let all = kernel.as_deref() == Some("all");
            let traffic = Traffic::Standard { echoes };
            let jobs = jobs(kernel_choices(kernel, kdir, kernel_src)?, backend, accel, &traffic);
            jobs.iter().try_for_each(JobOptions::check)?;
            run_jobs(&jobs, all, Format::of(json), out)
        }
        // Without --pcap, clap has made sure --corpus was given.
        Cmd::Inject { pcap, corpus: _, kernel, rate, json, accel, out } => {
            let all = kernel.as_deref() == Some("all");
            let frames = match pcap {
                Some(path) => kulink::testbed::pcap::read(&path)?,
                None => corpus::entries(&Wire::default()).into_iter().map(|e| e.frame).collect(),
            };
            let traffic = Traffic::Frames { frames, gap: Duration::from_secs(1) / rate };
            let jobs = jobs(kernel_choices(kernel, None, None)?, Backend::Qemu, accel, &traffic);
            jobs.iter().try_for_each(JobOptions::check)?;
            run_jobs(&jobs, all, Format::of(json), out)
        }
        Cmd::Fuzz { module, spec, device, ioctl, kernel, count, seed, unprivileged, json, accel } => {
            let spec = match spec {
                Some(path) => {
                    Some(Spec::load(&path).map_err(|e| usage_error(format!("--spec {}: {e}", path.display())))?)
                }
                None => None,
            };
            let guest = GuestBuilder::new(kernel_choice(kernel, None, None)?).module(module).accel(accel);
            guest.check()?;
            let sender = if unprivileged { fuzz::Sender::Unprivileged } else { fuzz::Sender::Root };
            let report = match (spec, device) {
                (Some(spec), _) => fuzz::run(&guest, &spec, count as usize, seed, sender)?,
                (None, Some(device)) => device_fuzz::run(&guest, &device, &ioctl, count as usize, seed, sender)?,
                (None, None) => unreachable!("clap requires --spec or --device"),
            };
            print!("{}", Output::Fuzz(&report).render(Format::of(json)));
            Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Flood { kernel, frames, read_every_ms, socket_buffer, umh_rate, json, accel } => {
            let pace = Pace { read_every_ms, socket_buffer: Some(socket_buffer) };
            let flood = Flood { frames, pace, umh_rate, drain_timeout: Duration::from_secs(120) };
            let run = flood::boot_and_run(kernel_choice(kernel, None, None)?, accel, &flood)?;
            print!("{}", Output::Flood(&run).render(Format::of(json)));
            Ok(if run.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Bench { command: None, all } => bench_all(all),
        Cmd::Bench { command: Some(BenchCmd::Boot { kernel, boots, kernel_args, json, accel }), .. } => {
            let mut benches = Vec::new();
            for kernel in listed_kernels(kernel.as_deref())? {
                benches.push(bench::boot(kernel, accel, boots.into(), &kernel_args)?);
            }
            print!("{}", Output::BootBench(&benches).render(Format::of(json)));
            let clean = benches.iter().all(|b| b.kernel_log_clean);
            Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Bench { command: Some(BenchCmd::Channels { kernel, plan, json, accel }), .. } => {
            let plan = plan.plan()?;
            let mut benches = Vec::new();
            for kernel in listed_kernels(kernel.as_deref())? {
                benches.push(bench::channels(kernel, accel, &plan)?);
            }
            print!("{}", Output::ChannelBench(&benches).render(Format::of(json)));
            let good = benches.iter().all(|b| b.kernel_log_clean && b.every_drop_explained);
            Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Test(args) => {
            let (choices, format, junit) = (args.kernels()?, Format::of(args.json), args.junit.clone());
            test_module(&args.test()?, choices, format, junit.as_deref())
        }
        Cmd::Kernels { command: KernelsCmd::List { json, ids } } => {
            if ids {
                let selected: Vec<String> = kernels::selected()?.into_iter().map(|k| k.id).collect();
                print!("{}", Output::KernelIds(&selected).render(Format::Json));
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<KernelRow> = kernels::list()?
                .into_iter()
                .map(|k| {
                    let cache_dir = kernels::cached_build(&k);
                    KernelRow {
                        schema_version: kulink::report::SCHEMA_VERSION,
                        kind: k.kind(),
                        cached: cache_dir.is_some(),
                        cache_dir,
                        id: k.id,
                        version: k.version,
                        default: k.default,
                        fragments: k.fragments,
                        distro: k.distro,
                    }
                })
                .collect();
            print!("{}", Output::Kernels(&rows).render(Format::of(json)));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernels { command: KernelsCmd::Source { id } } => {
            let version = kernels::source_version(&kernels::find(&id)?).map_err(anyhow::Error::msg)?;
            print!("{}", Output::Source(&version).render(Format::Table));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernels { command: KernelsCmd::Build { ids } } => {
            let specs = if ids == "all" {
                kernels::list()?
            } else {
                kernels::ids_in(&ids).map(kernels::find).collect::<Result<_>>()?
            };
            kernels::preflight(&specs)?;
            let mut failed = Vec::new();
            for spec in specs {
                match kernels::ensure_built(&spec) {
                    Ok(built) => {
                        let built = Output::Built { id: &built.id, release: &built.release, bzimage: &built.bzimage };
                        print!("{}", built.render(Format::Table));
                    }
                    Err(e) => {
                        eprintln!("kulink: kernel {} failed: {e:#}", spec.id);
                        failed.push(format!("{}: {e:#}", spec.id));
                    }
                }
            }
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} kernel(s) failed to build; leave them out with KULINK_SKIP_KERNELS=ID[,ID...]:\n{}",
                    failed.len(),
                    failed.join("\n")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
