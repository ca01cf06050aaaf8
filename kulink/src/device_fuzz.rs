//! Character device fuzzing: ioctls (the module's own numbers, others of
//! the same type, any number) with null, unmapped, kernel and arena
//! pointers and plain numbers; reads and writes of sizes 0, 1, unaligned
//! and huge; mmaps of odd lengths, offsets and protections; polls; and
//! reopening the device. The calls are made by a helper process in the
//! guest (see [`DeviceBurst`]). Errors are the device's right; a splat, a
//! helper killed by a signal, or a call that never returns is not.
//!
//! ```
//! use kulink::device_fuzz;
//!
//! let calls = device_fuzz::cases(&[0x8030_b801], 900, 7);
//! assert_eq!(calls.len(), 900);
//! assert!(calls.iter().any(|c| c.kind == "known ioctl"));
//! ```

use anyhow::Result;
use kulink_protocol::{DeviceAnswers, DeviceArg, DeviceBurst, DeviceCall, Extension, DEVICE_ARENA};
use kulink_testbed::vm::Vm;

use crate::builder::GuestBuilder;
use crate::fuzz::{errno_name, judge, FuzzReport, Sender, Tally, Target, BATCH};

/// One call and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The kind of call (one of [`KINDS`]).
    pub kind: &'static str,
    /// The call.
    pub call: DeviceCall,
}

/// Every kind of call, in the order `cases` cycles through them.
pub const KINDS: &[&str] =
    &["known ioctl", "ioctl of a known type", "random ioctl", "known ioctl", "read", "write", "mmap", "poll", "reopen"];

const PAGE: u64 = 4096;

/// `count` calls from `seed`, using the module's own ioctl numbers
/// `ioctls` (and their type byte) when there are any.
pub fn cases(ioctls: &[u32], count: usize, seed: u64) -> Vec<Case> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|i| {
            let kind = match KINDS[i % KINDS.len()] {
                "known ioctl" | "ioctl of a known type" if ioctls.is_empty() => "random ioctl",
                kind => kind,
            };
            Case { kind, call: call(kind, ioctls, &mut rng) }
        })
        .collect()
}

fn call(kind: &str, ioctls: &[u32], rng: &mut fastrand::Rng) -> DeviceCall {
    let known = (!ioctls.is_empty()).then(|| ioctls[rng.usize(..ioctls.len())]);
    match (kind, known) {
        ("known ioctl", Some(request)) => DeviceCall::Ioctl { request, arg: arg(rng) },
        ("ioctl of a known type", Some(known)) => {
            // _IOC(dir, type, nr, size): any direction, number and size.
            let request = rng.u32(0..4) << 30 | rng.u32(0..1 << 14) << 16 | (known & 0xff00) | rng.u32(0..256);
            DeviceCall::Ioctl { request, arg: arg(rng) }
        }
        ("known ioctl" | "ioctl of a known type" | "random ioctl", _) => {
            DeviceCall::Ioctl { request: rng.u32(..), arg: arg(rng) }
        }
        ("read", _) => DeviceCall::Read { len: length(rng), buf: arg(rng) },
        ("write", _) => DeviceCall::Write { len: length(rng), buf: arg(rng) },
        ("mmap", _) => DeviceCall::Mmap {
            len: pick([0, 1, PAGE, 2 * PAGE, rng.u64(1..64) * PAGE, rng.u64(1..1 << 20), 1 << 40], rng),
            offset: pick([0, 0, 1, PAGE, rng.u64(1..64) * PAGE, !(PAGE - 1)], rng),
            prot: rng.i32(0..8),
            shared: rng.bool(),
        },
        ("poll", _) => DeviceCall::Poll { events: pick([0x1 | 0x4, rng.i16(..)], rng) },
        _ => DeviceCall::Reopen,
    }
}

/// A length: 0, 1, unaligned, a page and more, the arena, or huge.
fn length(rng: &mut fastrand::Rng) -> u64 {
    pick([0, 1, rng.u64(2..64), rng.u64(64..PAGE), PAGE + 1, u64::from(DEVICE_ARENA), 1 << 31, u64::MAX], rng)
}

/// A pointer or number: null, unmapped, a kernel address, somewhere in
/// the arena (aligned or not) with random bytes, or a plain number.
fn arg(rng: &mut fastrand::Rng) -> DeviceArg {
    match rng.u8(0..8) {
        0 => DeviceArg::Null,
        1 => DeviceArg::Unmapped,
        2 => DeviceArg::Kernel,
        3 => DeviceArg::Value(pick([1, u64::from(rng.u32(..)), rng.u64(..)], rng)),
        _ => {
            let offset = pick([0, 1, 3, PAGE as u32 - 1, rng.u32(0..DEVICE_ARENA)], rng);
            let bytes = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
            DeviceArg::Buffer { offset, bytes }
        }
    }
}

fn pick<T: Copy, const N: usize>(choices: [T; N], rng: &mut fastrand::Rng) -> T {
    choices[rng.usize(..N)]
}

/// Makes `cases` on `device` in the guest as `sender`, in bursts, and
/// tallies what each returned: `ok` or the errno's name, by kind of call.
pub fn send<X: Extension>(guest: &mut Vm<X>, device: &str, cases: &[Case], sender: Sender) -> Result<Tally> {
    let mut tally = Tally::new(sender);
    for chunk in cases.chunks(BATCH) {
        let burst = DeviceBurst {
            path: device.into(),
            calls: chunk.iter().map(|c| c.call.clone()).collect(),
            unprivileged: sender == Sender::Unprivileged,
        };
        let answers = guest.device_burst(burst)?;
        if !add(&mut tally, device, chunk, &answers) {
            break;
        }
    }
    Ok(tally)
}

/// Adds what `answers` say of `cases`; false when the burst stopped
/// short (the device would not open, or the helper was killed).
fn add(tally: &mut Tally, device: &str, cases: &[Case], answers: &DeviceAnswers) -> bool {
    if answers.opened < 0 {
        tally.problem(format!("cannot open {device}: {}", errno_name(-answers.opened as i32)));
        return false;
    }
    for (case, result) in cases.iter().zip(&answers.results) {
        let outcome = if *result >= 0 { "ok".into() } else { errno_name(-*result as i32) };
        tally.record(case.kind, outcome, None);
    }
    if answers.results.len() == cases.len() {
        return true;
    }
    let at = tally.sent + 1;
    let stopped = cases.get(answers.results.len()).map_or(String::new(), |c| format!(", {},", c.call));
    match answers.killed_by {
        Some(signal) => tally.problem(format!(
            "call {at}{stopped}: the calling process was killed by {}",
            nix::sys::signal::Signal::try_from(signal).map_or(format!("signal {signal}"), |s| s.to_string())
        )),
        None => tally.problem(format!("call {at}{stopped}: the helper stopped without a result")),
    }
    false
}

/// Boots `guest`, has `sender` make `count` calls from `seed` on `device`
/// (`ioctls`: the module's own numbers), and judges them and the kernel
/// log.
pub fn run(
    guest: &GuestBuilder,
    device: &str,
    ioctls: &[u32],
    count: usize,
    seed: u64,
    sender: Sender,
) -> Result<FuzzReport> {
    let cases = cases(ioctls, count, seed);
    let mut vm = guest.boot()?;
    let tally = send(&mut vm, device, &cases, sender)?;
    judge(guest, vm, Target::Device(device.to_owned()), tally, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_calls_and_every_kind_comes() {
        let a = cases(&[0x8030_b801, 0x4004_b802], 900, 1);
        assert_eq!(a, cases(&[0x8030_b801, 0x4004_b802], 900, 1));
        assert_ne!(a, cases(&[0x8030_b801, 0x4004_b802], 900, 2));
        for kind in KINDS {
            assert!(a.iter().filter(|c| c.kind == *kind).count() >= 100, "{kind}");
        }
        let requests = |kind: &'static str| {
            a.iter().filter(move |c| c.kind == kind).map(|c| match c.call {
                DeviceCall::Ioctl { request, .. } => request,
                _ => panic!("{} is not an ioctl", c.kind),
            })
        };
        assert!(requests("known ioctl").all(|r| r == 0x8030_b801 || r == 0x4004_b802));
        assert!(requests("ioctl of a known type").all(|r| r & 0xff00 == 0xb800));
        assert!(requests("random ioctl").any(|r| r & 0xff00 != 0xb800));
    }

    #[test]
    fn without_known_numbers_every_ioctl_is_random() {
        let a = cases(&[], 90, 3);
        let ioctls: Vec<&Case> = a.iter().filter(|c| matches!(c.call, DeviceCall::Ioctl { .. })).collect();
        assert_eq!(ioctls.len(), 40);
        assert!(ioctls.iter().all(|c| c.kind == "random ioctl"));
    }

    #[test]
    fn a_killed_helper_and_a_closed_device_are_problems() {
        let cases = cases(&[], 9, 1);
        let mut tally = Tally::new(Sender::Root);
        let answers = DeviceAnswers { opened: 0, results: vec![0, -25, -22], killed_by: Some(9) };
        assert!(!add(&mut tally, "/dev/x", &cases, &answers));
        assert_eq!((tally.sent, tally.unexpected), (3, 1));
        assert_eq!(tally.by_mutation["random ioctl"]["ENOTTY"], 1);
        assert!(tally.problems[0].starts_with("call 4, ioctl(fd, 0x"), "{:?}", tally.problems);
        assert!(tally.problems[0].ends_with("killed by SIGKILL"), "{:?}", tally.problems);
        let mut tally = Tally::new(Sender::Unprivileged);
        assert!(!add(&mut tally, "/dev/x", &cases, &DeviceAnswers { opened: -13, ..Default::default() }));
        assert_eq!(tally.problems, ["cannot open /dev/x: EACCES"]);
    }
}
