//! Where things live: the source tree and the build cache outside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};

use crate::cache::{self, Stamp};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The kulink source tree the catalog, the suite's module and the agents come from:
/// `KULINK_REPO` when set; the checkout this code was built in when the
/// program runs from that checkout's `target/` (development, the suite);
/// otherwise the copy embedded at build time, unpacked into the cache (an
/// installed `kulink`, a test crate elsewhere), so that what the program
/// builds always matches what it was built from.
pub fn repo_root() -> PathBuf {
    if let Some(p) = std::env::var_os("KULINK_REPO") {
        return PathBuf::from(p);
    }
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let checkout = build_checkout();
        if runs_from(&checkout) {
            return checkout;
        }
        unpack_embedded().unwrap_or_else(|e| {
            eprintln!("kulink: cannot unpack its sources into the cache ({e:#}); using {}", checkout.display());
            checkout
        })
    })
    .clone()
}

fn build_checkout() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Whether this program is a build in `checkout`'s own target directory.
fn runs_from(checkout: &Path) -> bool {
    let target = checkout.join("target").canonicalize();
    let exe = std::env::current_exe().and_then(|e| e.canonicalize());
    matches!((target, exe), (Ok(target), Ok(exe)) if exe.starts_with(&target))
}

/// Whether `root` is an embedded tree unpacked by [`unpack_embedded`].
pub fn is_unpacked(root: &Path) -> bool {
    Stamp::unpacked(root).exists()
}

/// The embedded tree under `<cache>/source/<hash>`, written once.
pub fn unpack_embedded() -> Result<PathBuf> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for (path, data) in embedded::FILES {
        parts.extend([path.as_bytes(), data]);
    }
    let dir = checked_cache_dir()?.join("source").join(cache::short_hash(&parts));
    fs::create_dir_all(dir.parent().expect("under the cache"))?;
    let _lock = cache::lock(&sibling(&dir, "lock"), "kulink's sources")?;
    if Stamp::unpacked(&dir).exists() {
        return Ok(dir);
    }
    let _ = fs::remove_dir_all(&dir);
    for (path, data) in embedded::FILES {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().expect("a file has a parent"))?;
        fs::write(&file, data).with_context(|| format!("write {}", file.display()))?;
    }
    Stamp::unpacked(&dir).write(&format!("{} files", embedded::FILES.len()))?;
    Ok(dir)
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
        let dir = unpack_embedded().unwrap();
        assert_eq!(unpack_embedded().unwrap(), dir, "unpacked once, under the hash of its contents");
        for file in ["Cargo.lock", "kernel-config/kernels.toml", "module/Kbuild", "agent-core/src/main.rs"] {
            let (built, embedded) = (fs::read(build_checkout().join(file)).unwrap(), fs::read(dir.join(file)).unwrap());
            assert_eq!(built, embedded, "{file}");
        }
        assert!(!dir.join("harness/tests/fixtures").exists());
        // Every manifest of the copy parses: cargo builds the agents in it.
        let metadata = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .output()
            .unwrap();
        assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
        assert!(is_unpacked(&dir) && !is_unpacked(&build_checkout()));
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
