//! What crosses kulink's boundaries: the kernel ABI from `module/uapi/kulink.h`
//! (mirrored in [`uapi`] and checked against the header by a test), a small
//! generic netlink codec, the typed events, kulink.ko's channels, and the
//! plug-in's part of the host <-> agent protocol.

pub mod bench;
pub mod channel;
pub mod control;
pub mod event;
pub use kulink_genl::codec as genl;
pub mod observed;
pub mod probe;
pub mod uapi;

pub use channel::Channel;
pub use event::{Event, Stats, TextError};
pub use genl::Family;
