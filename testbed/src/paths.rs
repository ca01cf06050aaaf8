//! Where things live: the source tree and the build cache outside it.

use std::path::{Path, PathBuf};

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
    fn siblings_keep_the_whole_name() {
        let p = Path::new("/c/kernels/6.1-6.1.192-2-ab12");
        assert_eq!(sibling(p, "lock"), Path::new("/c/kernels/6.1-6.1.192-2-ab12.lock"));
        assert_ne!(sibling(p, "lock"), sibling(Path::new("/c/kernels/6.1-6.1.190-1-ab12"), "lock"));
    }
}
