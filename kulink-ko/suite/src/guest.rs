//! kulink.ko's view of a testbed guest: what to build and boot, and its
//! agent plug-in's requests and messages as typed calls.

use std::time::Duration;

use anyhow::{bail, Result};
use kulink::testbed::artifacts::{AgentSource, Artifacts, KernelChoice};
use kulink::testbed::vm::Vm;
use kulink_ko_contract::extension::{Command, Dropped, KulinkKo, Notice, Reply, BOOT_SUBSCRIBERS};
use kulink_ko_contract::observed::Observed;
use kulink_ko_contract::probe::{Probe, ProbeReport};
use kulink_ko_contract::{Channel, Event, Stats};
use serde::Serialize;

use crate::config_verdict::{self, Verdict};
use kulink::GuestBuilder;

/// A guest whose agent carries kulink.ko's plug-in.
pub type Guest = Vm<KulinkKo>;

/// The package of kulink.ko's agent: the core with kulink.ko's plug-in.
pub const AGENT: &str = "kulink-ko-agent";

/// kulink.ko's agent, as [`GuestBuilder::plugin_in`] builds it.
pub fn agent_source() -> AgentSource {
    AgentSource { workspace: crate::source_root(), package: AGENT.into() }
}

/// Probes wait for namespaces to go away and for blocked calls to return.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// kulink.ko's guest, set up as any module's is: kulink.ko's sources and
/// the agent with its plug-in, on this kernel.
pub fn builder(kernel: KernelChoice) -> GuestBuilder<KulinkKo> {
    GuestBuilder::new(kernel).module(crate::project_dir().join("module")).plugin_in(crate::source_root(), AGENT)
}

/// Kernel, kulink.ko and its agent for one kernel choice.
pub fn prepare(choice: &KernelChoice) -> Result<Artifacts> {
    builder(choice.clone()).prepare()
}

/// These unicast subscribers registered before the agent reports ready.
pub fn with_subscribers(guest: GuestBuilder<KulinkKo>, subscribers: &[String]) -> GuestBuilder<KulinkKo> {
    if subscribers.is_empty() {
        return guest;
    }
    guest.boot_key(BOOT_SUBSCRIBERS, &subscribers.join(","))
}

/// One event as one channel delivered it to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    /// The channel's name.
    pub channel: String,
    /// The unicast subscriber it was sent to, for netlink unicast.
    pub subscriber: Option<String>,
    /// `None` for channels read on request.
    pub latency_ns: Option<u64>,
    /// The event as the channel carried it.
    pub event: Event,
}

/// A notification that names an event only by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notified {
    /// The channel's name.
    pub channel: String,
    /// The kernel's sequence number of the event.
    pub seq: u64,
    /// Guest `CLOCK_MONOTONIC` when it arrived.
    pub received_ns: u64,
}

/// Where an event came from: a channel, and for unicast the subscriber.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Listener {
    /// The channel's name.
    pub channel: String,
    /// The unicast subscriber, for netlink unicast.
    pub subscriber: Option<String>,
}

impl Received {
    /// The channel (and subscriber) it came from.
    pub fn listener(&self) -> Listener {
        Listener { channel: self.channel.clone(), subscriber: self.subscriber.clone() }
    }

    /// The event a plug-in message carries, if it is one.
    pub fn of(message: &Notice) -> Option<Self> {
        match message {
            Notice::Event { channel, subscriber, latency_ns, event } => Some(Self {
                channel: channel.name().into(),
                subscriber: subscriber.clone(),
                latency_ns: *latency_ns,
                event: *event,
            }),
            Notice::Notify { .. } | Notice::Overrun { .. } => None,
        }
    }
}

impl Notified {
    /// The notification a plug-in message is, if it is one.
    pub fn of(message: &Notice) -> Option<Self> {
        match message {
            Notice::Notify { channel, seq, received_ns } => {
                Some(Self { channel: channel.name().into(), seq: *seq, received_ns: *received_ns })
            }
            Notice::Event { .. } | Notice::Overrun { .. } => None,
        }
    }
}

/// The events among the plug-in's messages, in arrival order.
pub fn events_in(messages: &[Notice]) -> Vec<Received> {
    messages.iter().filter_map(Received::of).collect()
}

/// The sequence-number notifications among them, in arrival order.
pub fn notified_in(messages: &[Notice]) -> Vec<Notified> {
    messages.iter().filter_map(Notified::of).collect()
}

/// kulink.ko's requests and messages on a guest.
pub trait KulinkGuest {
    /// Every event recorded and not yet taken, in arrival order.
    fn events(&self) -> Vec<Received>;
    /// Removes and returns every event recorded so far.
    fn take_events(&mut self) -> Vec<Received>;
    /// Removes and returns every sequence-number notification so far.
    fn take_notified(&mut self) -> Vec<Notified>;
    /// (listener, total) for each overrun the agent reported.
    fn overruns(&self) -> Vec<(Listener, u64)>;
    /// Records messages until `done` holds for the events among them, or
    /// the timeout passes; says whether it held.
    fn collect_events_until(&mut self, timeout: Duration, done: impl FnMut(&[Received]) -> bool) -> Result<bool>;
    /// A request to the plug-in that answers only "done".
    fn act(&mut self, cmd: Command) -> Result<()>;
    /// GET_STATS over generic netlink.
    fn stats(&mut self) -> Result<Stats>;
    /// Reads a pulled channel (procfs, kulinkfs) and returns its events.
    fn collect(&mut self, channel: Channel) -> Result<Vec<Received>>;
    /// What the agent saw when it exercised a configuration channel.
    fn observe(&mut self, channel: Channel) -> Result<Observed>;
    /// That, judged against the channel's expectations ([`config_verdict`]).
    fn check(&mut self, channel: Channel) -> Result<Verdict>;
    /// Runs a probe in a child process of the agent and returns its report.
    fn probe(&mut self, probe: Probe) -> Result<ProbeReport>;
    /// What was dropped at the agent's own ends: each event socket's drop
    /// count, each read /dev/kulink file's, the ring header's overflow.
    fn drops(&mut self) -> Result<Vec<Dropped>>;
}

impl KulinkGuest for Guest {
    fn events(&self) -> Vec<Received> {
        events_in(self.messages())
    }

    fn take_events(&mut self) -> Vec<Received> {
        let taken = self.take_messages(|m| matches!(m, Notice::Event { .. }));
        events_in(&taken)
    }

    fn take_notified(&mut self) -> Vec<Notified> {
        let taken = self.take_messages(|m| matches!(m, Notice::Notify { .. }));
        notified_in(&taken)
    }

    fn overruns(&self) -> Vec<(Listener, u64)> {
        let overrun = |m: &Notice| match m {
            Notice::Overrun { channel, subscriber, total } => {
                Some((Listener { channel: channel.name().into(), subscriber: subscriber.clone() }, *total))
            }
            Notice::Event { .. } | Notice::Notify { .. } => None,
        };
        self.messages().iter().filter_map(overrun).collect()
    }

    fn collect_events_until(&mut self, timeout: Duration, mut done: impl FnMut(&[Received]) -> bool) -> Result<bool> {
        self.collect_until(timeout, |messages| done(&events_in(messages)))
    }

    fn act(&mut self, cmd: Command) -> Result<()> {
        match self.ext(cmd.clone())? {
            Reply::Done => Ok(()),
            other => bail!("{cmd:?} answered {other:?}"),
        }
    }

    fn stats(&mut self) -> Result<Stats> {
        match self.ext(Command::Stats)? {
            Reply::Stats(s) => Ok(s),
            other => bail!("GET_STATS answered {other:?}"),
        }
    }

    fn collect(&mut self, channel: Channel) -> Result<Vec<Received>> {
        match self.ext(Command::Collect { channel })? {
            Reply::Collected { .. } => Ok(self.take_events()),
            other => bail!("collect {channel} answered {other:?}"),
        }
    }

    fn observe(&mut self, channel: Channel) -> Result<Observed> {
        match self.ext(Command::Check { channel })? {
            Reply::Observed(seen) => Ok(*seen),
            other => bail!("check {channel} answered {other:?}"),
        }
    }

    fn check(&mut self, channel: Channel) -> Result<Verdict> {
        self.observe(channel).map(|seen| config_verdict::judge(&seen))
    }

    fn probe(&mut self, probe: Probe) -> Result<ProbeReport> {
        match self.ext_within(Command::Probe { probe }, PROBE_TIMEOUT)? {
            Reply::Probe(report) => Ok(*report),
            other => bail!("probe {probe:?} answered {other:?}"),
        }
    }

    fn drops(&mut self) -> Result<Vec<Dropped>> {
        match self.ext(Command::Drops)? {
            Reply::Drops(drops) => Ok(drops),
            other => bail!("drops answered {other:?}"),
        }
    }
}
