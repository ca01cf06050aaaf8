//! A guest booted to be saved: it has booted without the test's modules
//! and waits for them over the control port. Until they come it serves
//! only what a saved or restored guest needs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use kulink_protocol::{AgentMsg, Command, Extension, GuestFileBytes, Reply, Request, TestSetup};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{in_child, system, Outbox};

/// Serves requests until the host sends the test ([`Command::Resume`]),
/// whose files are then in place; `None` if the host asked for power-off
/// first.
pub async fn await_test<X: Extension>(
    requests: &mut UnboundedReceiver<Result<Request<X>, String>>,
    outbox: &Outbox<X>,
) -> Result<Option<TestSetup>> {
    while let Some(req) = requests.recv().await {
        let Request { id, cmd } = match req {
            Ok(req) => req,
            Err(message) => {
                outbox.warning(message);
                continue;
            }
        };
        let (result, setup) = match cmd {
            Command::Resume(setup) => match setup.files.iter().try_for_each(write_file) {
                Ok(()) => (Ok(Reply::Done), Some(Some(setup))),
                Err(e) => (Err(e), None),
            },
            Command::Restored { seed, realtime_ns } => {
                let restored = system::reseed(&seed).and_then(|()| system::set_realtime(realtime_ns));
                if restored.is_ok() {
                    system::log("restored");
                }
                (restored.map(|()| Reply::Done), None)
            }
            Command::KernelLog => (system::kernel_log().map(Reply::Text), None),
            Command::Shutdown => (Ok(Reply::Done), Some(None)),
            other => (
                Err(anyhow::anyhow!("the guest waits for the test's modules before it can {}", other.describe())),
                None,
            ),
        };
        outbox.send(AgentMsg::Reply { id, result: result.map_err(|e| in_child::failure(&e)) });
        if let Some(next) = setup {
            return Ok(next);
        }
    }
    bail!("the control port closed before the test's modules came")
}

/// Writes one of the host's files, making its directories.
fn write_file(file: &GuestFileBytes) -> Result<()> {
    let path = Path::new(&file.path);
    if !path.is_absolute() {
        bail!("{} is not an absolute guest path", file.path);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, &file.bytes).with_context(|| format!("write {}", file.path))
}
