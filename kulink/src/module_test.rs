//! `kulink test`: any module, any command. Build the module for a kernel,
//! boot with it loaded by the bare agent, record a generic netlink group
//! and the groups of classic netlink protocols, replay a capture, run the
//! command in the guest, and judge its exit status (and KTAP results), the
//! group's messages against what the test expects, and the kernel log.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use kulink_protocol::{GenlDelivery, Ran, NO_NETLINK_PROTOCOL};
use kulink_testbed::artifacts::KernelChoice;
use kulink_testbed::coverage::FileCoverage;
#[cfg(doc)]
use kulink_testbed::frames::Wire;
use kulink_testbed::genl::classic::{self, Record};
use kulink_testbed::genl::spec::Protocol;
use kulink_testbed::genl::{Message, Spec};
use kulink_testbed::known_bugs::Accepted;
use kulink_testbed::splat::Splat;
use kulink_testbed::tools::Busybox;
use kulink_testbed::usage_error;
use kulink_testbed::vm::{decode_deliveries, netlink_records, Started};
use serde::Serialize;

use crate::builder::{ModuleGuest, ModuleSetup};
use crate::expect::{self, ExpectedMessage};
use crate::ktap::Ktap;
use crate::{guest_command, kunit, GuestBuilder};

/// What `kulink test` was asked to do on each kernel.
#[derive(Debug, Clone)]
pub struct ModuleTest {
    /// The module and what its guest carries.
    pub setup: ModuleSetup,
    /// The command to run in the guest: `argv[0]` is a guest path. It may
    /// be empty when there are KUnit suites to run.
    pub command: Vec<String>,
    /// A directory whose Kbuild builds the module's KUnit test module:
    /// built against the module's symbols, loaded once the guest is up,
    /// its suites read case by case (see [`kunit`]).
    pub kunit: Option<PathBuf>,
    /// Run the command in network and user namespaces of its own, linked
    /// to the wire at [`Wire::netns_ip`]`(0)` (see
    /// [`Netns`](kulink_protocol::Netns)).
    pub netns: bool,
    /// How long the command may run.
    pub timeout: Duration,
    /// The generic netlink group to record from boot to the end.
    pub genl: Option<GenlWatch>,
    /// Groups of classic netlink protocols to record, from the module's
    /// load until the command ended.
    pub netlink: Vec<NetlinkWatch>,
    /// Frames replayed to the guest once the group is recorded, before
    /// the command starts (see [`kulink_testbed::pcap::replay`]).
    pub traffic: Vec<Vec<u8>>,
    /// What the group must carry, exactly, in order.
    pub expected: Option<Vec<ExpectedMessage>>,
}

/// A generic netlink group to record, and the family's spec to decode it.
#[derive(Debug, Clone)]
pub struct GenlWatch {
    /// The family's name.
    pub family: String,
    /// The multicast group's name.
    pub group: String,
    /// The family's YNL spec; without one, messages are raw attributes.
    pub spec: Option<Spec>,
}

impl GenlWatch {
    /// `FAMILY:GROUP`, checked against the spec when there is one.
    pub fn new(text: &str, spec: Option<Spec>) -> Result<Self> {
        let (family, group) = text
            .split_once(':')
            .filter(|(f, g)| !f.is_empty() && !g.is_empty())
            .ok_or_else(|| usage_error(format!("--genl {text:?} is not FAMILY:GROUP")))?;
        if let Some(spec) = &spec {
            if let Protocol::Raw(number) = spec.protocol {
                return Err(usage_error(format!(
                    "--genl {text}: the spec describes {}, a family of netlink protocol {number} (netlink-raw), not \
                     generic netlink: record it with --netlink {number}",
                    spec.name
                )));
            }
            if spec.name != family {
                return Err(usage_error(format!("--genl {text}: the spec describes family {}", spec.name)));
            }
            if !spec.mcast_groups.iter().any(|g| g == group) {
                return Err(usage_error(format!(
                    "--genl {text}: the spec has no group {group} (it has: {})",
                    spec.mcast_groups.join(", ")
                )));
            }
        }
        Ok(Self { family: family.into(), group: group.into(), spec })
    }
}

/// Groups of one classic netlink protocol to record: a module's own unit
/// (`netlink_kernel_create`), the connector, kobject uevents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkWatch {
    /// The protocol number.
    pub protocol: u32,
    /// Its multicast groups, numbered from 1.
    pub groups: Vec<u32>,
    /// A `netlink-raw` spec of the protocol (rtnetlink's `rt-link.yaml`,
    /// say), to decode its messages into operations and named fields.
    pub spec: Option<Spec>,
}

impl NetlinkWatch {
    /// `PROTO[:GROUP,...]`: a protocol by number or name (`connector`,
    /// `uevent`...), and its groups (group 1 when none is given).
    ///
    /// ```
    /// use kulink::module_test::NetlinkWatch;
    /// assert_eq!(NetlinkWatch::new("connector:14").unwrap(), NetlinkWatch { protocol: 11, groups: vec![14], spec: None });
    /// assert_eq!(NetlinkWatch::new("31").unwrap().groups, [1]);
    /// assert!(NetlinkWatch::new("uevent:0").is_err());
    /// ```
    pub fn new(text: &str) -> Result<Self> {
        let bad = |why: String| usage_error(format!("--netlink {text}: {why}"));
        let (protocol, groups) = text.split_once(':').unwrap_or((text, "1"));
        let protocol = classic::protocol_number(protocol).map_err(bad)?;
        let groups = groups
            .split(',')
            .map(|g| g.trim().parse::<u32>().ok().filter(|g| *g >= 1))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(format!("{groups:?} is not a list of group numbers from 1")))?;
        Ok(Self { protocol, groups, spec: None })
    }

    /// Decodes the protocol's messages by `spec`, which must be a
    /// `netlink-raw` spec of this protocol.
    pub fn with_spec(mut self, spec: Spec) -> Result<Self> {
        if spec.protocol != Protocol::Raw(self.protocol) {
            return Err(usage_error(format!(
                "--netlink {}: the spec describes {}, which is not a netlink-raw family of protocol {}",
                self.protocol, spec.name, self.protocol
            )));
        }
        self.spec = Some(spec);
        Ok(self)
    }
}

/// One record of a classic netlink protocol, and its protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetlinkRecord {
    /// The protocol number.
    pub protocol: u32,
    /// What it carried.
    #[serde(flatten)]
    pub record: Record,
    /// The message decoded by the protocol's spec, when one was given and
    /// names its type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// One kernel's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleTestReport {
    /// [`SCHEMA_VERSION`](crate::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// How the guest started, and its boot figure.
    #[serde(flatten)]
    pub started: Started,
    /// Host wall time from QEMU's start until the guest was ready, the
    /// module loaded (restored or not).
    pub wall_boot_ms: u64,
    /// The module's directory.
    pub module: PathBuf,
    /// The command run in the guest.
    pub command: Vec<String>,
    /// The command's address on the wire, when it ran in namespaces of its
    /// own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns_address: Option<Ipv4Addr>,
    /// How the command ended and what it wrote, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran: Option<Ran>,
    /// Why the command never ended, when the module left it stuck in the
    /// kernel (where it waits, killed or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck: Option<String>,
    /// The KUnit suites the test module ran, each case.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kunit: Vec<kunit::Suite>,
    /// The command's KTAP results, when it printed KTAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ktap: Option<Ktap>,
    /// The frames replayed before the command.
    pub frames_replayed: usize,
    /// What the recorded group carried, decoded.
    pub messages: Vec<Message>,
    /// What the recorded classic netlink protocols carried, in order for
    /// each protocol.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub netlink: Vec<NetlinkRecord>,
    /// How the messages differ from the expected ones, how KTAP cases
    /// failed, what was lost.
    pub problems: Vec<String>,
    /// No splat in the kernel log.
    pub kernel_log_clean: bool,
    /// Each splat found.
    pub splats: Vec<Splat>,
    /// The splats a known-bugs entry accepted (see
    /// [`GuestBuilder::known_bugs`](crate::GuestBuilder::known_bugs)), with
    /// its reason and last day: they fail nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<Accepted>,
    /// This run's coverage of the module's sources, by file, when
    /// [`ModuleSetup::coverage`] asked for it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<FileCoverage>,
    /// Where a failed run's console log and agent transcript were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<PathBuf>,
    /// The command exited with 0 in time, nothing in `problems` (a failed
    /// KUnit case among them), and the kernel log is clean; for a flaky
    /// test, only when flakes are accepted.
    pub passed: bool,
    /// The test failed and then passed when run again (see
    /// [`ModuleTest::run_retrying`]): this report is the passing run's.
    pub flaky: bool,
    /// The runs that failed before this one, each with its own evidence,
    /// when the test was run again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_runs: Vec<ModuleTestReport>,
}

/// How a test that fails is run again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    /// How many more runs a failed test gets, each in a fresh guest.
    pub count: u32,
    /// Whether a test that fails and then passes passes (as flaky).
    pub accept_flaky: bool,
}

/// The environment variable that tells the command which run of the test
/// it is part of: 1 for the first, 2 for the first retry, ...
pub const ATTEMPT_VARIABLE: &str = "KULINK_ATTEMPT";

/// Splits `NAME=VALUE`, as `--module-param` takes it.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            if value.contains(char::is_whitespace) {
                return Err(format!("{text:?}: a value cannot hold spaces (it travels on the kernel command line)"));
            }
            Ok((name.into(), value.into()))
        }
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

impl ModuleTest {
    /// Says what is wrong before anything is built or booted.
    pub fn check(&self) -> Result<()> {
        // The module directory, parameters and files, as any guest checks them.
        self.setup.builder(KernelChoice::Listed(None)).check()?;
        if self.expected.is_some() && self.genl.is_none() {
            return Err(usage_error("--expect needs --genl FAMILY:GROUP: the group whose messages it lists"));
        }
        if let Some(dir) = &self.kunit {
            GuestBuilder::new(KernelChoice::Listed(None)).module(dir).check()?;
        }
        if self.command.is_empty() && self.kunit.is_none() {
            return Err(usage_error("give a command to run in the guest, or --kunit DIR"));
        }
        if !self.command.is_empty() {
            self.needs_busybox()?;
        }
        Ok(())
    }

    /// Whether the command needs busybox (asked for or not): it is an
    /// applet, or a script for one. A command that cannot start in the
    /// guest is a usage error.
    fn needs_busybox(&self) -> Result<bool> {
        let program = match self.command.first() {
            Some(program) if program.starts_with('/') => program,
            _ => {
                return Err(usage_error(format!(
                    "the command {:?} must start with an absolute guest path (/bin/sh -c '...' for a shell's)",
                    self.command
                )))
            }
        };
        let needs =
            guest_command::needs_busybox(program, &self.setup.files_given()?, self.setup.host_root, Busybox::host)?;
        Ok(needs || self.setup.shell)
    }

    /// Runs the command on one kernel. Infrastructure problems are errors;
    /// a failing command, an unexpected message or a splat is a report with
    /// `passed: false`.
    pub fn run(&self, kernel: &KernelChoice) -> Result<ModuleTestReport> {
        self.run_attempt(kernel, 1)
    }

    /// Runs the test on one kernel as [`ModuleTest::run`] does, and a run
    /// that fails again, up to `retries.count` more times. A test that
    /// fails and then passes is flaky: its report is the passing run's,
    /// with `flaky` set and the failed runs' reports (and evidence); it
    /// passes only when `retries.accept_flaky`. A test that fails every
    /// time gives its last run's report with the earlier ones.
    pub fn run_retrying(&self, kernel: &KernelChoice, retries: Retries) -> Result<ModuleTestReport> {
        let mut failed_runs = Vec::new();
        for attempt in 1..=retries.count + 1 {
            let report = self.run_attempt(kernel, attempt)?;
            if report.passed {
                let flaky = !failed_runs.is_empty();
                return Ok(ModuleTestReport { passed: !flaky || retries.accept_flaky, flaky, failed_runs, ..report });
            }
            failed_runs.push(report);
        }
        let mut last = failed_runs.pop().expect("at least one run");
        last.failed_runs = failed_runs;
        Ok(last)
    }

    /// One run of the test, the command told which (see
    /// [`ATTEMPT_VARIABLE`]).
    fn run_attempt(&self, kernel: &KernelChoice, attempt: u32) -> Result<ModuleTestReport> {
        self.check()?;
        let mut guest = self.setup.builder(kernel.clone());
        if !self.command.is_empty() && self.needs_busybox()? {
            guest = guest.shell();
        }
        if let Some(dir) = &self.kunit {
            guest = guest.module(dir).load_at_boot(false).needs_option("CONFIG_KUNIT", "--kunit");
        }
        // Recordings of classic netlink start before the module loads, so
        // that what its init announces (a device's `add` uevent) is heard.
        let load_after_watching = !self.netlink.is_empty() && self.kunit.is_none();
        if load_after_watching {
            guest = guest.load_at_boot(false);
        }
        let art = guest.prepare()?;
        let mut vm = guest.boot_prepared(&art)?;
        if self.setup.gdb {
            let gdb = vm.gdb_command()?;
            kulink_testbed::progress::note(format!("kernel {}: attach gdb with:\n{gdb}", art.kernel.id));
        }
        let mut problems = Vec::new();
        let suites = match &self.kunit {
            Some(source) => {
                let mut suites = kunit::run(&mut vm)?;
                if let Some(built) = art.module.as_deref().and_then(std::path::Path::parent) {
                    kunit::point_at_source(&mut suites, built, source);
                }
                problems.extend(kunit::problems(&suites, &format!("{}.ko", vm.module_name().unwrap_or_default())));
                suites
            }
            None => Vec::new(),
        };
        let mut watches: Vec<&NetlinkWatch> = self.netlink.iter().collect();
        if load_after_watching {
            // A protocol the module creates itself is watched once it has.
            let mut after_load = Vec::new();
            for watch in watches {
                match vm.netlink_subscribe(watch.protocol, &watch.groups) {
                    Err(e) if format!("{e:#}").contains(NO_NETLINK_PROTOCOL) => after_load.push(watch),
                    other => other?,
                }
            }
            self.load_module(&mut vm)?;
            watches = after_load;
        }
        for watch in watches {
            match vm.netlink_subscribe(watch.protocol, &watch.groups) {
                Err(e) if format!("{e:#}").contains(NO_NETLINK_PROTOCOL) => problems.push(format!(
                    "netlink protocol {}: nothing in the guest serves it once the module is loaded (a module creates its \
                     own with netlink_kernel_create; the connector needs CONFIG_CONNECTOR, --kconfig adds it)",
                    watch.protocol
                )),
                other => other?,
            }
        }
        // A family exists once its module registered it: nobody can hear
        // its groups before.
        if let Some(watch) = &self.genl {
            vm.genl_subscribe(&watch.family, &watch.group)?;
        }
        if !self.traffic.is_empty() {
            if let Err(e) = vm.replay(&self.traffic, REPLAY_GAP) {
                // The console and transcript tell whether the guest took the frames in.
                vm.keep_evidence();
                return Err(e);
            }
        }
        let argv: Vec<&str> = self.command.iter().map(String::as_str).collect();
        let netns = self.netns.then(|| vm.wire().netns(0));
        let env = [format!("{ATTEMPT_VARIABLE}={attempt}")];
        let ran = match argv.is_empty() {
            true => Ok(None),
            false => vm.run_with_env(netns, &argv, &env, self.timeout).map(Some),
        };
        // A command the module left stuck in the kernel is the module's
        // failure: told as a problem, with everything else the run saw
        // (a WARN before the hang, say), not instead of it.
        let (ran, stuck) = match ran {
            Ok(ran) => (ran, None),
            Err(e) if e.is::<kulink_testbed::ModuleFailure>() => (None, Some(format!("{e:#}"))),
            Err(e) => return Err(e),
        };
        let command_passed = stuck.is_none() && ran.as_ref().is_none_or(Ran::success);
        let messages = match &self.genl {
            Some(watch) => self.messages(&mut vm, watch).unwrap_or_else(|e| {
                problems.push(format!("{e:#}"));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let netlink = self.netlink_records(&mut vm).unwrap_or_else(|e| {
            problems.push(format!("{e:#}"));
            Vec::new()
        });
        if let Some(expected) = &self.expected {
            problems.extend(expect::differences(expected, &messages));
        }
        let ktap = ran.as_ref().and_then(|ran| Ktap::parse(&ran.stdout));
        problems.extend(ktap.iter().flat_map(Ktap::problems));
        let (kernel_release, accel) = (vm.ready().kernel.clone(), vm.accel().name().to_owned());
        let (started, wall_boot_ms) = (vm.started().clone(), vm.wall_boot().as_millis() as u64);
        if !command_passed || !problems.is_empty() {
            vm.keep_evidence();
        }
        let evidence = vm.evidence_dir().to_owned();
        let finished = vm.shutdown()?;
        let kernel_log_clean = finished.splats.is_empty();
        let passed = command_passed && problems.is_empty() && kernel_log_clean;
        Ok(ModuleTestReport {
            schema_version: crate::outcome::SCHEMA_VERSION,
            kernel: art.kernel.id.clone(),
            kernel_release,
            accel,
            started,
            wall_boot_ms,
            module: self.setup.module.clone(),
            command: self.command.clone(),
            netns_address: netns.map(|n| n.address),
            passed,
            evidence: (!passed).then_some(evidence),
            ran,
            stuck,
            kunit: suites,
            ktap,
            frames_replayed: self.traffic.len(),
            messages,
            netlink,
            problems,
            kernel_log_clean,
            splats: finished.splats,
            accepted: finished.accepted,
            coverage: finished.coverage,
            flaky: false,
            failed_runs: Vec::new(),
        })
    }

    /// Loads the module under test into a guest booted without it; a
    /// refusal or a fault in its init is the module's failure.
    fn load_module(&self, vm: &mut ModuleGuest) -> Result<()> {
        let params: Vec<String> = self.setup.params.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let file = format!("{}.ko", vm.module_name().unwrap_or_default());
        vm.load_module(&params.join(" ")).map_err(|e| match e.is::<kulink_testbed::Refused>() {
            true => anyhow::Error::new(kulink_testbed::ModuleFailure(format!(
                "{file} failed to load: the kernel refused it with {e:#}"
            ))),
            false => e,
        })
    }

    /// The group's messages: once as many as expected came (or, without
    /// expectations, once none came for a while), and a little longer, so
    /// that one too many is seen too.
    fn messages(&self, vm: &mut ModuleGuest, watch: &GenlWatch) -> Result<Vec<Message>> {
        let count = |got: &[_]| got.iter().filter(|d: &&GenlDelivery| d.family == watch.family).count();
        if let Some(expected) = &self.expected {
            vm.collect_genl_until(MESSAGE_WAIT, |got| count(got) >= expected.len())?;
        }
        loop {
            let before = count(vm.genl_deliveries());
            vm.collect_genl_until(QUIET, |_| false)?;
            if count(vm.genl_deliveries()) == before {
                break;
            }
        }
        decode_deliveries(&watch.family, watch.spec.as_ref(), vm.byte_order(), vm.genl_deliveries())
    }
}

impl ModuleTest {
    /// What the protocols carried until the command ended, and for
    /// [`QUIET`] after: a protocol may carry something all the time (the
    /// connector sample's timer), so nothing waits for it to fall silent.
    fn netlink_records(&self, vm: &mut ModuleGuest) -> Result<Vec<NetlinkRecord>> {
        if self.netlink.is_empty() {
            return Ok(Vec::new());
        }
        vm.collect_netlink_until(QUIET, |_| false)?;
        let mut protocols: Vec<u32> = self.netlink.iter().map(|w| w.protocol).collect();
        protocols.sort_unstable();
        protocols.dedup();
        let mut records = Vec::new();
        for protocol in protocols {
            let spec = self.netlink.iter().find_map(|w| w.spec.as_ref().filter(|_| w.protocol == protocol));
            for record in netlink_records(protocol, vm.byte_order(), vm.netlink_deliveries())? {
                let message = match (&record, spec) {
                    (Record::Message { nlmsg_type, payload, .. }, Some(spec)) => {
                        match spec.operation_by_value(*nlmsg_type) {
                            Some(op) => {
                                Some(Message::decode_as_from(spec, op, payload, vm.byte_order()).map_err(|e| {
                                    anyhow::anyhow!("netlink protocol {protocol}: message type {nlmsg_type}: {e}")
                                })?)
                            }
                            None => None,
                        }
                    }
                    _ => None,
                };
                records.push(NetlinkRecord { protocol, record, message });
            }
        }
        Ok(records)
    }
}

/// Between two replayed frames: the guest's NIC queue never fills.
const REPLAY_GAP: Duration = Duration::from_millis(2);
/// How long expected messages may take to come after the command ended.
const MESSAGE_WAIT: Duration = Duration::from_secs(20);
/// No message for this long: the group has said what it had to say.
const QUIET: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_netlink_raw_spec_decodes_its_own_protocol_only() {
        let raw = Spec::parse("name: links\nprotocol: netlink-raw\nprotonum: 0\n").unwrap();
        let route = NetlinkWatch::new("route").unwrap();
        assert_eq!(route.clone().with_spec(raw.clone()).unwrap().spec, Some(raw.clone()));
        let err = format!("{:#}", NetlinkWatch::new("31").unwrap().with_spec(raw.clone()).unwrap_err());
        assert!(err.contains("not a netlink-raw family of protocol 31"), "{err}");
        let err = format!("{:#}", GenlWatch::new("links:rtnlgrp-link", Some(raw)).unwrap_err());
        assert!(err.contains("record it with --netlink 0"), "{err}");
        assert!(NetlinkWatch::new("route:x").is_err() && NetlinkWatch::new("carrier-pigeon").is_err());
    }

    #[test]
    fn module_params_are_name_equals_one_word() {
        assert_eq!(parse_param("rate=4"), Ok(("rate".into(), "4".into())));
        assert_eq!(parse_param("path=/a=b"), Ok(("path".into(), "/a=b".into())));
        assert!(parse_param("rate").unwrap_err().contains("is not NAME=VALUE"));
        assert!(parse_param("=4").unwrap_err().contains("is not NAME=VALUE"));
        assert!(parse_param("msg=a b").unwrap_err().contains("cannot hold spaces"));
    }

    #[test]
    fn a_bad_module_dir_or_command_is_named_before_any_build() {
        let test = |module: &str, command: &[&str]| ModuleTest {
            setup: ModuleSetup::new(module),
            command: command.iter().map(|s| s.to_string()).collect(),
            kunit: None,
            netns: false,
            timeout: Duration::from_secs(1),
            genl: None,
            netlink: Vec::new(),
            traffic: Vec::new(),
            expected: None,
        };
        let module = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/udpcount/module");
        assert!(test(module, &["/bin/true"]).check().is_ok());
        let err = test("/nonexistent", &["/bin/true"]).check().unwrap_err();
        assert!(format!("{err:#}").contains("no Kbuild or Makefile"), "{err:#}");
        assert_eq!(crate::exit_code(&err), 2);
        let err = test(module, &["true"]).check().unwrap_err();
        assert!(format!("{err:#}").contains("absolute guest path"), "{err:#}");
        let err = test(module, &["/usr/bin/python3"]).check().unwrap_err();
        assert!(format!("{err:#}").contains("/usr/bin/python3 is not in the guest image"), "{err:#}");
        let expecting = ModuleTest { expected: Some(Vec::new()), ..test(module, &["/bin/true"]) };
        assert!(format!("{:#}", expecting.check().unwrap_err()).contains("--expect needs --genl"));
    }

    #[test]
    fn a_genl_watch_must_match_its_spec() {
        let spec =
            Spec::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/udpcount/udpcount.yaml").as_ref()).unwrap();
        let watch = GenlWatch::new("udpcount:notify", Some(spec.clone())).unwrap();
        assert_eq!((watch.family.as_str(), watch.group.as_str()), ("udpcount", "notify"));
        let err = |text: &str, spec: Option<Spec>| format!("{:#}", GenlWatch::new(text, spec).unwrap_err());
        assert!(err("udpcount", None).contains("is not FAMILY:GROUP"));
        assert!(err("kulink:events", Some(spec.clone())).contains("the spec describes family udpcount"));
        assert!(err("udpcount:events", Some(spec)).contains("no group events (it has: notify)"));
        assert!(GenlWatch::new("anything:goes", None).is_ok());
    }
}
