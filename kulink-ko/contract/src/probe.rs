//! Probes: scripted sequences the agent runs in a child process of its own,
//! so that what they do to namespaces and credentials never touches the
//! agent. Each reports what every step gave; the host's tests judge it.

use serde::{Deserialize, Serialize};

use crate::{Event, Stats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// Listeners in a second network namespace while both namespaces make
    /// traffic: who sees what.
    NetnsIsolation,
    /// Files and a mount taken in a network namespace that every process
    /// then leaves: still safe to use and to close, and freed after?
    NetnsOutlived,
    /// What a process without privileges may do, in the initial namespaces
    /// and as the owner of user and network namespaces of its own.
    Unprivileged,
    /// /dev/kulink through mmap, mprotect, munmap and a blocked read().
    MmapLifecycle,
}

/// One per probe run, never in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "kebab-case")]
pub enum ProbeReport {
    NetnsIsolation(NetnsIsolation),
    NetnsOutlived(NetnsOutlived),
    Unprivileged(Unprivileged),
    MmapLifecycle(MmapLifecycle),
}

/// How one step ended: its value, or the errno it failed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome<T = ()> {
    Ok(T),
    Errno(i32),
    /// Neither: a timeout, a short read, an undecodable reply.
    Failed(String),
}

impl<T> StepOutcome<T> {
    /// The errno of an I/O error, kept; anything else as text.
    pub fn of(result: std::io::Result<T>) -> Self {
        match result {
            Ok(v) => Self::Ok(v),
            Err(e) => e.raw_os_error().map_or_else(|| Self::Failed(e.to_string()), Self::Errno),
        }
    }

    pub fn ok(&self) -> Option<&T> {
        match self {
            Self::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }

    /// The same outcome without its value.
    pub fn unit(&self) -> StepOutcome {
        match self {
            Self::Ok(_) => StepOutcome::Ok(()),
            Self::Errno(e) => StepOutcome::Errno(*e),
            Self::Failed(s) => StepOutcome::Failed(s.clone()),
        }
    }
}

/// Echo ids the isolation probe pings 127.0.0.1 with, in the second
/// network namespace and in the initial one.
pub const INNER_ECHO_ID: u16 = 0x4e32;
pub const OUTER_ECHO_ID: u16 = 0x4e31;

/// Listeners opened in a second network namespace; then the probe pings
/// 127.0.0.1 `pings` times there and as often in the initial namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsIsolation {
    pub pings: u16,
    /// `lo` of the second namespace.
    pub lo_ifindex: u32,
    /// What each listener in the second namespace received, in order.
    pub multicast: Vec<Event>,
    pub unicast: Vec<Event>,
    pub chardev: Vec<Event>,
    /// /proc/kulink/events read from the second namespace.
    pub procfs: Vec<Event>,
    /// GET_STATS from the second namespace.
    pub stats: Stats,
}

/// Three rounds, each in a new network namespace that every process then
/// leaves while something taken inside stays open: /dev/kulink files (one
/// armed for a real-time signal, one mapped), then /proc/kulink/events,
/// then a kulinkfs mount. Each is used after leaving, then closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsOutlived {
    pub relay_threads: RelayThreads,
    /// Round one: the event written to a /dev/kulink file once its
    /// namespace was left, and what the files gave then.
    pub written: Event,
    pub stats: StepOutcome<Stats>,
    pub write: StepOutcome,
    /// Read back from the file written to.
    pub read: StepOutcome<Vec<Event>>,
    /// The mapped file's ring.
    pub ring: StepOutcome<Vec<Event>>,
    /// Round two: written before leaving, then /proc/kulink/events read.
    pub written_procfs: Event,
    pub procfs: StepOutcome<Vec<Event>>,
    /// Round three: written before leaving, then kulinkfs `log` read.
    pub written_kulinkfs: Event,
    pub kulinkfs: StepOutcome<Vec<Event>>,
}

/// `kulink-relay` kernel threads, one per network namespace kulink.ko
/// serves: before, with round one's namespace entered, once every process
/// left it, and once the last file or mount of each round was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayThreads {
    pub before: usize,
    pub inside: usize,
    pub after_leaving: usize,
    pub after_closing: usize,
    pub after_procfs: usize,
    pub after_kulinkfs: usize,
}

/// What one process may do to kulink.ko.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub join_events: StepOutcome,
    pub join_relay: StepOutcome,
    pub subscribe: StepOutcome,
    pub genl_stats: StepOutcome,
    pub proc_events: StepOutcome,
    pub proc_stats: StepOutcome,
    pub proc_control: StepOutcome,
    pub kulinkfs_log: StepOutcome,
    pub kulinkfs_stats: StepOutcome,
    pub sysfs_counter: StepOutcome,
    pub chardev: StepOutcome,
    pub sysctl_write: StepOutcome,
    pub sockopt_stats: StepOutcome,
    pub sockopt_set_msg: StepOutcome,
    pub sockopt_get_msg: StepOutcome<String>,
}

/// The message root sets in the initial namespace, and the one the
/// unprivileged owner of a user and network namespace sets in its own.
pub const ROOT_MESSAGE: &str = "from the initial namespace";
pub const USERNS_MESSAGE: &str = "from a user namespace";
/// Echo id of the namespace owner's pings in its own namespace.
pub const OWNER_ECHO_ID: u16 = 0x4e33;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unprivileged {
    /// Root in the initial namespaces: every door open.
    pub root: Access,
    /// uid 65534 without capabilities, in the initial namespaces.
    pub nobody: Access,
    /// uid 65534 after unshare(CLONE_NEWUSER | CLONE_NEWNET).
    pub namespace_owner: Access,
    /// What the namespace owner's multicast listener got after it pinged
    /// 127.0.0.1 `pings` times in its own namespace.
    pub owner_pings: u16,
    pub owner_events: StepOutcome<Vec<Event>>,
    /// Root's getsockopt in the initial namespace once all that is done.
    pub root_message_after: StepOutcome<String>,
}

/// Echo id of the events the mmap probe writes (echo_seq counts them).
pub const MMAP_ECHO_ID: u16 = 0x6d6d;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmapLifecycle {
    pub map_private: StepOutcome,
    pub map_exec: StepOutcome,
    pub mprotect_exec: StepOutcome,
    /// A read() blocked on an empty queue, then the file is mapped.
    pub blocked_read: StepOutcome,
    /// Written in order: one before mmap, one while mapped, one after
    /// munmap, one after the second mmap.
    pub written: Vec<Event>,
    /// Records in the first ring once the second event was written.
    pub first_ring: StepOutcome<Vec<Event>>,
    pub unmap: StepOutcome,
    /// read() once the file was unmapped and the third event written.
    pub read_after_unmap: StepOutcome<Vec<Event>>,
    pub map_again: StepOutcome,
    /// Records in the second ring once the fourth event was written.
    pub second_ring: StepOutcome<Vec<Event>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_the_errno_and_round_trip() {
        let denied: StepOutcome<Vec<Event>> = StepOutcome::of(Err(std::io::Error::from_raw_os_error(1)));
        assert_eq!(denied, StepOutcome::Errno(1));
        assert_eq!(denied.unit(), StepOutcome::Errno(1));
        let line = serde_json::to_string(&denied).unwrap();
        assert_eq!(line, r#"{"errno":1}"#);
        assert_eq!(serde_json::from_str::<StepOutcome<Vec<Event>>>(&line).unwrap(), denied);
        let timeout: StepOutcome = StepOutcome::of(Err(std::io::Error::other("still blocked")));
        assert_eq!(timeout, StepOutcome::Failed("still blocked".into()));
        assert_eq!(serde_json::to_string(&Probe::NetnsOutlived).unwrap(), r#""netns-outlived""#);
    }
}
