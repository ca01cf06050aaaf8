//! The main job: boot a kernel, inject the standard plan, check every channel.

use std::time::Duration;

use anyhow::Result;

use crate::artifacts::{Artifacts, KernelChoice};
use crate::plan::Plan;
use crate::qemu::AccelChoice;
use crate::report::{Check, EchoReplies, RunReport};
use crate::session;
use crate::verify;
use crate::vm::{BootOptions, Vm};

#[derive(Debug, Clone)]
pub struct JobOptions {
    pub kernel: KernelChoice,
    pub accel: AccelChoice,
    /// Echo requests in the standard plan.
    pub echoes: u16,
}

/// The unicast subscriber the main job registers.
pub const SUBSCRIBER: &str = "u1";

/// Infrastructure problems are errors; a failed assertion is a report with
/// `passed: false`.
pub fn run(opts: &JobOptions) -> Result<RunReport> {
    let art = Artifacts::prepare(&opts.kernel)?;
    let boot = BootOptions { accel: opts.accel, subscribers: vec![SUBSCRIBER.into()], ..Default::default() };
    let mut vm = Vm::boot(&art, &boot)?;
    let plan = Plan::standard(&vm.wire, opts.echoes);
    let listeners = [session::multicast(), session::unicast(SUBSCRIBER)];
    let events = session::inject(&mut vm, &plan, &listeners)?;
    let replies = plan.echo_replies();
    let seen = vm.peer.wait_for(&replies, Duration::from_secs(10));
    let stats = vm.stats()?;

    let expected = plan.expected();
    let channels = listeners.iter().map(|l| verify::check(l, &expected, &events, vm.ready.eth0_ifindex)).collect();
    let n = expected.len() as u64;
    let checks = vec![
        Check::equal("stats: events built", stats.events_built, n),
        Check::equal("stats: multicast sent", stats.mcast_sent, n),
        Check::equal("stats: unicast sent", stats.unicast_sent, n),
        Check::equal("stats: delivery failures", stats.mcast_failed + stats.unicast_failed, 0),
        Check::equal("stats: truncated ICMP counted", stats.icmp_truncated, plan.count("truncated icmp") as u64),
        Check::equal("stats: subscribers", stats.subscribers, 1),
    ];
    let (kernel, release, accel) = (art.kernel.id.clone(), vm.ready.kernel.clone(), vm.accel.name().to_owned());
    let (boot_ms, wall_boot_ms) = (vm.ready.boot_ms, vm.wall_boot.as_millis() as u64);
    let (overruns, warnings) = (vm.link.overruns.len(), vm.link.warnings.clone());
    let finished = vm.shutdown()?;
    Ok(RunReport {
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
    .finish())
}
