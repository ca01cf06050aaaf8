//! setsockopt/getsockopt registered by the module with nf_register_sockopt.

mod common;

use kulink_ko_contract::observed::Observed;
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::Channel;
use kulink_ko_suite::config_verdict;
use kulink_ko_suite::guest::KulinkGuest;

fn sockopt_round_trip_lengths_and_capability(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let observed = vm.observe(Channel::Sockopt).unwrap();
    let verdict = config_verdict::judge(&observed);
    assert!(verdict.passed(), "{verdict}");
    let Observed::Sockopt(seen) = observed else { panic!("{observed:?}") };
    assert_eq!(seen.message, StepOutcome::Ok("a message from kernel, you said: a message from userspace".into()));
    assert_eq!(
        (seen.set_unprivileged, seen.get_unprivileged),
        (StepOutcome::Errno(libc::EPERM), StepOutcome::Errno(libc::EPERM))
    );
    common::finish(vm);
}

kulink::kernel_tests!(
    source: sockopt_round_trip_lengths_and_capability);
