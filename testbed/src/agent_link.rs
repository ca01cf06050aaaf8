//! The host end of the control port: typed JSON lines to and from the agent.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kulink_protocol::{
    AgentMsg, Booted, Command, Extension, Failure, FailureKind, GenlDelivery, NetlinkDelivery, Ready, Reply, Request,
};

use crate::transcript::{self, Line};

/// The agent answered a request with an error: the guest is fine, the
/// request was refused (which a test may want).
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The process serving a request died in the kernel or is stuck there:
/// the module under test failed it (see [`FailureKind`]).
#[derive(Debug)]
pub struct KernelFailed {
    /// How it ended.
    pub kind: FailureKind,
    /// The request and how it ended, in words.
    pub message: String,
}

impl std::fmt::Display for KernelFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KernelFailed {}

/// The agent did not answer in time, though its port is still open.
#[derive(Debug)]
pub struct NoAnswer(String);

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoAnswer {}

/// The error a request's failure is, by how it failed.
fn failed<X: Extension>(cmd: &Command<X>, Failure { kind, message }: Failure) -> anyhow::Error {
    let message = format!("the guest could not {}: {message}", cmd.describe());
    match kind {
        FailureKind::Refused => anyhow::Error::new(Refused(message)),
        FailureKind::Died | FailureKind::Stuck => anyhow::Error::new(KernelFailed { kind, message }),
    }
}

pub struct AgentLink<X: Extension> {
    writer: UnixStream,
    transcript: transcript::Writer<X>,
    rx: Receiver<Result<AgentMsg<X>, String>>,
    next_id: u64,
    /// The plug-in's messages so far, in arrival order.
    messages: Vec<X::Message>,
    /// What the generic netlink subscriptions carried, in arrival order.
    genl: Vec<GenlDelivery>,
    netlink: Vec<NetlinkDelivery>,
    warnings: Vec<String>,
}

impl<X: Extension> AgentLink<X> {
    /// A link over `stream` that keeps its transcript in `transcript`.
    pub fn new(stream: UnixStream, transcript: &std::path::Path) -> Result<Self> {
        let reader = stream.try_clone()?;
        let transcript = transcript::Writer::create(transcript)?;
        let (tx, rx) = mpsc::channel();
        let incoming = transcript.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                let msg = serde_json::from_str::<AgentMsg<X>>(&line);
                match &msg {
                    Ok(_) => incoming.note_agent_message(&line),
                    Err(_) => incoming.note(&Line::AgentText(line.clone())),
                }
                if tx.send(msg.map_err(|e| format!("bad agent line {line:?}: {e}"))).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            writer: stream,
            transcript,
            rx,
            next_id: 1,
            messages: Vec::new(),
            genl: Vec::new(),
            netlink: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The next message that is not the plug-in's, a subscription's or a
    /// warning (those are recorded), or `None` at the deadline.
    fn next_other(&mut self, deadline: Instant) -> Result<Option<AgentMsg<X>>> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(wait) {
                Ok(msg) => msg.map_err(|e| anyhow!(e))?,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => bail!("the agent closed the control port"),
            };
            match msg {
                AgentMsg::Ext { ext } => self.messages.push(ext),
                AgentMsg::Genl(delivery) => self.genl.push(delivery),
                AgentMsg::Netlink(delivery) => self.netlink.push(delivery),
                AgentMsg::Warning { message } => self.warnings.push(message),
                other => return Ok(Some(other)),
            }
        }
    }

    /// Waits for the agent's Ready.
    pub fn ready(&mut self, timeout: Duration) -> Result<Option<Ready<X>>> {
        self.wait_for(timeout, "ready", |msg| match msg {
            AgentMsg::Ready(ready) => Ok(ready),
            other => Err(other),
        })
    }

    /// Waits for a deferred agent's word that it has booted.
    pub fn booted(&mut self, timeout: Duration) -> Result<Option<Booted>> {
        self.wait_for(timeout, "the boot's end", |msg| match msg {
            AgentMsg::Booted(booted) => Ok(booted),
            other => Err(other),
        })
    }

    /// Waits for the message `pick` takes (it gives back any other, which is
    /// a warning), or `None` at the timeout; `what` names it in warnings.
    fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        pick: impl Fn(AgentMsg<X>) -> Result<T, AgentMsg<X>>,
    ) -> Result<Option<T>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_other(deadline)?.map(&pick) {
                Some(Ok(wanted)) => return Ok(Some(wanted)),
                Some(Err(other)) => self.warn(format!("unexpected before {what}: {other:?}")),
                None => return Ok(None),
            }
        }
    }

    /// Writes what the agent sent before this link existed (a restored
    /// guest's word that it had booted) to the transcript, where a booted
    /// guest's would be.
    pub fn note_booted(&self, booted: &Booted) {
        if let Ok(line) = serde_json::to_string(&AgentMsg::<X>::Booted(booted.clone())) {
            self.transcript.note_agent_message(&line);
        }
    }

    /// Records the plug-in's messages until `done` holds for them or the
    /// deadline passes; says whether it held.
    pub fn collect_until(&mut self, timeout: Duration, mut done: impl FnMut(&[X::Message]) -> bool) -> Result<bool> {
        self.listen_until(timeout, |link| done(&link.messages))
    }

    /// Records what the subscriptions carry until `done` holds for it or
    /// the deadline passes; says whether it held.
    pub fn collect_genl_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[GenlDelivery]) -> bool,
    ) -> Result<bool> {
        self.listen_until(timeout, |link| done(&link.genl))
    }

    /// Records what the protocol subscriptions carry until `done` holds
    /// for it or the deadline passes; says whether it held.
    pub fn collect_netlink_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[NetlinkDelivery]) -> bool,
    ) -> Result<bool> {
        self.listen_until(timeout, |link| done(&link.netlink))
    }

    fn listen_until(&mut self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let poll = Duration::from_millis(20);
        loop {
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            if let Some(other) = self.next_other((Instant::now() + poll).min(deadline))? {
                self.warn(format!("unexpected message: {other:?}"));
            }
        }
    }

    /// Sends a command and waits for its reply (events meanwhile are recorded).
    pub fn request(&mut self, cmd: Command<X>, timeout: Duration) -> Result<Reply<X>> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request { id, cmd: cmd.clone() };
        let line = serde_json::to_string(&request)?;
        self.transcript.note(&Line::Host(request));
        writeln!(self.writer, "{line}").context("write to the control port")?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_other(deadline)? {
                Some(AgentMsg::Reply { id: got, result }) if got == id => {
                    return result.map_err(|failure| failed(&cmd, failure));
                }
                Some(other) => self.warn(format!("unexpected message: {other:?}")),
                None => {
                    return Err(anyhow::Error::new(NoAnswer(format!(
                        "the agent did not answer within {timeout:?} when asked to {}",
                        cmd.describe()
                    ))))
                }
            }
        }
    }

    /// The plug-in's messages recorded so far.
    pub fn messages(&self) -> &[X::Message] {
        &self.messages
    }

    /// Removes and returns the plug-in's messages recorded so far for
    /// which `wanted` holds; keeps the others, in order.
    pub fn take_messages(&mut self, wanted: impl FnMut(&X::Message) -> bool) -> Vec<X::Message> {
        let (taken, kept) = std::mem::take(&mut self.messages).into_iter().partition(wanted);
        self.messages = kept;
        taken
    }

    /// What the generic netlink subscriptions carried so far.
    pub fn genl(&self) -> &[GenlDelivery] {
        &self.genl
    }

    /// What the protocol subscriptions carried so far.
    pub fn netlink(&self) -> &[NetlinkDelivery] {
        &self.netlink
    }

    /// Problems the agent survived, and messages nobody asked for.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A message nobody asked for: a warning, and a line of the transcript.
    fn warn(&mut self, warning: String) {
        self.transcript.note(&Line::HostWarning(warning.clone()));
        self.warnings.push(warning);
    }
}
