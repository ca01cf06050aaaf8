//! Injecting a plan into a running guest and collecting what came out.

use std::time::Duration;

use anyhow::Result;
use kulink_wire::control::channel;

use crate::agent_link::{Listener, Received};
use crate::plan::{Expected, Plan};
use crate::vm::Vm;

/// How long every listener has to deliver the marker after the last frame.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn multicast() -> Listener {
    Listener { channel: channel::NETLINK_MULTICAST.into(), subscriber: None }
}

pub fn unicast(name: &str) -> Listener {
    Listener { channel: channel::NETLINK_UNICAST.into(), subscriber: Some(name.into()) }
}

/// Sends every frame of the plan, then waits until each listener delivered
/// the marker (or the timeout passed) and returns all events since the last call.
pub fn inject(vm: &mut Vm, plan: &Plan, listeners: &[Listener]) -> Result<Vec<Received>> {
    for injection in &plan.injections {
        vm.peer.send(&injection.frame)?;
        std::thread::sleep(plan.gap);
    }
    let marker = plan.marker();
    vm.link.collect_until(DELIVERY_TIMEOUT, |events| {
        listeners.iter().all(|l| events.iter().any(|r| r.listener() == *l && Expected::of(&r.event) == marker))
    })?;
    Ok(vm.link.take_events())
}
