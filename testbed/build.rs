//! Embeds what kulink needs at run time besides its own code: the kernel
//! catalog and fragments, kulink.ko's sources, and the workspace the guest
//! agents build from. A `kulink` installed with `cargo install` (or a test
//! crate that depends on kulink from elsewhere) then works outside the
//! checkout: `paths::repo_root` unpacks this copy into the cache.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// Trees of the workspace that go in, relative to its root.
const TREES: &[&str] = &[
    "kernel-config",
    "module",
    "protocol",
    "genl",
    "wire",
    "agent-core",
    "guest-agent",
    "testbed",
    "harness",
    "examples/udpcount/rust",
];
/// Single files of the workspace root that go in.
const FILES: &[&str] = &["Cargo.toml", "Cargo.lock", "rustfmt.toml"];
/// Parts of those trees no build needs: the harness tests' recorded runs and
/// modules. (The tests' sources stay: the harness's manifest names them.)
const SKIPPED: &[&str] = &["harness/tests/fixtures"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let mut files: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    for tree in TREES {
        println!("cargo:rerun-if-changed=../{tree}");
        walk(&root, Path::new(tree), &mut files);
    }
    for file in FILES {
        println!("cargo:rerun-if-changed=../{file}");
    }
    files.sort();
    let mut out = String::from("/// The embedded source tree: (path from the workspace root, contents).\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let abs = fs::canonicalize(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        writeln!(out, "    ({f:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(dest, out).unwrap();
}

/// Adds the source files under `rel` (build outputs and dot files left out).
fn walk(root: &Path, rel: &Path, files: &mut Vec<String>) {
    if SKIPPED.iter().any(|s| rel == Path::new(s)) {
        return;
    }
    let mut entries: Vec<_> =
        fs::read_dir(root.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display())).flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = rel.join(&name);
        if name.starts_with('.') || name == "target" || is_build_output(&name) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(root, &path, files);
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
}

fn is_build_output(name: &str) -> bool {
    [".o", ".ko", ".mod", ".mod.c", ".cmd", ".a"].iter().any(|x| name.ends_with(x))
        || matches!(name, "modules.order" | "Module.symvers" | "build.log")
}
