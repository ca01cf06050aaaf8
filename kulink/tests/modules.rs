//! Several modules at boot, through the public library alone: each is
//! built against the symbols of those before it and loaded in order with
//! its own parameters, and the last is the module under test. On a
//! distribution's kernel, what a module uses of the kernel's own loadable
//! modules is loaded before it, unasked. An edited module starts from the
//! guest saved before the edit.

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

fn a_module_edit_keeps_the_saved_guest(kernel: &str) {
    // A copy of the provider, with its parameter given, then edited.
    let dir = std::env::temp_dir().join(format!("kulink-edited-provider-{kernel}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture_module("provider")).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let boot = |params: &[(&str, &str)]| {
        let builder = params.iter().fold(GuestBuilder::kernel_id(kernel).module(&dir), |b, (k, v)| b.param(k, v));
        builder.boot().unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"))
    };
    let mut first = boot(&[("base", "40")]);
    assert_eq!(read(&mut first, "/sys/module/kulink_provider/parameters/base"), "40");
    let (first_saved_at, restores) = (first.saved_at(), first.arch().restores());
    first.shutdown().unwrap().check().unwrap();

    let source = dir.join("kulink_provider.c");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, text.replace("static int base;", "static int base = 7;")).unwrap();
    let mut edited = boot(&[]);
    // The guest runs the edited module, without the parameter of before...
    assert_eq!(read(&mut edited, "/sys/module/kulink_provider/parameters/base"), "7");
    // ...and still started from the guest saved before the edit.
    if kulink::testbed::vm::snapshots_enabled() && restores {
        assert!(edited.restored(), "the edit made a new kind of guest: it booted");
        if first_saved_at.is_some() {
            assert_eq!(edited.saved_at(), first_saved_at, "both start from the one saved guest");
        }
    }
    edited.shutdown().unwrap().check().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
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
    source: a_module_edit_keeps_the_saved_guest;
    distro: a_module_gets_the_kernel_modules_it_uses_loaded_first;
    once: the_reference_crc_is_the_published_check_value
);
