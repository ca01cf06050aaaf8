//! `kulink bench`'s contract with its program in the guest: the host runs
//! `kulink-ko-agent --kulink-bench RUN` (RUN a [`ChannelRun`] as JSON) for each
//! measurement; the program consumes one channel while kulink.ko's
//! generator publishes events into it, and prints one [`ChannelFigures`]
//! as a JSON line. For frames from the wire, the host starts
//! `kulink-ko-agent --kulink-bench-frames RUN` (a [`FramesRun`]), which reads
//! kulink.ko's multicast group and an NFLOG group side by side, says
//! `ready`, and prints [`FramesFigures`] once the frames are in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{uapi, Channel};

/// The argument that makes the agent binary the benchmark program.
pub const ARG: &str = "--kulink-bench";
/// The same, for frames from the wire.
pub const FRAMES_ARG: &str = "--kulink-bench-frames";

/// The channels a run can measure, and the generator's channel bits each needs.
pub const MEASURED: &[(Channel, u32)] = &[
    (Channel::NetlinkMulticast, uapi::CHAN_NETLINK),
    (Channel::NetlinkUnicast, uapi::CHAN_NETLINK),
    (Channel::Chardev, uapi::CHAN_CHARDEV),
    (Channel::MmapRing, uapi::CHAN_CHARDEV),
    (Channel::SignalRt, uapi::CHAN_CHARDEV),
    (Channel::KthreadRelay, uapi::CHAN_RELAY),
    (Channel::UsermodeHelper, uapi::CHAN_UMH),
];

/// One measurement: `count` generated events into one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRun {
    pub channel: Channel,
    /// Events the generator makes.
    pub count: u32,
    /// Events per second; 0: as fast as the generator can.
    pub rate: u32,
    /// Events per multicast message (the `batch` sysctl); 1 for the other
    /// channels.
    pub batch: u32,
    /// Consumers: unicast subscribers (1 to 16); 1 for the other channels.
    pub consumers: u32,
}

impl ChannelRun {
    /// A run at full speed with one consumer, batch 1.
    pub fn new(channel: Channel, count: u32) -> Self {
        Self { channel, count, rate: 0, batch: 1, consumers: 1 }
    }

    /// The generator's channel bits for this run.
    pub fn generator_channels(&self) -> u32 {
        MEASURED.iter().find(|(c, _)| *c == self.channel).map_or(0, |(_, bits)| *bits)
    }

    /// What is wrong with the run, if anything, in words for a user.
    pub fn check(&self) -> Result<(), String> {
        if self.generator_channels() == 0 {
            let known: Vec<&str> = MEASURED.iter().map(|(c, _)| c.name()).collect();
            return Err(format!("{} cannot be measured (measured: {})", self.channel, known.join(", ")));
        }
        if self.count == 0 || self.count > uapi::GEN_COUNT_MAX {
            return Err(format!("count {} is not 1..{}", self.count, uapi::GEN_COUNT_MAX));
        }
        if self.rate > uapi::GEN_RATE_MAX {
            return Err(format!("rate {} is above {}", self.rate, uapi::GEN_RATE_MAX));
        }
        if self.batch == 0 || self.batch > uapi::BATCH_MAX {
            return Err(format!("batch {} is not 1..{}", self.batch, uapi::BATCH_MAX));
        }
        if self.batch > 1 && self.channel != Channel::NetlinkMulticast {
            return Err(format!("batch applies to netlink-multicast only, not {}", self.channel));
        }
        let most = if self.channel == Channel::NetlinkUnicast { uapi::MAX_SUBSCRIBERS as u32 } else { 1 };
        if self.consumers == 0 || self.consumers > most {
            return Err(format!("{} consumers of {}: 1..{most}", self.consumers, self.channel));
        }
        Ok(())
    }
}

/// Latency from the kernel's timestamp to user-space receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (sorted here); `None` when empty.
    pub fn of(samples: &mut [u64]) -> Option<Self> {
        samples.sort_unstable();
        let rank = |p: usize| samples[(samples.len() * p).div_ceil(100).saturating_sub(1)];
        let max = *samples.last()?;
        Some(Self { p50_ns: rank(50), p99_ns: rank(99), max_ns: max })
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelFigures {
    /// What was measured.
    pub run: ChannelRun,
    /// Events the generator made (its counter's change over the run).
    pub generated: u64,
    /// Events every consumer should have had: generated × consumers.
    pub expected: u64,
    /// Events the consumers received, all together.
    pub received: u64,
    /// `expected - received`.
    pub lost: u64,
    /// The channel's loss counters that changed over the run, by name.
    pub counters: BTreeMap<String, u64>,
    /// Their sum: every lost event is explained when it equals `lost`.
    pub counted: u64,
    /// From the first event's kernel timestamp to the last receipt.
    pub elapsed_ns: u64,
    /// `received` per second of `elapsed_ns`.
    pub events_per_s: f64,
    /// `None` for a channel that carries no timestamp (signal-rt).
    pub latency: Option<Latency>,
}

impl ChannelFigures {
    /// Every event arrived or a counter says why not.
    pub fn explained(&self) -> bool {
        self.lost == self.counted && self.generated == u64::from(self.run.count)
    }
}

/// Echo requests from the wire, reported by kulink.ko's hook to its
/// multicast group and by an nftables `log group` rule over NFLOG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FramesRun {
    /// Echo requests the host sends.
    pub frames: u32,
    /// Their ICMP identifier: other packets are not counted.
    pub echo_id: u16,
    /// kulink.ko's multicast batch and NFLOG's queue threshold alike.
    pub batch: u32,
    /// The NFLOG group.
    pub nflog_group: u16,
    /// The `nft` program in the guest.
    pub nft: String,
}

/// What one path delivered of a frames run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PathFigures {
    /// Echo requests of the run it delivered.
    pub received: u64,
    /// Those that reached the hooks but not this path's reader.
    pub lost: u64,
    /// Times its socket overflowed (ENOBUFS).
    pub overruns: u64,
    /// From its first delivery to its last.
    pub elapsed_ns: u64,
    /// `received` per second of `elapsed_ns`.
    pub events_per_s: f64,
}

impl PathFigures {
    /// Figures from `received` deliveries between two receipts, of
    /// `reached` packets that reached the hooks.
    pub fn new(reached: u64, received: u64, overruns: u64, first_ns: u64, last_ns: u64) -> Self {
        let elapsed_ns = last_ns.saturating_sub(first_ns);
        Self {
            received,
            lost: reached.saturating_sub(received),
            overruns,
            elapsed_ns,
            events_per_s: if elapsed_ns == 0 { 0.0 } else { received as f64 * 1e9 / elapsed_ns as f64 },
        }
    }
}

/// Both paths' figures for the same frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FramesFigures {
    /// What was measured.
    pub run: FramesRun,
    /// ICMP packets that reached the prerouting hooks (kulink.ko's
    /// `icmp_seen`); the rest of the frames the guest dropped before them.
    pub reached_hook: u64,
    /// kulink.ko's hook to its `events` multicast group.
    pub kulink: PathFigures,
    /// nftables `log group` to NFLOG.
    pub nflog: PathFigures,
    /// kulink.ko's loss counters that changed over the run, by name.
    pub kulink_counters: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_checked_before_they_start() {
        let ok = ChannelRun::new(Channel::NetlinkMulticast, 1000);
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.generator_channels(), uapi::CHAN_NETLINK);
        let err = |r: ChannelRun| r.check().unwrap_err();
        assert!(err(ChannelRun::new(Channel::Procfs, 10)).contains("cannot be measured"));
        assert!(err(ChannelRun::new(Channel::Chardev, 0)).contains("count 0"));
        assert!(err(ChannelRun { batch: 8, ..ChannelRun::new(Channel::Chardev, 10) }).contains("batch applies"));
        assert!(err(ChannelRun { batch: 129, ..ok }).contains("batch 129"));
        assert!(err(ChannelRun { consumers: 2, ..ok }).contains("2 consumers"));
        let unicast = ChannelRun { consumers: 16, ..ChannelRun::new(Channel::NetlinkUnicast, 10) };
        assert_eq!(unicast.check(), Ok(()));
        assert!(err(ChannelRun { consumers: 17, ..unicast }).contains("1..16"));
    }

    #[test]
    fn a_path_s_rate_runs_from_its_first_delivery_to_its_last() {
        let f = PathFigures::new(100, 80, 1, 1_000_000_000, 1_500_000_000);
        assert_eq!((f.lost, f.elapsed_ns, f.events_per_s), (20, 500_000_000, 160.0));
        assert_eq!(PathFigures::new(5, 0, 0, 0, 0).events_per_s, 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(Latency::of(&mut samples), Some(Latency { p50_ns: 50, p99_ns: 99, max_ns: 100 }));
        assert_eq!(Latency::of(&mut [7]), Some(Latency { p50_ns: 7, p99_ns: 7, max_ns: 7 }));
        assert_eq!(Latency::of(&mut []), None);
    }

    #[test]
    fn a_loss_is_explained_only_by_its_counters() {
        let run = ChannelRun::new(Channel::Chardev, 10);
        let mut f = ChannelFigures {
            run,
            generated: 10,
            expected: 10,
            received: 7,
            lost: 3,
            counters: [("chardev_dropped".to_owned(), 3)].into(),
            counted: 3,
            elapsed_ns: 1,
            events_per_s: 0.0,
            latency: None,
        };
        assert!(f.explained());
        f.counted = 2;
        assert!(!f.explained());
    }
}
