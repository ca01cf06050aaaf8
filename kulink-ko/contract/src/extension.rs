//! kulink.ko's part of the host <-> agent protocol: the commands its agent
//! plug-in serves, their replies, and the events it streams, carried in the
//! `ext` variants of the testbed's core protocol.

use serde::{Deserialize, Serialize};

use crate::observed::Observed;
use crate::probe::{Probe, ProbeReport};
use crate::{Channel, Event, Stats};

/// kulink.ko's [`kulink_protocol::Extension`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KulinkKo {}

impl kulink_protocol::Extension for KulinkKo {
    type Command = Command;
    type Reply = Reply;
    type Message = Notice;
    type Ready = Ready;
}

/// The core protocol's types, with kulink.ko's extension.
pub type AgentMsg = kulink_protocol::AgentMsg<KulinkKo>;
pub type Request = kulink_protocol::Request<KulinkKo>;
pub type CoreCommand = kulink_protocol::Command<KulinkKo>;
pub type CoreReply = kulink_protocol::Reply<KulinkKo>;
pub type CoreReady = kulink_protocol::Ready<KulinkKo>;

/// What the plug-in sends unasked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    Event {
        channel: Channel,
        /// Which unicast subscriber got it; `None` for shared channels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// Kernel timestamp to user-space receipt, both CLOCK_MONOTONIC;
        /// `None` for channels read on request (procfs, kulinkfs).
        latency_ns: Option<u64>,
        event: Event,
    },
    /// A notification that carries only an event's sequence number (the
    /// real-time signal's si_int), received at `received_ns` (CLOCK_MONOTONIC).
    Notify { channel: Channel, seq: u64, received_ns: u64 },
    /// The kernel dropped messages for this socket (ENOBUFS); the agent goes on.
    Overrun {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        total: u64,
    },
}

/// What the plug-in reports once every channel listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Unicast subscribers already registered at start.
    pub subscribers: Vec<String>,
}

/// Boot key of the plug-in (`kulink.subscribers=a,b` on the kernel command
/// line): unicast subscribers to register before Ready.
pub const BOOT_SUBSCRIBERS: &str = "subscribers";

/// Where the plug-in mounts kulinkfs, and where it links itself as the
/// module's usermode helper (`umh_path=`). Under /run on every backend:
/// virtme-ng's root is read-only.
pub const KULINKFS_DIR: &str = "/run/kulink-fs";
pub const HELPER_PATH: &str = "/run/kulink-notify";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Open a new unicast subscriber socket and send SUBSCRIBE.
    Subscribe { name: String },
    /// Send UNSUBSCRIBE, then close the socket.
    Unsubscribe { name: String },
    /// Close the socket without UNSUBSCRIBE, as a killed process would.
    Close { name: String },
    /// GET_STATS over generic netlink.
    Stats,
    /// Read a pulled channel (procfs, kulinkfs) and send its events.
    Collect { channel: Channel },
    /// Exercise a configuration channel (sysctl, sysfs, sockopt, chardev)
    /// and report what every step gave.
    Check { channel: Channel },
    /// write() this event to /dev/kulink, as a synthetic event.
    WriteEvent { event: Event },
    /// Start a process that registers for real-time signals, then exits.
    SignalChild,
    /// Run a scripted sequence in a child process of its own (namespaces,
    /// lowered privileges, file life cycles) and report every step.
    Probe { probe: Probe },
    /// Slow the consumers of the pushed channels down, or let them read at
    /// full speed again.
    Pace { pace: Pace },
    /// What the agent's own ends saw dropped, per channel.
    Drops,
}

/// How fast the agent consumes the pushed channels: a deliberately slow
/// consumer makes the module's queues fill, so its drops can be counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pace {
    /// Each consumer makes one read per this many milliseconds (one
    /// datagram, one read() of the device, one ring record, one signal);
    /// 0 is full speed.
    pub read_every_ms: u32,
    /// SO_RCVBUF for the agent's event sockets, in bytes; `None` leaves it
    /// as it is (4 MiB from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_buffer: Option<u32>,
}

/// Events the kernel dropped at one of the agent's ends: the drop count of
/// a netlink socket (SO_MEMINFO), a /dev/kulink file's dropped count
/// (KULINK_IOC_GET_DROPPED), or the ring header's overflow count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The channel the end belongs to.
    pub channel: Channel,
    /// The unicast subscriber, for its socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
    /// Events dropped since the end was opened.
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Done,
    Stats(Stats),
    Collected { events: usize },
    Observed(Box<Observed>),
    Probe(Box<ProbeReport>),
    Drops(Vec<Dropped>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{SysctlSeen, SysctlWrite};
    use crate::probe::StepOutcome;
    use kulink_protocol::{Failure, FailureKind};

    #[test]
    fn messages_are_single_json_lines_that_round_trip() {
        let msgs = [
            AgentMsg::Ext { ext: Notice::Notify { channel: Channel::SignalRt, seq: 4, received_ns: 9 } },
            AgentMsg::Reply {
                id: 3,
                result: Ok(CoreReply::Ext(Reply::Observed(Box::new(Observed::Sysctl(SysctlSeen {
                    values: [("batch".into(), StepOutcome::Ok("1".into()))].into(),
                    writes: vec![SysctlWrite {
                        name: "batch".into(),
                        value: "0".into(),
                        before: StepOutcome::Ok("1".into()),
                        write: StepOutcome::Errno(22),
                        after: StepOutcome::Ok("1".into()),
                    }],
                }))))),
            },
            AgentMsg::Ext {
                ext: Notice::Overrun { channel: Channel::NetlinkUnicast, subscriber: Some("a".into()), total: 3 },
            },
            AgentMsg::Reply {
                id: 9,
                result: Ok(CoreReply::Ext(Reply::Stats(Stats { events_built: 4, ..Default::default() }))),
            },
            AgentMsg::Reply {
                id: 10,
                result: Err(Failure { kind: FailureKind::Refused, message: "no such subscriber".into() }),
            },
        ];
        for m in msgs {
            let line = serde_json::to_string(&m).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<AgentMsg>(&line).unwrap(), m);
        }
        let req = Request { id: 1, cmd: CoreCommand::Ext { ext: Command::Close { name: "a".into() } } };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"id":1,"cmd":{"cmd":"ext","ext":{"cmd":"close","name":"a"}}}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
    }
}
