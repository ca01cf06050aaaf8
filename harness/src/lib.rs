//! kulink: boot real kernels in QEMU with kulink.ko, inject real frames, and
//! assert that what reached user space is exactly what was sent.
//!
//! kulink.ko's suite on the testbed core ([`kulink_testbed`]): [`guest`] is
//! kulink.ko's view of a guest; [`plan`] says what to send; [`session`]
//! sends it; [`verify`], [`checks`] and [`report`] judge what came back;
//! [`job`] is the main job end to end; [`output`] renders results.
//! [`module_test`] is `kulink test`: any module, any command in the guest.

pub mod builder;
pub mod checks;
pub mod expect;
pub mod guest;
pub mod job;
pub mod junit;
pub mod ktap;
pub mod matrix;
pub mod module_test;
pub mod output;
pub mod plan;
pub mod record;
pub mod report;
pub mod session;
pub mod verify;

pub use builder::{GuestBuilder, ModuleGuest};
pub use kulink_testbed as testbed;
pub use kulink_testbed::{exit_code, usage_error, EXIT_FAILED, EXIT_INFRA, EXIT_USAGE};
