//! The kernel a module needs: the kernel's own connector sample, from the
//! kernel's source, fails as the module's failure (exit 1) on a kernel
//! without CONFIG_CONNECTOR, naming the option, and passes on a variant of
//! that kernel with `--kconfig CONFIG_CONNECTOR=y`, talking both ways with
//! the sample's own user-space client, `ucon.c`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kulink::testbed::kernels::{self, KernelSpec, Kind};

/// The sample from `kernel`'s own source, in a module directory of its own.
fn connector_sample(kernel: &KernelSpec) -> PathBuf {
    let built = kernels::ensure_built(kernel).unwrap();
    let sample = built.kdir.join("source/samples/connector/cn_test.c");
    assert!(sample.is_file(), "the kernel's source has {}", sample.display());
    assert!(built.config().unwrap().lines().all(|l| l != "CONFIG_CONNECTOR=y"), "{} lacks it", kernel.id);
    let module = std::env::temp_dir().join(format!("kulink-cn-test-{}-{}", std::process::id(), kernel.id));
    std::fs::create_dir_all(&module).unwrap();
    std::fs::copy(&sample, module.join("cn_test.c")).unwrap();
    std::fs::write(module.join("Kbuild"), "obj-m += cn_test.o\n").unwrap();
    module
}

/// The sample's client, `ucon.c` from the kernel's source, built static:
/// the guest has no C library.
fn connector_client(kernel: &KernelSpec) -> PathBuf {
    let source = kernels::ensure_built(kernel).unwrap().kdir.join("source/samples/connector/ucon.c");
    let dir = std::env::temp_dir().join(format!("kulink-ucon-{}-{}", std::process::id(), kernel.id));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("ucon");
    let out = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&binary).arg(&source).output().unwrap();
    assert!(out.status.success(), "gcc {}: {}", source.display(), String::from_utf8_lossy(&out.stderr));
    binary
}

fn kulink_test(module: &Path, kernel: &str, more: &[&str], script: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["test", "--module"])
        .arg(module)
        .args(["--kernel", kernel, "--shell", "--json"])
        .args(more)
        .args(["--", "/bin/sh", "-c", script])
        .output()
        .unwrap()
}

fn the_connector_sample_names_config_connector() {
    let spec = kernels::default_spec().unwrap();
    let module = connector_sample(&spec);
    let out = kulink_test(&module, &spec.id, &[], "true");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the module's failure:\n{stderr}");
    let wanted = format!(
        "cn_add_callback, cn_del_callback and cn_netlink_send are exported by drivers/connector/connector.c, \
         built with CONFIG_CONNECTOR, which kernel {0} does not have (see `kulink kernels config {0} CONFIG_CONNECTOR`)",
        spec.id
    );
    assert!(stderr.contains(&wanted), "{stderr}");
    // The compiler's words name the user's copy, not kulink's cache.
    assert!(stderr.contains(&format!("[{}/cn_test.ko] undefined!", module.display())), "{stderr}");
    std::fs::remove_dir_all(&module).unwrap();
}

/// On the default kernel and the newest one built from source: the module
/// registers its two callbacks with the connector; ucon, subscribed,
/// receives the module's timer messages in order; and the messages ucon
/// sends reach the module's callback.
fn the_connector_sample_passes_on_a_variant_with_config_connector() {
    let selected = kernels::selected().unwrap();
    let source: Vec<&KernelSpec> = selected.iter().filter(|k| k.kind() == Kind::Source).collect();
    let Some(newest) = source.iter().max_by_key(|k| version_of(k)) else {
        // Only a narrowed selection (KULINK_KERNELS) leaves every one out.
        assert!(kernels::list().unwrap().len() != selected.len(), "the catalog has no kernel built from source");
        return kulink::matrix::skipped("no kernel built from source is selected");
    };
    let mut picked: Vec<&KernelSpec> = source.iter().filter(|k| k.default).copied().collect();
    if !picked.iter().any(|k| k.id == newest.id) {
        picked.push(newest);
    }
    for kernel in picked {
        let module = connector_sample(kernel);
        let client = connector_client(kernel);
        // Three seconds of the module's once-a-second messages, then ucon's
        // ten thousand messages to the module.
        let script = "cat /proc/net/connector; dmesg | grep cn_test; \
                      /bin/ucon & sleep 3; kill $!; \
                      /bin/ucon -s > /dev/null; dmesg | grep -c 'cn_test_callback: .*idx=e, val=456, seq=0, ack=0, len=0'";
        let file = format!("{}:/bin/ucon", client.display());
        let out = kulink_test(&module, &kernel.id, &["--kconfig", "CONFIG_CONNECTOR=y", "--file", &file], script);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {}\n{stderr}", kernel.id, String::from_utf8_lossy(&out.stdout));
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let report = &reports[0];
        assert_eq!(report["kernel"], format!("{}+CONFIG_CONNECTOR=y", kernel.id), "the variant booted");
        let stdout = report["ran"]["stdout"].as_str().unwrap();
        for line in ["cn_test         14:1110", "cn_test         14:1111", "cn_test: initialized with id={14.1111}"] {
            assert!(stdout.contains(line), "{}: no {line:?} in\n{stdout}", kernel.id);
        }
        assert!(stdout.contains("subscribing to 14.1110"), "{}: ucon started:\n{stdout}", kernel.id);
        let counters = timer_counters(stdout);
        assert!(counters.len() >= 2, "{}: ucon got {counters:?} of the module's messages:\n{stdout}", kernel.id);
        assert!(counters.windows(2).all(|w| w[1] == w[0] + 1), "{}: in order, none lost: {counters:?}", kernel.id);
        let received: u32 = stdout.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        assert!(received > 0, "{}: the module's callback logged none of ucon's messages:\n{stdout}", kernel.id);
        std::fs::remove_dir_all(&module).unwrap();
        std::fs::remove_dir_all(client.parent().unwrap()).unwrap();
    }
}

/// The counters of the module's timer messages as ucon prints them,
/// `Thu Jan  1 00:00:05 1970 : [e.457] [00000004.00000000].`: the id is the
/// module's second callback's, the sequence number its counter.
fn timer_counters(ucon_output: &str) -> Vec<u32> {
    ucon_output
        .lines()
        .filter_map(|l| l.split(" : [e.457] [").nth(1))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect()
}

/// `7.3` sorts after `6.12`, which sorts after `6.1`.
fn version_of(kernel: &KernelSpec) -> Vec<u32> {
    kernel.version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

kulink::kernel_tests!(
    once: the_connector_sample_names_config_connector,
    the_connector_sample_passes_on_a_variant_with_config_connector
);
