//! What the agent saw when it exercised a configuration channel (sysctl,
//! sysfs, sockopt, chardev): every value read and every errno, and no
//! verdict. What each step should have given lives on the host
//! (`kulink::checks`), so a test failure names the expectation, not the
//! agent's prose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::probe::StepOutcome;
use crate::{uapi, Stats};

/// One per check, never in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Observed {
    Sysctl(SysctlSeen),
    Sysfs(SysfsSeen),
    Sockopt(SockoptSeen),
    Chardev(ChardevSeen),
}

/// Where the module's sysctl table and sysfs attributes live.
pub const SYSCTL_DIR: &str = "/proc/sys/kulink";
pub const SYSFS_DIR: &str = "/sys/kernel/kulink";

/// The writes the sysctl procedure tries: each just outside a limit of
/// kulink.h, or not a number at all.
pub fn sysctl_bad_writes() -> Vec<(&'static str, String)> {
    let past = |max: u32| (u64::from(max) + 1).to_string();
    vec![
        ("enabled", "2".into()),
        ("enabled", "-1".into()),
        ("batch", "0".into()),
        ("batch", past(uapi::BATCH_MAX)),
        ("ring_pages", "0".into()),
        ("ring_pages", past(uapi::RING_PAGES_MAX)),
        ("umh_rate", "-1".into()),
        ("umh_rate", past(uapi::UMH_RATE_MAX)),
        ("icmp_types", "nope".into()),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlSeen {
    /// Every file in [`SYSCTL_DIR`] once the writes were done, by name.
    pub values: BTreeMap<String, StepOutcome<String>>,
    /// Each of [`sysctl_bad_writes`], in order.
    pub writes: Vec<SysctlWrite>,
}

/// One write() of a whole value, as `echo value > file` does, with the
/// file read just before and just after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlWrite {
    pub name: String,
    pub value: String,
    pub before: StepOutcome<String>,
    pub write: StepOutcome,
    pub after: StepOutcome<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysfsSeen {
    /// Every attribute in [`SYSFS_DIR`], by name, trimmed.
    pub attributes: BTreeMap<String, StepOutcome<String>>,
    /// /sys/module/kulink/version: what `version` must repeat.
    pub module_version: StepOutcome<String>,
    /// A write of "0" to the `events` attribute.
    pub write_events: StepOutcome,
    /// GET_STATS over generic netlink just before the reads.
    pub netlink_stats: Stats,
}

/// The message the sockopt procedure sets.
pub const SOCKOPT_MESSAGE: &str = "a message from userspace";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockoptSeen {
    /// SET_MSG of [`SOCKOPT_MESSAGE`], then GET_MSG's answer without its NUL.
    pub set_message: StepOutcome,
    pub message: StepOutcome<String>,
    /// GET_STATS through getsockopt, and over generic netlink just before.
    pub stats: StepOutcome<Stats>,
    pub netlink_stats: Stats,
    pub set_empty: StepOutcome,
    pub set_too_long: StepOutcome,
    /// GET_STATS into 8 bytes.
    pub stats_wrong_length: StepOutcome,
    /// GET_MSG into 4 bytes.
    pub message_short_buffer: StepOutcome,
    /// SET_MSG and GET_MSG from a thread without CAP_NET_ADMIN.
    pub set_unprivileged: StepOutcome,
    pub get_unprivileged: StepOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChardevSeen {
    /// IOC_GET_STATS, and GET_STATS over generic netlink just before.
    pub stats: StepOutcome<Stats>,
    pub netlink_stats: Stats,
    /// IOC_SET_FILTER of `filter`, then IOC_GET_FILTER.
    pub filter: u32,
    pub set_filter: StepOutcome,
    pub get_filter: StepOutcome<u32>,
    pub stats_to_bad_pointer: StepOutcome,
    pub filter_from_bad_pointer: StepOutcome,
    pub unknown_ioctl: StepOutcome,
    /// IOC_SET_SIGNAL with SIGUSR1.
    pub non_rt_signal: StepOutcome,
    /// read() of 10 bytes.
    pub short_read: StepOutcome,
    /// An O_NONBLOCK read() of one record with nothing queued.
    pub empty_read: StepOutcome,
    /// write() of 10 bytes.
    pub wrong_size_write: StepOutcome,
    pub reserved_bytes_write: StepOutcome,
    /// write() of an event with a sequence number of its own.
    pub own_seq_write: StepOutcome,
}
