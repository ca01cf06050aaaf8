//! Shared set-up for the end-to-end tests: real kernel, real QEMU, real module.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use kulink::artifacts::{Artifacts, KernelChoice};
use kulink::vm::{BootOptions, Vm};

// `matrix!(test_fn, ...)`: one test per kernel in kernels.toml (build.rs).
include!(concat!(env!("OUT_DIR"), "/matrix.rs"));

/// Kernel, module and agent for a kernel id, prepared once per test process.
pub fn artifacts(kernel: &str) -> &'static Artifacts {
    static ART: Mutex<Option<HashMap<String, &'static Artifacts>>> = Mutex::new(None);
    let mut map = ART.lock().unwrap_or_else(|e| e.into_inner());
    map.get_or_insert_with(HashMap::new).entry(kernel.to_owned()).or_insert_with(|| {
        let art = Artifacts::prepare(&KernelChoice::Listed(Some(kernel.to_owned())))
            .unwrap_or_else(|e| panic!("cannot prepare the guest for kernel {kernel}: {e:#}"));
        Box::leak(Box::new(art))
    })
}

pub fn boot(kernel: &str, subscribers: &[&str]) -> Vm {
    let opts = BootOptions { subscribers: subscribers.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    Vm::boot(artifacts(kernel), &opts).unwrap_or_else(|e| panic!("boot failed on kernel {kernel}: {e:#}"))
}

/// Powers the guest off and fails on any kernel splat in its console log.
pub fn finish(vm: Vm) {
    let finished = vm.shutdown().unwrap_or_else(|e| panic!("shutdown failed: {e:#}"));
    assert!(
        finished.splats.is_empty(),
        "kernel log has splats: {:#?}\n--- console ---\n{}",
        finished.splats,
        finished.console
    );
}

/// Asserts that `listener` got exactly the plan's events, in order.
pub fn assert_delivered(
    vm: &Vm,
    plan: &kulink::plan::Plan,
    events: &[kulink::agent_link::Received],
    listener: &kulink::agent_link::Listener,
) {
    let r = kulink::verify::check(listener, &plan.expected(), events, vm.ready.eth0_ifindex);
    assert!(r.passed, "{listener:?}: {r:#?}");
    assert_eq!(r.matched, plan.expected().len());
}
