//! Shared set-up for the library's end-to-end tests: modules of their own.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

/// A module of the tests' own, in `tests/fixtures/modules`.
pub fn fixture_module(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modules").join(name)
}

/// Makes this test process the reaper of every orphan below it.
pub fn adopt_orphans() {
    kulink::testbed::process_tree::adopt_orphans().expect("PR_SET_CHILD_SUBREAPER");
}

/// Fails if any process below this one is still there (see [`adopt_orphans`]).
pub fn assert_no_process_left(when: &str) {
    let left = kulink::testbed::process_tree::left_behind();
    assert!(left.is_empty(), "{when}, these processes are left:\n{}", left.join("\n"));
}
