//! Shared set-up for the end-to-end tests: real kernel, real QEMU, real module.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use kulink::testbed::artifacts::{Artifacts, KernelChoice};
use kulink_ko_suite::guest::{self, Guest};

/// Kernel, module and agent for a kernel id, prepared once per test process.
pub fn artifacts(kernel: &str) -> &'static Artifacts {
    static ART: Mutex<Option<HashMap<String, &'static Artifacts>>> = Mutex::new(None);
    let mut map = ART.lock().unwrap_or_else(|e| e.into_inner());
    map.get_or_insert_with(HashMap::new).entry(kernel.to_owned()).or_insert_with(|| {
        let art = guest::prepare(&KernelChoice::Listed(Some(kernel.to_owned())))
            .unwrap_or_else(|e| panic!("cannot prepare the guest for kernel {kernel}: {e:#}"));
        Box::leak(Box::new(art))
    })
}

/// A module of the library's tests, in `kulink/tests/fixtures/modules`.
pub fn fixture_module(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kulink/tests/fixtures/modules").join(name)
}

/// The kernel is built with the debug fragment (KASAN, lockdep,
/// kmemleak): the one where the reliability tests work hardest.
pub fn is_debug(kernel: &str) -> bool {
    kulink::testbed::kernels::find(kernel).unwrap().fragments.iter().any(|f| f == "debug.config")
}

/// The `event` nests of the EVENT messages among `messages`, as the spec
/// decodes them to JSON.
pub fn spec_events(messages: &[kulink::testbed::genl::Message]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .filter(|m| m.op == "event")
        .flat_map(|m| m.to_json()["attrs"]["event"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A fresh directory for one test's files, under the temp dir.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kulink-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn boot(kernel: &str, subscribers: &[&str]) -> Guest {
    let names: Vec<String> = subscribers.iter().map(|s| s.to_string()).collect();
    let builder = guest::with_subscribers(guest::builder(KernelChoice::Listed(Some(kernel.to_owned()))), &names);
    builder.boot_prepared(artifacts(kernel)).unwrap_or_else(|e| panic!("boot failed on kernel {kernel}: {e:#}"))
}

/// Powers the guest off and fails on any kernel splat in its console log.
pub fn finish(vm: Guest) {
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
    vm: &Guest,
    plan: &kulink_ko_suite::plan::Plan,
    events: &[kulink_ko_suite::guest::Received],
    listener: &kulink_ko_suite::guest::Listener,
) {
    let r = kulink_ko_suite::event_verdict::check(listener, &plan.expected(), events, vm.ready().eth0_ifindex);
    assert!(r.passed, "{listener:?}: {r:#?}");
    assert_eq!(r.matched, plan.expected().len());
}

/// The events `/init --kulink-consumer` printed, one JSON line each after
/// its `ready`.
pub fn printed_events(stdout: &str) -> Vec<kulink_ko_contract::Event> {
    stdout.lines().skip(1).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))).collect()
}

/// (ICMP type, echo id, echo seq) of each event: how pings are compared.
pub fn pings(events: &[kulink_ko_contract::Event]) -> Vec<(u8, u16, u16)> {
    events.iter().map(|e| (e.icmp_type, e.echo_id, e.echo_seq)).collect()
}

/// What `count` pings of 127.0.0.1 with `id` give: each request and the
/// kernel's reply to it, sorted as [`sorted_pings`] sorts. How requests and
/// replies interleave depends on when the loopback softirq runs.
pub fn loopback_pings(id: u16, count: u16) -> Vec<(u8, u16, u16)> {
    (1..=count).flat_map(|seq| [(8, id, seq), (0, id, seq)]).collect()
}

/// [`pings`], by echo seq, each request before its reply.
pub fn sorted_pings(events: &[kulink_ko_contract::Event]) -> Vec<(u8, u16, u16)> {
    let mut got = pings(events);
    got.sort_by_key(|&(ty, id, seq)| (seq, std::cmp::Reverse(ty), id));
    got
}

/// Kernel sequence numbers rise: the events arrived in the kernel's order.
pub fn in_kernel_order(events: &[kulink_ko_contract::Event]) -> bool {
    events.windows(2).all(|w| w[0].seq < w[1].seq)
}

/// Collects every mismatch of a probe before failing, so one run shows
/// each defect rather than only the first.
#[derive(Default)]
pub struct Mismatches(Vec<String>);

impl Mismatches {
    pub fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: &T, want: &T) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    pub fn assert_none(self, context: &str) {
        assert!(self.0.is_empty(), "{context}:\n{}", self.0.join("\n"));
    }
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
