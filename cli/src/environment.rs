//! The environment variables kulink reads: one table, printed under
//! `--help` and held equal to docs/environment.md by a test.

/// (name, what it changes).
pub const VARIABLES: &[(&str, &str)] = &[
    ("KULINK_CACHE", "the build cache (default $XDG_CACHE_HOME/kulink or ~/.cache/kulink)"),
    ("KULINK_CATALOG", "a kernels.toml of your own, in place of kulink's catalog"),
    ("KULINK_DEBIAN_MIRROR", "the Debian mirror for kulink's private apt configuration (default: the host's)"),
    ("KULINK_KERNELS", "kernel ids to test, comma-separated; all by default"),
    ("KULINK_KERNEL", "one kernel id to test"),
    ("KULINK_SKIP_KERNELS", "kernel ids to leave out of the test matrix"),
    ("KULINK_SNAPSHOTS", "`off`: boot every guest instead of starting it from a saved one"),
    ("KULINK_COVERAGE", "a directory: every guest's modules built for coverage, their counts added to DIR/lcov.info"),
    ("KULINK_KEEP", "keep each guest's directory (console log, image, sockets)"),
    ("KULINK_AGENT", "a prebuilt guest agent instead of building it"),
    ("KULINK_REPO", "the kulink source tree, when the binary runs from elsewhere"),
    ("KULINK_BLESS", "rewrite kulink.ko's corpus files from the code that states them"),
];

/// The table as `--help` shows it.
pub fn help() -> String {
    let width = VARIABLES.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    VARIABLES.iter().map(|(name, what)| format!("  {name:<width$}  {what}\n")).collect()
}
