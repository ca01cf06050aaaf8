//! `kulink-ko-agent --kulink-bench-frames RUN`: the same echo requests from
//! the wire, read from kulink.ko's multicast group and from an NFLOG group
//! fed by an nftables rule, side by side in one process. It says `ready`
//! once both listen, and prints its figures once every frame arrived on
//! both or nothing came for a while.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink_agent_core::genl::{Datagram, GenlSocket, RCVBUF};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::bench::{FramesFigures, FramesRun, PathFigures};
use kulink_ko_contract::uapi;

use crate::netlink::{events_of, get_stats};
use crate::nflog::{self, NflogSocket};

pub use kulink_ko_contract::bench::FRAMES_ARG as ARG;

/// With nothing new for this long after the first frame, the rest is
/// lost. Long: a debug kernel under TCG can stall for seconds mid-stream,
/// and a run that loses nothing ends as soon as the last frame is in.
const IDLE: Duration = Duration::from_secs(10);
/// How long the host may take to start sending.
const FIRST_FRAME: Duration = Duration::from_secs(60);

pub fn main(args: &[String]) -> i32 {
    crate::bench::json_main(ARG, args, measure)
}

/// One path's deliveries so far.
#[derive(Default, Clone, Copy)]
struct Count {
    received: u64,
    overruns: u64,
    first_ns: u64,
    last_ns: u64,
}

impl Count {
    fn got(&mut self, n: u64, at_ns: u64) {
        if n == 0 {
            return;
        }
        if self.received == 0 {
            self.first_ns = at_ns;
        }
        self.received += n;
        self.last_ns = at_ns;
    }

    fn figures(&self, reached: u64) -> PathFigures {
        PathFigures::new(reached, self.received, self.overruns, self.first_ns, self.last_ns)
    }
}

type Shared = Arc<Mutex<Count>>;

fn measure(run: FramesRun) -> Result<FramesFigures> {
    if run.batch == 0 || run.batch > uapi::BATCH_MAX {
        bail!("batch {} is not 1..{}", run.batch, uapi::BATCH_MAX);
    }
    crate::bench::write_sysctl("batch", run.batch)?;
    add_log_rule(&run)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(measure_async(run))
}

/// `log group N` for every echo request at the first prerouting hook.
fn add_log_rule(run: &FramesRun) -> Result<()> {
    // Declaring the table and deleting it first replaces an earlier run's.
    let rules = format!(
        "table ip kulink_bench\ndelete table ip kulink_bench\ntable ip kulink_bench {{\n\tchain pre {{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\
         \t\ticmp type echo-request log group {} queue-threshold {}\n\t}}\n}}\n",
        run.nflog_group, run.batch
    );
    let mut nft = Command::new(&run.nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", run.nft))?;
    nft.stdin.take().context("nft's stdin")?.write_all(rules.as_bytes())?;
    let out = nft.wait_with_output()?;
    if !out.status.success() {
        bail!("{} -f: {}: {}", run.nft, out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

async fn measure_async(run: FramesRun) -> Result<FramesFigures> {
    let mut ctl = GenlSocket::open()?;
    let family = ctl.resolve(uapi::GENL_NAME).await?;
    let events = family.group(uapi::MCGRP_EVENTS).context("family kulink has no `events` group")?;
    let mut kulink_sock = GenlSocket::open()?;
    kulink_sock.join(events)?;
    let mut nflog_sock = NflogSocket::bind(run.nflog_group, run.batch, RCVBUF)?;
    let (kulink, nflog) = (Shared::default(), Shared::default());
    let before = get_stats(&mut ctl, &family).await?;

    let (echo_id, family_id) = (run.echo_id, family.id);
    let counted = kulink.clone();
    let kulink_task = tokio::spawn(async move {
        while let Ok(datagram) = kulink_sock.recv().await {
            let at = monotonic_ns();
            let Datagram::Data(bytes) = datagram else {
                counted.lock().expect("count lock").overruns += 1;
                continue;
            };
            let ours = kulink_ko_contract::genl::messages(bytes)
                .flatten()
                .flat_map(|msg| events_of(family_id, &msg).unwrap_or_default())
                .filter(|e| e.icmp_type == 8 && e.echo_id == echo_id)
                .count();
            counted.lock().expect("count lock").got(ours as u64, at);
        }
    });
    let counted = nflog.clone();
    let nflog_task = tokio::spawn(async move {
        while let Ok(received) = nflog_sock.recv().await {
            let at = monotonic_ns();
            let mut count = counted.lock().expect("count lock");
            match received {
                nflog::Received::Overrun => count.overruns += 1,
                nflog::Received::Packets(packets) => {
                    let ours = packets.iter().filter(|p| nflog::echo_request_id(p) == Some(echo_id)).count();
                    count.got(ours as u64, at);
                }
            }
        }
    });

    println!("ready");
    std::io::stdout().flush()?;
    wait(run.frames, &kulink, &nflog).await;
    kulink_task.abort();
    nflog_task.abort();
    let after = get_stats(&mut ctl, &family).await?;
    let kulink_counters = crate::bench::lost_counters(kulink_ko_contract::Channel::NetlinkMulticast, &before, &after);
    let (kulink, nflog) = (*kulink.lock().expect("count lock"), *nflog.lock().expect("count lock"));
    let reached = after.icmp_seen - before.icmp_seen;
    Ok(FramesFigures {
        reached_hook: reached,
        kulink: kulink.figures(reached),
        nflog: nflog.figures(reached),
        kulink_counters,
        run,
    })
}

/// Until both paths have every frame, or nothing more came for a while.
async fn wait(frames: u32, kulink: &Shared, nflog: &Shared) {
    let start = Instant::now();
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (a, b) = (kulink.lock().expect("count lock").received, nflog.lock().expect("count lock").received);
        if a >= u64::from(frames) && b >= u64::from(frames) {
            return;
        }
        if a + b != seen {
            (seen, since) = (a + b, Instant::now());
        } else if seen > 0 && since.elapsed() > IDLE || seen == 0 && start.elapsed() > FIRST_FRAME {
            return;
        }
    }
}
