//! The `kulinkfs` channel: the module's own file system, mounted at start
//! (kulink.fsdir, /mnt/kulink by default), its `log` read on request.

use anyhow::Result;
use kulink_wire::Channel;

use crate::netlink::Outbox;
use crate::{system, text_log};

pub fn mount(dir: &str) -> Result<()> {
    system::mount("none", dir, "kulinkfs")
}

pub fn collect(dir: &str, out: &Outbox) -> Result<usize> {
    text_log::collect(&format!("{dir}/log"), Channel::Kulinkfs, out)
}
