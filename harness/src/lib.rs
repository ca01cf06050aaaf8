//! kulink: boot real kernels in QEMU with kulink.ko, inject real frames, and
//! assert that what reached user space is exactly what was sent.
//!
//! Building blocks, from the bottom: [`kernels`] and [`artifacts`] provide a
//! kernel, the module and the agent; [`vm`] boots them; [`frames`] and
//! [`plan`] say what to send; [`session`] sends it; [`verify`] and
//! [`report`] judge what came back; [`job`] is the main job end to end.

pub mod agent_link;
pub mod apt;
pub mod artifacts;
pub mod cpio;
pub mod distro;
pub mod frames;
pub mod initramfs;
pub mod job;
pub mod kconfig;
pub mod kernels;
pub mod paths;
pub mod peer;
pub mod plan;
pub mod process_tree;
pub mod qemu;
pub mod report;
pub mod session;
pub mod splat;
pub mod tools;
pub mod verify;
pub mod vm;

/// Exit code for a failed assertion (the guest ran, something was wrong).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for an infrastructure problem (no kernel, no QEMU, no boot).
pub const EXIT_INFRA: i32 = 3;
