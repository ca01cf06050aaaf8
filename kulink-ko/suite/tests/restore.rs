//! Guests started from a saved one: each is a guest of its own, not a copy
//! of its siblings, and it carries the boot it was saved from.

mod common;

use kulink::testbed::vm::snapshots_enabled;

/// The kernel's boot time in seconds since the epoch, from /proc/stat.
fn boot_time(stat: &str) -> u64 {
    let line = stat.lines().find_map(|l| l.strip_prefix("btime ")).expect("/proc/stat has btime");
    line.trim().parse().expect("btime is a number")
}

fn restored_guests_are_guests_of_their_own(kernel: &str) {
    // The first guest of its kind may be the one that is saved.
    common::finish(common::boot(kernel, &[]));
    let mut a = common::boot(kernel, &[]);
    let mut b = common::boot(kernel, &[]);
    assert_eq!(a.restored(), snapshots_enabled(), "a guest of a saved kind starts from it");
    assert_eq!(b.restored(), snapshots_enabled());
    if snapshots_enabled() {
        assert!(a.saved_at().is_some() && a.saved_at() == b.saved_at(), "both start from one saved guest");
    }

    // Without a reseed, every guest restored from one file draws the same
    // numbers from the kernel's generator.
    let uuid = "/proc/sys/kernel/random/uuid";
    let (from_a, from_b) = (a.read_file(uuid).unwrap(), b.read_file(uuid).unwrap());
    assert_ne!(from_a, from_b, "the two guests drew the same random numbers");

    // The wall clock is the host's, not the saved guest's: boot time plus
    // uptime is now. Whole seconds three times over (a booted guest reads
    // the RTC's, btime and uptime are truncated) allow a few seconds.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for vm in [&mut a, &mut b] {
        let uptime: f64 = vm.read_file("/proc/uptime").unwrap().split(' ').next().unwrap().parse().unwrap();
        let wall = boot_time(&vm.read_file("/proc/stat").unwrap()) + uptime as u64;
        assert!(wall.abs_diff(now) <= 5, "the guest's wall clock is {}s off the host's", wall.abs_diff(now));
    }

    // The console holds the boot it was saved from, without the module,
    // then what followed: the restore, and the module's load after it.
    let console = a.console();
    if a.restored() {
        let booted = console.find("kulink-agent: booted, waiting for the test").expect("the saved boot's console");
        let restored = booted + console[booted..].find("kulink-agent: restored").expect("the restore, after the boot");
        assert!(console[restored..].contains("kulink-agent: module loaded"), "the module loads after it: {console}");
        assert!(
            !console[..restored].contains("kulink-agent: module loaded"),
            "the saved guest had no module: {console}"
        );
    } else {
        assert!(console.contains("kulink-agent: module loaded"), "{console}");
    }
    common::finish(a);
    common::finish(b);
}

kulink::kernel_tests!(
    source: restored_guests_are_guests_of_their_own);
