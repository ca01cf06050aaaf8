//! Event logs kept as text by the module (procfs `events`, kulinkfs `log`).

use anyhow::{Context, Result};
use kulink_wire::control::AgentMsg;
use kulink_wire::Event;

use crate::netlink::Outbox;

/// Sends every line of `path` as an event of `channel`; returns how many.
/// A line that does not parse is reported, not skipped silently.
pub fn collect(path: &str, channel: &str, out: &Outbox) -> Result<usize> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let mut sent = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let msg = match Event::parse_text(line) {
            Ok(event) => {
                sent += 1;
                AgentMsg::Event { channel: channel.into(), subscriber: None, latency_ns: None, event }
            }
            Err(e) => AgentMsg::Warning { message: format!("{path}: {line:?}: {e}") },
        };
        let _ = out.send(msg);
    }
    Ok(sent)
}
