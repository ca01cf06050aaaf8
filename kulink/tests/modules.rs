//! Several modules at boot, through the public library alone: each is
//! built against the symbols of those before it and loaded in order with
//! its own parameters, and the last is the module under test. On a
//! distribution's kernel, what a module uses of the kernel's own loadable
//! modules is loaded before it, unasked.

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

/// CRC-16 with polynomial 0x1021, most significant bit first, from 0: what
/// the kernel's crc_itu_t() computes, written here from its definition.
fn crc_itu_t(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |c, _| if c & 0x8000 != 0 { (c << 1) ^ 0x1021 } else { c << 1 })
    })
}

fn a_module_gets_the_kernel_modules_it_uses_loaded_first(kernel: &str) {
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(fixture_module("crc_user"))
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    // crc-itu-t.ko came from the kernel's package, loaded before the module
    // that holds it now, and computed what the definition says.
    assert_eq!(read(&mut guest, "/sys/module/crc_itu_t/refcnt"), "1");
    assert_eq!(read(&mut guest, "/sys/module/kulink_crc_user/parameters/check"), crc_itu_t(b"123456789").to_string());
    guest.shutdown().unwrap().check().unwrap();
}

fn the_reference_crc_is_the_published_check_value() {
    // CRC-16/XMODEM's check value: the same polynomial, init and order.
    assert_eq!(crc_itu_t(b"123456789"), 0x31c3);
}

kulink::kernel_tests!(
    a_module_uses_what_an_earlier_one_exports;
    distro: a_module_gets_the_kernel_modules_it_uses_loaded_first;
    once: the_reference_crc_is_the_published_check_value
);
