//! The host <-> agent protocol: one JSON object per line over virtio-serial.

use serde::{Deserialize, Serialize};

use crate::probe::{Probe, ProbeReport};
use crate::{Event, Stats};

/// Name of the virtio-serial port that carries this protocol.
pub const PORT_NAME: &str = "kulink.ctl";

/// Agent -> host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum AgentMsg {
    /// Sent once, when every channel is listening.
    Ready(Ready),
    Event {
        channel: String,
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
    Notify {
        channel: String,
        seq: u64,
        received_ns: u64,
    },
    /// The kernel dropped messages for this socket (ENOBUFS); the agent goes on.
    Overrun {
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        total: u64,
    },
    Reply {
        id: u64,
        result: Result<Reply, String>,
    },
    /// A problem the agent survived, for the host's log.
    Warning {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Guest CLOCK_BOOTTIME when the agent became ready.
    pub boot_ms: u64,
    pub kernel: String,
    pub eth0_ifindex: u32,
    pub lo_ifindex: u32,
    /// Unicast subscribers already registered at start.
    pub subscribers: Vec<String>,
}

/// Host -> agent: a numbered request answered by one `AgentMsg::Reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub cmd: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Open a new unicast subscriber socket and send SUBSCRIBE.
    Subscribe {
        name: String,
    },
    /// Send UNSUBSCRIBE, then close the socket.
    Unsubscribe {
        name: String,
    },
    /// Close the socket without UNSUBSCRIBE, as a killed process would.
    Close {
        name: String,
    },
    /// GET_STATS over generic netlink.
    Stats,
    /// Send `count` ICMP echo requests to 127.0.0.1 with this id (seq 1..=count).
    PingLoopback {
        id: u16,
        count: u16,
    },
    /// Read a pulled channel (procfs, kulinkfs) and send its events; the
    /// name of a [`crate::Channel`].
    Collect {
        channel: String,
    },
    /// Run a channel's own checks (sysctl, sysfs, sockopt, chardev); the
    /// name of a [`crate::Channel`].
    Check {
        channel: String,
    },
    ReadFile {
        path: String,
    },
    WriteFile {
        path: String,
        data: String,
    },
    /// write() this event to /dev/kulink, as a synthetic event.
    WriteEvent {
        event: Event,
    },
    /// Start a process that registers for real-time signals, then exits.
    SignalChild,
    /// Run a scripted sequence in a child process of its own (namespaces,
    /// lowered privileges, file life cycles) and report every step.
    Probe {
        probe: Probe,
    },
    /// Power the guest off.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Done,
    Stats(Stats),
    Text(String),
    Collected { events: usize },
    Check(CheckResult),
    Probe(Box<ProbeReport>),
}

/// The verdict of a channel that carries configuration rather than events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub passed: bool,
    /// Each step and its outcome, for people.
    pub detail: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Channel;

    #[test]
    fn messages_are_single_json_lines_that_round_trip() {
        let msgs = [
            AgentMsg::Notify { channel: Channel::SignalRt.name().into(), seq: 4, received_ns: 9 },
            AgentMsg::Reply {
                id: 3,
                result: Ok(Reply::Check(CheckResult { passed: true, detail: vec!["ok".into()] })),
            },
            AgentMsg::Overrun {
                channel: Channel::NetlinkUnicast.name().into(),
                subscriber: Some("a".into()),
                total: 3,
            },
            AgentMsg::Reply { id: 9, result: Ok(Reply::Stats(Stats { events_built: 4, ..Default::default() })) },
            AgentMsg::Reply { id: 10, result: Err("no such subscriber".into()) },
        ];
        for m in msgs {
            let line = serde_json::to_string(&m).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<AgentMsg>(&line).unwrap(), m);
        }
        let req = Request { id: 1, cmd: Command::Close { name: "a".into() } };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"id":1,"cmd":{"cmd":"close","name":"a"}}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
    }
}
