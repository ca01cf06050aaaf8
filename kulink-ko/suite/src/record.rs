//! A run directory: everything the main job's verdict is computed from, so
//! that `kulink report DIR` judges a saved run exactly as the run did.
//!
//! | file | what |
//! |---|---|
//! | `run.json` | what the host alone knows: the plan, the accelerator, what came back on the wire |
//! | `agent.jsonl` | every request and every agent message, in order |
//! | `console.log` | the guest's kernel log |
//! | `report.json`, `report.txt` | the verdict, as the run printed it |

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kulink::testbed::transcript::Line;
use kulink::testbed::vm::{CONSOLE, TRANSCRIPT};
use kulink_ko_contract::extension::KulinkKo;
use serde::{Deserialize, Serialize};

use crate::plan::Expected;
use crate::report::{FateCount, RunReport};

const HOST: &str = "run.json";
const REPORT_JSON: &str = "report.json";
const REPORT_TABLE: &str = "report.txt";

/// Version of `run.json`: raised when a key changes meaning or goes away.
pub const RECORD_VERSION: u32 = 1;

/// What the host alone saw of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// [`RECORD_VERSION`] when written.
    pub record_version: u32,
    /// The kernel's id (or what the user gave).
    pub kernel: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// Host wall time from QEMU's start to the agent's ready.
    pub wall_boot_ms: u64,
    /// When the saved guest the run started from was saved (RFC 3339,
    /// UTC); absent if the guest booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<String>,
    /// Unicast subscriber the job registered.
    pub subscriber: String,
    /// What each channel must report, in the order sent.
    pub expected: Vec<Expected>,
    /// Frames sent, reported or not.
    pub frames_sent: usize,
    /// Of those, ICMP frames too short to report.
    pub truncated_icmp_sent: usize,
    /// Of those, frames the kernel hands to kulink.ko's hook (`None` in
    /// records from before kulink kept it).
    #[serde(default)]
    pub at_hook: Option<usize>,
    /// How many frames had each fate, in the order the fates first came.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fates: Vec<FateCount>,
    /// Echo replies the guest had to send back.
    pub echo_replies_expected: usize,
    /// Echo replies the peer got.
    pub echo_replies_received: usize,
}

/// A saved run, read back.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// What the host saw.
    pub host: HostRecord,
    /// The agent's messages and the host's requests, in order.
    pub transcript: Vec<Line<KulinkKo>>,
    /// The guest's kernel log.
    pub console: String,
}

impl RunRecord {
    /// Writes `run.json` into `dir` and copies the guest's transcript and
    /// console from `guest_dir`.
    pub fn save(dir: &Path, host: &HostRecord, guest_dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        fs::write(dir.join(HOST), serde_json::to_string_pretty(host)? + "\n")
            .with_context(|| format!("write {}", dir.join(HOST).display()))?;
        for name in [TRANSCRIPT, CONSOLE] {
            fs::copy(guest_dir.join(name), dir.join(name))
                .with_context(|| format!("copy {name} into {}", dir.display()))?;
        }
        Ok(())
    }

    /// Reads a run saved by [`RunRecord::save`]; a directory that is not one
    /// is a usage error.
    pub fn load(dir: &Path) -> Result<Self> {
        let host_path = dir.join(HOST);
        if !host_path.exists() {
            bail!("{} is not a run directory: it has no {HOST} (`kulink run --out DIR` writes one)", dir.display());
        }
        let text = fs::read_to_string(&host_path).with_context(|| format!("read {}", host_path.display()))?;
        let host: HostRecord = serde_json::from_str(&text).with_context(|| format!("parse {}", host_path.display()))?;
        if host.record_version != RECORD_VERSION {
            bail!(
                "{} has record version {}; this kulink reads {RECORD_VERSION}",
                host_path.display(),
                host.record_version
            );
        }
        let transcript = Line::read_all(&dir.join(TRANSCRIPT))?;
        let console =
            fs::read_to_string(dir.join(CONSOLE)).with_context(|| format!("read {}", dir.join(CONSOLE).display()))?;
        Ok(Self { host, transcript, console })
    }
}

/// Saves the verdict beside the record, as the run printed it.
pub fn save_report(dir: &Path, report: &RunReport) -> Result<()> {
    fs::write(dir.join(REPORT_JSON), serde_json::to_string_pretty(report)? + "\n")?;
    fs::write(dir.join(REPORT_TABLE), crate::output::table(report))?;
    Ok(())
}

/// Where a run is recorded when the user names no directory: under the
/// cache, one directory a run.
pub fn default_dir(kernel: &str) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let name: String = kernel.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    kulink::testbed::paths::cache_dir().join("runs").join(format!("{name}-{secs}-{}", std::process::id()))
}
