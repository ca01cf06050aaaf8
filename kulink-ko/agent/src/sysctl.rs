//! The `sysctl` channel: every value under /proc/sys/kulink, and writes
//! outside the limits with the file read before and after each.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use kulink_ko_contract::observed::{sysctl_bad_writes, SysctlSeen, SysctlWrite, SYSCTL_DIR};
use kulink_ko_contract::probe::StepOutcome;

use crate::value_files;

fn read(name: &str) -> StepOutcome<String> {
    value_files::read(&Path::new(SYSCTL_DIR).join(name))
}

/// One write() of the whole value, as `echo value > file` does.
fn write(name: &str, value: &str) -> StepOutcome {
    let file = std::fs::OpenOptions::new().write(true).open(Path::new(SYSCTL_DIR).join(name));
    StepOutcome::of(file.and_then(|mut f| f.write_all(format!("{value}\n").as_bytes())))
}

pub fn observe() -> Result<SysctlSeen> {
    let writes = sysctl_bad_writes()
        .into_iter()
        .map(|(name, value)| {
            let before = read(name);
            let write = write(name, &value);
            SysctlWrite { name: name.into(), value, before, write, after: read(name) }
        })
        .collect();
    Ok(SysctlSeen { values: value_files::read_all(SYSCTL_DIR)?, writes })
}
