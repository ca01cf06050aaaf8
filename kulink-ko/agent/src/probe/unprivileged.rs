//! The privilege probe: the same accesses as root, as uid 65534 without
//! capabilities, and as uid 65534 owning user and network namespaces of
//! its own. The lower-privileged runs are children started with uid and
//! gid 65534, in a helper mode of this binary.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};
use kulink_agent_core::{loopback, net};
use kulink_ko_contract::extension::KULINKFS_DIR;
use kulink_ko_contract::probe::{Access, StepOutcome, Unprivileged, OWNER_ECHO_ID, ROOT_MESSAGE, USERNS_MESSAGE};
use kulink_ko_contract::uapi::{self, RawStats};
use kulink_ko_contract::Event;
use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use super::{block_on, child_report, outcome, receive, resolve, subscribe, unshare, ARGV0};
use crate::{chardev, netlink, sockopt};

const NOBODY: u32 = 65534;
const AS_NOBODY: &str = "access-as-nobody";
const AS_NAMESPACE_OWNER: &str = "access-as-namespace-owner";
const OWNER_PINGS: u16 = 2;

/// What the namespace owner's child reports.
#[derive(Serialize, Deserialize)]
struct OwnerReport {
    access: Access,
    events: StepOutcome<Vec<Event>>,
}

pub fn probe() -> Result<Unprivileged> {
    let root = access(ROOT_MESSAGE)?;
    let nobody: Access = child_report(&mut as_nobody(AS_NOBODY))?;
    let owner: OwnerReport = child_report(&mut as_nobody(AS_NAMESPACE_OWNER))?;
    let fd = sockopt::socket()?;
    Ok(Unprivileged {
        root,
        nobody,
        namespace_owner: owner.access,
        owner_pings: OWNER_PINGS,
        owner_events: owner.events,
        root_message_after: StepOutcome::of(sockopt::message(&fd)),
    })
}

fn as_nobody(mode: &str) -> Command {
    let mut command = Command::new("/proc/self/exe");
    // Changing uid from 0 clears every capability (std also drops groups).
    command.arg0(ARGV0).arg(mode).uid(NOBODY).gid(NOBODY);
    command
}

/// The helper modes; `None` when `arg` names none of them.
pub fn helper_mode(arg: &str) -> Result<Option<String>> {
    Ok(Some(match arg {
        AS_NOBODY => serde_json::to_string(&access(ROOT_MESSAGE)?)?,
        AS_NAMESPACE_OWNER => {
            // Before any thread exists: a multi-threaded process cannot.
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
                .context("unshare(CLONE_NEWUSER | CLONE_NEWNET)")?;
            block_on(net::loopback_up())??;
            let access = access(USERNS_MESSAGE)?;
            let events = outcome(block_on(own_events())?);
            serde_json::to_string(&OwnerReport { access, events })?
        }
        _ => return Ok(None),
    }))
}

/// Pings 127.0.0.1 in the caller's namespace and returns what a multicast
/// listener there got.
async fn own_events() -> Result<Vec<Event>> {
    let (_, family) = resolve().await?;
    let mut sock = super::join(&family, uapi::MCGRP_EVENTS)?;
    loopback::ping(OWNER_ECHO_ID, OWNER_PINGS)?;
    receive(&mut sock, &family, 2 * usize::from(OWNER_PINGS)).await
}

/// Tries every way in; sets `message` through the sockopt if allowed.
fn access(message: &str) -> Result<Access> {
    let (join_events, join_relay, subscribe, genl_stats) = block_on(async {
        let (mut ctl, family) = resolve().await?;
        anyhow::Ok((
            outcome(super::join(&family, uapi::MCGRP_EVENTS).map(drop)),
            outcome(super::join(&family, uapi::MCGRP_RELAY).map(drop)),
            outcome(subscribe(&family).await.map(drop)),
            outcome(netlink::get_stats(&mut ctl, &family).await.map(drop)),
        ))
    })??;
    let sock = sockopt::socket()?;
    Ok(Access {
        join_events,
        join_relay,
        subscribe,
        genl_stats,
        proc_events: read("/proc/kulink/events"),
        proc_stats: read("/proc/kulink/stats"),
        proc_control: write("/proc/kulink/control", "reset"),
        kulinkfs_log: read(&format!("{KULINKFS_DIR}/log")),
        kulinkfs_stats: read(&format!("{KULINKFS_DIR}/stats")),
        sysfs_counter: read("/sys/kernel/kulink/events"),
        chardev: StepOutcome::of(chardev::open(true).map(drop)),
        sysctl_write: rewrite("/proc/sys/kulink/enabled"),
        sockopt_stats: StepOutcome::of(
            sockopt::get(&sock, uapi::SO_GET_STATS, std::mem::size_of::<RawStats>()).map(drop),
        ),
        sockopt_set_msg: StepOutcome::of(sockopt::set(&sock, uapi::SO_SET_MSG, message.as_bytes())),
        sockopt_get_msg: StepOutcome::of(sockopt::message(&sock)),
    })
}

fn read(path: &str) -> StepOutcome {
    StepOutcome::of(std::fs::read(path).map(drop))
}

/// One write(), as `echo data > path` does.
fn write(path: &str, data: &str) -> StepOutcome {
    StepOutcome::of(std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(data.as_bytes())))
}

/// Writes a setting's own value back: the permission is what is tested.
fn rewrite(path: &str) -> StepOutcome {
    match std::fs::read_to_string(path) {
        Ok(value) => write(path, &value),
        Err(e) => StepOutcome::of(Err(e)),
    }
}
