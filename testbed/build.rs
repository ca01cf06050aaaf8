//! Embeds what the testbed needs at run time besides its own code: the
//! kernel catalog and fragments, and the workspace the bare guest agent
//! builds from. An installed `kulink` (or a test crate that depends on
//! kulink from elsewhere) then works outside the checkout: `paths` unpacks
//! this copy into the cache.

include!("build/tree.rs");

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    Embed { trees: &["kernel-config", "protocol", "genl", "agent-core"], skipped: &[] }.write(&root);
}
