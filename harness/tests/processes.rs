//! A guest ends with its whole process tree, whichever way it ends.

#[macro_use]
mod common;

fn no_process_outlives_a_guest(kernel: &str) {
    common::adopt_orphans();
    let vm = common::boot(kernel, &[]);
    assert!(!kulink::process_tree::descendants(std::process::id()).is_empty(), "the guest runs below us");
    common::finish(vm);
    common::assert_no_process_left("after a shutdown");
    // The path of a failing or panicking test: the guest is dropped running.
    drop(common::boot(kernel, &[]));
    common::assert_no_process_left("after a guest was dropped");
}

matrix!(no_process_outlives_a_guest);
