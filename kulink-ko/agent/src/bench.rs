//! The benchmark program: `kulink-ko-agent --kulink-bench RUN` consumes one
//! channel as fast as it can while kulink.ko's generator publishes RUN's
//! events into it, then prints what it measured as one JSON line. It runs
//! beside the core agent alone, so no other consumer shares the vCPU.
//! Events are counted here, not streamed to the host: the host link would
//! be the bottleneck.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kulink_agent_core::genl::{Datagram, GenlSocket, REQUEST_ACK};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::bench::{ChannelFigures, ChannelRun, Latency};
use kulink_ko_contract::extension::HELPER_PATH;
use kulink_ko_contract::genl::Family;
use kulink_ko_contract::observed::SYSCTL_DIR;
use kulink_ko_contract::{uapi, Channel, Event, Stats};
use tokio::task::JoinHandle;

use crate::netlink::{events_of, get_stats, kulink_msg};
use crate::{chardev, mmap_ring, signal, usermode_helper};

pub use kulink_ko_contract::bench::ARG;

/// With nothing new for this long after the generator finished, the rest
/// was lost. A helper process per event takes longer to arrive.
const IDLE: Duration = Duration::from_millis(1000);
const IDLE_HELPER: Duration = Duration::from_millis(3000);

pub fn main(args: &[String]) -> i32 {
    json_main(ARG, args, |run: ChannelRun| {
        run.check().map_err(|e| anyhow!(e))?;
        measure(run)
    })
}

/// `ARG RUN`: RUN parsed from JSON and measured; the figures printed as
/// one JSON line (exit 0), or the error on stderr (exit 1).
pub fn json_main<R: serde::de::DeserializeOwned, F: serde::Serialize>(
    arg: &str,
    args: &[String],
    measure: impl FnOnce(R) -> Result<F>,
) -> i32 {
    let result = match args {
        [json] => serde_json::from_str::<R>(json).map_err(|e| anyhow!("{arg} {json}: {e}")).and_then(measure),
        _ => Err(anyhow!("usage: {arg} RUN (a run as JSON)")),
    };
    match result.and_then(|figures| Ok(serde_json::to_string(&figures)?)) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("kulink-ko-agent {arg}: {e:#}");
            1
        }
    }
}

/// What the consumers received, shared by their tasks.
#[derive(Default)]
struct Tally {
    received: u64,
    first_tstamp_ns: Option<u64>,
    last_receipt_ns: u64,
    latencies: Vec<u64>,
}

type Shared = Arc<Mutex<Tally>>;

impl Tally {
    fn event(shared: &Shared, event: &Event, received_ns: u64) {
        if event.flags & uapi::EVF_GENERATED == 0 {
            return;
        }
        let mut t = shared.lock().expect("tally lock");
        t.received += 1;
        t.first_tstamp_ns = Some(t.first_tstamp_ns.map_or(event.tstamp_ns, |f| f.min(event.tstamp_ns)));
        t.last_receipt_ns = t.last_receipt_ns.max(received_ns);
        t.latencies.push(received_ns.saturating_sub(event.tstamp_ns));
    }

    /// A notification without a timestamp (a real-time signal); the run
    /// then starts when the generator was asked.
    fn notified(shared: &Shared, received_ns: u64) {
        let mut t = shared.lock().expect("tally lock");
        t.received += 1;
        t.last_receipt_ns = t.last_receipt_ns.max(received_ns);
    }
}

fn measure(run: ChannelRun) -> Result<ChannelFigures> {
    // Before any thread: every thread inherits the blocked signals.
    signal::block()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(measure_async(run))
}

async fn measure_async(run: ChannelRun) -> Result<ChannelFigures> {
    write_sysctl("batch", run.batch)?;
    // The largest ring, as the netlink sockets get the largest buffer.
    if run.channel == Channel::MmapRing {
        write_sysctl("ring_pages", uapi::RING_PAGES_MAX)?;
    }
    if run.channel == Channel::UsermodeHelper {
        usermode_helper::link_helper(HELPER_PATH)?;
        write_sysctl("umh_rate", uapi::UMH_RATE_MAX)?;
    }
    let mut ctl = GenlSocket::open()?;
    let family = ctl.resolve(uapi::GENL_NAME).await?;
    let tally = Shared::default();
    let consumers = start_consumers(&run, &family, &tally).await?;
    let before = get_stats(&mut ctl, &family).await?;
    let asked_ns = monotonic_ns();
    ctl.request(|seq| generate_msg(&family, &run, seq), |_| {}).await.context("GENERATE")?;
    let after = wait(&run, &mut ctl, &family, &tally, &before).await;
    for consumer in &consumers {
        consumer.abort();
    }
    let after = after?;
    let tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
    Ok(figures(run, &before, &after, tally, asked_ns))
}

fn generate_msg(family: &Family, run: &ChannelRun, seq: u32) -> kulink_ko_contract::genl::MsgBuilder {
    kulink_msg(family, REQUEST_ACK, uapi::CMD_GENERATE)(seq)
        .attr(uapi::A_GEN_COUNT, &run.count.to_ne_bytes())
        .attr(uapi::A_GEN_RATE, &run.rate.to_ne_bytes())
        .attr(uapi::A_GEN_CHANNELS, &run.generator_channels().to_ne_bytes())
}

/// Until every consumer has every event, or the generator is done and
/// nothing more came for a while; the counters then.
async fn wait(
    run: &ChannelRun,
    ctl: &mut GenlSocket,
    family: &Family,
    tally: &Shared,
    before: &Stats,
) -> Result<Stats> {
    let expected = u64::from(run.count) * u64::from(run.consumers);
    let idle = if run.channel == Channel::UsermodeHelper { IDLE_HELPER } else { IDLE };
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let received = tally.lock().expect("tally lock").received;
        if received >= expected {
            break;
        }
        if received != seen {
            (seen, since) = (received, Instant::now());
        } else if since.elapsed() > idle {
            let now = get_stats(ctl, family).await?;
            if now.generated - before.generated >= u64::from(run.count) {
                break;
            }
            since = Instant::now();
        }
    }
    get_stats(ctl, family).await
}

fn figures(run: ChannelRun, before: &Stats, after: &Stats, mut tally: Tally, asked_ns: u64) -> ChannelFigures {
    let generated = after.generated - before.generated;
    let expected = generated * u64::from(run.consumers);
    let counters = lost_counters(run.channel, before, after);
    let start = tally.first_tstamp_ns.unwrap_or(asked_ns);
    let elapsed_ns = tally.last_receipt_ns.saturating_sub(start);
    ChannelFigures {
        run,
        generated,
        expected,
        received: tally.received,
        lost: expected.saturating_sub(tally.received),
        counted: counters.values().sum(),
        counters,
        elapsed_ns,
        events_per_s: if elapsed_ns == 0 { 0.0 } else { tally.received as f64 * 1e9 / elapsed_ns as f64 },
        latency: Latency::of(&mut tally.latencies),
    }
}

/// The channel's loss counters that moved between two reads, by name.
pub fn lost_counters(channel: Channel, before: &Stats, after: &Stats) -> BTreeMap<String, u64> {
    channel
        .lost()
        .iter()
        .map(|name| ((*name).to_owned(), after.get(name).unwrap_or_default() - before.get(name).unwrap_or_default()))
        .filter(|(_, delta)| *delta > 0)
        .collect()
}

pub fn write_sysctl(name: &str, value: u32) -> Result<()> {
    let path = std::path::Path::new(SYSCTL_DIR).join(name);
    std::fs::write(&path, value.to_string()).with_context(|| format!("write {value} to {}", path.display()))
}

/// Every consumer the run names, listening before the generator starts.
async fn start_consumers(run: &ChannelRun, family: &Family, tally: &Shared) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    match run.channel {
        Channel::NetlinkMulticast => tasks.push(multicast(family, uapi::MCGRP_EVENTS, tally.clone())?),
        Channel::KthreadRelay => tasks.push(multicast(family, uapi::MCGRP_RELAY, tally.clone())?),
        Channel::NetlinkUnicast => {
            for _ in 0..run.consumers {
                tasks.push(subscriber(family, tally.clone()).await?);
            }
        }
        Channel::Chardev => tasks.push(chardev_reader(tally.clone())?),
        Channel::MmapRing => tasks.push(ring_reader(tally.clone())?),
        Channel::SignalRt => tasks.push(signal_reader(tally.clone())?),
        Channel::UsermodeHelper => tasks.push(helper_listener(tally.clone())?),
        other => bail!("{other} cannot be measured"),
    }
    Ok(tasks)
}

/// Counts the events of every datagram a socket receives.
fn netlink_reader(mut sock: GenlSocket, family: u16, tally: Shared) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(datagram) = sock.recv().await {
            let Datagram::Data(bytes) = datagram else { continue };
            let received = monotonic_ns();
            for msg in kulink_ko_contract::genl::messages(bytes).flatten() {
                for event in events_of(family, &msg).unwrap_or_default() {
                    Tally::event(&tally, &event, received);
                }
            }
        }
    })
}

fn multicast(family: &Family, group: &str, tally: Shared) -> Result<JoinHandle<()>> {
    let id = family.group(group).with_context(|| format!("family kulink has no `{group}` group"))?;
    let sock = GenlSocket::open()?;
    sock.join(id)?;
    Ok(netlink_reader(sock, family.id, tally))
}

async fn subscriber(family: &Family, tally: Shared) -> Result<JoinHandle<()>> {
    let mut sock = GenlSocket::open()?;
    sock.request(kulink_msg(family, REQUEST_ACK, uapi::CMD_SUBSCRIBE), |_| {}).await.context("SUBSCRIBE")?;
    Ok(netlink_reader(sock, family.id, tally))
}

fn chardev_reader(tally: Shared) -> Result<JoinHandle<()>> {
    let fd = chardev::async_fd(chardev::open(true).context("open /dev/kulink")?)?;
    Ok(tokio::spawn(async move {
        // Readiness is cleared before the queue is emptied: a record that
        // comes meanwhile makes the file ready again.
        while let Ok(mut guard) = fd.readable().await {
            guard.clear_ready();
            let read = chardev::read_each(fd.get_ref(), |bytes| {
                let received = monotonic_ns();
                for event in chardev::records(bytes) {
                    Tally::event(&tally, &event, received);
                }
            });
            if read.is_err() {
                return;
            }
        }
    }))
}

fn ring_reader(tally: Shared) -> Result<JoinHandle<()>> {
    let file = chardev::open(true).context("open /dev/kulink for the ring")?;
    let ring = mmap_ring::map(&file)?;
    let fd = chardev::async_fd(file)?;
    Ok(tokio::spawn(async move {
        let mut tail = 0u64;
        while let Ok(mut guard) = fd.readable().await {
            guard.clear_ready();
            let head = ring.head();
            let received = monotonic_ns();
            while tail != head {
                Tally::event(&tally, &Event::from_raw(&ring.record(tail)), received);
                tail += 1;
            }
            ring.set_tail(tail);
        }
    }))
}

fn signal_reader(tally: Shared) -> Result<JoinHandle<()>> {
    let file = chardev::open(true).context("open /dev/kulink for signals")?;
    signal::register_rt(&file, signal::rt_signal())?;
    let signals = signal::signals()?;
    Ok(tokio::spawn(async move {
        // Held open: the module signals this file's owner.
        let _file = file;
        while let Ok(mut guard) = signals.readable().await {
            guard.clear_ready();
            while signal::read_one(signals.get_ref()).is_some() {
                Tally::notified(&tally, monotonic_ns());
            }
        }
    }))
}

fn helper_listener(tally: Shared) -> Result<JoinHandle<()>> {
    let sock = usermode_helper::bind()?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 1024];
        while let Ok(n) = sock.recv(&mut buf).await {
            let received = monotonic_ns();
            if let Ok(event) = Event::parse_text(&String::from_utf8_lossy(&buf[..n])) {
                Tally::event(&tally, &event, received);
            }
        }
    }))
}
