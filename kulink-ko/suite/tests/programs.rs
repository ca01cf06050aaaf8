//! Programs run in the guest (the testbed core's `Vm::run`, here on
//! kulink.ko's guest): exit status, output and timeouts reach the host as
//! the program left them, and a test's own files are where it put them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::kernels;
use kulink::testbed::protocol::OUTPUT_LIMIT;
use kulink_ko_suite::guest::{self, Guest};

const SCRIPT: &str = "/opt/suite/report.sh";

fn boot_with_a_shell() -> Guest {
    let kernel = kernels::selected().unwrap().into_iter().next().expect("a kernel is selected").id;
    let dir = common::scratch_dir("programs");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("report.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"out $1\"\necho err >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    guest::builder(KernelChoice::Listed(Some(kernel.clone())))
        .shell()
        .file(script, SCRIPT)
        .boot_prepared(common::artifacts(&kernel))
        .unwrap_or_else(|e| panic!("boot failed on kernel {kernel}: {e:#}"))
}

#[test]
fn a_guest_program_s_status_output_and_timeout_reach_the_host() {
    let mut vm = boot_with_a_shell();

    let ran = vm.run(&[SCRIPT, "one"], Duration::from_secs(20)).unwrap();
    assert_eq!((ran.code, ran.signal, ran.timed_out, ran.truncated), (Some(3), None, false, false), "{ran:?}");
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("out one\n", "err\n"));
    assert!(!ran.success());

    // Killed at its timeout, with what it wrote before.
    let ran = vm.run(&["/bin/sh", "-c", "echo started; sleep 60"], Duration::from_secs(2)).unwrap();
    assert_eq!((ran.code, ran.signal, ran.timed_out), (None, Some(9), true), "{ran:?}");
    assert_eq!(ran.stdout, "started\n");

    // What it leaves running holds its stdout open; that goes with it.
    let started = Instant::now();
    let ran = vm.run(&["/bin/sh", "-c", "sleep 60 & echo left"], Duration::from_secs(20)).unwrap();
    assert!(ran.success() && ran.stdout == "left\n", "{ran:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "waited for the background sleep: {:?}", started.elapsed());

    // Output is kept up to its bound, and the cut is said.
    let ran = vm.run(&["/bin/sh", "-c", "yes | head -c 1500000"], Duration::from_secs(60)).unwrap();
    assert!(ran.success() && ran.truncated, "{:?}", (ran.code, ran.signal, ran.truncated));
    assert_eq!(ran.stdout.len(), OUTPUT_LIMIT);

    let err = vm.run(&["/opt/suite/missing"], Duration::from_secs(5)).unwrap_err();
    assert!(format!("{err:#}").contains("start /opt/suite/missing"), "{err:#}");

    // Started in the background: ready at its first line, its output so
    // far on request, and how it ended once stopped.
    let (pid, ready) =
        vm.start(&["/bin/sh", "-c", "echo ready; echo more; exec sleep 60"], Duration::from_secs(10)).unwrap();
    assert_eq!(ready, "ready");
    let deadline = Instant::now() + Duration::from_secs(10);
    while vm.output(pid).unwrap() != "ready\nmore\n" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(vm.output(pid).unwrap(), "ready\nmore\n");
    let ran = vm.stop(pid, libc::SIGKILL).unwrap();
    assert_eq!((ran.code, ran.signal, ran.timed_out, ran.stdout.as_str()), (None, Some(9), false, "ready\nmore\n"));
    let err = format!("{:#}", vm.stop(pid, libc::SIGKILL).unwrap_err());
    assert!(err.contains(&format!("no program the host started has pid {pid}")), "{err}");
    let err =
        format!("{:#}", vm.start(&["/bin/sh", "-c", "echo oops >&2; exit 3"], Duration::from_secs(10)).unwrap_err());
    assert!(err.contains("before saying it was ready: oops"), "{err}");
    common::finish(vm);
    // Clears the script's directory.
    common::scratch_dir("programs");
}
