//! kulinkfs: the module's own file system, `log` and `stats` read with cat.

mod common;

use kulink_ko_contract::extension::KULINKFS_DIR;
use kulink_ko_contract::Channel;
use kulink_ko_contract::Stats;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::Plan;

fn kulinkfs_log_and_stats(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 16);
    // Every push channel done (usermode helpers last), so counters are still.
    inject::inject(&mut vm, &plan, &inject::push_listeners(), false).unwrap();
    let events = vm.collect(Channel::Kulinkfs).unwrap();
    common::assert_delivered(&vm, &plan, &events, &listener(Channel::Kulinkfs));
    let text = vm.read_file(&format!("{KULINKFS_DIR}/stats")).unwrap();
    assert_eq!(Stats::parse_text(&text).unwrap(), vm.stats().unwrap());
    let mounts = vm.read_file("/proc/mounts").unwrap();
    assert!(mounts.lines().any(|l| l.contains(&format!(" {KULINKFS_DIR} kulinkfs "))), "{mounts}");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: kulinkfs_log_and_stats);
