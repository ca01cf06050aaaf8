//! `kulink bench channels`: events per second and latency of each of
//! kulink.ko's channels, fed by the module's own generator (a softirq
//! timer), in a guest where nothing else consumes them: the core agent, the
//! module, and the benchmark program (`kulink-ko-agent --kulink-bench`), run
//! once per measurement. Every event a channel lost must show in one of its
//! loss counters. Then echo requests from the wire, through kulink.ko's
//! multicast group and through the kernel's own NFLOG side by side
//! ([`super::frames`]), at batch 1 and batched.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::{self, KernelChoice};
use kulink::testbed::vm::Vm;
use kulink_ko_contract::bench::{ChannelFigures, ChannelRun, FramesFigures, FramesRun, ARG, MEASURED};
use kulink_ko_contract::extension::HELPER_PATH;
use kulink_ko_contract::Channel;
use serde::Serialize;

use kulink::GuestBuilder;

/// Where the benchmark program sits in the guest.
const PROGRAM: &str = "/bin/kulink-bench";

/// The batches compared with NFLOG, and its group.
const FRAMES_BATCHES: [u32; 2] = [1, 32];
const NFLOG_GROUP: u16 = 7;

/// A helper process per event is slow to start: its runs are kept short.
const HELPER_COUNT: u32 = 200;
const HELPER_RATE: u32 = 100;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelPlan {
    /// Events per throughput run.
    pub count: u32,
    /// Events per second of the latency runs, far below any channel's
    /// limit.
    pub latency_rate: u32,
    /// Events per latency run.
    pub latency_count: u32,
    /// Also scale the count (10^3 to 10^6), the unicast subscribers (1 to
    /// 16) and the multicast batch (1 to 128).
    pub scaling: bool,
    /// Echo requests per run against NFLOG; 0 leaves NFLOG out.
    pub frames: u32,
}

impl Default for ChannelPlan {
    fn default() -> Self {
        Self { count: 100_000, latency_rate: 1000, latency_count: 2000, scaling: false, frames: 5000 }
    }
}

impl ChannelPlan {
    /// Every run, in order, each with the section it belongs to.
    pub fn runs(&self) -> Vec<(&'static str, ChannelRun)> {
        let mut runs = Vec::new();
        for &(channel, _) in MEASURED {
            let count = if channel == Channel::UsermodeHelper { self.count.min(HELPER_COUNT) } else { self.count };
            runs.push(("throughput", ChannelRun::new(channel, count)));
        }
        for batch in [8, 32, 128] {
            runs.push(("throughput", ChannelRun { batch, ..ChannelRun::new(Channel::NetlinkMulticast, self.count) }));
        }
        for &(channel, _) in MEASURED {
            let (count, rate) = if channel == Channel::UsermodeHelper {
                (self.latency_count.min(HELPER_COUNT), self.latency_rate.min(HELPER_RATE))
            } else {
                (self.latency_count, self.latency_rate)
            };
            runs.push(("latency", ChannelRun { rate, ..ChannelRun::new(channel, count) }));
        }
        if self.scaling {
            for count in [1_000, 10_000, 100_000, 1_000_000] {
                for channel in [Channel::NetlinkMulticast, Channel::MmapRing] {
                    runs.push(("scaling: events", ChannelRun::new(channel, count)));
                }
            }
            for consumers in [1, 2, 4, 8, 16] {
                let run = ChannelRun { consumers, ..ChannelRun::new(Channel::NetlinkUnicast, self.count / consumers) };
                runs.push(("scaling: subscribers", run));
            }
            for batch in [1, 2, 4, 8, 16, 32, 64, 128] {
                let run = ChannelRun { batch, ..ChannelRun::new(Channel::NetlinkMulticast, self.count) };
                runs.push(("scaling: batch", run));
            }
        }
        runs
    }

    /// The runs against NFLOG: one event per message, then batches of 32
    /// (kulink.ko's `batch`, NFLOG's queue threshold).
    pub fn frames_runs(&self, nft: &str) -> Vec<FramesRun> {
        if self.frames == 0 {
            return Vec::new();
        }
        FRAMES_BATCHES
            .iter()
            .map(|&batch| FramesRun {
                frames: self.frames,
                echo_id: 0x4e00 + batch as u16,
                batch,
                nflog_group: NFLOG_GROUP,
                nft: nft.to_owned(),
            })
            .collect()
    }

    /// Names what is wrong with the plan before anything boots.
    pub fn check(&self) -> Result<()> {
        for (_, run) in self.runs() {
            run.check().map_err(kulink::testbed::usage_error)?;
        }
        if self.frames > u32::from(u16::MAX) {
            return Err(kulink::testbed::usage_error(format!("frames {} is above {}", self.frames, u16::MAX)));
        }
        Ok(())
    }
}

/// One measurement and the section it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// `throughput`, `latency` or `scaling: ...`.
    pub section: String,
    /// What the benchmark program measured.
    #[serde(flatten)]
    pub figures: ChannelFigures,
    /// Every lost event shows in a loss counter.
    pub explained: bool,
}

/// Ratios of the throughput section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ratios {
    /// mmap ring events/s over netlink multicast's at batch 1.
    pub mmap_vs_netlink: Option<f64>,
    /// netlink multicast at the batch that did best over batch 1.
    pub netlink_batched_vs_batch_1: Option<f64>,
    /// Batched kulink.ko multicast over NFLOG at the same queue
    /// threshold, on the same frames (events per second).
    pub netlink_vs_nflog: Option<f64>,
}

/// One kernel's channel benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelBench {
    /// [`SCHEMA_VERSION`](kulink::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// Every run, in the plan's order.
    pub runs: Vec<Measured>,
    /// The same frames through kulink.ko and through NFLOG.
    pub frames: Vec<FramesFigures>,
    /// Ratios of the throughput runs.
    pub ratios: Ratios,
    /// Every run's losses were explained.
    pub every_drop_explained: bool,
    /// No splat in the kernel log.
    pub kernel_log_clean: bool,
}

/// kulink.ko and the benchmark program beside the core agent, which
/// consumes nothing.
fn builder(kernel: KernelChoice, accel: AccelChoice, nft: Option<&str>) -> Result<GuestBuilder> {
    // The benchmark boots guests of the host's own architecture.
    let arch = kulink::testbed::arch::Arch::host().unwrap_or_default();
    let program = artifacts::build_agent(&crate::guest::agent_source(), arch).context("build the benchmark program")?;
    let builder = GuestBuilder::new(kernel)
        .module(crate::project_dir().join("module"))
        .param("umh_path", HELPER_PATH)
        .file(program, PROGRAM)
        .accel(accel);
    Ok(match nft {
        Some(nft) => builder.host_program(nft),
        None => builder,
    })
}

/// The host's `nft`, which the guest runs from the same path.
fn find_nft() -> Result<String> {
    let nft = kulink::builder::find_program(std::path::Path::new("nft")).map_err(|_| {
        kulink::testbed::usage_error(format!(
            "nft is not installed (the NFLOG runs need it): run `{}`, or give --frames 0",
            kulink::testbed::tools::NFT.install
        ))
    })?;
    nft.to_str().map(str::to_owned).context("nft's path is not UTF-8")
}

/// Runs the plan on one kernel, in one guest.
pub fn channels(kernel: KernelChoice, accel: AccelChoice, plan: &ChannelPlan) -> Result<ChannelBench> {
    plan.check()?;
    let nft = if plan.frames > 0 { Some(find_nft()?) } else { None };
    let builder = builder(kernel, accel, nft.as_deref())?;
    let art = builder.prepare()?;
    let mut vm = builder.boot_prepared(&art)?;
    let mut runs = Vec::new();
    for (section, run) in plan.runs() {
        let figures = measure(&mut vm, &run).with_context(|| format!("{section}: {}", describe(&run)))?;
        runs.push(Measured { section: section.to_owned(), explained: figures.explained(), figures });
    }
    let mut frames = Vec::new();
    for run in plan.frames_runs(nft.as_deref().unwrap_or_default()) {
        let what = format!("{} frames against NFLOG, batch {}", run.frames, run.batch);
        frames.push(super::frames::measure(&mut vm, PROGRAM, &run).context(what)?);
    }
    let (release, accel) = (vm.ready().kernel.clone(), vm.accel().name().to_owned());
    let finished = vm.shutdown()?;
    Ok(ChannelBench {
        schema_version: kulink::outcome::SCHEMA_VERSION,
        kernel: art.kernel.id.clone(),
        kernel_release: release,
        accel,
        ratios: Ratios { netlink_vs_nflog: versus_nflog(&frames), ..ratios(&runs) },
        every_drop_explained: runs.iter().all(|m| m.explained)
            && frames.iter().all(|f| f.kulink.lost == f.kulink_counters.values().sum::<u64>()),
        runs,
        frames,
        kernel_log_clean: finished.splats.is_empty(),
    })
}

/// `netlink-multicast batch 8`, `netlink-unicast ×4 at 1000/s`.
pub fn describe(run: &ChannelRun) -> String {
    let mut s = run.channel.to_string();
    if run.batch > 1 {
        s += &format!(" batch {}", run.batch);
    }
    if run.consumers > 1 {
        s += &format!(" ×{}", run.consumers);
    }
    if run.rate > 0 {
        s += &format!(" at {}/s", run.rate);
    }
    s
}

fn measure<X: kulink::testbed::protocol::Extension>(vm: &mut Vm<X>, run: &ChannelRun) -> Result<ChannelFigures> {
    let json = serde_json::to_string(run)?;
    // Far more than a run takes even at a few thousand events per second,
    // at the guest's own pace: a debug kernel on a busy host is several
    // times slower than an idle 6.1 (forty boots' worth at least).
    let timeout = (Duration::from_secs(60) + Duration::from_millis(u64::from(run.count) / 2)).max(vm.wall_boot() * 40);
    let ran = vm.run(&[PROGRAM, ARG, &json], timeout)?;
    if ran.timed_out {
        bail!("the benchmark program did not finish within {timeout:?}: {}", ran.stderr.trim());
    }
    if ran.code != Some(0) {
        let how = ran.code.map_or_else(
            || format!("was killed by signal {}", ran.signal.unwrap_or(0)),
            |c| format!("exited with {c}"),
        );
        bail!("the benchmark program {how}: {}", ran.stderr.trim());
    }
    serde_json::from_str(ran.stdout.trim()).with_context(|| format!("its output: {}", ran.stdout.trim()))
}

fn ratios(runs: &[Measured]) -> Ratios {
    let rate = |channel: Channel, batch: u32| {
        runs.iter()
            .find(|m| {
                let r = &m.figures.run;
                m.section == "throughput" && r.channel == channel && r.batch == batch && r.consumers == 1
            })
            .map(|m| m.figures.events_per_s)
            .filter(|r| *r > 0.0)
    };
    let netlink = rate(Channel::NetlinkMulticast, 1);
    let best_batched = [8, 32, 128].into_iter().filter_map(|b| rate(Channel::NetlinkMulticast, b)).reduce(f64::max);
    Ratios {
        mmap_vs_netlink: rate(Channel::MmapRing, 1).zip(netlink).map(|(m, n)| m / n),
        netlink_batched_vs_batch_1: best_batched.zip(netlink).map(|(b, n)| b / n),
        netlink_vs_nflog: None,
    }
}

/// kulink.ko over NFLOG at the largest batch both were measured at.
fn versus_nflog(frames: &[FramesFigures]) -> Option<f64> {
    let batched = frames.iter().max_by_key(|f| f.run.batch)?;
    (batched.nflog.events_per_s > 0.0).then(|| batched.kulink.events_per_s / batched.nflog.events_per_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_measures_every_channel_for_throughput_and_latency() {
        let runs = ChannelPlan::default().runs();
        for section in ["throughput", "latency"] {
            let measured: Vec<Channel> =
                runs.iter().filter(|(s, r)| *s == section && r.batch == 1).map(|(_, r)| r.channel).collect();
            assert_eq!(measured, MEASURED.iter().map(|(c, _)| *c).collect::<Vec<_>>(), "{section}");
        }
        assert!(runs.iter().all(|(s, r)| (*s == "latency") == (r.rate > 0)));
        let helper = runs.iter().find(|(_, r)| r.channel == Channel::UsermodeHelper).unwrap().1;
        assert_eq!(helper.count, HELPER_COUNT);
        ChannelPlan::default().check().unwrap();
        let scaled = ChannelPlan { scaling: true, ..ChannelPlan::default() };
        scaled.check().unwrap();
        assert!(scaled.runs().iter().any(|(_, r)| r.consumers == 16));
        assert!(scaled.runs().iter().any(|(_, r)| r.count == 1_000_000));
        let zero = ChannelPlan { count: 0, ..ChannelPlan::default() };
        assert_eq!(kulink::testbed::exit_code(&zero.check().unwrap_err()), 2);
    }

    #[test]
    fn runs_are_described_by_what_differs() {
        let run = ChannelRun { batch: 8, rate: 1000, ..ChannelRun::new(Channel::NetlinkMulticast, 10) };
        assert_eq!(describe(&run), "netlink-multicast batch 8 at 1000/s");
        let unicast = ChannelRun { consumers: 4, ..ChannelRun::new(Channel::NetlinkUnicast, 10) };
        assert_eq!(describe(&unicast), "netlink-unicast ×4");
    }

    #[test]
    fn ratios_compare_full_speed_runs() {
        let measured = |section: &str, run: ChannelRun, events_per_s: f64| Measured {
            section: section.into(),
            explained: true,
            figures: ChannelFigures {
                run,
                generated: 0,
                expected: 0,
                received: 0,
                lost: 0,
                counters: Default::default(),
                counted: 0,
                elapsed_ns: 0,
                events_per_s,
                latency: None,
            },
        };
        let nl = ChannelRun::new(Channel::NetlinkMulticast, 10);
        let runs = [
            measured("throughput", nl, 100.0),
            measured("throughput", ChannelRun { batch: 8, ..nl }, 300.0),
            measured("throughput", ChannelRun { batch: 32, ..nl }, 500.0),
            measured("throughput", ChannelRun::new(Channel::MmapRing, 10), 1500.0),
            measured("latency", ChannelRun { rate: 5, ..ChannelRun::new(Channel::MmapRing, 10) }, 5.0),
        ];
        let got = ratios(&runs);
        assert_eq!(got.mmap_vs_netlink, Some(15.0));
        assert_eq!(got.netlink_batched_vs_batch_1, Some(5.0));
        assert_eq!(ratios(&runs[1..]).mmap_vs_netlink, None);
    }
}
