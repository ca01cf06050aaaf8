//! The host end of the control port: typed JSON lines to and from the agent.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kulink_wire::control::{AgentMsg, Command, Reply, Request};
use kulink_wire::Event;
use serde::Serialize;

/// One event as one channel delivered it to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub channel: String,
    pub subscriber: Option<String>,
    /// `None` for channels read on request.
    pub latency_ns: Option<u64>,
    pub event: Event,
}

/// A notification that names an event only by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notified {
    pub channel: String,
    pub seq: u64,
    pub received_ns: u64,
}

/// Where an event came from: a channel, and for unicast the subscriber.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Listener {
    pub channel: String,
    pub subscriber: Option<String>,
}

impl Received {
    pub fn listener(&self) -> Listener {
        Listener { channel: self.channel.clone(), subscriber: self.subscriber.clone() }
    }
}

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

pub struct AgentLink {
    writer: UnixStream,
    transcript: Transcript,
    rx: Receiver<Result<AgentMsg, String>>,
    next_id: u64,
    /// Every event so far, in arrival order.
    pub events: Vec<Received>,
    /// Every sequence-number notification so far (real-time signals).
    pub notified: Vec<Notified>,
    /// (listener, total) for each overrun the agent reported.
    pub overruns: Vec<(Listener, u64)>,
    pub warnings: Vec<String>,
}

impl AgentLink {
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
                let msg = serde_json::from_str::<AgentMsg>(&line).map_err(|e| format!("bad agent line {line:?}: {e}"));
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            writer: stream,
            transcript,
            rx,
            next_id: 1,
            events: Vec::new(),
            notified: Vec::new(),
            overruns: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The next message that is not an event, overrun or warning (those are
    /// recorded), or `None` at the deadline.
    fn next_other(&mut self, deadline: Instant) -> Result<Option<AgentMsg>> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(wait) {
                Ok(msg) => msg.map_err(|e| anyhow!(e))?,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => bail!("the agent closed the control port"),
            };
            match msg {
                AgentMsg::Event { channel, subscriber, latency_ns, event } => {
                    self.events.push(Received { channel, subscriber, latency_ns, event })
                }
                AgentMsg::Notify { channel, seq, received_ns } => {
                    self.notified.push(Notified { channel, seq, received_ns })
                }
                AgentMsg::Overrun { channel, subscriber, total } => {
                    self.overruns.push((Listener { channel, subscriber }, total))
                }
                AgentMsg::Warning { message } => self.warnings.push(message),
                other => return Ok(Some(other)),
            }
        }
    }

    /// Waits for the agent's Ready.
    pub fn ready(&mut self, timeout: Duration) -> Result<Option<kulink_wire::control::Ready>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_other(deadline)? {
                Some(AgentMsg::Ready(r)) => return Ok(Some(r)),
                Some(other) => self.warnings.push(format!("unexpected before ready: {other:?}")),
                None => return Ok(None),
            }
        }
    }

    /// Records events until `done` holds for them or the deadline passes.
    pub fn collect_until(&mut self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> Result<bool> {
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
                self.warnings.push(format!("unexpected message: {other:?}"));
            }
        }
    }

    /// Sends a command and waits for its reply (events meanwhile are recorded).
    pub fn request(&mut self, cmd: Command, timeout: Duration) -> Result<Reply> {
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

    /// Removes and returns every event recorded so far.
    pub fn take_events(&mut self) -> Vec<Received> {
        std::mem::take(&mut self.events)
    }

    /// Removes and returns every notification recorded so far.
    pub fn take_notified(&mut self) -> Vec<Notified> {
        std::mem::take(&mut self.notified)
    }
}
