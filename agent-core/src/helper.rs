//! The agent's helpers: this same binary started again with an argument
//! that names the helper, its input written to its stdin, its answer read
//! from its stdout. What a helper does to itself, or what the kernel does
//! to it, never reaches PID 1.

use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// This binary as the helper `arg` names, its three streams piped.
pub fn command(arg: &str) -> Command {
    let mut command = Command::new("/proc/self/exe");
    command.arg(arg).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Writes `input` to the helper's stdin and closes it, while waiting for
/// the helper to end; what the write gave comes too (a helper that died
/// early may not have read it all).
pub async fn feed_and_wait(mut child: Child, input: Vec<u8>) -> (std::io::Result<()>, std::io::Result<Output>) {
    let stdin = child.stdin.take();
    let feed = async move {
        let Some(mut stdin) = stdin else { return Ok(()) };
        let written = stdin.write_all(&input).await;
        drop(stdin);
        written
    };
    tokio::join!(feed, child.wait_with_output())
}
