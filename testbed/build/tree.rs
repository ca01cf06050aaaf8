// Embedding a part of the workspace into a crate, shared by the build
// scripts of the crates that carry sources (the testbed's core, a suite that
// builds its own module and agent). Build scripts cannot share a module, so
// each `include!`s this file.
//
// The copy holds the listed trees and files, and a workspace manifest whose
// members are only the embedded crates, so that cargo builds an agent in an
// unpacked copy as it does in the checkout.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// What one crate embeds, relative to the workspace root.
struct Embed<'a> {
    /// Directories copied whole (build outputs and dot files left out).
    trees: &'a [&'a str],
    /// Parts of those trees no build needs.
    skipped: &'a [&'a str],
}

impl Embed<'_> {
    /// Writes `$OUT_DIR/embedded.rs`: `FILES`, every (path, contents).
    fn write(&self, root: &Path) {
        let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
        let mut files = Vec::new();
        for tree in self.trees {
            println!("cargo:rerun-if-changed={}", root.join(tree).display());
            self.walk(root, Path::new(tree), &mut files);
        }
        for file in ["Cargo.toml", "Cargo.lock", "rustfmt.toml"] {
            println!("cargo:rerun-if-changed={}", root.join(file).display());
        }
        let manifest = out_dir.join("Cargo.toml");
        fs::write(&manifest, self.manifest(root)).unwrap();
        let mut entries: Vec<(String, PathBuf)> =
            files.iter().map(|f| (f.clone(), fs::canonicalize(root.join(f)).unwrap())).collect();
        entries.push(("Cargo.toml".into(), manifest));
        for file in ["Cargo.lock", "rustfmt.toml"] {
            entries.push((file.into(), fs::canonicalize(root.join(file)).unwrap()));
        }
        entries.sort();
        let mut out = String::from("/// The embedded source tree: (path from the workspace root, contents).\n");
        out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
        for (path, abs) in &entries {
            writeln!(out, "    ({path:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
        }
        out.push_str("];\n");
        fs::write(out_dir.join("embedded.rs"), out).unwrap();
    }

    /// The workspace manifest with only the embedded crates as members.
    fn manifest(&self, root: &Path) -> String {
        let text = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let start = text.find("members = [").expect("the workspace lists its members");
        let end = start + text[start..].find(']').expect("the member list ends");
        let members: Vec<&str> = text[start..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next()))
            .filter(|m| self.trees.iter().any(|t| t == m) && root.join(m).join("Cargo.toml").is_file())
            .collect();
        let list: String = members.iter().map(|m| format!("    {m:?},\n")).collect();
        format!("{}members = [\n{list}{}", &text[..start], &text[end..])
    }

    fn walk(&self, root: &Path, rel: &Path, files: &mut Vec<String>) {
        if self.skipped.iter().any(|s| rel == Path::new(s)) {
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
                self.walk(root, &path, files);
            } else {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
}

fn is_build_output(name: &str) -> bool {
    [".o", ".ko", ".mod", ".mod.c", ".cmd", ".a"].iter().any(|x| name.ends_with(x))
        || matches!(name, "modules.order" | "Module.symvers" | "build.log")
}
