//! The main job: boot a kernel, inject the standard plan, check every
//! channel. Running records the run; judging reads only the record.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use kulink::testbed::frames::Wire;
use kulink::testbed::protocol::Booted;
use kulink::testbed::transcript::Line;
use kulink::testbed::{pcap, splat};
use kulink_ko_contract::channel::Kind;
use kulink_ko_contract::extension::{AgentMsg, Command, CoreCommand, CoreReady, CoreReply, KulinkKo, Notice, Reply};
use kulink_ko_contract::observed::Observed;
use kulink_ko_contract::{Channel, Stats};

use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::usage_error;
use kulink::testbed::vm::Backend;

use crate::config_verdict;
use crate::event_verdict::{self, Order};
use crate::guest::{self, KulinkGuest, Notified, Received};
use crate::inject::{self, listener};
use crate::plan::Plan;
use crate::receive_rules::Fate;
use crate::record::{self, HostRecord, RunRecord, RECORD_VERSION};
use crate::report::{ChannelReport, Check, CheckChannel, EchoReplies, FateCount, RunReport, Started};

#[derive(Debug, Clone)]
/// What `kulink run` and `kulink inject` do: which kernel, how it boots,
/// what traffic.
pub struct RunOptions {
    /// The kernel to boot.
    pub kernel: KernelChoice,
    /// QEMU or virtme-ng.
    pub backend: Backend,
    /// KVM, TCG, or KVM with TCG as the fallback.
    pub accel: AccelChoice,
    /// What the peer sends.
    pub traffic: Traffic,
}

/// What the peer sends in a job; a final echo request closes either.
#[derive(Debug, Clone)]
pub enum Traffic {
    /// The standard plan with this many echo requests (`kulink run`).
    Standard {
        /// Echo requests in the plan.
        echoes: u16,
    },
    /// These frames, readdressed to the guest (`kulink inject`), `gap`
    /// apart.
    Frames {
        /// Ethernet frames, as captured.
        frames: Vec<Vec<u8>>,
        /// Time between two frames.
        gap: Duration,
    },
}

/// The unicast subscriber the main job registers.
pub const SUBSCRIBER: &str = "u1";

impl RunOptions {
    /// Checks what the user chose, before anything is fetched or booted.
    pub fn check(&self) -> Result<()> {
        let rate = kulink_ko_contract::uapi::UMH_RATE_DEFAULT;
        match &self.traffic {
            Traffic::Standard { echoes } if !Plan::ECHOES.contains(echoes) => Err(usage_error(format!(
                "--echoes {echoes} is out of range: give {} to {} (every event must fit the usermode helper's rate of {rate}/s)",
                Plan::ECHOES.start(),
                Plan::ECHOES.end(),
            ))),
            Traffic::Frames { frames, .. } => {
                let reported = frames.iter().filter(|f| Fate::of(f).event().is_some()).count();
                if reported >= usize::from(rate) {
                    return Err(usage_error(format!(
                        "the capture holds {reported} frames kulink.ko reports: at most {} fit the usermode helper's rate of {rate}/s",
                        rate - 1
                    )));
                }
                Ok(())
            }
            Traffic::Standard { .. } => Ok(()),
        }
    }

    /// The frames to send, for the guest on this wire.
    fn plan(&self, wire: &Wire) -> Plan {
        match &self.traffic {
            Traffic::Standard { echoes } => Plan::standard(wire, *echoes),
            Traffic::Frames { frames, gap } => {
                Plan::capture(wire, frames.iter().map(|f| pcap::readdress(f, wire)).collect(), *gap)
            }
        }
    }
}

/// Infrastructure problems are errors; a failed assertion is a report with
/// `passed: false`. The run is recorded in `out` and judged from there.
pub fn run(opts: &RunOptions, out: &Path) -> Result<RunReport> {
    opts.check()?;
    let builder = guest::builder(opts.kernel.clone()).backend(opts.backend).accel(opts.accel);
    let builder = guest::with_subscribers(builder, &[SUBSCRIBER.into()]);
    let art = builder.prepare()?;
    let mut vm = builder.boot_prepared(&art)?;
    let plan = opts.plan(vm.wire());
    let mut push = inject::push_listeners();
    push.push(inject::unicast(SUBSCRIBER));
    inject::inject(&mut vm, &plan, &push, true)?;
    let replies = plan.echo_replies();
    let seen = vm.peer().wait_for(&replies, Duration::from_secs(10));
    // What is read on request and what is checked: the verdict reads the
    // answers from the transcript.
    let of_kind = |kind| Channel::ALL.iter().copied().filter(move |c| c.kind() == kind);
    for pulled in of_kind(Kind::Pulled) {
        vm.collect(pulled)?;
    }
    for checked in of_kind(Kind::Check) {
        vm.observe(checked)?;
    }
    vm.stats()?;
    vm.power_off()?;

    let host = HostRecord {
        record_version: RECORD_VERSION,
        kernel: art.kernel.id.clone(),
        accel: vm.accel().name().to_owned(),
        wall_boot_ms: vm.wall_boot().as_millis() as u64,
        saved_at: vm.saved_at().map(|at| humantime::format_rfc3339_seconds(at).to_string()),
        subscriber: SUBSCRIBER.into(),
        expected: plan.expected(),
        frames_sent: plan.injections.len(),
        truncated_icmp_sent: plan.truncated_icmp(),
        at_hook: Some(plan.at_hook()),
        fates: plan.fates().into_iter().map(|(fate, frames)| FateCount { fate, frames }).collect(),
        echo_replies_expected: replies.len(),
        echo_replies_received: replies.iter().filter(|r| seen.contains(r)).count(),
    };
    RunRecord::save(out, &host, vm.dir())?;
    let report = judge(&RunRecord::load(out)?)?;
    record::save_report(out, &report)?;
    if !report.passed {
        vm.keep_evidence();
    }
    Ok(report)
}

/// What the agent said in a run, gathered from its transcript.
#[derive(Default)]
struct Heard {
    ready: Option<CoreReady>,
    /// A deferred guest's word that it had booted (a restored guest's is
    /// its saved boot's).
    booted: Option<Booted>,
    events: Vec<Received>,
    notified: Vec<Notified>,
    observed: Vec<(Channel, Observed)>,
    stats: Option<Stats>,
    overruns: usize,
    warnings: Vec<String>,
}

impl Heard {
    fn from(transcript: &[Line<KulinkKo>]) -> Self {
        let mut heard = Self::default();
        let mut asked = std::collections::BTreeMap::new();
        for line in transcript {
            match line {
                Line::Host(request) => {
                    asked.insert(request.id, request.cmd.clone());
                }
                Line::Agent(AgentMsg::Ready(ready)) => heard.ready = Some(ready.clone()),
                Line::Agent(AgentMsg::Booted(booted)) => heard.booted = Some(booted.clone()),
                Line::Agent(AgentMsg::Ext { ext }) => {
                    heard.events.extend(Received::of(ext));
                    heard.notified.extend(Notified::of(ext));
                    heard.overruns += usize::from(matches!(ext, Notice::Overrun { .. }));
                }
                Line::Agent(AgentMsg::Reply { id, result }) => match (asked.get(id), result) {
                    (_, Ok(CoreReply::Ext(Reply::Stats(stats)))) => heard.stats = Some(*stats),
                    (
                        Some(CoreCommand::Ext { ext: Command::Check { channel } }),
                        Ok(CoreReply::Ext(Reply::Observed(seen))),
                    ) => heard.observed.push((*channel, (**seen).clone())),
                    (_, Ok(_)) => {}
                    (_, Err(e)) => heard.warnings.push(format!("request {id} was refused: {}", e.message)),
                },
                Line::Agent(AgentMsg::Warning { message }) => heard.warnings.push(message.clone()),
                // The main job hears kulink's family through its plug-in.
                Line::Agent(AgentMsg::Genl(_) | AgentMsg::Netlink(_)) => {}
                Line::AgentText(text) => heard.warnings.push(format!("not a message: {text}")),
                Line::HostWarning(warning) => heard.warnings.push(warning.clone()),
            }
        }
        heard
    }
}

/// The main job's verdict on a recorded run: every channel, the counters,
/// the wire and the kernel log.
pub fn judge(record: &RunRecord) -> Result<RunReport> {
    let host = &record.host;
    let heard = Heard::from(&record.transcript);
    let Some(ready) = heard.ready else { bail!("the transcript has no Ready: the guest never came up") };
    let Some(stats) = heard.stats else { bail!("the transcript has no GET_STATS answer: the run ended early") };
    let mut events = heard.events;
    let multicast = event_verdict::of_listener(&events, &inject::multicast());
    let rt = event_verdict::resolve_notified(&heard.notified, &multicast);
    events.extend(rt);

    let expected = &host.expected;
    let eth0 = ready.eth0_ifindex;
    let channels = Channel::ALL
        .iter()
        .map(|&channel| match heard.observed.iter().find(|(c, _)| *c == channel) {
            Some((_, seen)) => ChannelReport::Check(CheckChannel::new(&config_verdict::judge(seen))),
            None => ChannelReport::Events(event_channel(channel, expected, &events, eth0, &host.subscriber)),
        })
        .collect();
    let n = expected.len() as u64;
    let checks = vec![
        Check::equal("stats: events built", stats.events_built, n),
        Check::equal("stats: multicast sent", stats.mcast_sent, n),
        Check::equal("stats: unicast sent", stats.unicast_sent, n),
        Check::equal("stats: relay sent", stats.relay_sent, n),
        Check::equal("stats: usermode helper runs", stats.umh_run, n),
        Check::equal("stats: ring records", stats.ring_written, n),
        Check::equal("stats: real-time signals", stats.sigrt_sent, n),
        Check::equal("stats: failures and drops", lost(&stats), 0),
        Check::equal("stats: truncated ICMP counted", stats.icmp_truncated, host.truncated_icmp_sent as u64),
        Check::equal("stats: subscribers", stats.subscribers, 1),
    ];
    // Records from before kulink counted the frames the hook must see lack it.
    let checks = checks
        .into_iter()
        .chain(host.at_hook.map(|n| Check::equal("stats: packets at PRE_ROUTING", stats.packets_seen, n as u64)));
    let checks = checks.collect();
    let splats = splat::scan(&record.console);
    Ok(RunReport {
        schema_version: kulink::outcome::SCHEMA_VERSION,
        kernel: host.kernel.clone(),
        kernel_release: ready.kernel,
        accel: host.accel.clone(),
        // A restored guest's clock runs on from its saved boot's: that
        // boot's figure is told as the saved boot's, never as this run's.
        // (Records from before deferred guests have only the saved Ready.)
        started: match host.saved_at.clone() {
            Some(saved_at) => Started::Restored {
                saved_at,
                saved_boot_ms: heard.booted.as_ref().map_or(ready.boot_ms, |b| b.boot_ms),
            },
            None => Started::Booted { boot_ms: ready.boot_ms },
        },
        wall_boot_ms: host.wall_boot_ms,
        injected: expected.len(),
        frames_sent: host.frames_sent,
        channels,
        echo_replies: EchoReplies { expected: host.echo_replies_expected, received: host.echo_replies_received },
        fates: host.fates.clone(),
        stats,
        checks,
        overruns: heard.overruns,
        warnings: heard.warnings,
        kernel_log_clean: splats.is_empty(),
        splats,
        passed: false,
    }
    .finish())
}

fn event_channel(
    channel: Channel,
    expected: &[crate::plan::Expected],
    events: &[Received],
    ifindex: u32,
    subscriber: &str,
) -> event_verdict::ChannelResult {
    let l = if channel == Channel::NetlinkUnicast { inject::unicast(subscriber) } else { listener(channel) };
    let order = if channel.keeps_order() { Order::Kept } else { Order::Free };
    event_verdict::check_ordered(&l, expected, events, ifindex, order)
}

/// Events every channel's counters say were lost.
fn lost(stats: &kulink_ko_contract::Stats) -> u64 {
    let counters = Channel::ALL.iter().flat_map(|c| c.lost());
    counters.map(|name| stats.get(name).expect("Channel names counters of Stats")).sum()
}
