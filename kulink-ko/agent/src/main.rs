//! kulink-ko-agent: the testbed's agent core with kulink.ko's plug-in. The core
//! is PID 1, loads the module and sets up the network; the plug-in listens
//! on every channel and streams typed events to the host until power-off.
//!
//! The same binary is also the kernel's usermode helper (run as
//! `kulink-notify`), a short-lived signal registrant (`kulink-sigchild`)
//! a consumer of its own to kill (`--kulink-consumer`) and the benchmark
//! program (`--kulink-bench`, `--kulink-bench-frames`).

mod bench;
mod bench_frames;
mod chardev;
mod consumer;
mod kulinkfs;
mod mmap_ring;
mod netlink;
mod nflog;
mod pace;
mod probe;
mod procfs;
mod signal;
mod sockopt;
mod sysctl;
mod sysfs;
mod text_log;
mod usermode_helper;
mod value_files;

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use kulink_agent_core::protocol::BootConfig;
use kulink_ko_contract::extension::{Command, Dropped, KulinkKo, Pace, Ready, Reply, BOOT_SUBSCRIBERS, HELPER_PATH};
use kulink_ko_contract::observed::Observed;
use kulink_ko_contract::uapi;
use kulink_ko_contract::Channel;
use kulink_ko_contract::Family;

use crate::chardev::FileGauge;
use crate::netlink::{Leave, Outbox, Subscriber};
use crate::pace::{Pacer, RingOverflow, SocketGauge};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().map(String::as_str).unwrap_or_default();
    if usermode_helper::is_helper(argv0) {
        std::process::exit(usermode_helper::helper_main(&args[1..]));
    }
    if argv0.ends_with("kulink-sigchild") {
        std::process::exit(signal::child_main());
    }
    if args.get(1).map(String::as_str) == Some(bench_frames::ARG) {
        std::process::exit(bench_frames::main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some(bench::ARG) {
        std::process::exit(bench::main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some(consumer::ARG) {
        std::process::exit(consumer::main(&args[2..]));
    }
    if argv0.ends_with(probe::ARGV0) {
        std::process::exit(probe::child_main(&args[1..]));
    }
    kulink_agent_core::serve::<KulinkPlugin>()
}

/// kulink.ko's listeners and everything a request handler may need.
struct KulinkPlugin {
    family: Family,
    ctl: kulink_agent_core::genl::GenlSocket,
    outbox: Outbox,
    subscribers: BTreeMap<String, Subscriber>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pace: tokio::sync::watch::Sender<Pace>,
    pacer: Pacer,
    /// The multicast sockets (events, relay); subscribers hold their own.
    sockets: Vec<SocketGauge>,
    /// The /dev/kulink files whose queues are read (chardev, signal-sigio).
    files: Vec<FileGauge>,
    ring_overflow: RingOverflow,
}

impl kulink_agent_core::Plugin for KulinkPlugin {
    type Ext = KulinkKo;

    fn before_threads() -> Result<()> {
        // Every thread must inherit the blocked real-time signals.
        signal::block()
    }

    fn module_params(_boot: &BootConfig) -> Result<String> {
        usermode_helper::link_helper(HELPER_PATH)?;
        Ok(format!("umh_path={HELPER_PATH}"))
    }

    async fn start(boot: &BootConfig, outbox: Outbox) -> Result<Self> {
        kulinkfs::mount()?;
        let mut ctl = kulink_agent_core::genl::GenlSocket::open()?;
        let family = ctl.resolve(uapi::GENL_NAME).await?;
        let (pace, pacer) = Pacer::new();
        let ring_overflow = RingOverflow::default();
        let (events, events_gauge) = netlink::listen_multicast(
            &family,
            uapi::MCGRP_EVENTS,
            Channel::NetlinkMulticast,
            outbox.clone(),
            pacer.clone(),
        )?;
        let (relay, relay_gauge) = netlink::listen_multicast(
            &family,
            uapi::MCGRP_RELAY,
            Channel::KthreadRelay,
            outbox.clone(),
            pacer.clone(),
        )?;
        let (reader, reader_gauge) = chardev::spawn_reader(outbox.clone(), pacer.clone())?;
        let (signals, signals_gauge) = signal::spawn(outbox.clone(), pacer.clone())?;
        let tasks = vec![
            events,
            relay,
            reader,
            signals,
            mmap_ring::spawn(outbox.clone(), pacer.clone(), ring_overflow.clone())?,
            // Not paced: each helper process is a consumer of its own,
            // and the module limits their rate.
            usermode_helper::spawn(outbox.clone())?,
        ];
        let mut plugin = Self {
            family,
            ctl,
            outbox,
            subscribers: BTreeMap::new(),
            tasks,
            pace,
            pacer,
            sockets: vec![events_gauge, relay_gauge],
            files: vec![reader_gauge, signals_gauge],
            ring_overflow,
        };
        let names = boot.extension.get(BOOT_SUBSCRIBERS).map(String::as_str).unwrap_or_default();
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let sub = Subscriber::start(&plugin.family, name, plugin.outbox.clone(), plugin.pacer.clone()).await?;
            plugin.subscribers.insert(name.to_owned(), sub);
        }
        Ok(plugin)
    }

    fn ready(&self) -> Ready {
        Ready { subscribers: self.subscribers.keys().cloned().collect() }
    }

    async fn handle(&mut self, cmd: Command) -> Result<Reply> {
        Ok(match cmd {
            Command::Subscribe { name } => {
                if self.subscribers.contains_key(&name) {
                    bail!("subscriber {name} already exists");
                }
                let sub = Subscriber::start(&self.family, &name, self.outbox.clone(), self.pacer.clone()).await?;
                self.subscribers.insert(name, sub);
                Reply::Done
            }
            Command::Unsubscribe { name } => self.leave(&name, Leave::Unsubscribe).await?,
            Command::Close { name } => self.leave(&name, Leave::Close).await?,
            Command::Stats => Reply::Stats(self.stats().await?),
            Command::Collect { channel } => Reply::Collected { events: self.collect(channel)? },
            Command::Check { channel } => Reply::Observed(Box::new(self.check(channel).await?)),
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
            Command::Pace { pace } => {
                self.set_pace(pace)?;
                Reply::Done
            }
            Command::Drops => Reply::Drops(self.drops()?),
        })
    }

    fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

impl KulinkPlugin {
    /// Reads a channel that is read on request. Every channel is named, so
    /// a new one cannot be forgotten here.
    fn collect(&self, channel: Channel) -> Result<usize> {
        match channel {
            Channel::Procfs => procfs::collect(&self.outbox),
            Channel::Kulinkfs => kulinkfs::collect(&self.outbox),
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

    /// Exercises a configuration channel and says what it saw; as above,
    /// every channel is named.
    async fn check(&mut self, channel: Channel) -> Result<Observed> {
        Ok(match channel {
            Channel::Sysctl => Observed::Sysctl(sysctl::observe()?),
            Channel::Sysfs => Observed::Sysfs(sysfs::observe(self.stats().await?)?),
            Channel::Sockopt => Observed::Sockopt(sockopt::observe(self.stats().await?)?),
            Channel::Chardev => Observed::Chardev(chardev::observe(self.stats().await?)?),
            Channel::NetlinkMulticast
            | Channel::NetlinkUnicast
            | Channel::Procfs
            | Channel::MmapRing
            | Channel::SignalSigio
            | Channel::SignalRt
            | Channel::UsermodeHelper
            | Channel::Kulinkfs
            | Channel::KthreadRelay => bail!("{channel} has no check"),
        })
    }

    fn event_sockets(&self) -> impl Iterator<Item = &SocketGauge> {
        self.sockets.iter().chain(self.subscribers.values().map(|s| &s.gauge))
    }

    /// A new pace for every paced reader; a socket buffer is set on every
    /// event socket open now.
    fn set_pace(&mut self, pace: Pace) -> Result<()> {
        if let Some(bytes) = pace.socket_buffer {
            for gauge in self.event_sockets() {
                gauge
                    .handle
                    .set_receive_buffer(bytes as usize)
                    .with_context(|| format!("SO_RCVBUFFORCE {bytes} on the {} socket", gauge.channel))?;
            }
        }
        self.pace.send_replace(pace);
        Ok(())
    }

    fn drops(&self) -> Result<Vec<Dropped>> {
        let mut drops: Vec<Dropped> = self.event_sockets().map(SocketGauge::dropped).collect::<Result<_>>()?;
        for file in &self.files {
            drops.push(file.dropped()?);
        }
        drops.push(pace::ring_dropped(&self.ring_overflow));
        Ok(drops)
    }

    async fn stats(&mut self) -> Result<kulink_ko_contract::Stats> {
        netlink::get_stats(&mut self.ctl, &self.family).await
    }

    async fn leave(&mut self, name: &str, how: Leave) -> Result<Reply> {
        let sub = self.subscribers.remove(name).ok_or_else(|| anyhow!("no subscriber named {name}"))?;
        sub.leave(how).await?;
        Ok(Reply::Done)
    }
}
