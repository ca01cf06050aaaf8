//! `kulink bench`: every figure in one run per kernel (boots, restores,
//! the channels, the same frames through NFLOG, `vng --exec true`), the
//! ratios they make and the targets those ratios are held to.

use anyhow::Result;
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::{kernels, tools};
use serde::Serialize;

use super::vng::CommandStart;
use super::{BootBench, ChannelBench, ChannelPlan};

/// One kernel's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`](kulink::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// Median guest uptime when kulink.ko's agent was ready (cold boots).
    pub boot_ms_median: u64,
    /// Median wall time from starting QEMU to that moment.
    pub wall_ms_median: u64,
    /// Median wall time from starting QEMU until a guest started from a
    /// saved one was ready, its module loaded.
    pub restore_ms_median: Option<u64>,
    /// `vng --exec true` against kulink's guest running `true`; none where
    /// the kernel lacks vng.config or vng is not installed.
    pub command_start: Option<CommandStart>,
    /// The ratios the targets are about.
    pub ratios: SummaryRatios,
    /// Each target and whether this run met it.
    pub targets: Vec<Target>,
    /// The boots, in full.
    pub boot: BootBench,
    /// The channels, in full.
    pub channels: ChannelBench,
}

/// Ratios of one run's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SummaryRatios {
    /// mmap ring events/s over netlink multicast's at batch 1.
    pub mmap_vs_netlink: Option<f64>,
    /// Batched kulink.ko multicast over NFLOG on the same frames.
    pub netlink_vs_nflog: Option<f64>,
    /// `vng --exec true`'s start to exit over kulink's booted guest's.
    pub vng_vs_kulink_boot: Option<f64>,
    /// The same over kulink's guest started from a saved one.
    pub vng_vs_kulink_restore: Option<f64>,
}

/// A target from the benchmark's brief, and this run's figure for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// What is wanted.
    pub target: String,
    /// What was measured (`-` when it was not).
    pub measured: String,
    /// Whether it held; false when it was not measured.
    pub holds: bool,
}

/// Cold boots and restores per kernel, and runs of each command start.
pub struct SummaryPlan {
    /// Boots (and restores) per kernel.
    pub boots: usize,
    /// The channel runs.
    pub channels: ChannelPlan,
    /// Runs of `vng --exec true` and of kulink's `true`.
    pub command_runs: usize,
}

/// Measures everything on one kernel.
pub fn summary(kernel: KernelChoice, accel: AccelChoice, plan: &SummaryPlan) -> Result<Summary> {
    let boot = super::boot(kernel.clone(), accel, plan.boots, &[], false)?;
    let channels = super::channels(kernel.clone(), accel, &plan.channels)?;
    let command_start = if has_vng_config(&boot.kernel) && tools::VNG.find().is_some() && plan.command_runs > 0 {
        Some(super::vng::command_start(&kernel, accel, plan.command_runs)?)
    } else {
        None
    };
    let over = |a: u64, b: Option<u64>| b.filter(|&b| b > 0).map(|b| a as f64 / b as f64);
    let ratios = SummaryRatios {
        mmap_vs_netlink: channels.ratios.mmap_vs_netlink,
        netlink_vs_nflog: channels.ratios.netlink_vs_nflog,
        vng_vs_kulink_boot: command_start.as_ref().and_then(|c| over(c.vng_ms_median, Some(c.kulink_boot_ms_median))),
        vng_vs_kulink_restore: command_start.as_ref().and_then(|c| over(c.vng_ms_median, c.kulink_restore_ms_median)),
    };
    Ok(Summary {
        schema_version: kulink::outcome::SCHEMA_VERSION,
        kernel: boot.kernel.clone(),
        kernel_release: boot.kernel_release.clone(),
        accel: boot.accel.clone(),
        boot_ms_median: boot.boot_ms_median,
        wall_ms_median: boot.wall_ms_median,
        restore_ms_median: boot.restore_ms_median,
        targets: targets(&ratios, &boot, &channels),
        command_start,
        ratios,
        boot,
        channels,
    })
}

fn has_vng_config(kernel: &str) -> bool {
    kernels::find(kernel).is_ok_and(|k| k.fragments.iter().any(|f| f == "vng.config"))
}

/// The brief's targets against this run.
pub fn targets(ratios: &SummaryRatios, boot: &BootBench, channels: &ChannelBench) -> Vec<Target> {
    let at_least = |what: &str, got: Option<f64>, want: f64| Target {
        target: format!("{what} ≥ {want}×"),
        measured: got.map_or("-".into(), |r| format!("{r:.2}×")),
        holds: got.is_some_and(|r| r >= want),
    };
    let at_most = |what: &str, got: Option<u64>, want: u64| Target {
        target: format!("{what} ≤ {want} ms"),
        measured: got.map_or("-".into(), |ms| format!("{ms} ms")),
        holds: got.is_some_and(|ms| ms <= want),
    };
    vec![
        at_least("mmap ring / netlink multicast at batch 1", ratios.mmap_vs_netlink, 10.0),
        at_least("batched kulink.ko netlink / NFLOG, same frames", ratios.netlink_vs_nflog, 1.0),
        Target {
            target: "every drop explained by a counter".into(),
            measured: if channels.every_drop_explained { "yes" } else { "no" }.into(),
            holds: channels.every_drop_explained,
        },
        at_most("agent ready, guest uptime (median)", Some(boot.boot_ms_median), 600),
        at_most("guest ready from a saved one, wall (median)", boot.restore_ms_median, 150),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use kulink_ko_contract::bench::{ChannelFigures, ChannelRun};
    use kulink_ko_contract::Channel;

    use super::*;
    use crate::bench::{Boot, Measured, Ratios};

    fn throughput(channel: Channel, events_per_s: f64) -> Measured {
        Measured {
            section: "throughput".into(),
            explained: true,
            figures: ChannelFigures {
                run: ChannelRun::new(channel, 10),
                generated: 10,
                expected: 10,
                received: 10,
                lost: 0,
                counters: Default::default(),
                counted: 0,
                elapsed_ns: 1,
                events_per_s,
                latency: None,
            },
        }
    }

    /// A summary as a run on 6.1 makes one, with these medians.
    pub(crate) fn sample(boot_ms: u64, restore_ms: Option<u64>, mmap_vs_netlink: f64) -> Summary {
        let boot = BootBench {
            schema_version: 1,
            kernel: "6.1".into(),
            kernel_release: "6.1.192".into(),
            accel: "tcg".into(),
            boots: vec![Boot { ready_ms: boot_ms, wall_ms: boot_ms + 200 }],
            boot_ms_median: boot_ms,
            wall_ms_median: boot_ms + 200,
            steps: Vec::new(),
            silences: Vec::new(),
            restores_ms: restore_ms.into_iter().collect(),
            restore_ms_median: restore_ms,
            tuning: Vec::new(),
            kernel_log_clean: true,
        };
        let channels = ChannelBench {
            schema_version: 1,
            kernel: "6.1".into(),
            kernel_release: "6.1.192".into(),
            accel: "tcg".into(),
            runs: vec![
                throughput(Channel::NetlinkMulticast, 20_000.0),
                throughput(Channel::MmapRing, 20_000.0 * mmap_vs_netlink),
            ],
            frames: Vec::new(),
            ratios: Ratios { mmap_vs_netlink: Some(mmap_vs_netlink), ..Default::default() },
            every_drop_explained: true,
            kernel_log_clean: true,
        };
        let command_start = CommandStart {
            vng_ms_median: 3000,
            kulink_boot_ms_median: 1500,
            kulink_restore_ms_median: restore_ms.map(|ms| ms + 100),
            runs: 1,
        };
        let ratios = SummaryRatios {
            mmap_vs_netlink: Some(mmap_vs_netlink),
            vng_vs_kulink_boot: Some(2.0),
            ..Default::default()
        };
        Summary {
            schema_version: 1,
            kernel: "6.1".into(),
            kernel_release: "6.1.192".into(),
            accel: "tcg".into(),
            boot_ms_median: boot_ms,
            wall_ms_median: boot_ms + 200,
            restore_ms_median: restore_ms,
            command_start: Some(command_start),
            targets: targets(&ratios, &boot, &channels),
            ratios,
            boot,
            channels,
        }
    }

    #[test]
    fn targets_hold_only_on_measured_figures_that_meet_them() {
        let holds = |s: &Summary| s.targets.iter().map(|t| t.holds).collect::<Vec<_>>();
        // NFLOG was not measured: that target cannot hold.
        assert_eq!(holds(&sample(590, Some(120), 30.0)), [true, false, true, true, true]);
        assert_eq!(holds(&sample(610, None, 9.5)), [false, false, true, false, false]);
        let missed = sample(610, None, 9.5);
        assert_eq!(missed.targets[0].measured, "9.50×");
        assert_eq!(missed.targets[4].measured, "-");
    }

    #[test]
    fn the_json_names_every_figure_the_brief_asks_for() {
        let json = serde_json::to_value(sample(590, Some(120), 30.0)).unwrap();
        for ratio in ["mmap_vs_netlink", "netlink_vs_nflog", "vng_vs_kulink_boot"] {
            assert!(json["ratios"].get(ratio).is_some(), "{ratio}");
        }
        assert_eq!(json["boot_ms_median"], 590);
        assert_eq!(json["restore_ms_median"], 120);
    }
}
