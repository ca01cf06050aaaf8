//! Programs the host asks the agent to run: no shell, a timeout, the exit
//! status, and output kept up to a bound so a chatty program cannot
//! exhaust the guest's memory or the control port.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kulink_protocol::{Netns, Ran, OUTPUT_LIMIT};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub async fn run(argv: &[String], env: &[String], timeout: Duration, netns: Option<Netns>) -> Result<Ran> {
    let mut running = Running::start(argv, env, netns)?;
    let timed_out = tokio::time::timeout(timeout, running.child.wait()).await.is_err();
    running.finish(timed_out).await
}

/// A program started in a process group of its own, its output being
/// gathered.
pub struct Running {
    program: String,
    child: Child,
    group: Pid,
    stdout: Output,
    stderr: Output,
    readers: [JoinHandle<()>; 2],
}

impl Running {
    /// Starts `argv` (no shell), with stdin from /dev/null and `env`
    /// (`NAME=VALUE`) added to the agent's environment, in namespaces of
    /// its own when `netns` says so.
    pub fn start(argv: &[String], env: &[String], netns: Option<Netns>) -> Result<Self> {
        let (program, args) = argv.split_first().context("run: the command line is empty")?;
        let mut command = Command::new(program);
        for variable in env {
            let (name, value) = variable.split_once('=').context("run: an environment variable is NAME=VALUE")?;
            command.env(name, value);
        }
        // A group of its own: on timeout or exit, what it started goes too,
        // and with it every holder of the output pipes.
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let spawned = match netns {
            Some(netns) => crate::netns::spawn(&mut command, netns),
            None => command.spawn().map_err(anyhow::Error::from),
        };
        let mut child = spawned.with_context(|| format!("start {program}"))?;
        let group = Pid::from_raw(child.id().context("the program has no pid")? as i32);
        let stdout = Output::default();
        let stderr = Output::default();
        let readers = [
            tokio::spawn(stdout.clone().fill(child.stdout.take().context("stdout is piped")?)),
            tokio::spawn(stderr.clone().fill(child.stderr.take().context("stderr is piped")?)),
        ];
        Ok(Self { program: program.clone(), child, group, stdout, stderr, readers })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.group.as_raw() as u32
    }

    /// What it has written to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.take().0
    }

    /// Waits until it has written a whole first line, and returns it;
    /// fails if it ends first or `timeout` passes.
    pub async fn first_line(&mut self, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((line, _)) = self.stdout.take().0.split_once('\n') {
                return Ok(line.to_owned());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("{} ended ({status}) before saying it was ready: {}", self.program, self.stderr.take().0.trim());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} said nothing within {timeout:?}", self.program);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends `signal` to it alone and waits for it, allowing it `grace` to
    /// end before its group is killed; then gathers its status and output.
    pub async fn stop(mut self, signal: Signal, grace: Duration) -> Result<Ran> {
        kill(self.group, signal).with_context(|| format!("{signal} to {}", self.program))?;
        let timed_out = tokio::time::timeout(grace, self.child.wait()).await.is_err();
        self.finish(timed_out).await
    }

    /// Ends it (SIGKILL to its group when `kill`), then gathers its status
    /// and output.
    async fn finish(mut self, kill: bool) -> Result<Ran> {
        let program = &self.program;
        if kill {
            let _ = killpg(self.group, Signal::SIGKILL);
        }
        let status = match tokio::time::timeout(KILLED_GRACE, self.child.wait()).await {
            Ok(status) => status.with_context(|| format!("wait for {program}"))?,
            Err(_) => return Err(stuck(program, self.pid(), crate::stuck::describe(self.pid()))),
        };
        // ESRCH when nothing of the group is left: the usual case.
        let _ = killpg(self.group, Signal::SIGKILL);
        if kill {
            // What the kill could not end waits in the kernel.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some((pid, where_it_waits)) = crate::stuck::in_group(self.pid()) {
                return Err(stuck(program, pid, where_it_waits));
            }
        }
        // A process that left the group may still hold a pipe: what it wrote
        // by now is kept, the rest is not waited for.
        for mut reader in self.readers {
            if tokio::time::timeout(PIPE_GRACE, &mut reader).await.is_err() {
                reader.abort();
                crate::system::log(&format!("{program}: a process outside its group kept its output open"));
            }
        }
        let (stdout, out_cut) = self.stdout.take();
        let (stderr, err_cut) = self.stderr.take();
        Ok(Ran {
            code: status.code(),
            signal: status.signal(),
            timed_out: kill,
            stdout,
            stderr,
            truncated: out_cut || err_cut,
        })
    }
}

/// How long a killed program may take to be gone.
const KILLED_GRACE: Duration = Duration::from_secs(5);

/// A program the kernel keeps from ending: the module's failure.
fn stuck(program: &str, pid: u32, where_it_waits: String) -> anyhow::Error {
    let message = format!("{program} did not end when killed: its process {pid} is {where_it_waits}");
    anyhow::Error::new(crate::in_child::KernelFailed(kulink_protocol::Failure {
        kind: kulink_protocol::FailureKind::Stuck,
        message,
    }))
}

/// How long output may still come once the program and its group are gone.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// One output pipe's first [`OUTPUT_LIMIT`] bytes, and whether more came.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<(Vec<u8>, bool)>>);

impl Output {
    async fn fill(self, mut pipe: impl AsyncRead + Unpin) {
        let mut buf = vec![0u8; 16 * 1024];
        // A read error ends the output like its end does.
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let room = OUTPUT_LIMIT.saturating_sub(kept.0.len());
            kept.0.extend_from_slice(&buf[..n.min(room)]);
            kept.1 |= n > room;
        }
    }

    fn take(&self) -> (String, bool) {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (String::from_utf8_lossy(&kept.0).into_owned(), kept.1)
    }
}
