//! kulink.ko's contract: the kernel ABI from `kulink-ko/module/uapi/kulink.h`
//! (mirrored in [`uapi`] and checked against the header by a test), the
//! typed events, kulink.ko's channels, and its plug-in's part of the host
//! <-> agent protocol. The generic netlink codec is the shared one.

pub mod bench;
pub mod channel;
pub mod event;
pub mod extension;
pub use kulink_genl::codec as genl;
pub mod observed;
pub mod probe;
pub mod uapi;

pub use channel::Channel;
pub use event::{Event, Stats, TextError};
pub use genl::Family;
