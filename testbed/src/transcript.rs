//! Every line to and from the agent, in order, as JSON lines: the record a
//! run is judged from, during the run or long after it (`Line::read_all`).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use kulink_protocol::{AgentMsg, Extension, Request};
use serde::{Deserialize, Serialize};

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", bound = "")]
pub enum Line<X: Extension> {
    /// A request the host sent.
    Host(Request<X>),
    /// A message the agent sent.
    Agent(AgentMsg<X>),
    /// A line from the agent that is not a message.
    AgentText(String),
    /// Something the host found wrong in the conversation (a reply nobody
    /// waited for); it counts as a warning.
    HostWarning(String),
}

impl<X: Extension> Line<X> {
    /// Every line of a saved transcript; a line that is not one names its
    /// number.
    pub fn read_all(path: &Path) -> Result<Vec<Self>> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        let mut lines = Vec::new();
        for (n, text) in BufReader::new(file).lines().enumerate() {
            let text = text.with_context(|| format!("read {}", path.display()))?;
            let line = serde_json::from_str(&text)
                .with_context(|| format!("{}:{}: not a transcript line: {text}", path.display(), n + 1))?;
            lines.push(line);
        }
        Ok(lines)
    }
}

/// Appends lines to a transcript file; clones share it.
pub struct Writer<X: Extension>(Arc<Mutex<File>>, std::marker::PhantomData<X>);

impl<X: Extension> Clone for Writer<X> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), std::marker::PhantomData)
    }
}

impl<X: Extension> Writer<X> {
    /// A new transcript at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self(Arc::new(Mutex::new(file)), std::marker::PhantomData))
    }

    /// Appends one line.
    pub fn note(&self, line: &Line<X>) {
        self.write(&serde_json::to_string(line).expect("transcript lines serialize"));
    }

    /// A line the agent sent that parsed as a message, kept as it came:
    /// the same text `note(&Line::Agent(msg))` would write, without
    /// serializing every event a second time on the reader thread.
    pub fn note_agent_message(&self, json: &str) {
        self.write(&format!("{{\"agent\":{json}}}"));
    }

    fn write(&self, text: &str) {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Evidence: a failed write must not fail the run; judging it later
        // would then fail on the missing lines.
        let _ = writeln!(file, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulink_protocol::{Command, NoExtension, Ready};

    #[test]
    fn lines_written_are_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("kulink-transcript-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.jsonl");
        let lines: Vec<Line<NoExtension>> = vec![
            Line::Agent(AgentMsg::Ready(Ready {
                boot_ms: 1,
                kernel: "k".into(),
                eth0_ifindex: 2,
                lo_ifindex: 1,
                ext: (),
            })),
            Line::Host(Request { id: 1, cmd: Command::Shutdown }),
            Line::AgentText("garbage".into()),
            Line::HostWarning("unexpected".into()),
        ];
        let w = Writer::create(&path).unwrap();
        for l in &lines {
            match l {
                // As the reader thread keeps them: the agent's own text.
                Line::Agent(msg) => w.note_agent_message(&serde_json::to_string(msg).unwrap()),
                other => w.note(other),
            }
        }
        assert_eq!(Line::read_all(&path).unwrap(), lines);
        let first = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_owned();
        assert_eq!(first, serde_json::to_string(&lines[0]).unwrap(), "the same text either way");
        std::fs::write(&path, "{\"host\":1}\n").unwrap();
        assert!(format!("{:#}", Line::<NoExtension>::read_all(&path).unwrap_err()).contains("agent.jsonl:1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
