//! The main job's verdict: a table for people, one JSON object for machines.

use std::fmt::Write;

use kulink_wire::Stats;
use serde::Serialize;

use crate::splat::Splat;
use crate::verify::ChannelResult;

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

#[derive(Debug, Clone, Serialize)]
pub struct EchoReplies {
    pub expected: usize,
    pub received: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
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
    pub channels: Vec<ChannelResult>,
    pub echo_replies: EchoReplies,
    pub stats: Stats,
    pub checks: Vec<Check>,
    pub overruns: usize,
    pub warnings: Vec<String>,
    pub kernel_log_clean: bool,
    pub splats: Vec<Splat>,
    pub passed: bool,
}

impl RunReport {
    /// Derives `passed` from every part of the verdict.
    pub fn finish(mut self) -> Self {
        self.passed = self.channels.iter().all(ChannelResult::passed)
            && self.checks.iter().all(|c| c.passed)
            && self.echo_replies.received == self.echo_replies.expected
            && self.overruns == 0
            && self.kernel_log_clean;
        self
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "kernel  {} ({}), accelerator {}", self.kernel, self.kernel_release, self.accel);
        let _ = writeln!(s, "boot    agent ready at {} ms guest uptime, {} ms wall", self.boot_ms, self.wall_boot_ms);
        let _ = writeln!(
            s,
            "sent    {} frames: {} ICMP that must be reported, {} that must not\n",
            self.frames_sent,
            self.injected,
            self.frames_sent - self.injected
        );
        let _ = writeln!(
            s,
            "{:<18} {:<10} {:>8} {:>8} {:>7} {:>5} {:>9} {:>9}  verdict",
            "channel", "subscriber", "injected", "received", "matched", "lost", "p50 µs", "p99 µs"
        );
        let us = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        for c in &self.channels {
            let _ = writeln!(
                s,
                "{:<18} {:<10} {:>8} {:>8} {:>7} {:>5} {:>9} {:>9}  {}",
                c.name,
                c.subscriber.as_deref().unwrap_or("-"),
                c.injected,
                c.received,
                c.matched,
                c.lost,
                us(c.latency_p50_us),
                us(c.latency_p99_us),
                if c.passed() { "ok" } else { "FAIL" }
            );
            for p in &c.problems {
                let _ = writeln!(s, "    {p}");
            }
        }
        let _ =
            writeln!(s, "\necho replies on the wire: {}/{}", self.echo_replies.received, self.echo_replies.expected);
        for c in &self.checks {
            let _ = writeln!(s, "check {:<34} {:<4} {}", c.name, if c.passed { "ok" } else { "FAIL" }, c.detail);
        }
        if self.overruns > 0 {
            let _ = writeln!(s, "socket overruns: {}", self.overruns);
        }
        for w in &self.warnings {
            let _ = writeln!(s, "agent warning: {w}");
        }
        if self.kernel_log_clean {
            let _ = writeln!(s, "kernel log: clean");
        } else {
            let _ = writeln!(s, "kernel log: {} splat line(s)", self.splats.len());
            for sp in &self.splats {
                let _ = writeln!(s, "    {}: {}", sp.kind, sp.text);
            }
        }
        let _ = writeln!(s, "\n{}", if self.passed { "PASSED" } else { "FAILED" });
        s
    }
}
