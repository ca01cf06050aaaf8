//! udpcount on every kernel of the catalog, through kulink's library: UDP
//! datagrams sent on the wire, the notifications they cause decoded by the
//! YNL spec and compared field by field, requests by operation name, the
//! sysfs knob, loading and unloading, and a clean kernel log.

use std::time::Duration;

use kulink::testbed::frames;
use kulink::{GuestBuilder, ModuleGuest};
use serde_json::json;
use udpcount_tests::{as_json, count, module_dir, spec};

/// How long notifications may take to come once their datagrams are sent.
const NOTIFY_WAIT: Duration = Duration::from_secs(20);
/// Listening this much longer shows one notification too many.
const QUIET: Duration = Duration::from_millis(500);

fn boot(guest: GuestBuilder, kernel: &str) -> ModuleGuest {
    guest.boot().unwrap_or_else(|e| panic!("boot on kernel {kernel}: {e:#}"))
}

/// One datagram to each port, in order.
fn send_to(guest: &ModuleGuest, ports: &[u16]) {
    let wire = *guest.wire();
    for &port in ports {
        guest.send_frame(&frames::udp_datagram(&wire, port, b"udpcount")).unwrap();
    }
}

/// The notifications recorded so far once `want` came, and after a quiet
/// moment (so one too many would be among them).
fn notifications(guest: &mut ModuleGuest, want: usize) -> Vec<serde_json::Value> {
    guest.collect_genl_until(NOTIFY_WAIT, |got| got.len() >= want).unwrap();
    guest.collect_genl_until(QUIET, |_| false).unwrap();
    as_json(&guest.genl_messages(&spec()).unwrap())
}

fn finish(guest: ModuleGuest) {
    guest.shutdown().unwrap().check().unwrap();
}

/// every=2: each port notifies at its 2nd, 4th, ... datagram, in the order
/// the datagrams came; `get` answers one port (and refuses no port) and
/// dumps every port seen.
fn each_port_notifies_at_every_multiple(kernel: &str) {
    let mut guest = boot(GuestBuilder::kernel_id(kernel).module(module_dir()).param("every", "2"), kernel);
    guest.genl_subscribe("udpcount", "notify").unwrap();
    send_to(&guest, &[5000, 5001, 5000, 5000, 5001, 5000, 7]);
    assert_eq!(
        notifications(&mut guest, 3),
        [count("notify", 5000, 2), count("notify", 5001, 2), count("notify", 5000, 4)]
    );
    let spec = spec();
    let one = guest.genl_call(&spec, "get", &json!({"port": 5001}), false).unwrap();
    assert_eq!(as_json(&one), [count("get", 5001, 2)]);
    let mut all = as_json(&guest.genl_call(&spec, "get", &json!({}), true).unwrap());
    all.sort_by_key(|m| m["attrs"]["port"].as_u64());
    assert_eq!(all, [count("get", 7, 1), count("get", 5000, 4), count("get", 5001, 2)]);
    let unseen = guest.genl_call(&spec, "get", &json!({"port": 9}), false).unwrap();
    assert_eq!(as_json(&unseen), [count("get", 9, 0)]);
    let refused = guest.genl_call(&spec, "get", &json!({}), false).unwrap_err();
    assert!(format!("{refused:#}").contains("Invalid argument"), "a get without a port: {refused:#}");
    finish(guest);
}

/// /sys/kernel/udpcount/every changes the rate at once, and refuses a
/// value out of 1..1000000 without changing it.
fn every_follows_its_sysfs_attribute(kernel: &str) {
    let mut guest = boot(GuestBuilder::kernel_id(kernel).module(module_dir()), kernel);
    let every = "/sys/kernel/udpcount/every";
    assert_eq!(guest.read_file(every).unwrap(), "4\n");
    guest.write_file(every, "3").unwrap();
    let refused = guest.write_file(every, "0").unwrap_err();
    assert!(format!("{refused:#}").contains("Invalid argument"), "{refused:#}");
    assert_eq!(guest.read_file(every).unwrap(), "3\n");
    guest.genl_subscribe("udpcount", "notify").unwrap();
    send_to(&guest, &[6000; 7]);
    assert_eq!(notifications(&mut guest, 2), [count("notify", 6000, 3), count("notify", 6000, 6)]);
    assert_eq!(guest.read_file("/sys/kernel/udpcount/total").unwrap(), "7\n");
    finish(guest);
}

/// Left unloaded at boot, the module loads with its parameters on request,
/// counts, and unloads taking its family and sysfs directory with it.
fn the_module_loads_and_unloads_on_request(kernel: &str) {
    let mut guest = boot(GuestBuilder::kernel_id(kernel).module(module_dir()).load_at_boot(false), kernel);
    assert_eq!(guest.module_name().as_deref(), Some("udpcount"));
    assert!(guest.read_file("/sys/kernel/udpcount/every").is_err(), "loaded at boot");
    let refused = guest.load_module("every=0").unwrap_err();
    assert!(format!("{refused:#}").contains("Invalid argument"), "{refused:#}");
    guest.load_module("every=1").unwrap();
    guest.genl_subscribe("udpcount", "notify").unwrap();
    send_to(&guest, &[53]);
    assert_eq!(notifications(&mut guest, 1), [count("notify", 53, 1)]);
    guest.unload_module().unwrap();
    assert!(guest.read_file("/sys/kernel/udpcount/every").is_err(), "still there after unload");
    let gone = guest.genl_call(&spec(), "get", &json!({}), true).unwrap_err();
    assert!(format!("{gone:#}").contains("udpcount"), "{gone:#}");
    let console = guest.console();
    assert!(console.contains("every=0 is not in 1..1000000"), "the refusal is not in the kernel log");
    finish(guest);
}

kulink::kernel_tests!(
    each_port_notifies_at_every_multiple,
    every_follows_its_sysfs_attribute,
    the_module_loads_and_unloads_on_request
);
