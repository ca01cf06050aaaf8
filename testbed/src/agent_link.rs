//! The host end of the control port: typed JSON lines to and from the agent.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kulink_protocol::{AgentMsg, Command, Extension, Ready, Reply, Request};

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

/// Every line to and from the agent, in order: `>` host to agent, `<` back.
#[derive(Clone)]
struct Transcript(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl Transcript {
    fn note(&self, direction: char, line: &str) {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Evidence only: a failed write must not fail the run.
        let _ = writeln!(file, "{direction} {line}");
    }
}

pub struct AgentLink<X: Extension> {
    writer: UnixStream,
    transcript: Transcript,
    rx: Receiver<Result<AgentMsg<X>, String>>,
    next_id: u64,
    /// The plug-in's messages so far, in arrival order.
    messages: Vec<X::Message>,
    warnings: Vec<String>,
}

impl<X: Extension> AgentLink<X> {
    /// A link over `stream` that keeps its transcript in `transcript`.
    pub fn new(stream: UnixStream, transcript: &std::path::Path) -> Result<Self> {
        let reader = stream.try_clone()?;
        let file = std::fs::File::create(transcript).with_context(|| format!("create {}", transcript.display()))?;
        let transcript = Transcript(std::sync::Arc::new(std::sync::Mutex::new(file)));
        let (tx, rx) = mpsc::channel();
        let incoming = transcript.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                incoming.note('<', &line);
                let msg =
                    serde_json::from_str::<AgentMsg<X>>(&line).map_err(|e| format!("bad agent line {line:?}: {e}"));
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Ok(Self { writer: stream, transcript, rx, next_id: 1, messages: Vec::new(), warnings: Vec::new() })
    }

    /// The next message that is not the plug-in's or a warning (those are
    /// recorded), or `None` at the deadline.
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
                AgentMsg::Warning { message } => self.warnings.push(message),
                other => return Ok(Some(other)),
            }
        }
    }

    /// Waits for the agent's Ready.
    pub fn ready(&mut self, timeout: Duration) -> Result<Option<Ready<X>>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_other(deadline)? {
                Some(AgentMsg::Ready(r)) => return Ok(Some(r)),
                Some(other) => self.warnings.push(format!("unexpected before ready: {other:?}")),
                None => return Ok(None),
            }
        }
    }

    /// Records the plug-in's messages until `done` holds for them or the
    /// deadline passes; says whether it held.
    pub fn collect_until(&mut self, timeout: Duration, mut done: impl FnMut(&[X::Message]) -> bool) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let poll = Duration::from_millis(20);
        loop {
            if done(&self.messages) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            if let Some(other) = self.next_other((Instant::now() + poll).min(deadline))? {
                self.warnings.push(format!("unexpected message: {other:?}"));
            }
        }
    }

    /// Sends a command and waits for its reply (events meanwhile are recorded).
    pub fn request(&mut self, cmd: Command<X>, timeout: Duration) -> Result<Reply<X>> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request { id, cmd: cmd.clone() })?;
        self.transcript.note('>', &line);
        writeln!(self.writer, "{line}").context("write to the control port")?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_other(deadline)? {
                Some(AgentMsg::Reply { id: got, result }) if got == id => {
                    return result.map_err(|e| anyhow::Error::new(Refused(format!("agent: {cmd:?} failed: {e}"))));
                }
                Some(other) => self.warnings.push(format!("unexpected message: {other:?}")),
                None => bail!("the agent did not answer {cmd:?} within {timeout:?}"),
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

    /// Problems the agent survived, and messages nobody asked for.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
