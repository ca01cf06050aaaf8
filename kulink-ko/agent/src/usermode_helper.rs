//! The `usermode-helper` channel. The kernel runs /run/kulink-notify (this
//! binary under another name) with the event's fields as arguments; that
//! process hands the line to the agent over a unix datagram socket.

use std::os::unix::net::UnixDatagram as StdDatagram;

use anyhow::{Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::Channel;
use kulink_ko_contract::Event;
use tokio::net::UnixDatagram;

use crate::netlink::{self, Outbox};

const SOCKET: &str = "/run/kulink-notify.sock";

/// Is this process the helper? (`argv[0]` names it.)
pub fn is_helper(argv0: &str) -> bool {
    argv0.rsplit('/').next() == Some("kulink-notify")
}

/// Helper mode: send our arguments to the agent and exit.
pub fn helper_main(args: &[String]) -> i32 {
    let line = args.join(" ");
    let sent = StdDatagram::unbound().and_then(|s| s.send_to(line.as_bytes(), SOCKET));
    match sent {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("kulink-notify: cannot reach the agent at {SOCKET}: {e}");
            1
        }
    }
}

/// Puts a link to this binary at `path`, where the module will run it.
pub fn link_helper(path: &str) -> Result<()> {
    let exe = std::fs::read_link("/proc/self/exe").context("find this binary")?;
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    std::os::unix::fs::symlink(&exe, path).with_context(|| format!("link {path} to {}", exe.display()))
}

/// The socket helpers send their lines to.
pub fn bind() -> Result<UnixDatagram> {
    std::fs::create_dir_all("/run").context("mkdir /run")?;
    let _ = std::fs::remove_file(SOCKET);
    UnixDatagram::bind(SOCKET).with_context(|| format!("bind {SOCKET}"))
}

pub fn spawn(out: Outbox) -> Result<tokio::task::JoinHandle<()>> {
    let sock = bind()?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 1024];
        loop {
            let Ok(n) = sock.recv(&mut buf).await else { return };
            let received = monotonic_ns();
            let line = String::from_utf8_lossy(&buf[..n]);
            match Event::parse_text(&line) {
                Ok(event) => out.ext(netlink::event_msg(Channel::UsermodeHelper, None, received, event)),
                Err(e) => out.warning(format!("usermode helper sent {line:?}: {e}")),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_recognised_by_its_name() {
        assert!(is_helper("/sbin/kulink-notify"));
        assert!(is_helper("kulink-notify"));
        assert!(!is_helper("/init"));
        assert!(!is_helper("/sbin/kulink-notify-not"));
    }
}
