//! Network namespace probes: isolation between namespaces, and files and
//! mounts that outlive every process of their namespace.

use std::fs::File;
use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};
use kulink_agent_core::{loopback, net, system};
use kulink_ko_contract::probe::{
    NetnsIsolation, NetnsOutlived, RelayThreads, StepOutcome, INNER_ECHO_ID, OUTER_ECHO_ID,
};
use kulink_ko_contract::{uapi, Event};
use nix::sched::CloneFlags;

use super::{block_on, outcome, parse_log, receive, resolve, subscribe, synthetic, unshare, wait_for, Netns};
use crate::{chardev, mmap_ring, netlink, signal};

const PINGS: u16 = 3;

pub fn isolation() -> Result<NetnsIsolation> {
    let outer = Netns::current()?;
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let inner = Netns::current()?;
    block_on(async {
        net::loopback_up().await?;
        let lo_ifindex = ifindex("lo")?;
        let (mut ctl, family) = resolve().await?;
        let mut multicast = super::join(&family, uapi::MCGRP_EVENTS)?;
        let mut unicast = subscribe(&family).await?;
        let chardev = chardev::open(true).context("open /dev/kulink")?;

        loopback::ping(INNER_ECHO_ID, PINGS)?;
        outer.enter()?;
        loopback::ping(OUTER_ECHO_ID, PINGS)?;
        inner.enter()?;

        // Each echo request and the kernel's reply to it.
        let want = 2 * usize::from(PINGS);
        let multicast = receive(&mut multicast, &family, want).await?;
        let unicast = receive(&mut unicast, &family, want).await?;
        let chardev = read_records(&chardev, want)?;
        let procfs = parse_log(&std::fs::read_to_string("/proc/kulink/events").context("read /proc/kulink/events")?)?;
        let stats = netlink::get_stats(&mut ctl, &family).await?;
        Ok(NetnsIsolation { pings: PINGS, lo_ifindex, multicast, unicast, chardev, procfs, stats })
    })?
}

/// Records a non-blocking /dev/kulink file gets: `want`, then any extra.
fn read_records(file: &File, want: usize) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut read = || -> std::io::Result<usize> {
        events.extend(chardev::read_queued(file)?);
        Ok(events.len())
    };
    let got = wait_for(super::RECEIVE_TIMEOUT, &mut read, |n| !matches!(n, Ok(n) if *n < want));
    got?;
    std::thread::sleep(super::LINGER);
    read()?;
    Ok(events)
}

fn ifindex(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).with_context(|| format!("ifindex of {name}"))
}

/// `kulink-relay` kernel threads: kulink.ko runs one per network namespace.
fn relay_threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "kulink-relay")
        .count()
}

/// Long enough for the kernel to tear down a namespace nobody holds.
const TEARDOWN: Duration = Duration::from_secs(3);
const FREED: Duration = Duration::from_secs(20);

pub fn outlived() -> Result<NetnsOutlived> {
    let home = Netns::current()?;
    let before = relay_threads();

    // Round one: /dev/kulink files.
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let inside = relay_threads();
    let plain = chardev::open(true).context("open /dev/kulink")?;
    signal::register_rt(&plain, signal::rt_signal())?;
    let mapped = chardev::open(true).context("open /dev/kulink")?;
    let ring = mmap_ring::map(&mapped)?;
    home.enter()?;
    // A namespace that nothing pins goes away now, its kthread with it.
    let after_leaving = wait_for(TEARDOWN, relay_threads, |n| *n == before);

    let stats = StepOutcome::of(chardev::ioctl_stats(&plain));
    let written = synthetic(0x6f31, 1);
    let write = StepOutcome::of(chardev::write_event(&plain, &written));
    let read = StepOutcome::of(chardev::read_queued(&plain));
    let ring_events = ring.written();
    drop(ring);
    drop(plain);
    drop(mapped);
    let after_closing = wait_for(FREED, relay_threads, |n| *n == before);

    // Round two: /proc/kulink/events alone.
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let written_procfs = write_one(0x6f32)?;
    let mut procfs_file = File::open("/proc/kulink/events").context("open /proc/kulink/events")?;
    home.enter()?;
    std::thread::sleep(TEARDOWN);
    let procfs = outcome((|| {
        let mut text = String::new();
        procfs_file.read_to_string(&mut text)?;
        parse_log(&text)
    })());
    drop(procfs_file);
    let after_procfs = wait_for(FREED, relay_threads, |n| *n == before);

    // Round three: a kulinkfs mount.
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let written_kulinkfs = write_one(0x6f33)?;
    let dir = "/mnt/kulink-outlived";
    system::mount("none", dir, "kulinkfs")?;
    home.enter()?;
    let kulinkfs =
        outcome(std::fs::read_to_string(format!("{dir}/log")).map_err(anyhow::Error::from).and_then(|t| parse_log(&t)));
    system::unmount(dir)?;
    let after_kulinkfs = wait_for(FREED, relay_threads, |n| *n == before);

    Ok(NetnsOutlived {
        relay_threads: RelayThreads { before, inside, after_leaving, after_closing, after_procfs, after_kulinkfs },
        written,
        stats,
        write,
        read,
        ring: StepOutcome::Ok(ring_events),
        written_procfs,
        procfs,
        written_kulinkfs,
        kulinkfs,
    })
}

/// Writes one synthetic event to /dev/kulink in the caller's namespace.
fn write_one(echo_id: u16) -> Result<Event> {
    let event = synthetic(echo_id, 1);
    chardev::write_event(&chardev::open(false)?, &event).context("write to /dev/kulink")?;
    Ok(event)
}
