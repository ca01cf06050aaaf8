//! `kulink test` on a module that brings no plug-in: kulink.ko's own source
//! stands in for a user's module, loaded by the bare agent with a
//! parameter, and a command in the guest sees what the module made.

mod common;

use std::time::Duration;

use kulink::builder::ModuleSetup;
use kulink::module_test::ModuleTest;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::kernels;

fn first_kernel() -> KernelChoice {
    KernelChoice::Listed(Some(kernels::selected().unwrap().into_iter().next().expect("a kernel is selected").id))
}

fn test_of(script: &str) -> ModuleTest {
    ModuleTest {
        setup: ModuleSetup {
            params: vec![("umh_path".into(), "/from/the/command/line".into())],
            shell: true,
            ..ModuleSetup::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../module"))
        },
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        kunit: None,
        netns: false,
        timeout: Duration::from_secs(30),
        genl: None,
        netlink: Vec::new(),
        traffic: Vec::new(),
        expected: None,
    }
}

#[test]
fn a_users_module_is_loaded_with_its_parameters_and_the_command_decides() {
    let kernel = first_kernel();
    let script = "grep -c '^kulink ' /proc/modules; cat /sys/module/kulink/parameters/umh_path; echo done >&2";
    let report = test_of(script).run(&kernel).unwrap();
    assert!(report.passed, "{report:#?}");
    let ran = report.ran.as_ref().expect("the command ran");
    assert_eq!(ran.stdout, "1\n/from/the/command/line\n");
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), "done\n"));
    assert!(report.kernel_log_clean && report.splats.is_empty());

    let failed = test_of("echo half; exit 7").run(&kernel).unwrap();
    assert!(!failed.passed);
    let ran = failed.ran.as_ref().expect("the command ran");
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(7), "half\n"));
    let evidence = failed.evidence.as_deref().expect("a failed run keeps its evidence");
    assert!(evidence.join("console.log").is_file(), "{}", evidence.display());
    std::fs::remove_dir_all(evidence).unwrap();
    assert!(failed.kernel_log_clean, "a failing command is not a kernel problem: {failed:#?}");
}

/// `kulink test --netns`: the command is root in user and network
/// namespaces of its own and nobody outside; it has `lo` and its end of the
/// pair with the lent address, reaches its own namespace's events, and is
/// refused what only the initial namespaces' root may do.
#[test]
fn a_command_in_namespaces_of_its_own_is_their_root_and_nobody_outside() {
    let script = "cat /proc/self/uid_map /proc/self/gid_map; id -u; \
        ip -o -4 addr show | awk '{print $2, $4}'; \
        echo events $(wc -l < /proc/kulink/events); \
        echo 0 > /proc/sys/kulink/enabled 2>/dev/null && echo enabled changed || echo enabled refused";
    let test = ModuleTest { netns: true, ..test_of(script) };
    let report = test.run(&first_kernel()).unwrap();
    assert!(report.passed, "{report:#?}");
    let map = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = report.ran.as_ref().expect("the command ran").stdout.lines().map(map).collect();
    let address = report.netns_address.expect("the report says where the command was");
    assert_eq!(address, kulink::testbed::frames::Wire::default().netns_ip(0));
    let want = [
        "0 65534 1".to_owned(),
        "0 65534 1".to_owned(),
        "0".to_owned(),
        "lo 127.0.0.1/8".to_owned(),
        format!("eth0 {address}/24"),
        "events 0".to_owned(),
        "enabled refused".to_owned(),
    ];
    assert_eq!(lines, want, "{report:#?}");
}
