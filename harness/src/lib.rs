//! kulink: boot real kernels in QEMU with your kernel module, send it real
//! frames, and assert that what reached user space is exactly what was
//! sent, with a clean kernel log.
//!
//! For any module: [`GuestBuilder`] sets up and boots a guest (a
//! [`ModuleGuest`]: programs, files, modules, generic netlink by YNL spec,
//! frames, the kernel log); [`kernel_tests!`] makes one test per kernel of
//! the catalog; [`delivery`] checks that items arrived exactly once and in
//! order; [`ktap`] reads a guest program's KTAP. The testbed core under it
//! is [`testbed`]. [`module_test`] is `kulink test`, the same from the
//! command line.
//!
//! kulink.ko's own suite is the first user of that API: [`guest`] is
//! kulink.ko's view of a guest; [`plan`] says what to send; [`session`]
//! sends it; [`verify`], [`checks`] and [`report`] judge what came back;
//! [`job`] is the main job end to end; [`flood`] floods it with a slow
//! consumer and accounts for every drop; [`output`] renders results.

#![deny(missing_docs)]

pub mod bench;
pub mod builder;
pub mod checks;
pub mod corpus;
pub mod delivery;
pub mod device_fuzz;
pub mod expect;
pub mod fate;
pub mod flood;
pub mod fuzz;
pub mod guest;
pub mod job;
pub mod junit;
pub mod ktap;
pub mod lifecycle;
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
