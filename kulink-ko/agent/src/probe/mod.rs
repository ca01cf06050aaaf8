//! Probes (see `kulink_ko_contract::probe`): each runs in a child process of the
//! agent, started as `kulink-probe <probe>`, which prints its report as one
//! JSON line. What a probe does to namespaces and credentials stays there.

mod mmap;
mod netns;
mod unprivileged;

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink_ko_contract::genl::Family;
use kulink_ko_contract::probe::{Probe, ProbeReport, StepOutcome};
use kulink_ko_contract::{uapi, Event};
use nix::sched::{self, CloneFlags};

use crate::{netlink, text_log};
use kulink_agent_core::genl::{Datagram, GenlSocket, REQUEST_ACK};

/// `argv[0]` of a probe child.
pub const ARGV0: &str = "kulink-probe";

/// Agent side: runs `probe` in a child process and returns its report.
pub async fn run(probe: Probe) -> Result<ProbeReport> {
    let arg = serde_json::to_string(&probe)?;
    tokio::task::spawn_blocking(move || child_report(Command::new("/proc/self/exe").arg0(ARGV0).arg(&arg)))
        .await
        .context("probe task")?
}

/// Runs a probe child to its end and parses the JSON line it printed.
fn child_report<T: serde::de::DeserializeOwned>(command: &mut Command) -> Result<T> {
    let out = command.stdin(Stdio::null()).output().context("start a probe child")?;
    if !out.status.success() {
        bail!("probe child {:?} failed ({}): {}", command.get_args(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("probe child printed {:?}", String::from_utf8_lossy(&out.stdout)))
}

/// Child side: `kulink-probe <probe as JSON>`, or one of the helper modes
/// a probe starts with lower privileges.
pub fn child_main(args: &[String]) -> i32 {
    let result = (|| -> Result<String> {
        let arg = args.first().context("usage: kulink-probe PROBE")?;
        if let Some(line) = unprivileged::helper_mode(arg)? {
            return Ok(line);
        }
        let probe: Probe = serde_json::from_str(arg).with_context(|| format!("unknown probe {arg}"))?;
        let report = match probe {
            Probe::NetnsIsolation => ProbeReport::NetnsIsolation(netns::isolation()?),
            Probe::NetnsOutlived => ProbeReport::NetnsOutlived(netns::outlived()?),
            Probe::Unprivileged => ProbeReport::Unprivileged(unprivileged::probe()?),
            Probe::MmapLifecycle => ProbeReport::MmapLifecycle(mmap::lifecycle()?),
        };
        Ok(serde_json::to_string(&report)?)
    })();
    match result {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("kulink-probe: {e:#}");
            1
        }
    }
}

/// Runs async work (the agent's netlink code) on a runtime that starts no
/// thread, so the process stays single-threaded for unshare(CLONE_NEWUSER).
fn block_on<F: Future>(work: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("probe runtime")?;
    Ok(rt.block_on(work))
}

/// The errno inside an error chain, if one is there.
fn errno_of(e: &anyhow::Error) -> Option<i32> {
    e.chain().find_map(|c| c.downcast_ref::<io::Error>()?.raw_os_error())
}

fn outcome<T>(result: Result<T>) -> StepOutcome<T> {
    match result {
        Ok(v) => StepOutcome::Ok(v),
        Err(e) => errno_of(&e).map_or_else(|| StepOutcome::Failed(format!("{e:#}")), StepOutcome::Errno),
    }
}

/// A network namespace, held by a file descriptor so it can be re-entered.
struct Netns(File);

impl Netns {
    fn current() -> Result<Self> {
        File::open("/proc/thread-self/ns/net").map(Self).context("open /proc/thread-self/ns/net")
    }

    fn enter(&self) -> Result<()> {
        sched::setns(&self.0, CloneFlags::CLONE_NEWNET)
            .map_err(io::Error::from)
            .context("setns into a network namespace")
    }
}

fn unshare(flags: CloneFlags) -> io::Result<()> {
    sched::unshare(flags).map_err(io::Error::from)
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; the last value.
fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let value = probe();
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resolves the kulink family in the caller's network namespace.
async fn resolve() -> Result<(GenlSocket, Family)> {
    let mut ctl = GenlSocket::open()?;
    let family = ctl.resolve(uapi::GENL_NAME).await?;
    Ok((ctl, family))
}

/// A socket in multicast group `group` of the family.
fn join(family: &Family, group: &str) -> Result<GenlSocket> {
    let id = family.group(group).with_context(|| format!("no {group} group"))?;
    let sock = GenlSocket::open()?;
    sock.join(id)?;
    Ok(sock)
}

/// A socket registered for unicast events with SUBSCRIBE.
async fn subscribe(family: &Family) -> Result<GenlSocket> {
    let mut sock = GenlSocket::open()?;
    sock.request(netlink::kulink_msg(family, REQUEST_ACK, uapi::CMD_SUBSCRIBE), |_| {}).await?;
    Ok(sock)
}

/// How long a listener waits for what it expects, and then for anything
/// more that should not come.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);
const LINGER: Duration = Duration::from_millis(300);

/// The events a socket receives until it has `want`, then for a short
/// while longer, so that extra events are seen too.
async fn receive(sock: &mut GenlSocket, family: &Family, want: usize) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut deadline = tokio::time::Instant::now() + RECEIVE_TIMEOUT;
    let mut lingering = false;
    loop {
        if !lingering && events.len() >= want {
            lingering = true;
            deadline = tokio::time::Instant::now() + LINGER;
        }
        let Ok(dgram) = tokio::time::timeout_at(deadline, sock.recv()).await else { return Ok(events) };
        match dgram? {
            Datagram::Data(bytes) => {
                for msg in kulink_ko_contract::genl::messages(bytes) {
                    events.extend(netlink::events_of(family.id, &msg?)?);
                }
            }
            Datagram::Overrun => bail!("the socket overran"),
        }
    }
}

/// Every event in a text log (/proc/kulink/events, kulinkfs `log`).
fn parse_log(text: &str) -> Result<Vec<Event>> {
    text_log::lines(text).map(|(l, parsed)| parsed.with_context(|| format!("log line {l:?}"))).collect()
}

/// A synthetic echo request the probes write to /dev/kulink.
fn synthetic(echo_id: u16, echo_seq: u16) -> Event {
    Event {
        seq: 0,
        tstamp_ns: 0,
        ifindex: 0,
        src: std::net::Ipv4Addr::new(198, 51, 100, 7),
        dst: std::net::Ipv4Addr::new(198, 51, 100, 8),
        icmp_type: 8,
        code: 0,
        echo_id,
        echo_seq,
        len: 84,
        flags: uapi::EVF_SYNTHETIC,
    }
}
