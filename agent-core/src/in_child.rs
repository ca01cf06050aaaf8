//! Requests that enter the module under test (its files, its loading and
//! unloading, its generic netlink family, its netlink protocol), each made
//! by a child process:
//! this same binary started with [`HELPER_ARG`]. An Oops kills the child,
//! not PID 1: the request is answered with how the child died and the
//! agent goes on serving. A child that does not come back within the
//! request's patience is named with where it waits in the kernel.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use kulink_protocol::{
    Extension, Failure, FailureKind, FileBytes, GenlBurst, GenlRequest, NetlinkRequest, NoExtension, Reply, CHILD_DIED,
    CHILD_STUCK,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::{genl_bridge, stuck, system};

/// The argument that makes the agent binary a request's child.
pub const HELPER_ARG: &str = "--kulink-request";

/// What a child does: one request of the host's.
#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    ReadFile { path: String },
    ReadFiles { dir: String, suffix: String },
    WriteFile { path: String, data: String },
    LoadModule { path: String, params: String },
    UnloadModule { name: String },
    GenlRequest(GenlRequest),
    GenlBurst(GenlBurst),
    NetlinkRequest(NetlinkRequest),
}

/// A request the kernel failed rather than refused: the answer's
/// [`Failure`] as an error the request loop recognises.
#[derive(Debug)]
pub struct KernelFailed(pub Failure);

impl std::fmt::Display for KernelFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for KernelFailed {}

/// The answer the request loop sends for `error`.
pub fn failure(error: &anyhow::Error) -> Failure {
    match error.downcast_ref::<KernelFailed>() {
        Some(failed) => failed.0.clone(),
        None => Failure { kind: FailureKind::Refused, message: format!("{error:#}") },
    }
}

/// Does `job` in a child process and returns its answer; `patience` is how
/// long the child may take before it is reported stuck.
pub async fn serve<X: Extension>(job: Job, patience: Duration) -> Result<Reply<X>> {
    let child = crate::helper::command(HELPER_ARG).spawn().context("cannot start a child process for the request")?;
    let pid = child.id().context("the request's child has no pid")?;
    let finished = tokio::time::timeout(patience, crate::helper::feed_and_wait(child, serde_json::to_vec(&job)?)).await;
    let Ok((_, output)) = finished else {
        return Err(gave_up_on(pid, patience));
    };
    let output = output.context("the request's child")?;
    if let Some(signal) = output.status.signal() {
        let name = Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned());
        return Err(failed(FailureKind::Died, format!("{CHILD_DIED}{name}")));
    }
    let answer: Result<Reply<NoExtension>, String> = serde_json::from_slice(&output.stdout).with_context(|| {
        format!("the request's child answered nothing usable: {}", String::from_utf8_lossy(&output.stderr).trim())
    })?;
    answer.map(widen).map_err(|message| anyhow!(message))
}

pub(crate) fn failed(kind: FailureKind, message: String) -> anyhow::Error {
    anyhow::Error::new(KernelFailed(Failure { kind, message }))
}

/// The failure of a child not done within `patience`: told with where it
/// waits in the kernel, then killed (one in uninterruptible sleep ignores
/// even that; the agent goes on without it).
pub(crate) fn gave_up_on(pid: u32, patience: Duration) -> anyhow::Error {
    let where_it_waits = stuck::describe(pid);
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    failed(FailureKind::Stuck, format!("{CHILD_STUCK}{patience:?}: {where_it_waits}"))
}

/// A child's answer as the agent's: a child makes no plug-in replies.
fn widen<X: Extension>(reply: Reply<NoExtension>) -> Reply<X> {
    match reply {
        Reply::Done => Reply::Done,
        Reply::Text(text) => Reply::Text(text),
        Reply::Files(files) => Reply::Files(files),
        Reply::Ran(ran) => Reply::Ran(ran),
        Reply::Started { pid, first_line } => Reply::Started { pid, first_line },
        Reply::Genl(messages) => Reply::Genl(messages),
        Reply::Netlink(datagrams) => Reply::Netlink(datagrams),
        Reply::GenlBurst(answers) => Reply::GenlBurst(answers),
        Reply::DeviceBurst(answers) => Reply::DeviceBurst(answers),
        Reply::Ext(nothing) => match nothing {},
    }
}

/// The child's life: read the job from stdin, do it, write the answer to
/// stdout as one JSON value.
pub fn helper_main() -> i32 {
    let answer = read_job().and_then(do_job).map_err(|e| format!("{e:#}"));
    match serde_json::to_string(&answer) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

fn read_job() -> Result<Job> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).context("read the request")?;
    serde_json::from_slice(&input).context("parse the request")
}

fn do_job(job: Job) -> Result<Reply<NoExtension>> {
    Ok(match job {
        Job::ReadFile { path } => Reply::Text(std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?),
        Job::ReadFiles { dir, suffix } => Reply::Files(read_files(std::path::Path::new(&dir), &suffix)?),
        Job::WriteFile { path, data } => {
            use std::io::Write;
            // One write(), as `echo data > path` does.
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).with_context(|| format!("open {path}"))?;
            f.write_all(data.as_bytes()).with_context(|| format!("write {path}"))?;
            Reply::Done
        }
        Job::LoadModule { path, params } => {
            system::insert_module(&path, &params)?;
            Reply::Done
        }
        Job::UnloadModule { name } => {
            system::remove_module(&name)?;
            Reply::Done
        }
        Job::GenlRequest(request) => Reply::Genl(runtime()?.block_on(genl_bridge::request(&request))?),
        Job::GenlBurst(burst) => Reply::GenlBurst(runtime()?.block_on(genl_bridge::burst(burst))?),
        Job::NetlinkRequest(request) => Reply::Netlink(runtime()?.block_on(genl_bridge::protocol_request(&request))?),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the child's runtime")
}

/// The regular files under `dir` whose names end with `suffix`, by path
/// under `dir`; a missing `dir` has none.
fn read_files(dir: &std::path::Path, suffix: &str) -> Result<Vec<FileBytes>> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(sub) = dirs.pop() {
        let entries = match std::fs::read_dir(&sub) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && sub == dir => break,
            entries => entries.with_context(|| format!("list {}", sub.display()))?,
        };
        for entry in entries {
            let entry = entry?;
            let (path, kind) = (entry.path(), entry.file_type()?);
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() && path.to_string_lossy().ends_with(suffix) {
                let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                let under = path.strip_prefix(dir).expect("listed under dir").to_string_lossy().into_owned();
                found.push(FileBytes { path: under, bytes });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}
