//! setsockopt/getsockopt registered by the module with nf_register_sockopt.

mod common;

use kulink::session;
use kulink_wire::control::channel;

#[test]
fn sockopt_round_trip_lengths_and_capability() {
    let mut vm = common::boot(&[]);
    let result = session::check(&mut vm, channel::SOCKOPT).unwrap();
    assert!(result.passed, "{:#?}", result.detail);
    let detail = result.detail.join("\n");
    assert!(detail.contains("a message from kernel, you said: a message from userspace"), "{detail}");
    assert!(detail.contains("without CAP_NET_ADMIN fails with \"Operation not permitted"), "{detail}");
    common::finish(vm);
}
