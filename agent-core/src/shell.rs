//! A person's shell in the guest: `/bin/sh -i` on the virtio-serial port
//! named [`SHELL_PORT`]. A port is no terminal, so the shell has no job
//! control; the host's terminal edits the lines.

use std::fs::OpenOptions;
use std::process::Stdio;

use anyhow::{Context, Result};
use kulink_protocol::SHELL_PORT;

/// Runs the shell on the port until it exits.
pub async fn run() -> Result<()> {
    let path = crate::port::find_port(SHELL_PORT).context("the guest was booted without a shell port")?;
    let port =
        OpenOptions::new().read(true).write(true).open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut shell = tokio::process::Command::new("/bin/sh")
        .arg("-i")
        .stdin(Stdio::from(port.try_clone()?))
        .stdout(Stdio::from(port.try_clone()?))
        .stderr(Stdio::from(port))
        .env("PS1", "kulink# ")
        .process_group(0)
        .spawn()
        .context("start /bin/sh (the guest needs a shell: busybox)")?;
    shell.wait().await.context("wait for the shell")?;
    Ok(())
}
