//! What a test asks of the guest's agent: files, programs, modules,
//! device bursts, frames, and the plug-in's own requests and messages.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use kulink_protocol::{
    patience, Command as AgentCommand, DeviceAnswers, DeviceBurst, Extension, FileBytes, Netns, Ran, Reply,
    ANSWER_MARGIN,
};

use super::Vm;
use crate::agent_link::{KernelFailed, Refused};
use crate::{usage_error, KernelFailure, ModuleFailure};

/// How long the agent may take to answer: its own patience with the
/// request, and the way back.
pub(super) const REQUEST_TIMEOUT: Duration = burst_timeout(0);
/// How long a burst of `count` messages or calls may take.
pub(super) const fn burst_timeout(count: usize) -> Duration {
    patience(count).saturating_add(ANSWER_MARGIN)
}

impl<X: Extension> Vm<X> {
    /// Sends one request to the agent and waits for its answer.
    pub fn request(&mut self, cmd: AgentCommand<X>) -> Result<Reply<X>> {
        self.request_within(cmd, REQUEST_TIMEOUT)
    }

    /// A request. When the agent did not answer (a kernel panic ends it
    /// too), the console's tail tells why and the evidence is kept.
    pub fn request_within(&mut self, cmd: AgentCommand<X>, timeout: Duration) -> Result<Reply<X>> {
        self.link.request(cmd, timeout).map_err(|e| {
            if e.is::<Refused>() {
                return e;
            }
            self.keep = true;
            match e.downcast::<KernelFailed>() {
                Ok(failed) => self.module_failed(failed),
                Err(e) => self.explain(e),
            }
        })
    }

    /// A request for the agent's plug-in, answered by the plug-in.
    pub fn ext(&mut self, cmd: X::Command) -> Result<X::Reply> {
        self.ext_within(cmd, REQUEST_TIMEOUT)
    }

    /// [`Vm::ext`] for a request that takes longer than most.
    pub fn ext_within(&mut self, cmd: X::Command, timeout: Duration) -> Result<X::Reply> {
        match self.request_within(AgentCommand::Ext { ext: cmd }, timeout)? {
            Reply::Ext(reply) => Ok(reply),
            other => bail!("the plug-in's request was answered by the core with {}", other.kind()),
        }
    }

    /// Reads a file in the guest.
    pub fn read_file(&mut self, path: &str) -> Result<String> {
        match self.request(AgentCommand::ReadFile { path: path.into() })? {
            Reply::Text(text) => Ok(text),
            other => bail!("read {path} was answered with {}", other.kind()),
        }
    }

    /// The regular files under the guest's `dir` whose names end with
    /// `suffix`, as bytes (see [`AgentCommand::ReadFiles`]).
    pub fn read_files(&mut self, dir: &str, suffix: &str) -> Result<Vec<FileBytes>> {
        match self.request(AgentCommand::ReadFiles { dir: dir.into(), suffix: suffix.into() })? {
            Reply::Files(files) => Ok(files),
            other => bail!("reading the {suffix} files under {dir} was answered with {}", other.kind()),
        }
    }

    /// The kernel's log buffer as the guest holds it: every message, at
    /// every level, each as `<level>[uptime] text` (see
    /// [`AgentCommand::KernelLog`]); [`Vm::console`] has only what passed
    /// the console's loglevel.
    pub fn kernel_log(&mut self) -> Result<String> {
        match self.request(AgentCommand::KernelLog)? {
            Reply::Text(text) => Ok(text),
            other => bail!("the kernel log was answered with {}", other.kind()),
        }
    }

    /// Writes a file in the guest (one write(), like `echo data > path`).
    pub fn write_file(&mut self, path: &str, data: &str) -> Result<()> {
        self.request(AgentCommand::WriteFile { path: path.into(), data: data.into(), patience_ms: None }).map(drop)
    }

    /// [`Vm::write_file`] for a write the kernel may take up to `patience`
    /// to answer (a kmemleak scan walks all of the guest's memory).
    pub fn write_file_within(&mut self, path: &str, data: &str, patience: Duration) -> Result<()> {
        let patience_ms = Some(u64::try_from(patience.as_millis()).unwrap_or(u64::MAX));
        let cmd = AgentCommand::WriteFile { path: path.into(), data: data.into(), patience_ms };
        self.request_within(cmd, patience.saturating_add(ANSWER_MARGIN)).map(drop)
    }

    /// Runs a program in the guest (`argv[0]` is its path; no shell), killed
    /// once `timeout` passes; its exit status and output.
    pub fn run(&mut self, argv: &[&str], timeout: Duration) -> Result<Ran> {
        self.run_with_env(None, argv, &[], timeout)
    }

    /// Runs a program as [`Vm::run`] does, in network and user namespaces
    /// of its own linked to the wire (see [`Netns`]; [`Wire::netns`](crate::frames::Wire::netns) makes
    /// one). Each run gets fresh namespaces.
    pub fn run_in(&mut self, netns: Netns, argv: &[&str], timeout: Duration) -> Result<Ran> {
        self.run_with_env(Some(netns), argv, &[], timeout)
    }

    /// Runs a program as [`Vm::run`] does (in namespaces of its own when
    /// `netns` is given, as [`Vm::run_in`]), with `env` (`NAME=VALUE`)
    /// added to its environment.
    pub fn run_with_env(
        &mut self,
        netns: Option<Netns>,
        argv: &[&str],
        env: &[String],
        timeout: Duration,
    ) -> Result<Ran> {
        self.check_netns(netns)?;
        let cmd = AgentCommand::Run {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            timeout_ms: timeout.as_millis() as u64,
            netns,
            env: env.to_vec(),
        };
        // The agent answers once the program is gone: allow for the kill.
        match self.request_within(cmd, timeout + REQUEST_TIMEOUT)? {
            Reply::Ran(ran) => Ok(ran),
            other => bail!("running `{}` was answered with {}", argv.join(" "), other.kind()),
        }
    }

    /// Starts a program in the guest and leaves it running (a consumer
    /// daemon, say): returns its pid once it has written its first line,
    /// which is its word that it is ready (see [`AgentCommand::Start`]).
    pub fn start(&mut self, argv: &[&str], ready_timeout: Duration) -> Result<(u32, String)> {
        self.start_maybe_in(None, argv, ready_timeout)
    }

    /// Starts a program as [`Vm::start`] does, in network and user
    /// namespaces of its own linked to the wire (see [`Vm::run_in`]).
    pub fn start_in(&mut self, netns: Netns, argv: &[&str], ready_timeout: Duration) -> Result<(u32, String)> {
        self.start_maybe_in(Some(netns), argv, ready_timeout)
    }

    fn start_maybe_in(
        &mut self,
        netns: Option<Netns>,
        argv: &[&str],
        ready_timeout: Duration,
    ) -> Result<(u32, String)> {
        self.check_netns(netns)?;
        let cmd = AgentCommand::Start {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ready_timeout_ms: ready_timeout.as_millis() as u64,
            netns,
        };
        match self.request_within(cmd, ready_timeout + REQUEST_TIMEOUT)? {
            Reply::Started { pid, first_line } => Ok((pid, first_line)),
            other => bail!("starting `{}` was answered with {}", argv.join(" "), other.kind()),
        }
    }

    fn check_netns(&self, netns: Option<Netns>) -> Result<()> {
        match netns {
            Some(netns) => self.wire.check_netns(&netns).map_err(usage_error),
            None => Ok(()),
        }
    }

    /// What a program [`Vm::start`] began has written to stdout so far.
    pub fn output(&mut self, pid: u32) -> Result<String> {
        match self.request(AgentCommand::Output { pid })? {
            Reply::Text(text) => Ok(text),
            other => bail!("the output of program {pid} was answered with {}", other.kind()),
        }
    }

    /// Sends `signal` to a program [`Vm::start`] began (`SIGKILL`: it
    /// crashes) and returns how it ended and all it wrote.
    pub fn stop(&mut self, pid: u32, signal: i32) -> Result<Ran> {
        // The agent allows 10 s before it kills the program's group.
        match self.request_within(AgentCommand::Stop { pid, signal }, Duration::from_secs(10) + REQUEST_TIMEOUT)? {
            Reply::Ran(ran) => Ok(ran),
            other => bail!("stopping program {pid} was answered with {}", other.kind()),
        }
    }

    /// Loads the module under test (booted with
    /// [`BootOptions::load_module`](super::BootOptions::load_module) off, or unloaded) with these parameters
    /// (`name=value`, space-separated). The kernel's refusal is an error
    /// carrying its errno.
    pub fn load_module(&mut self, params: &str) -> Result<()> {
        let path = self.module.clone().context("this guest was booted without a module")?;
        let file = path.rsplit('/').next().unwrap_or(&path).to_owned();
        self.request(AgentCommand::LoadModule { path, params: params.into() }).map(drop).map_err(|e| {
            // The kernel went down while the module loaded: its failure.
            match super::evidence::panic_line(&self.console()) {
                Some(panic) if e.is::<KernelFailure>() => anyhow::Error::new(ModuleFailure(format!(
                    "the kernel panicked while loading {file}: {}\n{e:#}",
                    panic.trim()
                ))),
                _ => e,
            }
        })
    }

    /// Unloads the module under test (`delete_module`, never waiting for
    /// its users: a module in use is an error carrying EBUSY or EAGAIN).
    pub fn unload_module(&mut self) -> Result<()> {
        let name = self.module_name().context("this guest was booted without a module")?;
        self.request(AgentCommand::UnloadModule { name }).map(drop)
    }

    /// The module under test's name, as the kernel knows it: its file's
    /// name without `.ko`, dashes as underscores.
    pub fn module_name(&self) -> Option<String> {
        let file = self.module.as_deref()?.rsplit('/').next()?;
        Some(file.strip_suffix(".ko").unwrap_or(file).replace('-', "_"))
    }

    /// Makes system calls on a device node in the guest, in a helper
    /// process, and says what each returned (see
    /// [`AgentCommand::DeviceBurst`]). Meant for hostile arguments: a fuzzer.
    pub fn device_burst(&mut self, burst: DeviceBurst) -> Result<DeviceAnswers> {
        let count = burst.calls.len();
        match self.request_within(AgentCommand::DeviceBurst(burst), burst_timeout(count))? {
            Reply::DeviceBurst(answers) if answers.results.len() <= count => Ok(answers),
            other => bail!("a burst of {count} calls on a device was answered with {}", other.kind()),
        }
    }

    /// Has the guest ping 127.0.0.1 `count` times with echo id `id`.
    pub fn ping_loopback(&mut self, id: u16, count: u16) -> Result<()> {
        self.request(AgentCommand::PingLoopback { id, count }).map(drop)
    }

    /// Sends one Ethernet frame to the guest's NIC.
    pub fn send_frame(&self, frame: &[u8]) -> Result<()> {
        self.peer.send(frame)
    }

    /// Replays captured frames to the guest (see [`crate::pcap::replay`]):
    /// when this returns, the guest has taken every one of them in.
    pub fn replay(&self, frames: &[Vec<u8>], gap: Duration) -> Result<()> {
        crate::pcap::replay(&self.peer, &self.wire, frames, gap)
    }

    /// Records the plug-in's messages until `done` holds for them or the
    /// timeout passes; says whether it held.
    pub fn collect_until(&mut self, timeout: Duration, done: impl FnMut(&[X::Message]) -> bool) -> Result<bool> {
        self.link.collect_until(timeout, done)
    }

    /// The plug-in's messages recorded so far.
    pub fn messages(&self) -> &[X::Message] {
        self.link.messages()
    }

    /// Removes and returns the plug-in's messages recorded so far for
    /// which `wanted` holds; keeps the others, in order.
    pub fn take_messages(&mut self, wanted: impl FnMut(&X::Message) -> bool) -> Vec<X::Message> {
        self.link.take_messages(wanted)
    }

    /// Problems the agent survived, and messages nobody asked for.
    pub fn warnings(&self) -> &[String] {
        self.link.warnings()
    }
}
