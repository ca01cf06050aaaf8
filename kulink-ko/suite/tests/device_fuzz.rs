//! /dev/kulink under hostile calls (20 000 on the debug build, with KASAN,
//! lockdep and panic_on_warn; 5 000 elsewhere): every call returns, with
//! the errors the module promises, the kernel log stays clean, and the
//! device still delivers every event afterwards. An unprivileged caller
//! cannot open it at all.

mod common;

use kulink::device_fuzz;
use kulink::fuzz::Sender;
use kulink_ko_contract::{uapi, Channel};
use kulink_ko_suite::inject::{self, listener};
use kulink_ko_suite::plan::Plan;

const DEVICE: &str = "/dev/kulink";

fn count(kernel: &str) -> usize {
    if common::is_debug(kernel) {
        20_000
    } else {
        5_000
    }
}

fn kulink_dev_answers_hostile_calls_and_still_delivers(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let cases = device_fuzz::cases(&uapi::IOCTLS, count(kernel), 1);
    // The node is root's (0600): nobody gets no further than open().
    let nobody = device_fuzz::send(&mut vm, DEVICE, &cases[..10], Sender::Unprivileged).unwrap();
    assert_eq!(
        (nobody.sent, nobody.problems.as_slice()),
        (0, ["cannot open /dev/kulink: EACCES".to_owned()].as_slice())
    );
    let tally = device_fuzz::send(&mut vm, DEVICE, &cases, Sender::Root).unwrap();
    assert!(tally.passed(), "{:#?}", tally.problems);
    assert_eq!(tally.sent, count(kernel));
    let outcomes = |kind: &str| tally.by_mutation[kind].keys().cloned().collect::<Vec<_>>();
    // Numbers the device does not know, of its type or not, are not its.
    assert_eq!(outcomes("ioctl of a known type"), ["ENOTTY"]);
    assert_eq!(outcomes("random ioctl"), ["ENOTTY"]);
    // Its own: done, a bad pointer, or a signal number it refuses.
    assert_eq!(outcomes("known ioctl"), ["EFAULT", "EINVAL", "ok"]);
    // Nothing is queued and the file never waits: too short, a bad
    // buffer, or nothing yet. A write is one valid record or refused.
    assert_eq!(outcomes("read"), ["EAGAIN", "EFAULT", "EINVAL"]);
    assert!(
        outcomes("write").iter().all(|o| ["EFAULT", "EINVAL", "ok"].contains(&o.as_str())),
        "{:?}",
        outcomes("write")
    );
    assert!(outcomes("mmap").contains(&"EINVAL".to_owned()), "{:?}", outcomes("mmap"));
    assert_eq!(outcomes("poll"), ["ok"]);
    assert_eq!(outcomes("reopen"), ["ok"]);

    let plan = Plan::standard(vm.wire(), 16);
    let events = inject::inject(&mut vm, &plan, &[listener(Channel::Chardev)], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &listener(Channel::Chardev));
    common::finish(vm);
}

kulink::kernel_tests!(
    source: kulink_dev_answers_hostile_calls_and_still_delivers);
