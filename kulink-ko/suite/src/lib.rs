//! kulink.ko's suite: the first user of kulink's library, built on its
//! public API alone, as a module author's test crate is.
//!
//! [`guest`] is kulink.ko's view of a guest (its module, its agent plug-in
//! and its channels); [`plan`] says what to send and [`receive_rules`] what
//! the kernel does with each frame; [`inject`] sends it; [`event_verdict`],
//! [`config_verdict`] and [`report`] judge what came back; [`run`] is the
//! main job end to end and [`record`] keeps it for `kulink report`;
//! [`corpus`] holds the malformed frames; [`flood`] floods the module with
//! a slow consumer and accounts for every drop; [`mod@bench`] measures it;
//! [`output`] renders every result.

#![deny(missing_docs)]

pub mod bench;
pub mod config_verdict;
pub mod corpus;
pub mod event_verdict;
pub mod flood;
pub mod guest;
pub mod inject;
pub mod output;
pub mod plan;
pub mod receive_rules;
pub mod record;
pub mod report;
pub mod run;

use std::path::PathBuf;

use kulink::testbed::paths::EmbeddedTree;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// kulink.ko's sources (its module, contract, agent plug-in and corpus)
/// with the core its agent builds on.
static SOURCES: EmbeddedTree = EmbeddedTree::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), embedded::FILES);

/// The workspace kulink.ko's module, agent and corpus come from: the
/// checkout, or (for an installed `kulink`) the copy this crate carries.
pub fn source_root() -> PathBuf {
    SOURCES.root()
}

/// kulink.ko's directory in [`source_root`].
pub fn project_dir() -> PathBuf {
    source_root().join("kulink-ko")
}
