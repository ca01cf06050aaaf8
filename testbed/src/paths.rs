//! Where things live: the source tree and the build cache outside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};

use crate::cache::{self, Stamp};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The testbed's own sources: the kernel catalog and the workspace the bare
/// agent builds from.
pub static CORE: EmbeddedTree = EmbeddedTree::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."), embedded::FILES);

/// The source tree the catalog and the bare agent come from: [`CORE`]'s root.
pub fn repo_root() -> PathBuf {
    CORE.root()
}

/// A source tree a crate carries, written at build time by the build
/// scripts' shared embedding code (`testbed/build/tree.rs`).
pub struct EmbeddedTree {
    checkout: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    root: OnceLock<PathBuf>,
}

impl EmbeddedTree {
    /// The tree embedded as `files`, built in the workspace at `checkout`.
    pub const fn new(checkout: &'static str, files: &'static [(&'static str, &'static [u8])]) -> Self {
        Self { checkout, files, root: OnceLock::new() }
    }

    /// Where the tree is: `KULINK_REPO` when set; the checkout this code
    /// was built in when the program runs from that checkout's `target/`
    /// (development, the suite); otherwise the embedded copy, unpacked into
    /// the cache (an installed `kulink`, a test crate elsewhere), so that
    /// what the program builds always matches what it was built from.
    pub fn root(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("KULINK_REPO") {
            return PathBuf::from(p);
        }
        self.root
            .get_or_init(|| {
                let checkout = PathBuf::from(self.checkout);
                if runs_from(&checkout) {
                    return checkout;
                }
                self.unpack().unwrap_or_else(|e| {
                    eprintln!("kulink: cannot unpack its sources into the cache ({e:#}); using {}", checkout.display());
                    checkout
                })
            })
            .clone()
    }

    /// The embedded tree under `<cache>/source/<hash>`, written once.
    pub fn unpack(&self) -> Result<PathBuf> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for (path, data) in self.files {
            parts.extend([path.as_bytes(), data]);
        }
        let dir = checked_cache_dir()?.join("source").join(cache::short_hash(&parts));
        fs::create_dir_all(dir.parent().expect("under the cache"))?;
        let _lock = cache::lock(&sibling(&dir, "lock"), "kulink's sources")?;
        if Stamp::unpacked(&dir).exists() {
            return Ok(dir);
        }
        let _ = fs::remove_dir_all(&dir);
        for (path, data) in self.files {
            let file = dir.join(path);
            fs::create_dir_all(file.parent().expect("a file has a parent"))?;
            fs::write(&file, data).with_context(|| format!("write {}", file.display()))?;
        }
        Stamp::unpacked(&dir).write(&format!("{} files", self.files.len()))?;
        Ok(dir)
    }
}

/// Whether this program is a build in `checkout`'s own target directory.
fn runs_from(checkout: &Path) -> bool {
    let target = checkout.join("target").canonicalize();
    let exe = std::env::current_exe().and_then(|e| e.canonicalize());
    matches!((target, exe), (Ok(target), Ok(exe)) if exe.starts_with(&target))
}

/// Whether `root` is an embedded tree unpacked by [`EmbeddedTree::unpack`].
pub fn is_unpacked(root: &Path) -> bool {
    Stamp::unpacked(root).exists()
}

/// Build cache shared by every clone: `KULINK_CACHE`, else `$XDG_CACHE_HOME/kulink`,
/// else `~/.cache/kulink`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KULINK_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache"));
    base.join("kulink")
}

/// [`cache_dir`], checked to be usable: a `KULINK_CACHE` that names
/// something other than a directory is an error that names the variable.
pub fn checked_cache_dir() -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    if dir.exists() && !dir.is_dir() {
        let from = if std::env::var_os("KULINK_CACHE").is_some() { "KULINK_CACHE" } else { "the cache path" };
        anyhow::bail!(
            "{from}={} is not a directory: point KULINK_CACHE at a directory kulink may fill, or unset it",
            dir.display()
        );
    }
    Ok(dir)
}

/// `path` with `.suffix` appended: a lock, temporary or partial file beside
/// it. (`with_extension` would cut names like `6.1-6.1.192-2-ab12` at their
/// last dot and let different builds share one lock.)
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_that_is_a_file_names_kulink_cache() {
        // SAFETY (env): nextest runs each test in a process of its own.
        std::env::set_var("KULINK_CACHE", "/etc/passwd");
        let msg = format!("{:#}", checked_cache_dir().unwrap_err());
        std::env::remove_var("KULINK_CACHE");
        assert!(msg.starts_with("KULINK_CACHE=/etc/passwd is not a directory"), "{msg}");
    }

    #[test]
    fn the_embedded_tree_holds_what_runs_build_from() {
        std::env::set_var("KULINK_CACHE", std::env::temp_dir().join(format!("kulink-embed-{}", std::process::id())));
        let dir = CORE.unpack().unwrap();
        assert_eq!(CORE.unpack().unwrap(), dir, "unpacked once, under the hash of its contents");
        let checkout = Path::new(CORE.checkout);
        for file in ["Cargo.lock", "kernel-config/kernels.toml", "agent-core/src/main.rs", "genl/src/lib.rs"] {
            let (built, embedded) = (fs::read(checkout.join(file)).unwrap(), fs::read(dir.join(file)).unwrap());
            assert_eq!(built, embedded, "{file}");
        }
        // The core alone: the catalog and what the bare agent builds from.
        let mut top: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        top.sort();
        let want = [".kulink-complete", "Cargo.lock", "Cargo.toml", "agent-core", "genl", "kernel-config", "protocol"];
        assert_eq!(top, [&want[..], &["rustfmt.toml"]].concat());
        // Every manifest of the copy parses: cargo builds the agents in it.
        let metadata = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .output()
            .unwrap();
        assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
        assert!(is_unpacked(&dir) && !is_unpacked(checkout));
        let _ = fs::remove_dir_all(cache_dir());
        std::env::remove_var("KULINK_CACHE");
    }

    #[test]
    fn siblings_keep_the_whole_name() {
        let p = Path::new("/c/kernels/6.1-6.1.192-2-ab12");
        assert_eq!(sibling(p, "lock"), Path::new("/c/kernels/6.1-6.1.192-2-ab12.lock"));
        assert_ne!(sibling(p, "lock"), sibling(Path::new("/c/kernels/6.1-6.1.190-1-ab12"), "lock"));
    }
}
