//! The `sysfs` channel: every attribute under /sys/kernel/kulink, the
//! module's own version, and a write that must be refused.

use std::path::Path;

use anyhow::Result;
use kulink_ko_contract::observed::{SysfsSeen, SYSFS_DIR};
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::Stats;

use crate::value_files;

/// `netlink_stats`: GET_STATS read just before, while traffic is quiet.
pub fn observe(netlink_stats: Stats) -> Result<SysfsSeen> {
    Ok(SysfsSeen {
        attributes: value_files::read_all(SYSFS_DIR)?,
        module_version: value_files::read(Path::new("/sys/module/kulink/version")),
        write_events: StepOutcome::of(std::fs::write(Path::new(SYSFS_DIR).join("events"), "0")),
        netlink_stats,
    })
}
