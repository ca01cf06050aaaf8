//! kulink-agent: PID 1 of the kulink guest. Mounts the basics, loads
//! kulink.ko, configures the network, listens on every channel and streams
//! typed events to the host over virtio-serial until told to power off.
//!
//! The same binary is also the kernel's usermode helper (run as
//! `kulink-notify`) and a short-lived signal registrant (`kulink-sigchild`).

mod chardev;
mod checks;
mod control;
mod genl;
mod kulinkfs;
mod loopback;
mod mmap_ring;
mod net;
mod netlink;
mod probe;
mod procfs;
mod signal;
mod sockopt;
mod sysctl;
mod sysfs;
mod system;
mod text_log;
mod usermode_helper;

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use kulink_wire::control::{AgentMsg, CheckResult, Command, Ready, Reply, Request};
use kulink_wire::uapi;
use kulink_wire::Channel;
use kulink_wire::Family;

use crate::netlink::{Leave, Outbox, Subscriber};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().map(String::as_str).unwrap_or_default();
    if usermode_helper::is_helper(argv0) {
        std::process::exit(usermode_helper::helper_main(&args[1..]));
    }
    if argv0.ends_with("kulink-sigchild") {
        std::process::exit(signal::child_main());
    }
    if argv0.ends_with(probe::ARGV0) {
        std::process::exit(probe::child_main(&args[1..]));
    }

    let pid1 = std::process::id() == 1;
    // Before any thread exists, so that every thread inherits the mask.
    let result = signal::block().and_then(|()| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(run(pid1))
    });
    if let Err(e) = &result {
        system::log(&format!("fatal: {e:#}"));
        eprintln!("kulink-agent: fatal: {e:#}");
    }
    if pid1 {
        system::power_off();
    }
    std::process::exit(i32::from(result.is_err()));
}

/// Everything a request handler may need.
struct Agent {
    fsdir: String,
    family: Family,
    ctl: genl::GenlSocket,
    outbox: Outbox,
    subscribers: BTreeMap<String, Subscriber>,
}

async fn run(pid1: bool) -> Result<()> {
    if pid1 {
        system::mount_basics()?;
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("read /proc/cmdline")?;
    let config = system::Config::from_cmdline(&cmdline)?;
    system::load_listed_modules("/lib/modules/preload.list")?;
    let params = match &config.umh {
        Some(path) => {
            usermode_helper::link_helper(path)?;
            format!("umh_path={path}")
        }
        None => String::new(),
    };
    system::load_module(&config.module, &params)?;
    let links = net::configure(config.addr, config.prefix).await?;
    kulinkfs::mount(&config.fsdir)?;
    let mut link = control::open()?;
    let outbox = link.outbox.clone();

    let mut ctl = genl::GenlSocket::open()?;
    let family = ctl.resolve(uapi::GENL_NAME).await?;
    let tasks = vec![
        netlink::listen_multicast(&family, uapi::MCGRP_EVENTS, Channel::NetlinkMulticast, outbox.clone())?,
        netlink::listen_multicast(&family, uapi::MCGRP_RELAY, Channel::KthreadRelay, outbox.clone())?,
        chardev::spawn_reader(outbox.clone())?,
        mmap_ring::spawn(outbox.clone())?,
        signal::spawn(outbox.clone())?,
        usermode_helper::spawn(outbox.clone())?,
    ];
    let mut agent =
        Agent { fsdir: config.fsdir.clone(), family, ctl, outbox: outbox.clone(), subscribers: BTreeMap::new() };
    for name in &config.subscribers {
        let sub = Subscriber::start(&agent.family, name, outbox.clone()).await?;
        agent.subscribers.insert(name.clone(), sub);
    }

    send(
        &outbox,
        AgentMsg::Ready(Ready {
            boot_ms: system::boottime_ms(),
            kernel: system::kernel_release(),
            eth0_ifindex: links.eth0,
            lo_ifindex: links.lo,
            subscribers: config.subscribers.clone(),
        }),
    );
    system::log("ready");

    while let Some(req) = link.requests.recv().await {
        let Request { id, cmd } = match req {
            Ok(req) => req,
            Err(message) => {
                send(&outbox, AgentMsg::Warning { message });
                continue;
            }
        };
        let shutdown = cmd == Command::Shutdown;
        let result = agent.handle(cmd).await;
        send(&outbox, AgentMsg::Reply { id, result: result.map_err(|e| format!("{e:#}")) });
        if shutdown {
            break;
        }
    }
    // Stop every producer, then let the writer drain what is queued
    // before the VM goes away.
    for task in tasks {
        task.abort();
    }
    drop(agent);
    drop(outbox);
    drop(link.outbox);
    let writer = link.writer;
    tokio::task::spawn_blocking(move || writer.join()).await.ok();
    Ok(())
}

impl Agent {
    async fn handle(&mut self, cmd: Command) -> Result<Reply> {
        Ok(match cmd {
            Command::Subscribe { name } => {
                if self.subscribers.contains_key(&name) {
                    bail!("subscriber {name} already exists");
                }
                let sub = Subscriber::start(&self.family, &name, self.outbox.clone()).await?;
                self.subscribers.insert(name, sub);
                Reply::Done
            }
            Command::Unsubscribe { name } => self.leave(&name, Leave::Unsubscribe).await?,
            Command::Close { name } => self.leave(&name, Leave::Close).await?,
            Command::Stats => Reply::Stats(self.stats().await?),
            Command::PingLoopback { id, count } => {
                loopback::ping(id, count)?;
                Reply::Done
            }
            Command::Collect { channel } => Reply::Collected { events: self.collect(channel.parse()?)? },
            Command::Check { channel } => Reply::Check(self.check(channel.parse()?).await?),
            Command::ReadFile { path } => {
                Reply::Text(std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?)
            }
            Command::WriteFile { path, data } => {
                use std::io::Write;
                // One write(), as `echo data > path` does.
                let mut f =
                    std::fs::OpenOptions::new().write(true).open(&path).with_context(|| format!("open {path}"))?;
                f.write_all(data.as_bytes()).with_context(|| format!("write {path}"))?;
                Reply::Done
            }
            Command::WriteEvent { event } => {
                chardev::write_synthetic(&event)?;
                Reply::Done
            }
            Command::SignalChild => {
                use std::os::unix::process::CommandExt;
                let status = std::process::Command::new("/proc/self/exe")
                    .arg0("kulink-sigchild")
                    .status()
                    .context("start the signal child")?;
                if !status.success() {
                    bail!("the signal child failed: {status}");
                }
                Reply::Done
            }
            Command::Probe { probe } => Reply::Probe(Box::new(probe::run(probe).await?)),
            Command::Shutdown => Reply::Done,
        })
    }

    /// Reads a channel that is read on request. Every channel is named, so
    /// a new one cannot be forgotten here.
    fn collect(&self, channel: Channel) -> Result<usize> {
        match channel {
            Channel::Procfs => procfs::collect(&self.outbox),
            Channel::Kulinkfs => kulinkfs::collect(&self.fsdir, &self.outbox),
            Channel::NetlinkMulticast
            | Channel::NetlinkUnicast
            | Channel::Sysctl
            | Channel::Sysfs
            | Channel::Chardev
            | Channel::MmapRing
            | Channel::SignalSigio
            | Channel::SignalRt
            | Channel::Sockopt
            | Channel::UsermodeHelper
            | Channel::KthreadRelay => bail!("{channel} is not read on request"),
        }
    }

    /// Runs a channel's own checks; as above, every channel is named.
    async fn check(&mut self, channel: Channel) -> Result<CheckResult> {
        match channel {
            Channel::Sysctl => sysctl::check(),
            Channel::Sysfs => sysfs::check(&self.stats().await?),
            Channel::Sockopt => sockopt::check(&self.stats().await?),
            Channel::Chardev => chardev::check(&self.stats().await?),
            Channel::NetlinkMulticast
            | Channel::NetlinkUnicast
            | Channel::Procfs
            | Channel::MmapRing
            | Channel::SignalSigio
            | Channel::SignalRt
            | Channel::UsermodeHelper
            | Channel::Kulinkfs
            | Channel::KthreadRelay => bail!("{channel} has no check"),
        }
    }

    async fn stats(&mut self) -> Result<kulink_wire::Stats> {
        netlink::get_stats(&mut self.ctl, &self.family).await
    }

    async fn leave(&mut self, name: &str, how: Leave) -> Result<Reply> {
        let sub = self.subscribers.remove(name).ok_or_else(|| anyhow!("no subscriber named {name}"))?;
        sub.leave(how).await?;
        Ok(Reply::Done)
    }
}

fn send(outbox: &Outbox, msg: AgentMsg) {
    let _ = outbox.send(msg);
}
