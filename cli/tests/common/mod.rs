//! Shared set-up for the command's tests.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root, where the examples and kulink.ko live.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The kernel is built with the debug fragment (KASAN, lockdep,
/// kmemleak): the one where the reliability tests work hardest.
pub fn is_debug(kernel: &str) -> bool {
    kulink::testbed::kernels::find(kernel).unwrap().fragments.iter().any(|f| f == "debug.config")
}

/// A fresh directory for one test's files, under the temp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kulink-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
