//! The `sysctl` check: /proc/sys/kulink values are readable, and writes
//! outside their limits fail with EINVAL and change nothing.

use std::io::Write;

use anyhow::Result;
use kulink_wire::control::CheckResult;

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
    let out_of_range = [("enabled", "2"), ("enabled", "-1"), ("batch", "0"), ("batch", "65"), ("ring_pages", "0")];
    let more = [("ring_pages", "257"), ("umh_rate", "-1"), ("umh_rate", "1001"), ("icmp_types", "nope")];
    for (name, bad) in out_of_range.iter().chain(more.iter()) {
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
