//! A module that needs what the kernel lacks fails as the module's failure
//! (exit 1), naming the option that would build what it needs: the
//! kernel's own connector sample, from the default kernel's source, on a
//! kernel without CONFIG_CONNECTOR.

use std::process::Command;

use kulink::testbed::kernels;

fn the_connector_sample_names_config_connector() {
    let spec = kernels::default_spec().unwrap();
    let built = kernels::ensure_built(&spec).unwrap();
    let sample = built.kdir.join("source/samples/connector/cn_test.c");
    assert!(sample.is_file(), "the kernel's source has {}", sample.display());
    assert!(built.config().unwrap().lines().all(|l| l != "CONFIG_CONNECTOR=y"), "the default kernel lacks it");
    let module = std::env::temp_dir().join(format!("kulink-cn-test-{}", std::process::id()));
    std::fs::create_dir_all(&module).unwrap();
    std::fs::copy(&sample, module.join("cn_test.c")).unwrap();
    std::fs::write(module.join("Kbuild"), "obj-m += cn_test.o\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["test", "--module"])
        .arg(&module)
        .args(["--kernel", &spec.id, "--shell", "--", "/bin/sh", "-c", "true"])
        .output()
        .unwrap();
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

kulink::kernel_tests!(once: the_connector_sample_names_config_connector);
