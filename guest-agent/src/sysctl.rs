//! The `sysctl` check: /proc/sys/kulink values are readable, and writes
//! outside their limits fail with EINVAL and change nothing.

use std::io::Write;

use anyhow::Result;
use kulink_wire::control::CheckResult;
use kulink_wire::uapi;

use crate::checks::Steps;

pub const DIR: &str = "/proc/sys/kulink";

fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

pub fn read(name: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path(name)).map(|s| s.trim().to_owned())
}

/// One write() of the whole value, as `echo value > file` does.
pub fn write(name: &str, value: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path(name))?.write_all(format!("{value}\n").as_bytes())
}

pub fn check() -> Result<CheckResult> {
    let mut steps = Steps::default();
    // Just past each limit: the limits are kulink.h's.
    let past = |max: u32| (max + 1).to_string();
    let out_of_range = [
        ("enabled", "2".to_owned()),
        ("enabled", "-1".into()),
        ("batch", "0".into()),
        ("batch", past(uapi::BATCH_MAX)),
        ("ring_pages", "0".into()),
        ("ring_pages", past(uapi::RING_PAGES_MAX)),
        ("umh_rate", "-1".into()),
        ("umh_rate", past(uapi::UMH_RATE_MAX)),
        ("icmp_types", "nope".into()),
    ];
    for (name, bad) in &out_of_range {
        let before = read(name);
        steps.errno(&format!("{name} = {bad}"), write(name, bad), libc::EINVAL);
        let after = read(name);
        let unchanged = before.as_ref().ok() == after.as_ref().ok() && before.is_ok();
        steps.expect(&format!("{name} unchanged after the bad write"), unchanged, &after);
    }
    for name in ["enabled", "icmp_types", "batch", "ring_pages", "umh_rate"] {
        let value = read(name);
        steps.expect(
            &format!("{name} reads as a number"),
            value.as_ref().is_ok_and(|v| v.parse::<i64>().is_ok()),
            &value,
        );
    }
    Ok(steps.finish())
}
