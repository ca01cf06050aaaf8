//! The `kulinkfs` channel: the module's own file system, mounted at start
//! at [`KULINKFS_DIR`], its `log` read on request.

use anyhow::Result;
use kulink_agent_core::system;
use kulink_ko_contract::extension::KULINKFS_DIR;
use kulink_ko_contract::Channel;

use crate::netlink::Outbox;
use crate::text_log;

pub fn mount() -> Result<()> {
    system::mount("none", KULINKFS_DIR, "kulinkfs")
}

pub fn collect(out: &Outbox) -> Result<usize> {
    text_log::collect(&format!("{KULINKFS_DIR}/log"), Channel::Kulinkfs, out)
}
