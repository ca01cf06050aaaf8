//! Where things live: the source tree and the build cache outside it.

use std::path::PathBuf;

/// The kulink source tree (`KULINK_REPO` overrides the build-time location).
pub fn repo_root() -> PathBuf {
    match std::env::var_os("KULINK_REPO") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")),
    }
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
