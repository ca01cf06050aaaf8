//! Shared set-up for the end-to-end tests: real kernel, real QEMU, real module.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::sync::OnceLock;

use kulink::artifacts::{Artifacts, KernelChoice};
use kulink::vm::{BootOptions, Vm};

/// Kernel, module and agent, prepared once per test process. `KULINK_KERNEL`
/// picks a kernel id from kernel-config/kernels.toml (default: the default one).
pub fn artifacts() -> &'static Artifacts {
    static ART: OnceLock<Artifacts> = OnceLock::new();
    ART.get_or_init(|| {
        let id = std::env::var("KULINK_KERNEL").ok();
        Artifacts::prepare(&KernelChoice::Listed(id)).unwrap_or_else(|e| panic!("cannot prepare the guest: {e:#}"))
    })
}

pub fn boot(subscribers: &[&str]) -> Vm {
    let opts = BootOptions { subscribers: subscribers.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    Vm::boot(artifacts(), &opts).unwrap_or_else(|e| panic!("boot failed: {e:#}"))
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
