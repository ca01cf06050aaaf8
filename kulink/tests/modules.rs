//! Several modules at boot, through the public library alone: each is
//! built against the symbols of those before it and loaded in order with
//! its own parameters, and the last is the module under test.

mod common;

use common::fixture_module;
use kulink::{GuestBuilder, ModuleGuest};

fn read(guest: &mut ModuleGuest, path: &str) -> String {
    guest.read_file(path).unwrap_or_else(|e| panic!("read {path}: {e:#}")).trim().to_owned()
}

fn a_module_uses_what_an_earlier_one_exports(kernel: &str) {
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(fixture_module("provider"))
        .param("base", "40")
        .module(fixture_module("consumer"))
        .param("addend", "2")
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    // The consumer called the provider at load: 40 + 2, each module with
    // its own parameters.
    assert_eq!(read(&mut guest, "/sys/module/kulink_provider/parameters/base"), "40");
    assert_eq!(read(&mut guest, "/sys/module/kulink_consumer/parameters/addend"), "2");
    assert_eq!(read(&mut guest, "/sys/module/kulink_consumer/parameters/result"), "42");
    // The consumer holds the provider, and is the module under test.
    assert_eq!(read(&mut guest, "/sys/module/kulink_provider/refcnt"), "1");
    assert_eq!(guest.module_name().as_deref(), Some("kulink_consumer"));

    guest.unload_module().unwrap();
    assert_eq!(read(&mut guest, "/sys/module/kulink_provider/refcnt"), "0");
    assert!(guest.read_file("/sys/module/kulink_consumer/parameters/result").is_err(), "the consumer is gone");
    guest.load_module("addend=5").unwrap();
    assert_eq!(read(&mut guest, "/sys/module/kulink_consumer/parameters/result"), "45");

    guest.shutdown().unwrap().check().unwrap();
}

kulink::kernel_tests!(a_module_uses_what_an_earlier_one_exports);
