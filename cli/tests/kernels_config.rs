//! `kulink kernels config`: what a catalog kernel was built with, whole or
//! by option, as its `.config` says it; and `kulink kernels build`'s own
//! usage errors.

use std::process::Command;

fn kulink(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kulink")).args(args).output().unwrap()
}

fn the_config_names_what_the_kernel_has(kernel: &str) {
    let whole = kulink(&["kernels", "config", kernel]);
    assert_eq!(whole.status.code(), Some(0), "{}", String::from_utf8_lossy(&whole.stderr));
    let whole = String::from_utf8(whole.stdout).unwrap();
    // Every kernel of the catalog loads modules and has networking, IPv6
    // included.
    for line in ["CONFIG_MODULES=y", "CONFIG_NET=y", "CONFIG_IPV6=y"] {
        assert!(whole.lines().any(|l| l == line), "{kernel}: no {line} in its config");
    }
    let picked = kulink(&["kernels", "config", kernel, "MODULES", "CONFIG_IPV6", "CONFIG_KULINK_NO_SUCH_OPTION"]);
    assert_eq!(picked.status.code(), Some(0), "{}", String::from_utf8_lossy(&picked.stderr));
    assert_eq!(
        String::from_utf8(picked.stdout).unwrap(),
        "CONFIG_MODULES=y\nCONFIG_IPV6=y\n# CONFIG_KULINK_NO_SUCH_OPTION is not set\n"
    );
}

/// A name that is no option is refused before anything is built or read.
fn a_bad_option_name_is_a_usage_error() {
    let out = kulink(&["kernels", "config", "6.1", "net"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("net is not a kernel option name"));
}

/// `kernels build --agent` names a package its workspace does not have
/// before any kernel is fetched or built.
fn an_agent_package_that_is_not_there_is_a_usage_error() {
    let out = kulink(&["kernels", "build", "--agent", "kulink-no-such-agent", "all"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--agent kulink-no-such-agent: no such package in the cargo workspace"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Before the first kernel: a cached one would be said ready at once.
    assert!(out.stdout.is_empty(), "no kernel was said ready: {}", String::from_utf8_lossy(&out.stdout));
}

/// A variant's configuration is the kernel's with the overlay on top, and
/// the variant is listed once it exists.
fn a_variant_shows_its_overlay_and_is_listed() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let out = kulink(&["kernels", "config", &kernel, "--kconfig", "CONFIG_CONNECTOR=y", "CONNECTOR", "NET"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "CONFIG_CONNECTOR=y\nCONFIG_NET=y\n");
    let base = kulink(&["kernels", "config", &kernel, "CONNECTOR"]);
    assert_eq!(String::from_utf8(base.stdout).unwrap(), "# CONFIG_CONNECTOR is not set\n", "the base is untouched");
    let list = kulink(&["kernels", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let variant = format!("{kernel}+CONFIG_CONNECTOR=y");
    assert!(rows.as_array().unwrap().iter().any(|r| r["id"] == variant.as_str() && r["cached"] == true), "{rows:#}");

    // An option the kernel cannot take is named, twice alike: the variant
    // that failed is neither kept nor listed.
    for _ in 0..2 {
        let out = kulink(&["kernels", "config", &kernel, "--kconfig", "CONFIG_KULINK_NO_SUCH_OPTION=y", "NET"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("CONFIG_KULINK_NO_SUCH_OPTION: requested y, got not set"), "{stderr}");
    }
    let list = String::from_utf8(kulink(&["kernels", "list"]).stdout).unwrap();
    assert!(!list.contains("NO_SUCH"), "{list}");
}

/// A distribution's kernel takes an overlay it already has as it ships,
/// and names what it lacks of any other.
fn a_distribution_kernel_takes_only_what_it_has(kernel: &str) {
    let out = kulink(&["kernels", "config", kernel, "--kconfig", "CONFIG_IPV6=y", "IPV6"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "CONFIG_IPV6=y\n");
    let out = kulink(&["kernels", "config", kernel, "--kconfig", "CONFIG_KULINK_NO_SUCH_OPTION=y", "IPV6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CONFIG_KULINK_NO_SUCH_OPTION: requested y, got not set"), "{stderr}");
}

/// A distribution kernel this host cannot build modules for is listed with
/// the reason, left out of the groups, and refused before any download;
/// those it can use are in the selection.
fn kernels_out_of_reach_are_named_and_left_out() {
    let list = kulink(&["kernels", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    // The whole selection, whatever this run of the suite narrowed it to.
    let ids = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["kernels", "list", "--ids"])
        .env_remove("KULINK_KERNELS")
        .env_remove("KULINK_KERNEL")
        .env_remove("KULINK_SKIP_KERNELS")
        .output()
        .unwrap();
    let selected: Vec<String> = serde_json::from_slice(&ids.stdout).unwrap();
    for row in
        rows.as_array().unwrap().iter().filter(|r| r["kind"] == "distro" && !r["id"].as_str().unwrap().contains('+'))
    {
        let id = row["id"].as_str().unwrap();
        match row["out_of_reach"].as_str() {
            None => assert!(selected.iter().any(|s| s == id), "{id} is usable, so selected: {selected:?}"),
            Some(why) => {
                assert!(!selected.iter().any(|s| s == id), "{id} is out of reach ({why}), yet selected");
                assert!(why.contains("needs gcc") || why.contains("needs glibc"), "{id}: {why}");
                // (A kernel whose packages cannot be reached never gets here on a host with a mirror.)
                let out = kulink(&["kernels", "build", id]);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains(&format!("kernel {id} (Debian ")) && stderr.contains(why), "{stderr}");
                assert_eq!(row["cached"], false, "{id} was never fetched");
            }
        }
    }
}

/// On a host with no Debian mirror (a CI runner that is not Debian's), the
/// listing names only the kernels built from source: the distributions'
/// are out of reach, and say why.
fn without_a_debian_mirror_only_source_kernels_are_listed() {
    let cache = std::env::temp_dir().join(format!("kulink-no-mirror-{}", std::process::id()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kulink"))
            .args(args)
            .env("KULINK_CACHE", &cache)
            // Nothing listens on the discard port: every download fails at once.
            .env("KULINK_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
            .env_remove("KULINK_KERNELS")
            .env_remove("KULINK_KERNEL")
            .env_remove("KULINK_SKIP_KERNELS")
            .output()
            .unwrap()
    };
    let ids = run(&["kernels", "list", "--ids"]);
    assert_eq!(ids.status.code(), Some(0), "{}", String::from_utf8_lossy(&ids.stderr));
    let listed: Vec<String> = serde_json::from_slice(&ids.stdout).unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&run(&["kernels", "list", "--json"]).stdout).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    let rows = rows.as_array().unwrap();
    let of_kind = |kind: &str| -> Vec<String> {
        let ids = rows.iter().filter(|r| r["kind"] == kind).map(|r| r["id"].as_str().unwrap().to_owned());
        ids.collect()
    };
    let distro = of_kind("distro");
    assert!(!distro.is_empty(), "the catalog has distributions' kernels");
    let mut built: Vec<String> = of_kind("source");
    built.extend(of_kind("cross"));
    built.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, built, "only the kernels built from source");
    for row in rows.iter().filter(|r| r["kind"] == "distro") {
        let why = row["out_of_reach"].as_str().unwrap_or_else(|| panic!("{row:#}"));
        assert!(why.contains("cannot be reached"), "{why}");
    }
}

kulink::kernel_tests!(
    the_config_names_what_the_kernel_has;
    distro: a_distribution_kernel_takes_only_what_it_has;
    once: a_bad_option_name_is_a_usage_error,
    an_agent_package_that_is_not_there_is_a_usage_error,
    a_variant_shows_its_overlay_and_is_listed,
    kernels_out_of_reach_are_named_and_left_out,
    without_a_debian_mirror_only_source_kernels_are_listed
);
