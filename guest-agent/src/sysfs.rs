//! The `sysfs` check: /sys/kernel/kulink shows the module's version and
//! per-channel counters equal to GET_STATS.

use anyhow::Result;
use kulink_wire::control::CheckResult;
use kulink_wire::Stats;

use crate::checks::Steps;

pub const DIR: &str = "/sys/kernel/kulink";

fn read(name: &str) -> std::io::Result<String> {
    std::fs::read_to_string(format!("{DIR}/{name}")).map(|s| s.trim().to_owned())
}

/// Compares with `stats`, read over generic netlink while traffic is quiet.
pub fn check(stats: &Stats) -> Result<CheckResult> {
    let mut steps = Steps::default();
    let version = read("version");
    let module = std::fs::read_to_string("/sys/module/kulink/version").map(|s| s.trim().to_owned());
    steps.expect(
        "version equals the module's",
        version.is_ok() && version.as_ref().ok() == module.as_ref().ok(),
        &version,
    );
    let counters = [
        ("events", stats.events_built),
        ("netlink_multicast", stats.mcast_sent),
        ("netlink_unicast", stats.unicast_sent),
        ("chardev", stats.chardev_queued),
        ("mmap_ring", stats.ring_written),
        ("signal_sigio", stats.sigio_sent),
        ("signal_rt", stats.sigrt_sent),
        ("usermode_helper", stats.umh_run),
        ("kthread_relay", stats.relay_sent),
    ];
    for (name, want) in counters {
        let got = read(name).map(|v| v.parse::<u64>());
        let ok = matches!(got, Ok(Ok(v)) if v == want);
        steps.expect(&format!("{name} equals GET_STATS ({want})"), ok, &got);
    }
    let write = std::fs::write(format!("{DIR}/events"), "0");
    steps.expect("attributes are read-only", write.is_err(), &write.map_err(|e| e.to_string()));
    Ok(steps.finish())
}
