//! Event logs kept as text by the module (procfs `events`, kulinkfs `log`).

use anyhow::{Context, Result};
use kulink_ko_contract::extension::Notice;
use kulink_ko_contract::{Channel, Event, TextError};

use crate::netlink::Outbox;

/// Each non-empty line of a log, with the event it holds.
pub fn lines(text: &str) -> impl Iterator<Item = (&str, Result<Event, TextError>)> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| (l, Event::parse_text(l)))
}

/// Sends every line of `path` as an event of `channel`; returns how many.
/// A line that does not parse is reported, not skipped silently.
pub fn collect(path: &str, channel: Channel, out: &Outbox) -> Result<usize> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let mut sent = 0;
    for (line, parsed) in lines(&text) {
        match parsed {
            Ok(event) => {
                sent += 1;
                out.ext(Notice::Event { channel, subscriber: None, latency_ns: None, event });
            }
            Err(e) => out.warning(format!("{path}: {line:?}: {e}")),
        }
    }
    Ok(sent)
}
