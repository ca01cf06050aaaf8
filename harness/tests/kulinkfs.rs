//! kulinkfs: the module's own file system, `log` and `stats` read with cat.

mod common;

use kulink::guest::KulinkGuest;
use kulink::plan::Plan;
use kulink::session::{self, listener};
use kulink_wire::control::KULINKFS_DIR;
use kulink_wire::Channel;
use kulink_wire::Stats;

fn kulinkfs_log_and_stats(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    // Every push channel done (usermode helpers last), so counters are still.
    session::inject(&mut vm, &plan, &session::push_listeners(), false).unwrap();
    let events = vm.collect(Channel::Kulinkfs).unwrap();
    common::assert_delivered(&vm, &plan, &events, &listener(Channel::Kulinkfs));
    let text = vm.read_file(&format!("{KULINKFS_DIR}/stats")).unwrap();
    assert_eq!(Stats::parse_text(&text).unwrap(), vm.stats().unwrap());
    let mounts = vm.read_file("/proc/mounts").unwrap();
    assert!(mounts.lines().any(|l| l.contains(&format!(" {KULINKFS_DIR} kulinkfs "))), "{mounts}");
    common::finish(vm);
}

kulink::kernel_tests!(kulinkfs_log_and_stats);
