//! kulink-agent: PID 1 of the kulink guest. Mounts the basics, loads
//! kulink.ko, configures the network, listens on every channel and streams
//! typed events to the host over virtio-serial until told to power off.

mod control;
mod genl;
mod loopback;
mod net;
mod netlink;
mod system;

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use kulink_wire::control::{AgentMsg, Command, Ready, Reply, Request};
use kulink_wire::uapi;

use crate::netlink::{Leave, Outbox, Subscriber};

fn main() {
    let pid1 = std::process::id() == 1;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|rt| rt.block_on(run(pid1)));
    if let Err(e) = &result {
        system::log(&format!("fatal: {e:#}"));
        eprintln!("kulink-agent: fatal: {e:#}");
    }
    if pid1 {
        system::power_off();
    }
    std::process::exit(i32::from(result.is_err()));
}

async fn run(pid1: bool) -> Result<()> {
    if pid1 {
        system::mount_basics()?;
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("read /proc/cmdline")?;
    let config = system::Config::from_cmdline(&cmdline)?;
    system::load_module(&config.module)?;
    let links = net::configure(config.addr, config.prefix).await?;
    let mut link = control::open()?;

    let mut ctl = genl::GenlSocket::open()?;
    let family = ctl.resolve(uapi::GENL_NAME).await?;
    let multicast = netlink::listen_multicast(&family, link.outbox.clone())?;
    let mut subscribers = BTreeMap::new();
    for name in &config.subscribers {
        subscribers.insert(name.clone(), Subscriber::start(&family, name, link.outbox.clone()).await?);
    }

    send(
        &link.outbox,
        AgentMsg::Ready(Ready {
            boot_ms: system::boottime_ms(),
            kernel: system::kernel_release(),
            eth0_ifindex: links.eth0,
            lo_ifindex: links.lo,
            subscribers: config.subscribers.clone(),
        }),
    );
    system::log("ready");

    while let Some(req) = link.requests.recv().await {
        let Request { id, cmd } = match req {
            Ok(req) => req,
            Err(message) => {
                send(&link.outbox, AgentMsg::Warning { message });
                continue;
            }
        };
        let shutdown = cmd == Command::Shutdown;
        let result = match cmd {
            Command::Subscribe { name } if subscribers.contains_key(&name) => {
                Err(anyhow!("subscriber {name} already exists"))
            }
            Command::Subscribe { name } => Subscriber::start(&family, &name, link.outbox.clone()).await.map(|s| {
                subscribers.insert(name, s);
                Reply::Done
            }),
            Command::Unsubscribe { name } => leave(&mut subscribers, &name, Leave::Unsubscribe).await,
            Command::Close { name } => leave(&mut subscribers, &name, Leave::Close).await,
            Command::Stats => netlink::get_stats(&mut ctl, &family).await.map(Reply::Stats),
            Command::PingLoopback { id, count } => loopback::ping(id, count).map(|()| Reply::Done),
            Command::Shutdown => Ok(Reply::Done),
        };
        send(&link.outbox, AgentMsg::Reply { id, result: result.map_err(|e| format!("{e:#}")) });
        if shutdown {
            break;
        }
    }
    // Stop every producer, then let the writer drain what is queued
    // before the VM goes away.
    multicast.abort();
    drop(subscribers);
    drop(link.outbox);
    let writer = link.writer;
    tokio::task::spawn_blocking(move || writer.join()).await.ok();
    Ok(())
}

async fn leave(subscribers: &mut BTreeMap<String, Subscriber>, name: &str, how: Leave) -> Result<Reply> {
    let sub = subscribers.remove(name).with_context(|| format!("no subscriber named {name}"))?;
    sub.leave(how).await?;
    Ok(Reply::Done)
}

fn send(outbox: &Outbox, msg: AgentMsg) {
    let _ = outbox.send(msg);
}
