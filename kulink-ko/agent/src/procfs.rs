//! The `procfs` channel: /proc/kulink/events read on request.

use anyhow::Result;
use kulink_ko_contract::Channel;

use crate::netlink::Outbox;
use crate::text_log;

pub const EVENTS: &str = "/proc/kulink/events";

pub fn collect(out: &Outbox) -> Result<usize> {
    text_log::collect(EVENTS, Channel::Procfs, out)
}
