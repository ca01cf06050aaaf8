//! The testbed core knows no module: its crates do not depend on kulink.ko's
//! contract (`kulink-wire`) or its agent, and their sources do not name it.
//! The dependency rule is what the compiler enforces; the text rule keeps
//! the docs honest.

use std::path::{Path, PathBuf};

/// The crates of the core, from the workspace root.
const CORE: [&str; 3] = ["protocol", "agent-core", "testbed"];
/// What a core crate must not depend on.
const SUITE_CRATES: [&str; 3] = ["kulink-wire", "kulink-agent", "kulink"];
/// What core sources must not say.
const SUITE_WORDS: [&str; 3] = ["kulink.ko", "kulink_wire", "kulink-wire"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_crates_do_not_depend_on_the_suite() {
    for krate in CORE {
        let manifest = root().join(krate).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = doc.get(section).and_then(|d| d.as_table()) else { continue };
            for name in deps.keys() {
                assert!(!SUITE_CRATES.contains(&name.as_str()), "{}: {section} has {name}", manifest.display());
            }
        }
    }
}

#[test]
fn core_sources_do_not_name_the_suite() {
    let mut files = Vec::new();
    for krate in CORE {
        sources(&root().join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 20, "found the core's sources: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in SUITE_WORDS {
            assert!(!text.contains(word), "{} names {word}", file.display());
        }
    }
}
