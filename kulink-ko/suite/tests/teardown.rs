//! What a guest leaves behind when it ends, whichever way it ends: no
//! process, and its evidence only when something failed.

mod common;

use kulink::testbed::transcript::Line;
use kulink::testbed::vm::TRANSCRIPT;
use kulink_ko_contract::extension::{AgentMsg, Command, CoreCommand, KulinkKo, Request};
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject;
use kulink_ko_suite::plan::Plan;

fn no_process_outlives_a_guest(kernel: &str) {
    common::adopt_orphans();
    let vm = common::boot(kernel, &[]);
    assert!(!kulink::testbed::process_tree::descendants(std::process::id()).is_empty(), "the guest runs below us");
    common::finish(vm);
    common::assert_no_process_left("after a shutdown");
    // The path of a failing or panicking test: the guest is dropped running.
    drop(common::boot(kernel, &[]));
    common::assert_no_process_left("after a guest was dropped");
}

/// A failed run keeps the console log, the agent's transcript and the plan;
/// a passing one leaves nothing.
fn a_failed_run_keeps_its_evidence(kernel: &str) {
    let vm = common::boot(kernel, &[]);
    let (passing, not_kept) = (vm.dir().to_owned(), vm.evidence_dir().to_owned());
    common::finish(vm);
    assert!(!passing.exists(), "a passing guest's directory is removed");
    assert!(!not_kept.exists(), "a passing guest keeps no evidence");

    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::silent(vm.wire());
    inject::inject(&mut vm, &plan, &[inject::multicast()], false).unwrap();
    vm.stats().unwrap();
    let (run, dir) = (vm.dir().to_owned(), vm.evidence_dir().to_owned());
    vm.keep_evidence();
    drop(vm);
    assert!(!run.exists(), "the run directory in the temp dir goes with the guest");
    assert!(dir.starts_with(kulink::testbed::vm::evidence_root()), "kept under the cache: {}", dir.display());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(read("console.log").contains("kulink-agent: ready"), "the console log");
    // The agent's messages and the requests, in order, as JSON lines.
    let transcript: Vec<Line<KulinkKo>> = Line::read_all(&dir.join(TRANSCRIPT)).unwrap();
    let position = |want: &dyn Fn(&Line<KulinkKo>) -> bool| transcript.iter().position(want);
    let ready = position(&|l| matches!(l, Line::Agent(AgentMsg::Ready(_))));
    // A guest restored from a saved one was told so first: the request's
    // id is whatever came next.
    let asked = position(&|l| matches!(l, Line::Host(Request { cmd: CoreCommand::Ext { ext: Command::Stats }, .. })));
    let id = asked.and_then(|i| match &transcript[i] {
        Line::Host(request) => Some(request.id),
        _ => None,
    });
    let answered =
        position(&|l| matches!(l, Line::Agent(AgentMsg::Reply { id: got, result: Ok(_) }) if Some(*got) == id));
    assert!(ready < asked && asked < answered && ready.is_some(), "{transcript:#?}");
    let frames = read("plan.txt");
    assert_eq!(frames.lines().count(), plan.injections.len(), "{frames}");
    assert!(frames.lines().last().is_some_and(|l| l.starts_with("marker echo request")), "{frames}");
    std::fs::remove_dir_all(&dir).unwrap();
}

kulink::kernel_tests!(
    source: no_process_outlives_a_guest, a_failed_run_keeps_its_evidence);
