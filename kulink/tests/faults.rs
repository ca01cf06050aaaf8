//! When the guest fails rather than the module's checks: a kernel that
//! panics, and a module that does not load, are failed tests told with
//! their console; a QEMU killed from outside and a guest that hangs are
//! infrastructure errors that say so. Each within a bound, never an
//! open-ended wait.

mod common;

use std::time::{Duration, Instant};

use kulink::testbed::protocol::Command;
use kulink::{exit_code, GuestBuilder, ModuleGuest, EXIT_FAILED, EXIT_INFRA};

fn boot(kernel: &str) -> ModuleGuest {
    GuestBuilder::kernel_id(kernel).boot().unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"))
}

/// The guest's QEMU: the one process below this test (each test runs in a
/// process of its own under nextest).
fn qemu_pid() -> i32 {
    let below = kulink::testbed::process_tree::descendants(std::process::id());
    let qemu: Vec<u32> = below
        .into_iter()
        .filter(|pid| std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with(b"qemu")))
        .collect();
    assert_eq!(qemu.len(), 1, "one QEMU below the test: {qemu:?}");
    qemu[0] as i32
}

/// Boots `kernel` with the fixture module `fixture` loaded at boot, which
/// must fail the test (exit 1, `why`): the error's text.
fn failed_boot(kernel: &str, fixture: &str, why: &str) -> String {
    let error = GuestBuilder::kernel_id(kernel)
        .module(common::fixture_module(fixture))
        .boot()
        .err()
        .unwrap_or_else(|| panic!("{fixture} booted on {kernel}: {why} was owed"));
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_FAILED, "{why}: {text}");
    text
}

fn a_kernel_panic_fails_the_test_with_its_console(kernel: &str) {
    // When the test loads it. This boot also builds what a first guest of
    // the kernel needs (the module, an architecture's agent), which the
    // bound on the report below is not about.
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(common::fixture_module("panicker"))
        .load_at_boot(false)
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    let started = Instant::now();
    let error = guest.load_module("").unwrap_err();
    let took = started.elapsed();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_FAILED, "a crashed kernel is a failed test: {text}");
    assert!(text.starts_with("the kernel panicked while loading kulink_panicker.ko: ["), "{text}");
    assert!(text.contains("] Kernel panic - not syncing: kulink_panicker: loaded, as asked"), "{text}");
    let kept = guest.evidence_dir().join("console.log");
    assert!(text.contains(&format!("--- console tail ({}) ---", kept.display())), "{text}");
    assert!(took < Duration::from_secs(30), "reported after {took:?}");
    drop_and_clear(guest);

    // At boot, loading the module under test.
    let started = Instant::now();
    let text = failed_boot(kernel, "panicker", "a crashed kernel is a failed test");
    assert!(text.contains("the kernel panicked while loading kulink_panicker.ko: ["), "{text}");
    assert!(text.contains("] Kernel panic - not syncing: kulink_panicker: loaded, as asked"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60), "reported after {:?}", started.elapsed());
    clear_kept_console(&text);
}

fn a_module_that_does_not_load_fails_with_its_errno_and_its_lines(kernel: &str) {
    let text = failed_boot(kernel, "refuser", "the module's failure");
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "kulink_refuser.ko failed to load: the kernel refused it with EBUSY: Device or resource busy; its log:"
    );
    let told = text.split("--- console tail").next().unwrap_or_default();
    assert!(told.lines().any(|l| l.ends_with("] kulink_refuser: refusing to load, as asked")), "{text}");
    clear_kept_console(&text);
}

/// The line of `file` (a fixture's source) that holds `marker`, 1-based.
fn line_of(file: &std::path::Path, marker: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().position(|l| l.contains(marker)).expect("the marker is in the fixture") + 1
}

fn an_oops_in_the_module_names_its_source_line(kernel: &str) {
    let module = common::fixture_module("nullwrite");
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(&module)
        .shell()
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    let write = ["/bin/sh", "-c", "echo 1 > /proc/kulink_nullwrite"];
    let source = module.join("kulink_nullwrite.c");
    let wanted = format!("{}:{}", source.display(), line_of(&source, "the fault under test"));
    if panics_on_warnings(kernel) {
        return assert_the_report_panics(guest, &write, "nullwrite_store");
    }
    // The writer dies in the Oops; the agent, which only started it, goes on.
    let ran = guest.run(&write, Duration::from_secs(20)).unwrap();
    assert_eq!(ran.signal, Some(libc::SIGKILL), "the writer was killed in the Oops: {ran:?}");
    assert_eq!(guest.read_file("/proc/sys/kernel/ostype").unwrap().trim(), "Linux", "the guest still answers");
    let kept = guest.evidence_dir().to_owned();
    let finished = guest.shutdown().unwrap();
    std::fs::remove_dir_all(&kept).unwrap_or_else(|e| panic!("the failed run's evidence in {}: {e}", kept.display()));
    let oops = finished.splats.iter().find(|s| s.rip.is_some()).unwrap_or_else(|| panic!("{:#?}", finished.splats));
    let rip = oops.rip.as_deref().unwrap();
    assert!(rip.starts_with("RIP: 0010:nullwrite_store+0x") && rip.ends_with(" [kulink_nullwrite]"), "{rip}");
    assert_eq!(oops.source.as_deref(), Some(wanted.as_str()), "{oops:#?}");
    // The call trace, sure of every frame, names the handler's call.
    let caller = format!("{}:{}", source.display(), line_of(&source, "the call that faults"));
    let handler = oops.trace.iter().find(|f| f.starts_with("nullwrite_write+0x"));
    let handler = handler.unwrap_or_else(|| panic!("the handler in the call trace: {oops:#?}"));
    assert!(handler.ends_with(&format!(" [kulink_nullwrite] at {caller}")), "{oops:#?}");
    assert!(oops.trace.iter().any(|f| f.starts_with("vfs_write+0x")), "{oops:#?}");
    assert!(oops.trace.iter().all(|f| !f.starts_with('?')), "{oops:#?}");
    let error = format!("{:#}", finished.check().unwrap_err());
    assert!(error.contains(&format!("{rip}, at {wanted}")), "{error}");

    // When the agent writes, a child of its own makes the write and dies
    // in the Oops: the request fails as the module's doing, naming the
    // line, and the same guest goes on answering.
    let mut guest = GuestBuilder::kernel_id(kernel).module(&module).boot().unwrap();
    let error = guest.write_file("/proc/kulink_nullwrite", "1").unwrap_err();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_FAILED, "{text}");
    assert!(
        text.starts_with(
            "the guest could not write to /proc/kulink_nullwrite: the process making the request was killed by SIG"
        ),
        "{text}"
    );
    assert!(text.contains(&format!(" [kulink_nullwrite], at {wanted}")), "{text}");
    assert_eq!(guest.read_file("/proc/sys/kernel/ostype").unwrap().trim(), "Linux", "the guest still answers");
    let kept = guest.evidence_dir().to_owned();
    let finished = guest.shutdown().unwrap();
    assert!(finished.splats.iter().any(|s| s.source.as_deref() == Some(wanted.as_str())), "{:#?}", finished.splats);
    std::fs::remove_dir_all(&kept).unwrap_or_else(|e| panic!("the failed run's evidence in {}: {e}", kept.display()));
}

fn a_task_stuck_in_the_module_is_named_with_its_kernel_stack(kernel: &str) {
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(common::fixture_module("sleeper"))
        .shell()
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    let where_stuck = "stuck in uninterruptible sleep in sleeper_write [kulink_sleeper] ← ";

    // The agent's own write: its child never comes back.
    let error = guest.write_file("/proc/kulink_sleeper", "1").unwrap_err();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_FAILED, "{text}");
    assert!(text.starts_with("the guest could not write to /proc/kulink_sleeper: not done within 15s: "), "{text}");
    assert!(text.contains(where_stuck), "{text}");
    // The module's frame with its place in the source.
    let source = common::fixture_module("sleeper").join("kulink_sleeper.c");
    assert!(text.contains("; its kernel stack:\n  sleeper_write+0x"), "{text}");
    let frame_line = text.lines().find(|l| l.trim_start().starts_with("sleeper_write+0x")).unwrap_or_default();
    assert!(frame_line.contains(&format!("[kulink_sleeper] at {}:16", source.display())), "{text}");
    assert!(text.contains("\n  vfs_write+0x"), "{text}");

    // A program's write: the kill at its timeout does not end it.
    let error = guest.run(&["/bin/sh", "-c", "echo 1 > /proc/kulink_sleeper"], Duration::from_secs(2)).unwrap_err();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_FAILED, "{text}");
    assert!(text.contains("/bin/sh did not end when killed: its process "), "{text}");
    assert!(text.contains(where_stuck), "{text}");

    // The kernel's hung-task detector, which looks every 10 s, reports the
    // first writer within 20 s of its write.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !guest.console().contains("blocked for more than") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(guest.read_file("/proc/sys/kernel/ostype").unwrap().trim(), "Linux", "the guest still answers");
    let kept = guest.evidence_dir().to_owned();
    let finished = guest.shutdown().unwrap();
    std::fs::remove_dir_all(&kept).unwrap_or_else(|e| panic!("the failed run's evidence in {}: {e}", kept.display()));
    let hung: Vec<_> = finished.splats.iter().filter(|s| s.kind == "hung task").collect();
    assert!(hung.iter().any(|s| s.text.contains("blocked for more than 10 seconds")), "{:#?}", finished.splats);
    // Its call trace, printed below the console's loglevel, comes from the
    // kernel's whole log, with the module's source line.
    let frame = format!("[kulink_sleeper] at {}:16", source.display());
    assert!(hung.iter().all(|s| s.trace.iter().any(|f| f.ends_with(&frame))), "{hung:#?}");
    assert!(hung.iter().all(|s| s.culprit() == Some("sleeper_write")), "{hung:#?}");
    assert!(finished.check().is_err(), "a hung task fails the run");
}

/// An Oops in the module's init is the module's failure, told with its
/// source line: the agent loads the module in a child, which dies in the
/// Oops while PID 1 goes on to say so. Booted, then restored.
fn an_oops_in_module_init_fails_with_its_source_line(kernel: &str) {
    let source = common::fixture_module("initoops").join("kulink_initoops.c");
    let wanted = format!("at {}:{}", source.display(), line_of(&source, "the fault under test"));
    for _ in ["booted", "restored"] {
        let text = failed_boot(kernel, "initoops", "the module's fault");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("kulink_initoops.ko failed to load: the process loading it was killed by SIG")
                || first.starts_with("the kernel panicked while loading kulink_initoops.ko"),
            "{text}"
        );
        assert!(first.contains(&wanted), "{text}");
        clear_kept_console(&text);
    }
}

/// A wild pointer without KASAN's word for it (x86's general protection
/// fault) is told as such, with the module's source line; a network
/// device whose reference the module leaked is named by the kernel's
/// `unregister_netdevice: waiting` line.
fn a_wild_pointer_and_a_leaked_netdev_are_told_with_their_place(kernel: &str) {
    let module = common::fixture_module("splatter");
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(&module)
        .shell()
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    let ran = guest.run(&["/bin/sh", "-c", "echo netdev > /proc/kulink_splatter"], Duration::from_secs(20)).unwrap();
    assert_eq!(ran.code, Some(0), "{ran:?}");
    // unregister_netdevice tells of what it waits for after 10 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !guest.console().contains("unregister_netdevice: waiting for") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let leaks: Vec<_> = kulink::testbed::splat::scan(&guest.console())
        .into_iter()
        .filter(|s| s.kind == "netdev leak" && s.text.contains("waiting for kulinkleak0 to become free"))
        .collect();
    assert_eq!(leaks.len(), 1, "the leak, told once however often the kernel says it:\n{}", guest.console());
    let gpf = ["/bin/sh", "-c", "echo gpf > /proc/kulink_splatter"];
    if panics_on_warnings(kernel) {
        return assert_the_report_panics(guest, &gpf, "splatter_gpf");
    }
    let ran = guest.run(&gpf, Duration::from_secs(20)).unwrap();
    // die() ends the task with SIGSEGV for a trap, SIGKILL for a page fault.
    assert!(matches!(ran.signal, Some(libc::SIGSEGV | libc::SIGKILL)), "the writer died in the fault: {ran:?}");
    assert_eq!(guest.read_file("/proc/sys/kernel/ostype").unwrap().trim(), "Linux", "the guest still answers");
    let kept = guest.evidence_dir().to_owned();
    let finished = guest.shutdown().unwrap();
    std::fs::remove_dir_all(&kept).unwrap_or_else(|e| panic!("the failed run's evidence in {}: {e}", kept.display()));
    let kinds: Vec<&str> = finished.splats.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["netdev leak", "general protection fault"], "{:#?}", finished.splats);
    assert!(finished.splats[0].text.contains("waiting for kulinkleak0 to become free"), "{:#?}", finished.splats);
    let fault = &finished.splats[1];
    let source = module.join("kulink_splatter.c");
    let wanted = format!("{}:{}", source.display(), line_of(&source, "WRITE_ONCE(*(int *)"));
    assert_eq!(fault.source.as_deref(), Some(wanted.as_str()), "{fault:#?}");
    assert!(fault.rip.as_deref().is_some_and(|r| r.contains("splatter_gpf+0x")), "{fault:#?}");
    assert!(fault.is_fault(), "{fault:#?}");
}

/// A known-bugs file with one entry for the warner's WARN, until `until`.
fn known_bugs_until(until: &str) -> std::path::PathBuf {
    let file = std::env::temp_dir().join(format!("kulink-known-bugs-{}-{until}.toml", std::process::id()));
    let entry = format!(
        "[[accept]]\npattern = \"kulink_warner_init\"\nreason = \"the fixture's own WARN\"\nuntil = \"{until}\"\n"
    );
    std::fs::write(&file, entry).unwrap();
    file
}

fn a_known_kernel_bug_passes_until_its_entry_expires() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let guest = |until: &str| {
        GuestBuilder::kernel_id(&kernel).module(common::fixture_module("warner")).known_bugs(known_bugs_until(until))
    };
    let finished = guest("2999-12-31").boot().unwrap().shutdown().unwrap();
    finished.check().unwrap_or_else(|e| panic!("accepted, so clean: {e:#}"));
    let kinds: Vec<&str> = finished.accepted.iter().map(|a| a.splat.kind).collect();
    assert_eq!(kinds, ["WARN"], "the WARN, its trace with it: {:#?}", finished.accepted);
    assert!(!finished.accepted[0].splat.trace.is_empty(), "{:#?}", finished.accepted);
    assert_eq!(
        (finished.accepted[0].reason.as_str(), finished.accepted[0].until.as_str()),
        ("the fixture's own WARN", "2999-12-31")
    );

    let vm = guest("2000-01-01").boot().unwrap();
    let kept = vm.evidence_dir().to_owned();
    let finished = vm.shutdown().unwrap();
    let error = format!("{:#}", finished.check().unwrap_err());
    assert!(finished.accepted.is_empty(), "{:#?}", finished.accepted);
    assert!(error.contains("WARN at console line"), "{error}");
    assert!(
        error.contains("was accepted until 2000-01-01 (the fixture's own WARN): it fails the run again"),
        "{error}"
    );
    std::fs::remove_dir_all(kept).unwrap();
    for until in ["2999-12-31", "2000-01-01"] {
        std::fs::remove_file(known_bugs_until(until)).unwrap();
    }
}

/// Removes the evidence a boot that failed on purpose kept, from the
/// directory its error names.
/// Whether `kernel` panics on warnings, as the debug kernel does: a
/// fault's report (KASAN's, there) then takes the guest down.
fn panics_on_warnings(kernel: &str) -> bool {
    kulink::testbed::kernels::find(kernel).unwrap().cmdline.contains("panic_on_warn=1")
}

/// On a kernel that panics on warnings, `command`'s fault is the module's
/// failure, naming `function`, and the guest is gone.
fn assert_the_report_panics(mut guest: ModuleGuest, command: &[&str], function: &str) {
    let error = guest.run(command, Duration::from_secs(20)).unwrap_err();
    assert_eq!(exit_code(&error), EXIT_FAILED, "{error:#}");
    assert!(format!("{error:#}").contains(&format!("{function}+0x")), "{error:#}");
    drop_and_clear(guest);
}

fn clear_kept_console(error: &str) {
    let kept = error.split("console tail (").nth(1).and_then(|rest| rest.split("/console.log)").next());
    std::fs::remove_dir_all(kept.expect("the error names the kept console log")).unwrap();
}

/// Drops a guest that failed on purpose, and the evidence it kept.
fn drop_and_clear(guest: ModuleGuest) {
    let dir = guest.evidence_dir().to_owned();
    drop(guest);
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}

fn a_qemu_killed_from_outside_is_named() {
    common::adopt_orphans();
    let mut guest = boot(&kulink::testbed::kernels::default_spec().unwrap().id);
    // SAFETY: kill with a pid this test owns and a valid signal.
    assert_eq!(unsafe { libc::kill(qemu_pid(), libc::SIGKILL) }, 0);
    let error = guest.read_file("/proc/version").unwrap_err();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_INFRA, "{text}");
    assert!(text.contains("QEMU was killed by signal 9, not by kulink"), "{text}");
    drop_and_clear(guest);
    common::assert_no_process_left("after QEMU was killed");
}

fn a_hung_guest_gives_an_error_at_its_timeout() {
    common::adopt_orphans();
    let mut guest = boot(&kulink::testbed::kernels::default_spec().unwrap().id);
    let qemu = qemu_pid();
    // SAFETY: as above; SIGSTOP freezes the whole guest.
    assert_eq!(unsafe { libc::kill(qemu, libc::SIGSTOP) }, 0);
    let timeout = Duration::from_secs(3);
    let started = Instant::now();
    let error = guest.request_within(Command::ReadFile { path: "/proc/version".into() }, timeout).unwrap_err();
    let took = started.elapsed();
    let text = format!("{error:#}");
    assert_eq!(exit_code(&error), EXIT_INFRA, "{text}");
    assert!(text.contains("did not answer") && text.contains("it hangs"), "{text}");
    assert!(took >= timeout && took < timeout + Duration::from_secs(2), "the error came after {took:?}");
    drop_and_clear(guest);
    common::assert_no_process_left("after a hung guest was dropped");
}

kulink::kernel_tests!(
    a_kernel_panic_fails_the_test_with_its_console,
    a_module_that_does_not_load_fails_with_its_errno_and_its_lines;
    source: an_oops_in_the_module_names_its_source_line,
    a_task_stuck_in_the_module_is_named_with_its_kernel_stack,
    an_oops_in_module_init_fails_with_its_source_line,
    a_wild_pointer_and_a_leaked_netdev_are_told_with_their_place;
    once: a_qemu_killed_from_outside_is_named,
    a_hung_guest_gives_an_error_at_its_timeout,
    a_known_kernel_bug_passes_until_its_entry_expires
);
