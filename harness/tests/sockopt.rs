//! setsockopt/getsockopt registered by the module with nf_register_sockopt.

#[macro_use]
mod common;

use kulink::guest::KulinkGuest;
use kulink_wire::Channel;

fn sockopt_round_trip_lengths_and_capability(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let result = vm.check(Channel::Sockopt).unwrap();
    assert!(result.passed, "{:#?}", result.detail);
    let detail = result.detail.join("\n");
    assert!(detail.contains("a message from kernel, you said: a message from userspace"), "{detail}");
    assert!(detail.contains("without CAP_NET_ADMIN fails with \"Operation not permitted"), "{detail}");
    common::finish(vm);
}

matrix!(sockopt_round_trip_lengths_and_capability);
