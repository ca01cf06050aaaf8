//! A consumer in a process of its own, for crash tests: `/init
//! --kulink-consumer` subscribes for unicast events, opens /dev/kulink,
//! maps its ring and registers for the real-time signal (every kind of
//! state kulink.ko keeps for a consumer), prints `ready`, then prints each
//! unicast event as a JSON line until it is killed. With `--netlink-only`
//! it only subscribes, as a program in namespaces of its own can.

use std::io::Write;

use anyhow::{Context, Result};
use kulink_agent_core::genl::{Datagram, GenlSocket, REQUEST_ACK};
use kulink_ko_contract::genl;
use kulink_ko_contract::uapi;

use crate::netlink::{events_of, kulink_msg};
use crate::{chardev, mmap_ring, signal};

/// The argument that makes the agent binary a consumer.
pub const ARG: &str = "--kulink-consumer";

/// With it, the consumer keeps to generic netlink: what the owner of a
/// user namespace may use (see the README's security model).
pub const NETLINK_ONLY: &str = "--netlink-only";

pub fn main(args: &[String]) -> i32 {
    let result = match args {
        [] => consume(true),
        [only] if only == NETLINK_ONLY => consume(false),
        _ => Err(anyhow::anyhow!("usage: {ARG} [{NETLINK_ONLY}]")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kulink-consumer: {e:#}");
            1
        }
    }
}

fn consume(every_kind_of_state: bool) -> Result<()> {
    // The signals queue, unread: this consumer is about its state.
    signal::block()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut sock = GenlSocket::open()?;
        let family = sock.resolve(uapi::GENL_NAME).await?;
        sock.request(kulink_msg(&family, REQUEST_ACK, uapi::CMD_SUBSCRIBE), |d| print_events(family.id, d))
            .await
            .context("SUBSCRIBE")?;
        // Held until the process dies.
        let _held = if every_kind_of_state {
            let file = chardev::open(true).context("open /dev/kulink")?;
            let ring = mmap_ring::map(&file)?;
            signal::register_rt(&file, signal::rt_signal())?;
            Some((file, ring))
        } else {
            None
        };
        println!("ready");
        loop {
            let datagram = sock.recv().await.context("the unicast socket")?;
            print_events(family.id, datagram);
        }
    })
}

/// Prints each event of a datagram as a JSON line (`overrun` for a loss),
/// flushed at once: a kill must not take printed events with it.
fn print_events(family: u16, datagram: Datagram<'_>) {
    let mut out = std::io::stdout().lock();
    match datagram {
        Datagram::Overrun => {
            let _ = writeln!(out, "overrun");
        }
        Datagram::Data(bytes) => {
            for msg in genl::messages(bytes) {
                match msg.and_then(|m| events_of(family, &m)) {
                    Ok(events) => {
                        for event in events {
                            let _ = writeln!(out, "{}", serde_json::to_string(&event).unwrap_or_default());
                        }
                    }
                    Err(e) => eprintln!("kulink-consumer: undecodable message: {e}"),
                }
            }
        }
    }
    let _ = out.flush();
}
