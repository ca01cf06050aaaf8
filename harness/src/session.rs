//! Injecting a plan into a running guest and collecting what came out.

use std::time::Duration;

use anyhow::{bail, Result};
use kulink_wire::channel::Kind;
use kulink_wire::control::{Command, Reply};
use kulink_wire::Channel;

use crate::agent_link::{Listener, Notified, Received};
use crate::plan::{Expected, Plan};
use crate::vm::Vm;

/// How long every listener has to deliver after the last frame.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn listener(channel: Channel) -> Listener {
    Listener { channel: channel.name().into(), subscriber: None }
}

pub fn multicast() -> Listener {
    listener(Channel::NetlinkMulticast)
}

pub fn unicast(name: &str) -> Listener {
    Listener { channel: Channel::NetlinkUnicast.name().into(), subscriber: Some(name.into()) }
}

/// Channels that push every event to the agent as it happens (besides
/// unicast subscribers, which are named per guest).
pub fn push_listeners() -> Vec<Listener> {
    Channel::ALL
        .iter()
        .filter(|c| c.kind() == Kind::Pushed && **c != Channel::NetlinkUnicast)
        .map(|&c| listener(c))
        .collect()
}

/// What one injection produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<Received>,
    pub notified: Vec<Notified>,
}

/// Sends every frame of the plan, then waits until each listener delivered
/// every expected event (or the timeout passed). With `rt_signals`, also
/// waits for the real-time signal carrying the marker's sequence number.
/// Returns everything received since the last call.
pub fn inject(vm: &mut Vm, plan: &Plan, listeners: &[Listener], rt_signals: bool) -> Result<Collected> {
    vm.note_plan(plan);
    for injection in &plan.injections {
        vm.peer.send(&injection.frame)?;
        std::thread::sleep(plan.gap);
    }
    let expected = plan.expected();
    let marker = plan.marker();
    vm.link.collect_until(DELIVERY_TIMEOUT, |link| {
        let all_delivered = listeners.iter().all(|l| {
            let got: Vec<Expected> =
                link.events.iter().filter(|r| r.listener() == *l).map(|r| Expected::of(&r.event)).collect();
            expected.iter().all(|e| got.contains(e))
        });
        let marker_seq = link.events.iter().find(|r| Expected::of(&r.event) == marker).map(|r| r.event.seq);
        let signalled = !rt_signals
            || marker_seq
                .is_some_and(|seq| link.notified.iter().any(|n| n.seq == seq && n.channel == Channel::SignalRt.name()));
        all_delivered && signalled
    })?;
    Ok(Collected { events: vm.link.take_events(), notified: vm.link.take_notified() })
}

/// Reads a pull channel (procfs, kulinkfs) and returns its events.
pub fn collect(vm: &mut Vm, channel: Channel) -> Result<Vec<Received>> {
    match vm.request(Command::Collect { channel: channel.name().into() })? {
        Reply::Collected { .. } => Ok(vm.link.take_events()),
        other => bail!("collect {channel} answered {other:?}"),
    }
}

/// Runs a channel's checks in the guest.
pub fn check(vm: &mut Vm, channel: Channel) -> Result<kulink_wire::control::CheckResult> {
    match vm.request(Command::Check { channel: channel.name().into() })? {
        Reply::Check(result) => Ok(result),
        other => bail!("check {channel} answered {other:?}"),
    }
}

/// Reads a file in the guest.
pub fn read(vm: &mut Vm, path: &str) -> Result<String> {
    match vm.request(Command::ReadFile { path: path.into() })? {
        Reply::Text(text) => Ok(text),
        other => bail!("read {path} answered {other:?}"),
    }
}

/// Writes a file in the guest (one write(), like `echo data > path`).
pub fn write(vm: &mut Vm, path: &str, data: &str) -> Result<()> {
    vm.request(Command::WriteFile { path: path.into(), data: data.into() }).map(drop)
}
