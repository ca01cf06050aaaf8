//! The main job's verdict as data; `output` renders it.

use kulink_wire::Stats;
use serde::Serialize;

use crate::checks::Verdict;
use crate::verify::ChannelResult;
use kulink_testbed::splat::Splat;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub fn equal(name: &str, got: u64, want: u64) -> Self {
        Self { name: name.into(), passed: got == want, detail: format!("{got} (want {want})") }
    }
}

/// A channel that carries configuration rather than events: a named check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckChannel {
    pub name: String,
    /// Always "check".
    pub kind: &'static str,
    pub passed: bool,
    pub detail: Vec<String>,
}

impl CheckChannel {
    pub fn new(verdict: &Verdict) -> Self {
        Self { name: verdict.channel.name().into(), kind: "check", passed: verdict.passed(), detail: verdict.lines() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ChannelReport {
    Events(ChannelResult),
    Check(CheckChannel),
}

impl ChannelReport {
    pub fn name(&self) -> &str {
        match self {
            Self::Events(c) => &c.name,
            Self::Check(c) => &c.name,
        }
    }

    pub fn passed(&self) -> bool {
        match self {
            Self::Events(c) => c.passed,
            Self::Check(c) => c.passed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EchoReplies {
    pub expected: usize,
    pub received: usize,
}

/// Version of the JSON kulink prints: raised when a key changes meaning or
/// goes away (new keys may come without it).
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON object for a run that could not be judged: no kernel, no
/// guest, a broken host. `kernel` is what was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    pub schema_version: u32,
    pub kernel: String,
    pub error: String,
    pub exit_code: i32,
    pub passed: bool,
}

impl RunError {
    pub fn new(kernel: &str, error: &anyhow::Error) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            kernel: kernel.into(),
            error: format!("{error:#}"),
            exit_code: crate::exit_code(error),
            passed: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub kernel: String,
    pub kernel_release: String,
    pub accel: String,
    /// Guest uptime when the agent was ready.
    pub boot_ms: u64,
    /// Host wall time from QEMU start to ready.
    pub wall_boot_ms: u64,
    /// ICMP frames that must each produce one event per channel.
    pub injected: usize,
    /// Every frame sent, including those that must produce nothing.
    pub frames_sent: usize,
    pub channels: Vec<ChannelReport>,
    pub echo_replies: EchoReplies,
    pub stats: Stats,
    pub checks: Vec<Check>,
    /// Times a socket of the agent's overran (the kernel dropped messages).
    pub overruns: usize,
    /// Problems the agent survived and reported (an undecodable message...).
    pub warnings: Vec<String>,
    pub kernel_log_clean: bool,
    pub splats: Vec<Splat>,
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
