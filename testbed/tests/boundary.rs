//! The rooms keep apart. The testbed core knows no module: its crates do
//! not depend on kulink.ko's crates or on the library above it, and their
//! sources (build scripts included) do not name kulink.ko. The library a
//! module author depends on does not depend on or name any of kulink.ko's
//! crates or files either. The dependency rule is what the compiler
//! enforces; the text rule keeps sources and docs honest.

use std::path::{Path, PathBuf};

/// kulink.ko's crates: its contract, its agent plug-in and its suite.
const KULINK_KO_CRATES: [&str; 3] = ["kulink-ko-contract", "kulink-ko-agent", "kulink-ko-suite"];

/// A room, what it must not depend on, and what its sources must not say.
struct Room {
    crates: &'static [&'static str],
    forbidden_deps: &'static [&'static str],
    forbidden_words: &'static [&'static str],
}

const CORE: Room = Room {
    crates: &["protocol", "genl", "agent-core", "testbed"],
    forbidden_deps: &["kulink-ko-contract", "kulink-ko-agent", "kulink-ko-suite", "kulink", "kulink-cli"],
    forbidden_words: &["kulink.ko", "kulink_ko", "kulink-ko"],
};

const LIBRARY: Room = Room {
    crates: &["kulink"],
    forbidden_deps: &["kulink-ko-contract", "kulink-ko-agent", "kulink-ko-suite", "kulink-cli", "plotters"],
    forbidden_words: &["kulink_ko", "kulink-ko"],
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Rust sources under `dir`, and the build script beside `src`.
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

fn room_sources(room: &Room) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in room.crates {
        let dir = root().join(krate);
        sources(&dir.join("src"), &mut files);
        for extra in ["build.rs", "build"] {
            let path = dir.join(extra);
            if path.is_dir() {
                sources(&path, &mut files);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files
}

fn check_deps(room: &Room) {
    for krate in room.crates {
        let manifest = root().join(krate).join("Cargo.toml");
        let doc: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = doc.get(section).and_then(|d| d.as_table()) else { continue };
            for name in deps.keys() {
                assert!(!room.forbidden_deps.contains(&name.as_str()), "{}: {section} has {name}", manifest.display());
            }
        }
    }
}

fn check_words(room: &Room, least: usize) {
    let files = room_sources(room);
    assert!(files.len() >= least, "found the room's sources: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in room.forbidden_words {
            assert!(!text.contains(word), "{} names {word}", file.display());
        }
    }
}

#[test]
fn core_crates_do_not_depend_on_the_library_or_kulink_ko() {
    check_deps(&CORE);
}

#[test]
fn core_sources_and_build_scripts_do_not_name_kulink_ko() {
    check_words(&CORE, 40);
    assert!(room_sources(&CORE).iter().any(|f| f.ends_with("testbed/build.rs")), "the build script is read");
}

#[test]
fn the_library_does_not_depend_on_kulink_ko_or_its_chart() {
    check_deps(&LIBRARY);
}

#[test]
fn the_library_s_sources_do_not_name_kulink_ko_s_crates() {
    check_words(&LIBRARY, 10);
}

/// The crates the rules name are the workspace's: a renamed crate cannot
/// slip past them.
#[test]
fn every_crate_named_here_is_in_the_workspace() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml")).unwrap().parse().unwrap();
    let members: Vec<String> = manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let dir = root().join(m.as_str().unwrap());
            let package: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
            package["package"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    for name in KULINK_KO_CRATES.iter().chain(["kulink", "kulink-cli"].iter()) {
        assert!(members.iter().any(|m| m == name), "{name} is not a workspace crate: {members:?}");
    }
    for krate in CORE.crates.iter().chain(LIBRARY.crates) {
        assert!(root().join(krate).join("Cargo.toml").is_file(), "{krate}");
    }
}
