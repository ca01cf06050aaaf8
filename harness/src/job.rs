//! The main job: boot a kernel, inject the standard plan, check every channel.

use std::time::Duration;

use anyhow::Result;
use kulink_wire::channel::Kind;
use kulink_wire::Channel;

use kulink_testbed::accel::AccelChoice;
use kulink_testbed::artifacts::KernelChoice;
use kulink_testbed::usage_error;
use kulink_testbed::vm::{Backend, BootOptions};

use crate::guest::{self, Guest, KulinkGuest, Received};
use crate::plan::Plan;
use crate::report::{ChannelReport, Check, CheckChannel, EchoReplies, RunReport};
use crate::session::{self, listener};
use crate::verify::{self, Order};

#[derive(Debug, Clone)]
pub struct JobOptions {
    pub kernel: KernelChoice,
    pub backend: Backend,
    pub accel: AccelChoice,
    /// Echo requests in the standard plan.
    pub echoes: u16,
}

/// The unicast subscriber the main job registers.
pub const SUBSCRIBER: &str = "u1";

impl JobOptions {
    /// Checks what the user chose, before anything is fetched or booted.
    pub fn check(&self) -> Result<()> {
        if !Plan::ECHOES.contains(&self.echoes) {
            return Err(usage_error(format!(
                "--echoes {} is out of range: give {} to {} (every event must fit the usermode helper's rate of {}/s)",
                self.echoes,
                Plan::ECHOES.start(),
                Plan::ECHOES.end(),
                kulink_wire::uapi::UMH_RATE_DEFAULT
            )));
        }
        Ok(())
    }
}

/// Infrastructure problems are errors; a failed assertion is a report with
/// `passed: false`.
pub fn run(opts: &JobOptions) -> Result<RunReport> {
    opts.check()?;
    let art = guest::prepare(&opts.kernel)?;
    let boot = BootOptions { backend: opts.backend, accel: opts.accel, ..Default::default() };
    let mut vm = Guest::boot(&art, &guest::with_subscribers(boot, &[SUBSCRIBER.into()]))?;
    let plan = Plan::standard(vm.wire(), opts.echoes);
    let mut push = session::push_listeners();
    push.push(session::unicast(SUBSCRIBER));
    let collected = session::inject(&mut vm, &plan, &push, true)?;
    let replies = plan.echo_replies();
    let seen = vm.peer().wait_for(&replies, Duration::from_secs(10));

    let mut events = collected.events;
    let multicast = verify::of_listener(&events, &session::multicast());
    let rt = verify::resolve_notified(&collected.notified, &multicast);
    events.extend(rt);
    let of_kind = |kind| Channel::ALL.iter().copied().filter(move |c| c.kind() == kind);
    for pulled in of_kind(Kind::Pulled) {
        events.extend(vm.collect(pulled)?);
    }
    let checks_in_guest: Vec<(Channel, _)> =
        of_kind(Kind::Check).map(|c| Ok((c, vm.check(c)?))).collect::<Result<_>>()?;
    let stats = vm.stats()?;

    let expected = plan.expected();
    let eth0 = vm.ready().eth0_ifindex;
    let channels = Channel::ALL
        .iter()
        .map(|&channel| match checks_in_guest.iter().find(|(c, _)| *c == channel) {
            Some((_, result)) => ChannelReport::Check(CheckChannel::new(channel.name(), result.clone())),
            None => ChannelReport::Events(event_channel(channel, &expected, &events, eth0)),
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
        Check::equal("stats: truncated ICMP counted", stats.icmp_truncated, plan.count("truncated icmp") as u64),
        Check::equal("stats: subscribers", stats.subscribers, 1),
    ];
    let (kernel, release, accel) = (art.kernel.id.clone(), vm.ready().kernel.clone(), vm.accel().name().to_owned());
    let (boot_ms, wall_boot_ms) = (vm.ready().boot_ms, vm.wall_boot().as_millis() as u64);
    let (overruns, warnings) = (vm.overruns().len(), vm.warnings().to_vec());
    let finished = vm.power_off()?;
    let report = RunReport {
        schema_version: crate::report::SCHEMA_VERSION,
        kernel,
        kernel_release: release,
        accel,
        boot_ms,
        wall_boot_ms,
        injected: expected.len(),
        frames_sent: plan.injections.len(),
        channels,
        echo_replies: EchoReplies {
            expected: replies.len(),
            received: replies.iter().filter(|r| seen.contains(r)).count(),
        },
        stats,
        checks,
        overruns,
        warnings,
        kernel_log_clean: finished.splats.is_empty(),
        splats: finished.splats,
        passed: false,
    }
    .finish();
    if !report.passed {
        vm.keep_evidence();
    }
    Ok(report)
}

fn event_channel(
    channel: Channel,
    expected: &[crate::plan::Expected],
    events: &[Received],
    ifindex: u32,
) -> verify::ChannelResult {
    let l = if channel == Channel::NetlinkUnicast { session::unicast(SUBSCRIBER) } else { listener(channel) };
    let order = if channel.keeps_order() { Order::Kept } else { Order::Free };
    verify::check_ordered(&l, expected, events, ifindex, order)
}

/// Events every channel's counters say were lost.
fn lost(stats: &kulink_wire::Stats) -> u64 {
    let counters = Channel::ALL.iter().flat_map(|c| c.lost());
    counters.map(|name| stats.get(name).expect("Channel names counters of Stats")).sum()
}
