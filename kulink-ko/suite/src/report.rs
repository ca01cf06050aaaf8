//! The main job's verdict as data; `output` renders it.

use kulink_ko_contract::Stats;
use serde::Serialize;

use crate::config_verdict::Verdict;
use crate::event_verdict::ChannelResult;
use kulink::testbed::splat::Splat;

#[derive(Debug, Clone, Serialize)]
/// A figure compared with what it must be.
pub struct Check {
    /// What was compared.
    pub name: String,
    /// It held.
    pub passed: bool,
    /// The figure and what it had to be.
    pub detail: String,
}

impl Check {
    /// `got` must equal `want`.
    pub fn equal(name: &str, got: u64, want: u64) -> Self {
        Self { name: name.into(), passed: got == want, detail: format!("{got} (want {want})") }
    }
}

/// A channel that carries configuration rather than events: a named check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckChannel {
    /// The channel's name.
    pub name: String,
    /// Always "check".
    pub kind: &'static str,
    /// Every step passed.
    pub passed: bool,
    /// Each step, as a line.
    pub detail: Vec<String>,
}

impl CheckChannel {
    /// The report of a configuration channel's verdict.
    pub fn new(verdict: &Verdict) -> Self {
        Self { name: verdict.channel.name().into(), kind: "check", passed: verdict.passed(), detail: verdict.lines() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
/// One channel's part of a run's report.
pub enum ChannelReport {
    /// A channel that carries events.
    Events(ChannelResult),
    /// A channel that carries configuration.
    Check(CheckChannel),
}

impl ChannelReport {
    /// The channel's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Events(c) => &c.name,
            Self::Check(c) => &c.name,
        }
    }

    /// The channel passed.
    pub fn passed(&self) -> bool {
        match self {
            Self::Events(c) => c.passed,
            Self::Check(c) => c.passed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
/// Echo replies the guest owed the peer, and those that came.
pub struct EchoReplies {
    /// Echo requests sent.
    pub expected: usize,
    /// Echo replies the peer got.
    pub received: usize,
}

/// How many frames of a run had one fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FateCount {
    /// The fate, as [`crate::receive_rules::Fate::class`] words it.
    pub fate: String,
    /// Frames that had it.
    pub frames: usize,
}

pub use kulink::testbed::vm::Started;

#[derive(Debug, Clone, Serialize)]
/// One run's verdict: every channel, the module's counters, the kernel log.
pub struct RunReport {
    /// [`SCHEMA_VERSION`](kulink::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// How the guest started, and its boot figure.
    #[serde(flatten)]
    pub started: Started,
    /// Host wall time from QEMU start to ready (restored: to the saved
    /// guest's first answer).
    pub wall_boot_ms: u64,
    /// ICMP frames that must each produce one event per channel.
    pub injected: usize,
    /// Every frame sent, including those that must produce nothing.
    pub frames_sent: usize,
    /// Each channel's verdict.
    pub channels: Vec<ChannelReport>,
    /// Echo replies owed and received.
    pub echo_replies: EchoReplies,
    /// kulink.ko's counters after the traffic.
    pub stats: Stats,
    /// The counters compared with the plan.
    pub checks: Vec<Check>,
    /// How many frames had each fate ([`crate::receive_rules::Fate::class`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fates: Vec<FateCount>,
    /// Times a socket of the agent's overran (the kernel dropped messages).
    pub overruns: usize,
    /// Problems the agent survived and reported (an undecodable message...).
    pub warnings: Vec<String>,
    /// No splat in the kernel log.
    pub kernel_log_clean: bool,
    /// Each splat found.
    pub splats: Vec<Splat>,
    /// Every channel and check passed, every echo reply came, no overrun or
    /// warning, and the kernel log is clean (see [`RunReport::finish`]).
    pub passed: bool,
}

impl RunReport {
    /// Derives `passed` from every part of the verdict.
    pub fn finish(mut self) -> Self {
        self.passed = self.channels.iter().all(ChannelReport::passed)
            && self.checks.iter().all(|c| c.passed)
            && self.echo_replies.received == self.echo_replies.expected
            && self.overruns == 0
            && self.warnings.is_empty()
            && self.kernel_log_clean;
        self
    }
}
