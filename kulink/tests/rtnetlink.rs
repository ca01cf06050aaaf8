//! A classic protocol through its own YNL spec and the library alone:
//! rtnetlink asked for its links with the kernel's `rt-link.yaml` (from
//! the catalog's newest kernel source; its messages are the same on
//! every kernel), the replies decoded by name, a refusal read with its
//! errno.

mod common;

use common::fixture_module;
use kulink::testbed::genl::Spec;
use kulink::testbed::kernels;
use kulink::GuestBuilder;
use serde_json::json;

/// `NLM_F_DUMP`.
const DUMP: u16 = 0x300;

fn rt_link() -> Spec {
    let specs = kernels::newest_source().unwrap().join("Documentation/netlink/specs");
    let path = ["rt-link.yaml", "rt_link.yaml"]
        .map(|name| specs.join(name))
        .into_iter()
        .find(|path| path.is_file())
        .expect("the catalog's 6.12 and newer ship rtnetlink's spec");
    Spec::load(&path).unwrap()
}

fn rtnetlink_answers_decode_with_the_kernel_s_own_spec(kernel: &str) {
    let spec = rt_link();
    let mut guest = GuestBuilder::kernel_id(kernel)
        .module(fixture_module("provider"))
        .boot()
        .unwrap_or_else(|e| panic!("boot on {kernel}: {e:#}"));
    let links = guest.netlink_call(&spec, "getlink", &json!({}), DUMP).unwrap_or_else(|e| panic!("{kernel}: {e:#}"));
    let ops: Vec<&str> = links.iter().map(|m| m.op.as_str()).collect();
    assert!(!ops.is_empty() && ops.iter().all(|op| *op == "getlink"), "{kernel}: {ops:?}");
    let by_name = |name: &str| {
        links
            .iter()
            .map(|m| m.to_json()["attrs"].clone())
            .find(|attrs| attrs["ifname"] == name)
            .unwrap_or_else(|| panic!("{kernel}: no link {name} in the dump"))
    };
    let lo = by_name("lo");
    assert_eq!(lo["ifi-index"], 1, "{lo:#}");
    let flags = lo["ifi-flags"].as_array().expect("flags by name");
    assert!(flags.contains(&"loopback".into()) && flags.contains(&"up".into()), "{lo:#}");
    assert_eq!(by_name("eth0")["address"].as_str().map(|mac| mac.matches(':').count()), Some(5), "a MAC by its hint");
    let refused = guest.netlink_call(&spec, "getlink", &json!({"ifi-index": 9999}), 0).unwrap_err();
    assert!(format!("{refused:#}").contains("refused with errno 19"), "ENODEV: {refused:#}");
    guest.shutdown().unwrap().check().unwrap();
}

kulink::kernel_tests!(source: rtnetlink_answers_decode_with_the_kernel_s_own_spec);
