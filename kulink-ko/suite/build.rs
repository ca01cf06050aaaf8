//! Embeds kulink.ko's sources (its module, its contract and agent plug-in,
//! the corpus) with the core crates its agent builds on, so that an
//! installed `kulink run` builds what it was built from.

include!("../../testbed/build/tree.rs");

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let trees = [
        "protocol",
        "genl",
        "agent-core",
        "kulink-ko/module",
        "kulink-ko/contract",
        "kulink-ko/agent",
        "kulink-ko/corpus",
    ];
    Embed { trees: &trees, skipped: &[] }.write(&root);
}
