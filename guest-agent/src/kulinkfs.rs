//! The `kulinkfs` channel: the module's own file system, mounted at start,
//! its `log` read on request.

use anyhow::Result;
use kulink_wire::control::channel;

use crate::netlink::Outbox;
use crate::{system, text_log};

pub const MOUNT: &str = "/mnt/kulink";

pub fn mount() -> Result<()> {
    system::mount("none", MOUNT, "kulinkfs")
}

pub fn collect(out: &Outbox) -> Result<usize> {
    text_log::collect(&format!("{MOUNT}/log"), channel::KULINKFS, out)
}
