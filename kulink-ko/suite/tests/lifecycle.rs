//! kulink.ko's life over and over: unloaded and loaded 100 times while
//! echo requests keep arriving (1000 a second; 100 on the debug kernel)
//! and a multicast listener is attached, then a kmemleak scan (debug kernel,
//! booted with kmemleak=on) that must find nothing. And an unload while
//! the agent holds /dev/kulink open and mapped, with a signal registration
//! and unicast subscribers, is refused, and every channel goes on.

mod common;

use std::time::{Duration, Instant};

use kulink::lifecycle::{self, Cycles};
use kulink::testbed::frames;
use kulink::testbed::genl::{Message, Spec};
use kulink::testbed::protocol::GenlDelivery;
use kulink::testbed::vm::decode_deliveries;
use kulink::GuestBuilder;
use kulink_ko_contract::{Channel, Stats};
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::Plan;

/// The echo-id and echo-seq of each event the subscriptions carried.
fn echoes(messages: &[Message]) -> Vec<(u64, u64)> {
    common::spec_events(messages)
        .iter()
        .map(|e| (e["echo-id"].as_u64().unwrap_or(0), e["echo-seq"].as_u64().unwrap_or(0)))
        .collect()
}

fn kulink_ko_cycles_under_traffic_and_leaks_nothing(kernel: &str) {
    let debug = common::is_debug(kernel);
    // A cycle on the debug kernel (KASAN, lockdep, kmemleak tracking every
    // allocation) takes about 6 s under TCG: 30 of them stay within the
    // suite's ten minutes, with the two leak scans after.
    let count = if debug { 30 } else { 100 };
    let mut guest = GuestBuilder::kernel_id(kernel).module(kulink_ko_suite::project_dir().join("module"));
    if debug {
        guest = guest.kernel_arg("kmemleak=on");
    }
    let mut vm = guest.boot().unwrap();
    if debug {
        lifecycle::clear_leaks(&mut vm).unwrap();
    }
    vm.genl_subscribe("kulink", "events").unwrap();
    let traffic: Vec<Vec<u8>> = (1..=16).map(|seq| frames::echo_request(vm.wire(), 0x1c1c, seq, 32)).collect();
    // The debug kernel under TCG takes about 150 frames a second at most:
    // more would only queue, and slow every cycle down.
    let rate = if debug { 100 } else { 1000 };
    let cycles = Cycles { count, traffic, rate };
    let started = Instant::now();
    let mut seen = Vec::new();
    let report = lifecycle::cycle(&mut vm, &cycles, "", |vm, _| {
        // Each load's hook sees the traffic, counted from nothing.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let packets = Stats::parse_text(&vm.read_file("/proc/kulink/stats")?)?.packets_seen;
            if packets > 0 || Instant::now() > deadline {
                seen.push(packets);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .unwrap();
    println!("{kernel}: {count} cycles took {:?}", started.elapsed());
    assert_eq!((report.cycles, seen.len()), (count, count as usize));
    assert!(seen.iter().all(|&n| n > 0), "packets each load saw: {seen:?}");
    assert!(report.frames_sent >= u64::from(count), "{report:?}");

    // The last load works: a new listener gets exactly a new burst, in
    // order (unloading ended the first listener's membership).
    let spec = Spec::load(&kulink_ko_suite::project_dir().join("module/kulink.yaml")).unwrap();
    vm.genl_subscribe("kulink", "events").unwrap();
    for seq in 1..=8 {
        vm.send_frame(&frames::echo_request(vm.wire(), 0x1c1d, seq, 32)).unwrap();
    }
    let order = vm.byte_order();
    let burst = |got: &[GenlDelivery]| {
        let messages = decode_deliveries(&spec.name, Some(&spec), order, got).unwrap_or_default();
        echoes(&messages).into_iter().filter(|(id, _)| *id == 0x1c1d).collect::<Vec<_>>()
    };
    vm.collect_genl_until(Duration::from_secs(20), |got| burst(got).len() >= 8).unwrap();
    assert_eq!(burst(vm.genl_deliveries()), (1..=8).map(|s| (0x1c1d, s)).collect::<Vec<_>>());

    if debug {
        let started = Instant::now();
        let leaks = lifecycle::scan_leaks(&mut vm).unwrap();
        println!("{kernel}: two kmemleak scans took {:?}", started.elapsed());
        lifecycle::check_no_leaks(&leaks).unwrap();
    }
    let finished = vm.power_off().unwrap();
    assert!(finished.splats.is_empty(), "{:#?}", finished.splats);
    println!("{kernel}: {report:?}");
}

/// The agent holds /dev/kulink open and mapped, registered for signals,
/// and has a unicast subscriber: the unload is refused (the device's file
/// operations pin the module) and nothing is lost.
fn unloading_kulink_ko_in_use_is_refused_and_harmless(kernel: &str) {
    let mut vm = common::boot(kernel, &["a"]);
    let err = format!("{:#}", vm.unload_module().unwrap_err());
    assert!(err.contains("EAGAIN") || err.contains("EBUSY") || err.contains("temporarily unavailable"), "{err}");
    let plan = Plan::standard(vm.wire(), 16);
    let listeners = [listener(Channel::Chardev), listener(Channel::MmapRing), listener(Channel::SignalSigio)];
    let events = inject::inject(&mut vm, &plan, &listeners, false).unwrap().events;
    for l in &listeners {
        common::assert_delivered(&vm, &plan, &events, l);
    }
    common::finish(vm);
}

/// The scan can fail: a module that loses 1234 bytes at load is caught,
/// alone, after boot's own suspects were cleared. Where kmemleak is not built in, the scan says how to get it.
fn the_leak_scan_finds_a_lost_allocation(kernel: &str) {
    let debug = common::is_debug(kernel);
    let guest = GuestBuilder::kernel_id(kernel).module(common::fixture_module("leaker")).load_at_boot(false);
    let mut vm = guest.kernel_arg("kmemleak=on").boot().unwrap();
    if !debug {
        let err = format!("{:#}", lifecycle::clear_leaks(&mut vm).unwrap_err());
        assert!(err.contains("CONFIG_DEBUG_KMEMLEAK") && err.contains("kmemleak=on"), "{err}");
        vm.power_off().unwrap();
        return;
    }
    lifecycle::clear_leaks(&mut vm).unwrap();
    vm.load_module("").unwrap();
    let leaks = lifecycle::scan_leaks(&mut vm).unwrap();
    // kmemleak gives the slab object's size (kmalloc-2k); the module's
    // init code is freed by then, so its frame is a bare address.
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    assert!((1234..=2048).contains(&leaks[0].size), "{leaks:#?}");
    assert!(leaks[0].backtrace.iter().any(|f| f.starts_with("kmalloc")), "{leaks:#?}");
    assert!(lifecycle::check_no_leaks(&leaks).is_err());
    vm.power_off().unwrap();
}

kulink::kernel_tests!(
    source: kulink_ko_cycles_under_traffic_and_leaks_nothing,
    unloading_kulink_ko_in_use_is_refused_and_harmless,
    the_leak_scan_finds_a_lost_allocation
);
