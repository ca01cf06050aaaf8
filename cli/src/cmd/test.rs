//! `kulink test`: your own module, built for each kernel, loaded in a
//! guest, and judged by what a command there saw.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use kulink::expect;
use kulink::module_test::{GenlWatch, ModuleTest, NetlinkWatch, Retries};
use kulink::outcome::Format;
use kulink::render::{coverage_table, module_test_table};
use kulink::testbed::coverage;
use kulink::testbed::genl::spec::Protocol;
use kulink::testbed::usage_error;

use crate::args::{AccelArgs, FormatArgs, GuestArgs, KernelArgs};
use crate::each_kernel::{EachKernel, OnError, Shape};

/// Test your own module: build it for each kernel, boot with it loaded,
/// run its KUnit suites, record a generic netlink group and the groups of
/// classic netlink protocols, replay a capture, run COMMAND in the guest;
/// passes when every KUnit case passes, COMMAND exits 0 in time (and its
/// KTAP cases pass), the group carried what --expect lists, and the kernel
/// log is clean.
#[derive(Args)]
pub struct TestArgs {
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    kernels: KernelArgs,
    /// Record this generic netlink multicast group, from the moment the
    /// module has registered its family.
    #[arg(long, value_name = "FAMILY:GROUP")]
    genl: Option<String>,
    /// Record these groups of a classic netlink protocol (a number, or
    /// `connector`, `uevent`, `route`...; group 1 when none is given) from
    /// the module's load until COMMAND ended: a module's own unit, the
    /// connector's callbacks (group = the callback's idx), kobject uevents.
    /// Repeatable.
    #[arg(long, value_name = "PROTO[:GROUP,...]")]
    netlink: Vec<String>,
    /// The family's YNL spec, to decode its messages into named fields
    /// (without it they come as raw attributes): a generic netlink
    /// family's for --genl, or a classic protocol's (netlink-raw, such as
    /// the kernel's rt-link.yaml) for the --netlink of that protocol.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Ethernet frames to replay to the guest before COMMAND starts (it
    /// sees their effects; MAC addresses are rewritten to the wire's).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// The messages the group must carry, in order, exactly once (YAML: a
    /// list of {op, attrs}; fields not named are not compared).
    #[arg(long, value_name = "FILE", requires = "genl")]
    expect: Option<PathBuf>,
    /// Also write the verdicts as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also append the verdicts as a Markdown table to FILE, a row per
    /// kernel: verdict, accelerator, how the guest started, what was
    /// tested (GitHub's job summary is $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Run COMMAND in network and user namespaces of its own: root there,
    /// nobody (65534) outside, with `lo` and an `eth0` at 192.0.2.100/24
    /// whose veth pair the guest forwards to and from the wire (the peer is
    /// 192.0.2.1). Replayed frames still go to the guest's own address.
    #[arg(long)]
    netns: bool,
    /// Start QEMU's gdb stub and print, once the module is loaded, the gdb
    /// command line that attaches to it with the module's symbols (see
    /// `kulink shell --gdb`); the command then runs.
    #[arg(long)]
    gdb: bool,
    /// The directory whose Kbuild builds the module's KUnit test module:
    /// built against the module's symbols, loaded once the guest is up, and
    /// each case of the suites it runs judged (COMMAND is then optional).
    #[arg(long, value_name = "DIR")]
    kunit: Option<PathBuf>,
    /// Measure which lines of the module the run reached: the module is
    /// built with coverage counters (the kernel needs CONFIG_GCOV_KERNEL),
    /// each kernel's counts are merged into DIR/lcov.info (made anew),
    /// DIR/html is its report, and a line per source file is printed.
    #[arg(long, value_name = "DIR")]
    coverage: Option<PathBuf>,
    /// Seconds COMMAND may run before it is killed.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// How many kernels are tested at once, each in a guest of its own (as
    /// many as the host has cores unless set; one with --gdb). The
    /// verdicts still come in the kernels' order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run a test that fails again, up to N more times on its kernel, each
    /// in a fresh guest (the command sees which run it is part of in
    /// $KULINK_ATTEMPT). One that fails and then passes is FLAKY: reported
    /// so (`"flaky": true` in the JSON, with each failed run's report and
    /// evidence) and failed (exit 1) unless --accept-flaky.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Let a flaky test pass (exit 0), still reported as flaky.
    #[arg(long, requires = "retries")]
    accept_flaky: bool,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    accel: AccelArgs,
    /// The program to run in the guest (an absolute guest path) and its arguments.
    #[arg(last = true, required_unless_present = "kunit", value_name = "COMMAND")]
    command: Vec<String>,
}

impl TestArgs {
    /// Tests the module on each kernel; one kernel's infrastructure
    /// failure does not stop the others.
    pub fn run(self) -> Result<ExitCode> {
        let kernels = self.kernels.choices()?;
        let (format, junit, coverage_dir) = (self.format.format(), self.junit.clone(), self.coverage.clone());
        // Opened now: a file that cannot be written is named before any build.
        let summary = match &self.summary {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| usage_error(format!("--summary {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let jobs = match (self.gdb, self.jobs) {
            // gdb's command line is for one guest at a time.
            (true, _) => 1,
            (false, Some(jobs)) => usize::from(jobs),
            (false, None) => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let retries = Retries { count: self.retries, accept_flaky: self.accept_flaky };
        let test = self.test()?;
        if let Some(dir) = &coverage_dir {
            // This command's runs alone: counts of an older build of the
            // module would land on lines that have moved.
            let _ = std::fs::remove_file(dir.join(coverage::TRACEFILE));
        }
        let each = EachKernel {
            format,
            on_error: OnError::GoOn,
            shape: Shape::Array,
            table: &|report| module_test_table(report) + "\n",
            passed: &|report: &kulink::module_test::ModuleTestReport| report.passed,
        };
        let (outcomes, code) = each.run_parallel(&kernels, jobs, |kernel| test.run_retrying(kernel, retries))?;
        if let Some(path) = junit {
            std::fs::write(&path, crate::junit::render(&outcomes))
                .with_context(|| format!("write {}", path.display()))?;
        }
        if let Some(mut file) = summary {
            std::io::Write::write_all(&mut file, crate::summary::markdown(&outcomes).as_bytes())
                .context("write the --summary file")?;
        }
        if let Some(dir) = coverage_dir.filter(|dir| dir.join(coverage::TRACEFILE).is_file()) {
            let table = coverage_table(&coverage::publish(&dir)?);
            let told = format!("coverage, all kernels together ({}):\n{table}", dir.join(coverage::HTML).display());
            match format {
                Format::Table => print!("\n{told}"),
                Format::Json => eprint!("{told}"),
            }
        }
        Ok(code)
    }

    /// The test, with every file it names read and checked before any build.
    fn test(self) -> Result<ModuleTest> {
        let spec = self.spec.as_deref().map(kulink::ynl::load_spec).transpose()?;
        let mut netlink = self.netlink.iter().map(|text| NetlinkWatch::new(text)).collect::<Result<Vec<_>>>()?;
        let (genl_spec, raw_spec) = match spec {
            Some(spec) if matches!(spec.protocol, Protocol::Raw(_)) => (None, Some(spec)),
            spec => (spec, None),
        };
        if let Some(spec) = raw_spec {
            let Protocol::Raw(number) = spec.protocol else { unreachable!("a raw spec") };
            let Some(at) = netlink.iter().position(|w| w.protocol == number) else {
                return Err(usage_error(format!(
                    "--spec: {} is a family of netlink protocol {number}: record it with --netlink {number}",
                    spec.name
                )));
            };
            netlink[at] = netlink[at].clone().with_spec(spec)?;
        }
        if genl_spec.is_some() && self.genl.is_none() {
            return Err(usage_error("--spec with a generic netlink family's spec needs --genl FAMILY:GROUP"));
        }
        let genl = self.genl.as_deref().map(|text| GenlWatch::new(text, genl_spec)).transpose()?;
        let mut setup = self.guest.setup(self.accel.accel);
        setup.gdb = self.gdb;
        setup.coverage = self.coverage;
        let test = ModuleTest {
            setup,
            command: self.command,
            kunit: self.kunit,
            netns: self.netns,
            timeout: Duration::from_secs(self.timeout),
            genl,
            netlink,
            traffic: self.pcap.as_deref().map(kulink::testbed::pcap::read).transpose()?.unwrap_or_default(),
            expected: self.expect.as_deref().map(expect::load).transpose()?,
        };
        test.check()?;
        Ok(test)
    }
}
