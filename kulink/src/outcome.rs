//! How a run ended, in the types every command and suite shares: the JSON
//! schema's version, a guest's ending with its kernel log, the error that
//! kept a kernel from being judged, and the output format.

use anyhow::Result;
use kulink_protocol::Extension;
use kulink_testbed::splat::Splat;
use kulink_testbed::vm::Vm;
use serde::Serialize;

/// Version of the JSON kulink prints: raised when a key changes meaning or
/// goes away (new keys may come without it).
pub const SCHEMA_VERSION: u32 = 2;

/// How a guest ended: the verdict with its kernel log's, and where a
/// failed run's console log and agent transcript were kept.
#[derive(Debug, Clone)]
pub struct Ending {
    /// `uname -r` of the guest's kernel.
    pub kernel_release: String,
    /// Every Oops, BUG, WARN, KASAN or lockdep report in the kernel log.
    pub splats: Vec<Splat>,
    /// The run's own verdict held and the kernel log is clean.
    pub passed: bool,
    /// The kept evidence of a failed run.
    pub evidence: Option<std::path::PathBuf>,
}

/// Powers `vm` off and judges its kernel log on top of `ok`; a failed run
/// keeps its evidence.
pub fn power_off<X: Extension>(mut vm: Vm<X>, ok: bool) -> Result<Ending> {
    let kernel_release = vm.ready().kernel.clone();
    let finished = vm.power_off()?;
    let passed = ok && finished.splats.is_empty();
    if !passed {
        vm.keep_evidence();
    }
    let evidence = (!passed).then(|| vm.evidence_dir().to_owned());
    Ok(Ending { kernel_release, splats: finished.splats, passed, evidence })
}

/// The JSON object for a run that could not be judged: no kernel, no
/// guest, a broken host. `kernel` is what was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    /// [`SCHEMA_VERSION`] of the JSON.
    pub schema_version: u32,
    /// The kernel asked for.
    pub kernel: String,
    /// What went wrong, with its causes.
    pub error: String,
    /// The exit code it gives (2 usage, 3 infrastructure).
    pub exit_code: i32,
    /// Always false.
    pub passed: bool,
}

impl RunError {
    /// The error for `kernel`, with its exit code.
    pub fn new(kernel: &str, error: &anyhow::Error) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            kernel: kernel.into(),
            error: format!("{error:#}"),
            exit_code: crate::exit_code(error),
            passed: false,
        }
    }
}

/// One kernel's verdict in a command over several kernels (`test --json`,
/// say): its report, or the error that kept it from being judged.
/// One per kernel, never in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RunOutcome<R> {
    /// The kernel was judged.
    Report(R),
    /// Something kept the kernel from being judged.
    Error(RunError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// How a command prints: for people or for programs.
pub enum Format {
    /// Aligned text.
    Table,
    /// JSON, one document.
    Json,
}

impl Format {
    /// JSON when `--json` was given, a table otherwise.
    pub fn of(json: bool) -> Self {
        if json {
            Self::Json
        } else {
            Self::Table
        }
    }
}
