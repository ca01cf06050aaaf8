//! Injecting a plan into a running guest and collecting what came out.

use std::time::Duration;

use anyhow::Result;
use kulink_ko_contract::channel::Kind;
use kulink_ko_contract::Channel;

use crate::guest::{events_in, notified_in, Guest, KulinkGuest, Listener, Notified, Received};
use crate::plan::{Expected, Plan};

/// How long every listener has to deliver after the last frame.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The listener of a channel with no subscribers of its own.
pub fn listener(channel: Channel) -> Listener {
    Listener { channel: channel.name().into(), subscriber: None }
}

/// The netlink multicast group.
pub fn multicast() -> Listener {
    listener(Channel::NetlinkMulticast)
}

/// Netlink unicast to the subscriber `name`.
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
    /// The events every channel delivered, in arrival order.
    pub events: Vec<Received>,
    /// The sequence-number notifications (signals), in arrival order.
    pub notified: Vec<Notified>,
}

/// Sends every frame of the plan, then waits until each listener delivered
/// every expected event (or the timeout passed). With `rt_signals`, also
/// waits for the real-time signal carrying the marker's sequence number.
/// Returns everything received since the last call.
pub fn inject(vm: &mut Guest, plan: &Plan, listeners: &[Listener], rt_signals: bool) -> Result<Collected> {
    vm.note_plan(&plan.describe());
    for injection in &plan.injections {
        vm.send_frame(&injection.frame)?;
        std::thread::sleep(plan.gap);
    }
    let expected = plan.expected();
    let marker = plan.marker();
    vm.collect_until(DELIVERY_TIMEOUT, |messages| {
        let events = events_in(messages);
        let all_delivered = listeners.iter().all(|l| {
            let got: Vec<Expected> =
                events.iter().filter(|r| r.listener() == *l).map(|r| Expected::of(&r.event)).collect();
            expected.iter().all(|e| got.contains(e))
        });
        let marker_seq = events.iter().find(|r| Expected::of(&r.event) == marker).map(|r| r.event.seq);
        let signalled = !rt_signals
            || marker_seq.is_some_and(|seq| {
                notified_in(messages).iter().any(|n| n.seq == seq && n.channel == Channel::SignalRt.name())
            });
        all_delivered && signalled
    })?;
    Ok(Collected { events: vm.take_events(), notified: vm.take_notified() })
}
