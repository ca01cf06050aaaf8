//! kulink: boot real kernels in QEMU with your kernel module, drive it, and
//! assert that what reached user space is exactly what was sent, with a
//! clean kernel log.
//!
//! [`GuestBuilder`] sets up and boots a guest (a [`ModuleGuest`]:
//! programs, files, modules, generic netlink by YNL spec, frames, the
//! kernel log); [`kernel_tests!`] makes one test per kernel of the catalog;
//! [`delivery`] checks that items arrived exactly once and in order;
//! [`ktap`] reads a guest program's KTAP and [`kunit`] a test module's
//! suites; [`fuzz`], [`device_fuzz`] and
//! [`lifecycle`] attack a module from its YNL spec, its device node and its
//! load and unload. [`module_test`] is `kulink test`, the same from the
//! command line, and [`guest_command`] says before the boot whether its
//! command can start; [`outcome`] and [`render`] are what every run ends in.
//! The testbed core under it is [`testbed`].

#![deny(missing_docs)]

pub mod builder;
pub mod delivery;
pub mod device_fuzz;
pub mod expect;
pub mod fuzz;
pub mod guest_command;
pub mod ktap;
pub mod kunit;
pub mod lifecycle;
pub mod matrix;
pub mod module_test;
pub mod outcome;
pub mod render;
pub mod ynl;

pub use builder::{GuestBuilder, ModuleGuest};
pub use kulink_testbed as testbed;
pub use kulink_testbed::{exit_code, usage_error, EXIT_FAILED, EXIT_INFRA, EXIT_USAGE};
