//! The testbed core: provision kernels, build a module and the guest agent
//! against them, boot QEMU or virtme-ng, talk to the agent over its control
//! port, drive the rootless wire, and scan the console for splats. It knows
//! no module's channels: a suite brings those as a protocol
//! [`Extension`](kulink_protocol::Extension) and judges what came back.
//!
//! Building blocks, from the bottom: [`kernels`] and [`artifacts`] provide a
//! kernel, the module and the agent; [`vm`] boots them and offers the
//! agent's requests; [`frames`] and [`peer`] carry traffic on the wire;
//! [`splat`] reads the kernel log.

#![deny(missing_docs)]

pub mod accel;
mod agent_link;
mod apt;
pub mod arch;
pub mod artifacts;
pub mod boot_steps;
mod cache;
pub mod catalog;
pub mod coverage;
mod cpio;
mod cross_busybox;
mod cross_rust;
pub mod frames;
pub mod host_root;
pub mod initramfs;
pub mod kconfig;
pub mod kernels;
pub mod known_bugs;
pub mod paths;
pub mod pcap;
pub mod peer;
pub mod process_tree;
pub mod progress;
mod qemu;
mod qmp;
mod snapshot;
pub mod splat;
pub mod symbols;
pub mod tools;
pub mod traces;
pub mod transcript;
pub mod vm;

pub use agent_link::Refused;
pub use kulink_genl as genl;
pub use kulink_protocol as protocol;

/// Exit code for a failed assertion (the guest ran, something was wrong).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for a usage or configuration mistake (a bad flag value, an
/// unknown kernel id, a bad kernels.toml): nothing was fetched or built.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for an infrastructure problem (no kernel, no QEMU, no boot).
pub const EXIT_INFRA: i32 = 3;

/// A mistake in what the user asked for or configured (exit code 2), as
/// opposed to a host or guest that failed to do what was asked (3).
#[derive(Debug)]
pub struct UsageError(String);

/// A [`UsageError`] with this message, as an `anyhow::Error`.
pub fn usage_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The kernel under test went down (it panicked): a failed test (exit
/// code 1), not a broken testbed. The message carries the console's tail.
#[derive(Debug)]
pub struct KernelFailure(pub String);

impl std::fmt::Display for KernelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelFailure {}

/// The module under test failed to build or to load: the module's
/// failure (exit code 1), not a broken testbed. The message quotes the
/// compiler's or loader's words.
#[derive(Debug)]
pub struct ModuleFailure(pub String);

impl std::fmt::Display for ModuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModuleFailure {}

/// The exit code an error ends the CLI with.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error.chain().any(|e| e.is::<UsageError>()) {
        EXIT_USAGE
    } else if error.chain().any(|e| e.is::<KernelFailure>() || e.is::<ModuleFailure>()) {
        EXIT_FAILED
    } else {
        EXIT_INFRA
    }
}
