//! The guest a test's command meets: busybox's applets without asking, a
//! command that cannot start refused before the boot, and several modules
//! loaded in order. On the default kernel.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use kulink::testbed::catalog::Kind;
use kulink::testbed::kernels;

fn kulink() -> Command {
    let mut kulink = Command::new(env!("CARGO_BIN_EXE_kulink"));
    kulink.env("KULINK_KERNELS", kernels::default_spec().unwrap().id);
    kulink
}

fn udpcount_module() -> String {
    common::repo().join("examples/udpcount/module").canonicalize().unwrap().display().to_string()
}

/// `--json`'s array, one report per kernel.
fn report_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A script whose interpreter the guest lacks, and one without its execute
/// bit, are refused with exit 2 and the reason, before any kernel or
/// module is built (so in well under a boot's time).
fn a_command_that_cannot_start_is_refused_before_the_boot() {
    let dir = common::scratch_dir("refused");
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str, mode: u32| {
        let path = dir.join(name);
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let bash = write("bash-test", "#!/bin/bash\n[[ -d /proc ]]\n", 0o755);
    let plain = write("plain-test", "#!/bin/sh\ntrue\n", 0o644);
    let refused = |script: &Path, more: &[&str]| {
        let started = Instant::now();
        let Output { status, stderr, .. } = kulink()
            .args(["test", "--module", &udpcount_module(), "--file"])
            .arg(format!("{}:/opt/test", script.display()))
            .args(more)
            .args(["--", "/opt/test"])
            .output()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{}", text(&stderr));
        assert!(started.elapsed().as_secs() < 10, "refused only after {:?}", started.elapsed());
        text(&stderr)
    };
    let said = refused(&bash, &[]);
    assert!(said.contains("/opt/test is a script for /bin/bash, which is not in the guest image"), "{said}");
    assert!(said.contains("--host-program /bin/bash"), "{said}");
    let said = refused(&plain, &["--shell"]);
    assert!(said.contains("lacks the execute bit") && said.contains("chmod +x"), "{said}");
    let Output { status, stderr, .. } =
        kulink().args(["test", "--module", &udpcount_module(), "--", "/usr/bin/python3"]).output().unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(text(&stderr).contains("/usr/bin/python3 is not in the guest image"), "{}", text(&stderr));
    fs::remove_dir_all(&dir).unwrap();
}

/// Without `--shell`, a command that is an applet brings busybox, and a
/// `#!/bin/sh` script then finds every applet on its way.
fn applets_run_without_asking_for_a_shell() {
    let dir = common::scratch_dir("applets");
    fs::create_dir_all(&dir).unwrap();
    let script = dir.join("count.sh");
    fs::write(
        &script,
        "#!/bin/sh\nset -e\nseq 3 | awk '{ s += $1 } END { print s }'\ncat /sys/kernel/udpcount/every\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let out = kulink()
        .args(["test", "--json", "--module", &udpcount_module(), "--file"])
        .arg(format!("{}:/opt/count", script.display()))
        .args(["--", "/opt/count"])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ran"]["stdout"], "6\n4\n", "{report:#}");
    let out = kulink().args(["test", "--module", &udpcount_module(), "--", "/bin/false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an applet's own failure is the test's: {}", text(&out.stderr));
    fs::remove_dir_all(&dir).unwrap();
}

/// The kernel's connector sample: the connector core built as `cn.ko` from
/// the kernel's own source, then `cn_test.ko`, which registers its two
/// callbacks with it. `--module` twice loads them in that order; the
/// core's /proc file shows the sample's callbacks, so the second linked to
/// the first. `--netlink connector:14` records what the sample's timer
/// sends each second to its callback's group (its idx): id, sequence and
/// text, one after another.
fn the_connector_sample_loads_after_its_core() {
    let kernel = kernels::ensure_built(&kernels::default_spec().unwrap()).unwrap();
    let source = kernel.kdir.join("source");
    let source = if source.is_dir() { source } else { kernel.kdir.clone() };
    let dir = common::scratch_dir("connector");
    let module = |name: &str, kbuild: &str, files: &[&str]| {
        let at = dir.join(name);
        fs::create_dir_all(&at).unwrap();
        fs::write(at.join("Kbuild"), kbuild).unwrap();
        for file in files {
            fs::copy(source.join(file), at.join(Path::new(file).file_name().unwrap())).unwrap();
        }
        at.display().to_string()
    };
    let core = module(
        "cn",
        "obj-m += cn.o\ncn-y += cn_queue.o connector.o\n",
        &["drivers/connector/connector.c", "drivers/connector/cn_queue.c"],
    );
    let sample = module("cn_test", "obj-m += cn_test.o\n", &["samples/connector/cn_test.c"]);
    let script = "grep -o '^cn[a-z_]* ' /proc/modules | sort; grep cn_test /proc/net/connector; sleep 3";
    let out = kulink()
        .args(["test", "--json", "--module", &core, "--module", &sample, "--netlink", "connector:14"])
        .args(["--", "/bin/sh", "-c", script])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let stdout = report["ran"]["stdout"].as_str().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["cn ", "cn_test "], "{stdout}");
    let callbacks: Vec<&str> = lines[2..].iter().filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(callbacks.len(), 2, "{stdout}");
    assert!(
        callbacks[0].ends_with(":1110") && callbacks[1].ends_with(":1111"),
        "ids {{idx:0x456}} and the next: {stdout}"
    );
    // The timer's messages go to the second callback's id; its group is the idx, 14.
    let records = report["netlink"].as_array().unwrap();
    assert!(records.len() >= 2, "three seconds of a timer that sends each second: {report:#}");
    let first = records[0]["seq"].as_u64().unwrap();
    for (n, record) in records.iter().enumerate() {
        let seq = first + n as u64;
        assert_eq!(
            (record["protocol"].as_u64(), record["kind"].as_str(), record["idx"].as_u64(), record["val"].as_u64()),
            (Some(11), Some("connector"), Some(14), Some(0x457)),
            "{record}"
        );
        assert_eq!(
            (record["seq"].as_u64(), record["text"].as_str()),
            (Some(seq), Some(format!("counter = {seq}").as_str()))
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// The `action` and `devpath` of each uevent a report recorded, in order.
fn uevents_of(report: &serde_json::Value) -> Vec<(&str, &str)> {
    let records = report["netlink"].as_array().unwrap_or_else(|| panic!("{report:#}"));
    records.iter().map(|r| (r["action"].as_str().unwrap(), r["devpath"].as_str().unwrap())).collect()
}

/// `--netlink uevent` records from before the module loads: the kernel's
/// own sample kset-example (built from the default kernel's tree, as its
/// author would) announces its kset's three kobjects from its init, then
/// the kernel announces the module.
fn a_sample_module_s_load_time_uevents_are_recorded() {
    let kernel = kernels::ensure_built(&kernels::default_spec().unwrap()).unwrap();
    let source = kernel.kdir.join("source");
    let source = if source.is_dir() { source } else { kernel.kdir.clone() };
    let dir = common::scratch_dir("kset-example");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Kbuild"), "obj-m += kset-example.o\n").unwrap();
    fs::copy(source.join("samples/kobject/kset-example.c"), dir.join("kset-example.c")).unwrap();
    let out = kulink()
        .args(["test", "--json", "--module", dir.to_str().unwrap(), "--netlink", "uevent"])
        .args(["--", "/bin/sh", "-c", "cat /sys/kernel/kset_example/foo/foo"])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ran"]["stdout"], "0\n", "{report:#}");
    let kset = "/kernel/kset_example";
    let expected = [
        ("add", format!("{kset}/foo")),
        ("add", format!("{kset}/bar")),
        ("add", format!("{kset}/baz")),
        ("add", "/module/kset_example".to_owned()),
    ];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(a, p)| (*a, p.as_str())).collect();
    assert_eq!(uevents_of(report), expected, "{report:#}");
    fs::remove_dir_all(&dir).unwrap();
}

/// `--netlink uevent` records the kobject uevents of the module's own
/// device: kulink.ko's misc device announced as it loads, then asked to
/// announce itself again through its `uevent` file, then the module's
/// kobject, in that order.
fn a_module_s_device_uevents_are_recorded() {
    let module = common::repo().join("kulink-ko/module");
    let script = "echo change > /sys/class/misc/kulink/uevent; echo add > /sys/module/kulink/uevent";
    let out = kulink()
        .args(["test", "--json", "--module", module.to_str().unwrap(), "--netlink", "uevent"])
        .args(["--", "/bin/sh", "-c", script])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let (misc, module) = ("/devices/virtual/misc/kulink", "/module/kulink");
    let loaded = [("add", misc), ("add", module)];
    let asked = [("change", misc), ("add", module)];
    assert_eq!(uevents_of(report), [loaded, asked].concat(), "{report:#}");
    let device = &report["netlink"][2];
    assert_eq!((device["protocol"].as_u64(), device["kind"].as_str()), (Some(15), Some("uevent")));
    assert_eq!(device["vars"]["DEVNAME"], "kulink", "{device}");
    assert_eq!(device["vars"]["SUBSYSTEM"], "misc", "{device}");
    assert!(device["vars"]["MAJOR"].as_str().is_some_and(|m| m == "10"), "a misc device: {device}");
}

/// `--host-root`: the host's own tools run in the guest at their host
/// paths (a bash script, Python reading the module's sysfs, iproute2 on the
/// guest's own interfaces), and the host's files are under /host, read-only.
/// On the default kernel (9p built in) and, when selected, a source kernel
/// without 9p, which boots as a variant with it; a distribution kernel
/// without 9p is refused before the boot.
fn the_hosts_root_brings_the_hosts_tools() {
    let dir = common::scratch_dir("host-root");
    fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("marker");
    let token = format!("kulink-host-root-{}", std::process::id());
    fs::write(&marker, format!("{token}\n")).unwrap();
    let script = dir.join("check");
    fs::write(
        &script,
        "#!/bin/bash\nset -euo pipefail\n\
         python3 -c 'print(open(\"/sys/kernel/udpcount/every\").read().strip())'\n\
         ip -o link show dev eth0 | cut -d' ' -f2\n\
         cat \"/host$1\"\n\
         if touch \"/host$1.new\" 2>/dev/null; then echo writable; else echo read-only; fi\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let selected = kernels::selected().unwrap();
    let default = kernels::default_spec().unwrap().id;
    let source = |s: &&kulink::testbed::catalog::KernelSpec| s.kind() == Kind::Source && s.id != default;
    let without_9p = selected.iter().filter(source).min_by_key(|s| s.id != "5.10").map(|s| s.id.clone());
    let ids: Vec<String> = [Some(default), without_9p].into_iter().flatten().collect();
    let test = |kernels: &str| {
        kulink()
            .args(["test", "--json", "--host-root", "--kernel", kernels, "--module", &udpcount_module(), "--file"])
            .arg(format!("{}:/opt/check", script.display()))
            .args(["--", "/opt/check"])
            .arg(&marker)
            .output()
            .unwrap()
    };
    let out = test(&ids.join(","));
    let reports = report_of(&out);
    assert_eq!(out.status.code(), Some(0), "{reports:#}");
    let expected = format!("4\neth0:\n{token}\nread-only\n");
    for (report, id) in reports.as_array().unwrap().iter().zip(&ids) {
        assert_eq!(report["ran"]["stdout"], expected, "{report:#}");
        let kernel = report["kernel"].as_str().unwrap();
        assert!(kernel == id || kernel.starts_with(&format!("{id}+")), "{kernel} is {id} or its variant");
    }
    assert_eq!(reports.as_array().unwrap().len(), ids.len());
    if let Some(variant) = reports.as_array().unwrap().get(1) {
        assert!(variant["kernel"].as_str().unwrap().contains("CONFIG_9P_FS=y"), "{variant:#}");
    }
    if let Some(distro) = selected.iter().find(|s| s.kind() == Kind::Distro) {
        let out = test(&distro.id);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("has no 9p over virtio built in"), "{}", text(&out.stderr));
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A spec the kernel's YNL tools would refuse (a `version` in a
/// `genetlink` spec) is refused with exit 2 and the rule it breaks, before
/// anything is built, and so is a classic protocol's spec given to
/// `--spec`; the example's own spec passes the same check.
fn a_spec_that_breaks_the_kernel_s_schema_is_refused_before_the_boot() {
    let schema = kernels::newest_source_file(Path::new("Documentation/netlink/genetlink.yaml"));
    let Some((kernel, _)) = schema else {
        panic!("the suite fetches the catalog's kernel sources first: one of them (6.12 or newer) has YNL's schemas")
    };
    let dir = common::scratch_dir("schema");
    fs::create_dir_all(&dir).unwrap();
    let good = common::repo().join("examples/udpcount/udpcount.yaml");
    let bad = dir.join("udpcount.yaml");
    let spec = fs::read_to_string(&good).unwrap();
    fs::write(&bad, spec.replace("protocol: genetlink\n", "protocol: genetlink\nversion: 1\n")).unwrap();
    let test = |spec: &Path| {
        let started = Instant::now();
        let out = kulink()
            .args(["test", "--module", &udpcount_module(), "--genl", "udpcount:notify", "--spec"])
            .arg(spec)
            .args(["--", "/bin/true"])
            .output()
            .unwrap();
        (out, started.elapsed())
    };
    let (out, took) = test(&bad);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(took.as_secs() < 10, "refused only after {took:?}");
    assert!(
        said.contains(&format!("is not valid YNL: it breaks genetlink.yaml of kernel {kernel}'s source")),
        "{said}"
    );
    assert!(said.contains("'version'"), "{said}");
    // rtnetlink's spec is valid YNL, but it decodes protocol 0's records, not a family's group.
    let (out, _) = test(&rt_link_spec());
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("is a family of netlink protocol 0: record it with --netlink 0"), "{said}");
    let (out, _) = test(&good);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    fs::remove_dir_all(&dir).unwrap();
}

/// `--netlink` of a protocol nothing in the guest serves (udpcount creates
/// no unit 31) fails the test, exit 1, saying what would serve it.
fn a_protocol_nothing_serves_fails_the_test() {
    let out = kulink()
        .args(["test", "--json", "--module", &udpcount_module(), "--netlink", "31", "--", "/bin/true"])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["ran"]["code"], 0, "the command itself passed: {report:#}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p.as_str().unwrap().starts_with("netlink protocol 31: nothing in the guest serves it")),
        "{report:#}"
    );
}

/// rtnetlink's spec from the newest kernel source in the cache.
fn rt_link_spec() -> std::path::PathBuf {
    let (_, spec) = ["rt-link.yaml", "rt_link.yaml"]
        .iter()
        .find_map(|name| kernels::newest_source_file(&Path::new("Documentation/netlink/specs").join(name)))
        .expect("6.12 and newer ship rtnetlink's spec");
    spec
}

/// `--netlink route:1 --spec rt-link.yaml`: rtnetlink's link group, decoded
/// by the kernel's own netlink-raw spec: taking `lo` down is announced as
/// `newlink-ntf` with its fixed header (`ifinfomsg`) and attributes.
fn rtnetlink_events_decode_with_the_kernel_s_own_spec() {
    let spec = rt_link_spec();
    let out = kulink()
        .args(["test", "--json", "--module", &udpcount_module(), "--netlink", "route:1", "--spec"])
        .arg(&spec)
        .args(["--", "/bin/sh", "-c", "ip link set lo down"])
        .output()
        .unwrap();
    let report = &report_of(&out)[0];
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let records = report["netlink"].as_array().unwrap();
    let lo: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["protocol"] == 0 && r["nlmsg_type"] == 16 && r["message"]["attrs"]["ifname"] == "lo")
        .collect();
    assert!(!lo.is_empty(), "RTM_NEWLINK of lo: {report:#}");
    let message = &lo[0]["message"];
    assert_eq!(message["op"], "newlink-ntf", "{message:#}");
    assert_eq!(message["attrs"]["ifi-index"], 1, "the header's index: {message:#}");
    let flags = message["attrs"]["ifi-flags"].as_array().expect("flags by name");
    assert!(flags.contains(&"loopback".into()) && !flags.contains(&"up".into()), "down: {message:#}");
}

/// Each `kulink test` command line of the README and docs, after the
/// variable assignments of its code block, in the order they come.
fn documented_test_lines() -> Vec<String> {
    let repo = common::repo();
    let docs = fs::read_dir(repo.join("docs")).unwrap().map(|e| e.unwrap().path());
    let mut pages: Vec<_> = docs.filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    pages.sort();
    pages.insert(0, repo.join("README.md"));
    let mut lines = Vec::new();
    for page in pages {
        let text = fs::read_to_string(&page).unwrap();
        for block in text.split("```sh\n").skip(1).filter_map(|rest| rest.split_once("```").map(|(b, _)| b)) {
            let mut assignments = String::new();
            for line in block.replace("\\\n", " ").lines() {
                let is_assignment = line.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                if is_assignment {
                    assignments += &format!("{line}\n");
                } else if line.contains("kulink test ") || line.contains("kulink-cli -- test ") {
                    let script = format!("{assignments}{line}\n");
                    if !lines.contains(&script) {
                        lines.push(script);
                    }
                }
            }
        }
    }
    lines
}

/// The lines run as a user runs them: from the checkout, with `kulink`
/// on PATH (`cargo run -p kulink-cli --` is the same binary), and a home
/// whose `~/src/mymod` is a module of its own (udpcount's). The cache and
/// the Rust toolchain stay the user's. Each kernel the line names passes.
fn every_documented_kulink_test_line_passes_as_written() {
    let lines = documented_test_lines();
    assert!(lines.len() >= 2, "the README's example and docs/test.md's installed line: {lines:?}");
    let home = common::scratch_dir("home");
    let bin = home.join("bin");
    fs::create_dir_all(home.join("src/mymod")).unwrap();
    fs::create_dir_all(&bin).unwrap();
    for file in fs::read_dir(common::repo().join("examples/udpcount/module")).unwrap() {
        let file = file.unwrap().path();
        fs::copy(&file, home.join("src/mymod").join(file.file_name().unwrap())).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kulink"), bin.join("kulink")).unwrap();
    let real_home = std::env::var("HOME").unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let cargo_run =
        "cargo() { local all=\"$*\"; [ \"${all#run -p kulink-cli -- }\" != \"$all\" ] || exit 90; shift 4; kulink \"$@\"; }\n";
    for line in lines {
        let out = Command::new("bash")
            .args(["-euc", &format!("{cargo_run}{line}")])
            .current_dir(common::repo())
            .env("HOME", &home)
            .env("PATH", &path)
            .env("KULINK_CACHE", kulink::testbed::paths::cache_dir())
            .env("CARGO_HOME", std::env::var("CARGO_HOME").unwrap_or(format!("{real_home}/.cargo")))
            .env("RUSTUP_HOME", std::env::var("RUSTUP_HOME").unwrap_or(format!("{real_home}/.rustup")))
            .env_remove("KULINK_KERNELS")
            .env_remove("KULINK_KERNEL")
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{line}{stdout}{}", text(&out.stderr));
        let default = kernels::default_spec().unwrap().id;
        let kernels = line.split("--kernel ").nth(1).and_then(|k| k.split_whitespace().next()).unwrap_or(&default);
        for kernel in kernels.split(',') {
            assert!(stdout.contains(&format!("kernel  {kernel} (")), "{line}{stdout}");
        }
        assert_eq!(stdout.matches("\nPASSED\n").count(), kernels.split(',').count(), "{line}{stdout}");
    }
    fs::remove_dir_all(&home).unwrap();
}

kulink::kernel_tests!(once:
    a_command_that_cannot_start_is_refused_before_the_boot,
    applets_run_without_asking_for_a_shell,
    the_connector_sample_loads_after_its_core,
    a_module_s_device_uevents_are_recorded,
    a_sample_module_s_load_time_uevents_are_recorded,
    rtnetlink_events_decode_with_the_kernel_s_own_spec,
    a_protocol_nothing_serves_fails_the_test,
    the_hosts_root_brings_the_hosts_tools,
    a_spec_that_breaks_the_kernel_s_schema_is_refused_before_the_boot,
    every_documented_kulink_test_line_passes_as_written
);
