//! kulink.ko's channels to user space. The agent's dispatch, the main job,
//! the session helpers and the tests all match on this one type; on the
//! control port a channel travels as its name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a channel brings events to user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The kernel hands over each event as it happens.
    Pushed,
    /// User space reads what has accumulated, when it asks.
    Pulled,
    /// Carries no events: its configuration surface is checked instead.
    Check,
    /// Carries only an event's sequence number; the event is found by it.
    Notification,
}

macro_rules! channels {
    ($($variant:ident = $name:literal, $kind:ident, delivered: $delivered:expr, lost: [$($lost:literal),*];)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum Channel {
            $($variant,)*
        }

        impl Channel {
            /// Every channel, in the order reports list them.
            pub const ALL: &'static [Channel] = &[$(Channel::$variant,)*];

            /// The name on the control port, in reports and in test output.
            pub fn name(self) -> &'static str {
                match self {
                    $(Channel::$variant => $name,)*
                }
            }

            pub fn kind(self) -> Kind {
                match self {
                    $(Channel::$variant => Kind::$kind,)*
                }
            }

            /// The counter (a field of `Stats`) that grows by one for each
            /// event this channel delivers to one listener, if there is one.
            pub fn delivered(self) -> Option<&'static str> {
                match self {
                    $(Channel::$variant => $delivered,)*
                }
            }

            /// The counters (fields of `Stats`) of events this channel lost.
            pub fn lost(self) -> &'static [&'static str] {
                match self {
                    $(Channel::$variant => &[$($lost),*],)*
                }
            }
        }
    };
}

channels! {
    NetlinkMulticast = "netlink-multicast", Pushed, delivered: Some("mcast_sent"), lost: ["mcast_events_failed"];
    NetlinkUnicast = "netlink-unicast", Pushed, delivered: Some("unicast_sent"), lost: ["unicast_failed"];
    Procfs = "procfs", Pulled, delivered: None, lost: [];
    Sysctl = "sysctl", Check, delivered: None, lost: [];
    Sysfs = "sysfs", Check, delivered: None, lost: [];
    Chardev = "chardev", Pushed, delivered: None, lost: ["chardev_dropped"];
    MmapRing = "mmap-ring", Pushed, delivered: Some("ring_written"), lost: ["ring_overflow"];
    SignalSigio = "signal-sigio", Pushed, delivered: None, lost: [];
    SignalRt = "signal-rt", Notification, delivered: Some("sigrt_sent"), lost: ["sigrt_failed"];
    Sockopt = "sockopt", Check, delivered: None, lost: [];
    UsermodeHelper = "usermode-helper", Pushed, delivered: Some("umh_run"), lost: ["umh_limited", "umh_failed"];
    Kulinkfs = "kulinkfs", Pulled, delivered: None, lost: [];
    KthreadRelay = "kthread-relay", Pushed, delivered: Some("relay_sent"), lost: ["relay_dropped"];
}

impl Channel {
    /// Does the channel deliver events in the order the hook saw them?
    /// The usermode helper starts a process per event, and those race.
    pub fn keeps_order(self) -> bool {
        self != Channel::UsermodeHelper
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of kulink.ko's channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownChannel(pub String);

impl fmt::Display for UnknownChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
        write!(f, "no channel `{}` (known: {})", self.0, known.join(", "))
    }
}

impl std::error::Error for UnknownChannel {}

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Channel::ALL.iter().copied().find(|c| c.name() == name).ok_or_else(|| UnknownChannel(name.to_owned()))
    }
}

impl From<Channel> for &'static str {
    fn from(channel: Channel) -> Self {
        channel.name()
    }
}

impl TryFrom<String> for Channel {
    type Error = UnknownChannel;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stats;

    #[test]
    fn names_are_unique_and_parse_back() {
        for &c in Channel::ALL {
            assert_eq!(c.name().parse::<Channel>(), Ok(c));
        }
        let names: std::collections::BTreeSet<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), Channel::ALL.len());
        assert!("mmap".parse::<Channel>().unwrap_err().to_string().contains("mmap-ring"));
        assert_eq!(serde_json::to_string(&Channel::MmapRing).unwrap(), r#""mmap-ring""#);
        assert!(serde_json::from_str::<Channel>(r#""mmap""#).is_err());
    }

    /// Every counter a channel names exists, and every counter of a loss
    /// belongs to exactly one channel: a new loss counter needs an owner.
    #[test]
    fn counters_belong_to_channels() {
        let fields: Vec<&str> = Stats::default().fields().into_iter().map(|(name, _)| name).collect();
        let named = Channel::ALL.iter().flat_map(|c| c.delivered().into_iter().chain(c.lost().iter().copied()));
        for counter in named {
            assert!(fields.contains(&counter), "{counter} is not a counter of Stats");
        }
        // mcast_failed counts messages; the events they carried are
        // mcast_events_failed, which the channel owns.
        let is_loss = |f: &str| {
            f != "mcast_failed" && ["_failed", "_dropped", "_overflow", "_limited"].iter().any(|s| f.ends_with(s))
        };
        for loss in fields.iter().filter(|f| is_loss(f)) {
            let owners = Channel::ALL.iter().filter(|c| c.lost().contains(loss)).count();
            assert_eq!(owners, 1, "{loss} must belong to one channel");
        }
    }
}
