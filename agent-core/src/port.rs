//! The host link: JSON lines over the virtio-serial port named `kulink.ctl`.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use kulink_protocol::{AgentMsg, Extension, Request, PORT_NAME};
use tokio::sync::mpsc;

/// `/dev/vportNpM` whose sysfs name is `name`.
pub(crate) fn find_port(name: &str) -> Result<PathBuf> {
    let dir = "/sys/class/virtio-ports";
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {dir} (no virtio-serial device?)"))? {
        let entry = entry?;
        if std::fs::read_to_string(entry.path().join("name")).unwrap_or_default().trim() == name {
            return Ok(PathBuf::from("/dev").join(entry.file_name()));
        }
    }
    anyhow::bail!("no virtio-serial port named {name}")
}

pub struct Link<X: Extension> {
    pub outbox: mpsc::UnboundedSender<AgentMsg<X>>,
    pub requests: mpsc::UnboundedReceiver<Result<Request<X>, String>>,
    /// Finishes once every queued message was written.
    pub writer: std::thread::JoinHandle<()>,
}

/// Opens the port; a reader and a writer thread bridge it to channels.
pub fn open<X: Extension>() -> Result<Link<X>> {
    let path = find_port(PORT_NAME)?;
    let port = OpenOptions::new().read(true).write(true).open(&path).with_context(|| format!("open {path:?}"))?;
    let reader = port.try_clone()?;
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<AgentMsg<X>>();
    let (req_tx, req_rx) = mpsc::unbounded_channel();

    let writer = std::thread::spawn(move || {
        let mut port = std::io::BufWriter::new(port);
        while let Some(msg) = out_rx.blocking_recv() {
            let line = serde_json::to_string(&msg).expect("agent messages serialize");
            if writeln!(port, "{line}").is_err() {
                return;
            }
            // Flush when the queue runs dry, so batches go out in one write.
            if out_rx.is_empty() && port.flush().is_err() {
                return;
            }
        }
        let _ = port.flush();
    });
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if line.trim().is_empty() {
                continue;
            }
            let req = serde_json::from_str::<Request<X>>(&line).map_err(|e| format!("bad request {line:?}: {e}"));
            if req_tx.send(req).is_err() {
                return;
            }
        }
    });
    Ok(Link { outbox: out_tx, requests: req_rx, writer })
}
