//! kulink.ko under a flood: the peer sends echo requests as fast as the
//! wire takes them while the agent reads slowly, so the module's queues
//! fill and it drops events. Then every event must be accounted for,
//! channel by channel: the events the hook built = the events that reached
//! the agent + the drops the module counted; where the agent can see its
//! own drops (a netlink socket's drop count, the ring header's overflow
//! count), they equal the module's. The device files the agent reads each
//! count their own drops, and those add up to the module's total.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink::testbed::frames;
use kulink_ko_contract::extension::{Command, Dropped, Pace};
use kulink_ko_contract::{Channel, Stats};
use serde::Serialize;

use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::splat::Splat;

use crate::guest::{self, notified_in, Guest, KulinkGuest, Listener};
use crate::inject::{listener, multicast, unicast};

/// The flood's echo id: no other frame kulink sends uses it.
pub const FLOOD_ID: u16 = 0x7100;

/// Set for the flood: the guest answers no echo request.
const ECHO_IGNORE_ALL: &str = "/proc/sys/net/ipv4/icmp_echo_ignore_all";

/// kulink.ko's rate limit of usermode helper runs.
const UMH_RATE: &str = "/proc/sys/kulink/umh_rate";

/// What to send, and how slowly the agent reads meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Echo requests sent, back to back.
    pub frames: u16,
    /// The slow consumer: one read per `read_every_ms`, and the event
    /// sockets' receive buffer.
    pub pace: Pace,
    /// The usermode helper's rate limit during the flood (sysctl
    /// `umh_rate`): every helper is a process, and a TCG guest that starts
    /// 100 a second has little left for the frames.
    pub umh_rate: u32,
    /// How long the queues may take to empty once the agent reads at full
    /// speed again.
    pub drain_timeout: Duration,
}

/// One row of the ledger: a channel and where each event it should have
/// carried went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// The channel.
    pub name: String,
    /// Events the hook built, once per listener of the row.
    pub built: u64,
    /// Distinct events that reached the agent.
    pub delivered: u64,
    /// Drops the module counted over the flood.
    pub counted: u64,
    /// The module's counters that make up `counted`.
    pub counters: Vec<String>,
    /// Drops the agent's own end saw, where it sees them.
    pub seen: Option<u64>,
    /// `seen` is only part of `counted`: the kernel also drops before the
    /// agent's end (the relay's queue before its socket).
    pub seen_is_part: bool,
    /// Events that reached the agent more than once.
    pub duplicates: u64,
    /// Events arrived in the order the hook built them.
    pub in_order: bool,
}

impl Flow {
    /// Every event accounted for, once, in order where the channel keeps it.
    pub fn balanced(&self) -> bool {
        let seen_agrees = match self.seen {
            Some(seen) if self.seen_is_part => seen <= self.counted,
            Some(seen) => seen == self.counted,
            None => true,
        };
        self.delivered + self.counted == self.built && seen_agrees && self.duplicates == 0 && self.in_order
    }
}

/// Guest memory, from /proc/meminfo, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// MemAvailable before the flood.
    pub before_kib: u64,
    /// MemAvailable when the last frame was sent, the queues full.
    pub flooded_kib: u64,
    /// MemAvailable once every event was accounted for.
    pub after_kib: u64,
}

impl Memory {
    /// How far MemAvailable fell at the flood's height.
    pub fn flood_cost_kib(&self) -> u64 {
        self.before_kib.saturating_sub(self.flooded_kib)
    }
}

/// What a flood did, and whether every drop is explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodReport {
    /// Echo requests sent.
    pub frames_sent: u64,
    /// How long sending them took: the guest takes them no faster.
    pub send_ms: u64,
    /// Frames per second the wire took.
    pub frames_per_sec: u64,
    /// Packets kulink.ko's hook saw over the flood.
    pub at_hook: u64,
    /// Events it built.
    pub events_built: u64,
    /// Each channel's ledger.
    pub flows: Vec<Flow>,
    /// `chardev_dropped` over the flood: the read files' own counts must
    /// add up to it.
    pub chardev_dropped: u64,
    /// Guest memory over the flood.
    pub memory: Memory,
    /// Every frame reached the hook as an event, and every flow balanced
    /// before the drain timeout.
    pub reconciled: bool,
}

impl FloodReport {
    /// What does not add up, for people.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if (self.at_hook, self.events_built) != (self.frames_sent, self.frames_sent) {
            problems.push(format!(
                "{} frames sent, {} seen at the hook, {} events built",
                self.frames_sent, self.at_hook, self.events_built
            ));
        }
        let files: u64 = self.flows.iter().filter(|f| f.counters == [FILE_DROPPED]).map(|f| f.counted).sum();
        if files != self.chardev_dropped {
            problems.push(format!(
                "the files' own drop counts add up to {files}, chardev_dropped rose by {}",
                self.chardev_dropped
            ));
        }
        for f in self.flows.iter().filter(|f| !f.balanced()) {
            problems.push(format!("{}: {f:?}", f.name));
        }
        problems
    }
}

/// `kulink flood`: a flood on a fresh guest with two unicast subscribers,
/// and the kernel log's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct FloodRun {
    /// The JSON schema's version.
    pub schema_version: u32,
    /// The kernel's id (or path).
    pub kernel: String,
    /// Its `uname -r`.
    pub kernel_release: String,
    /// The flood's figures and ledger.
    #[serde(flatten)]
    pub report: FloodReport,
    /// No Oops, BUG, WARN, KASAN or lockdep report in the kernel log.
    pub kernel_log_clean: bool,
    /// Every such report.
    pub splats: Vec<Splat>,
    /// Reconciled, with a clean kernel log.
    pub passed: bool,
    /// Where the failed run's console and transcript are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<std::path::PathBuf>,
}

/// The subscribers `kulink flood` boots with.
pub const SUBSCRIBERS: [&str; 2] = ["a", "b"];

/// Boots kulink.ko's guest on `kernel` with [`SUBSCRIBERS`], floods it and
/// powers it off.
pub fn boot_and_run(kernel: KernelChoice, accel: AccelChoice, flood: &Flood) -> Result<FloodRun> {
    let names: Vec<String> = SUBSCRIBERS.iter().map(|s| s.to_string()).collect();
    let builder = guest::with_subscribers(guest::builder(kernel), &names).accel(accel);
    let mut vm = builder.boot()?;
    let report = run(&mut vm, flood)?;
    let ending = kulink::outcome::power_off(vm, report.reconciled)?;
    Ok(FloodRun {
        schema_version: kulink::outcome::SCHEMA_VERSION,
        kernel: builder.kernel().label(),
        kernel_release: ending.kernel_release,
        report,
        kernel_log_clean: ending.splats.is_empty(),
        splats: ending.splats,
        passed: ending.passed,
        evidence: ending.evidence,
    })
}

/// The name of a file's own drop count in a row's `counters`.
pub const FILE_DROPPED: &str = "KULINK_IOC_GET_DROPPED";

/// Where a row finds its events: on listeners, or (for the real-time
/// signal) in the channel's notifications.
#[derive(Debug, Clone)]
enum Source {
    Events(Vec<Listener>),
    Notified,
}

/// Where a row's drops are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// In the module's counters of the channel (`Channel::lost`).
    Stats,
    /// At the agent's end, by the module: a /dev/kulink file's own count
    /// (`chardev_dropped` adds up every file's).
    File,
}

/// A row to fill: its channel, where its events come from, where its
/// drops are counted, and the agent's ends.
#[derive(Debug, Clone)]
struct Ledger {
    channel: Channel,
    source: Source,
    counted: Counted,
    ends: Vec<(Channel, Option<String>)>,
    seen_is_part: bool,
}

fn ledgers(subscribers: &[String]) -> Vec<Ledger> {
    let one = |channel: Channel, ends: bool| Ledger {
        channel,
        source: Source::Events(vec![listener(channel)]),
        counted: Counted::Stats,
        ends: if ends { vec![(channel, None)] } else { Vec::new() },
        seen_is_part: false,
    };
    let unicast_ends = subscribers.iter().map(|s| (Channel::NetlinkUnicast, Some(s.clone()))).collect();
    vec![
        Ledger { source: Source::Events(vec![multicast()]), ..one(Channel::NetlinkMulticast, true) },
        Ledger {
            source: Source::Events(subscribers.iter().map(|s| unicast(s)).collect()),
            ends: unicast_ends,
            ..one(Channel::NetlinkUnicast, false)
        },
        // The relay also drops when its queue is full, before its socket.
        Ledger { seen_is_part: true, ..one(Channel::KthreadRelay, true) },
        // Each reads a queue of its own /dev/kulink file.
        Ledger { counted: Counted::File, ..one(Channel::Chardev, true) },
        Ledger { counted: Counted::File, ..one(Channel::SignalSigio, true) },
        one(Channel::MmapRing, true),
        Ledger { source: Source::Notified, ..one(Channel::SignalRt, false) },
        one(Channel::UsermodeHelper, false),
    ]
}

/// Floods the guest as `flood` says, with the agent slowed down, then reads
/// at full speed until every event is accounted for or the drain timeout
/// passes. The guest's unicast subscribers are those it booted with.
pub fn run(vm: &mut Guest, flood: &Flood) -> Result<FloodReport> {
    if flood.pace.read_every_ms == 0 {
        bail!("a flood needs a slow consumer: read_every_ms is 0");
    }
    let subscribers = vm.ready().ext.subscribers.clone();
    let before = vm.stats()?;
    let drops_before = vm.drops()?;
    let before_kib = mem_available(vm)?;
    // Echo replies would need the peer's ARP answer, which waits behind the
    // flood in the guest's queue; when it comes too late, the guest sends
    // itself host-unreachable errors over lo, and the hook reports those.
    let echo_ignore = vm.read_file(ECHO_IGNORE_ALL)?;
    vm.write_file(ECHO_IGNORE_ALL, "1")?;
    let umh_rate = vm.read_file(UMH_RATE)?;
    vm.write_file(UMH_RATE, &flood.umh_rate.to_string())?;
    vm.act(Command::Pace { pace: flood.pace })?;

    let frames: Vec<Vec<u8>> =
        (1..=flood.frames).map(|seq| frames::echo_request(vm.wire(), FLOOD_ID, seq, 32)).collect();
    let start = Instant::now();
    for frame in &frames {
        vm.send_frame(frame)?;
    }
    let send = start.elapsed();
    let flooded_kib = mem_available(vm)?;
    vm.act(Command::Pace { pace: Pace::default() })?;

    let ledgers = ledgers(&subscribers);
    let deadline = Instant::now() + flood.drain_timeout;
    let (stats, flows) = loop {
        let stats = vm.stats()?;
        let drops = vm.drops()?;
        let flows = fill(vm, &ledgers, &before, &stats, &drops_before, &drops);
        let all_built = stats.events_built - before.events_built >= frames.len() as u64;
        if (all_built && flows.iter().all(Flow::balanced)) || Instant::now() >= deadline {
            break (stats, flows);
        }
        vm.collect_events_until(Duration::from_millis(200), |_| false)?;
    };
    let memory = Memory { before_kib, flooded_kib, after_kib: mem_available(vm)? };
    vm.write_file(ECHO_IGNORE_ALL, echo_ignore.trim())?;
    vm.write_file(UMH_RATE, umh_rate.trim())?;
    let frames_sent = frames.len() as u64;
    let mut report = FloodReport {
        frames_sent,
        send_ms: send.as_millis() as u64,
        frames_per_sec: (frames_sent as f64 / send.as_secs_f64().max(1e-3)) as u64,
        at_hook: stats.packets_seen - before.packets_seen,
        events_built: stats.events_built - before.events_built,
        flows,
        chardev_dropped: stats.chardev_dropped - before.chardev_dropped,
        memory,
        reconciled: false,
    };
    report.reconciled = report.problems().is_empty();
    Ok(report)
}

/// Each ledger's row, from the counters and drops before and now and the
/// events received so far.
fn fill(
    vm: &Guest,
    ledgers: &[Ledger],
    before: &Stats,
    now: &Stats,
    drops_before: &[Dropped],
    drops: &[Dropped],
) -> Vec<Flow> {
    let window = before.events_built + 1..=now.events_built;
    let built = now.events_built - before.events_built;
    let events = vm.events();
    let notified = notified_in(vm.messages());
    let counter = |s: &Stats, name: &str| s.get(name).expect("Channel names counters of Stats");
    ledgers
        .iter()
        .map(|ledger| {
            let mut arrivals: Vec<Vec<u64>> = match &ledger.source {
                Source::Events(listeners) => listeners
                    .iter()
                    .map(|l| events.iter().filter(|r| r.listener() == *l).map(|r| r.event.seq).collect())
                    .collect(),
                Source::Notified => {
                    vec![notified.iter().filter(|n| n.channel == ledger.channel.name()).map(|n| n.seq).collect()]
                }
            };
            arrivals.iter_mut().for_each(|seqs| seqs.retain(|s| window.contains(s)));
            let at_ends: u64 =
                ledger.ends.iter().map(|end| dropped_at(drops, end) - dropped_at(drops_before, end)).sum();
            let (counters, counted, seen) = match ledger.counted {
                Counted::Stats => {
                    let counters = ledger.channel.lost().to_vec();
                    let counted = counters.iter().map(|c| counter(now, c) - counter(before, c)).sum();
                    (counters, counted, (!ledger.ends.is_empty()).then_some(at_ends))
                }
                Counted::File => (vec![FILE_DROPPED], at_ends, None),
            };
            let (delivered, duplicates, in_order) = tally(&arrivals, ledger.channel.keeps_order());
            Flow {
                name: ledger.channel.name().to_owned(),
                built: built * arrivals.len() as u64,
                delivered,
                counted,
                counters: counters.into_iter().map(str::to_owned).collect(),
                seen,
                seen_is_part: ledger.seen_is_part,
                duplicates,
                in_order,
            }
        })
        .collect()
}

/// Distinct arrivals, duplicates, and whether each listener's arrivals rose.
fn tally(arrivals: &[Vec<u64>], keeps_order: bool) -> (u64, u64, bool) {
    let (mut delivered, mut duplicates, mut in_order) = (0, 0, true);
    for seqs in arrivals {
        let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
        delivered += distinct.len() as u64;
        duplicates += (seqs.len() - distinct.len()) as u64;
        in_order &= !keeps_order || seqs.windows(2).all(|w| w[0] < w[1]);
    }
    (delivered, duplicates, in_order)
}

/// An end's drop count (0 before the end reported one).
fn dropped_at(drops: &[Dropped], (channel, subscriber): &(Channel, Option<String>)) -> u64 {
    drops.iter().find(|d| d.channel == *channel && d.subscriber == *subscriber).map_or(0, |d| d.count)
}

fn mem_available(vm: &mut Guest) -> Result<u64> {
    let meminfo = vm.read_file("/proc/meminfo")?;
    parse_mem_available(&meminfo).context("/proc/meminfo has no MemAvailable line")
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(delivered: u64, counted: u64, seen: Option<u64>, seen_is_part: bool) -> Flow {
        Flow {
            name: "c".into(),
            built: 10,
            delivered,
            counted,
            counters: vec!["c_dropped".into()],
            seen,
            seen_is_part,
            duplicates: 0,
            in_order: true,
        }
    }

    #[test]
    fn a_flow_balances_when_every_event_is_delivered_or_counted_once() {
        assert!(flow(7, 3, Some(3), false).balanced());
        assert!(flow(7, 3, None, false).balanced());
        assert!(!flow(7, 2, Some(2), false).balanced(), "one event unexplained");
        assert!(!flow(7, 3, Some(2), false).balanced(), "the agent saw fewer drops than counted");
        assert!(flow(7, 3, Some(2), true).balanced(), "part of the drops happen before the agent's end");
        assert!(!flow(7, 3, Some(4), true).balanced());
        assert!(!Flow { duplicates: 1, ..flow(7, 3, None, false) }.balanced());
        assert!(!Flow { in_order: false, ..flow(7, 3, None, false) }.balanced());
    }

    #[test]
    fn tally_counts_distinct_arrivals_duplicates_and_order() {
        assert_eq!(tally(&[vec![1, 2, 4], vec![1, 3]], true), (5, 0, true));
        assert_eq!(tally(&[vec![1, 2, 2]], true), (2, 1, false));
        assert_eq!(tally(&[vec![3, 1]], true), (2, 0, false));
        assert_eq!(tally(&[vec![3, 1]], false), (2, 0, true));
    }

    #[test]
    fn every_loss_counter_is_in_exactly_one_ledger() {
        let ledgers = ledgers(&["a".into(), "b".into()]);
        let pushed = Channel::ALL.iter().filter(|c| !c.lost().is_empty() || c.delivered().is_some());
        for channel in pushed {
            let rows = ledgers.iter().filter(|l| l.channel == *channel).count();
            assert_eq!(rows, 1, "{channel} must be in one ledger");
        }
        let unicast = ledgers.iter().find(|l| l.channel == Channel::NetlinkUnicast).unwrap();
        assert_eq!(unicast.ends.len(), 2);
    }

    #[test]
    fn mem_available_is_read_in_kib() {
        let meminfo = "MemTotal:         233000 kB\nMemFree:  100 kB\nMemAvailable:     190520 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(190_520));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }
}
