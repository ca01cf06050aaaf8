//! Generic netlink for kulink. [`codec`] is the byte work both ends share
//! (headers, attributes, nests, the controller's family reply). With the
//! `spec` feature, a family's YNL spec ([`Spec`]) names and types its
//! attributes: [`Message::decode`] turns received bytes into fields and
//! [`Spec::encode`] turns fields into a request.

#![deny(missing_docs)]

#[cfg(feature = "spec")]
pub mod byte_order;
#[cfg(feature = "spec")]
pub mod classic;
pub mod codec;
#[cfg(feature = "spec")]
pub mod definitions;
#[cfg(feature = "spec")]
mod encode;
#[cfg(feature = "spec")]
pub mod sample;
#[cfg(feature = "spec")]
pub mod schema;
#[cfg(feature = "spec")]
mod shown;
#[cfg(feature = "spec")]
pub mod spec;
#[cfg(feature = "spec")]
pub mod value;

#[cfg(feature = "spec")]
pub use definitions::{Checks, DisplayHint, EnumSet, Member, MemberKind, Render, Struct};
#[cfg(feature = "spec")]
pub use spec::{AttrKind, AttrSet, AttrSpec, Operation, Permission, Spec, SpecError};
#[cfg(feature = "spec")]
pub use value::{Fields, Message, Value};
