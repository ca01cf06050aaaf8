//! The same echo requests from the wire through kulink.ko's hook to its
//! multicast group, and through the kernel's own path, an nftables
//! `log group` rule to NFLOG: both read in one guest program while the host
//! sends the frames as fast as the wire takes them.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink::testbed::frames;
use kulink::testbed::protocol::Extension;
use kulink::testbed::vm::Vm;
use kulink_ko_contract::bench::{FramesFigures, FramesRun, FRAMES_ARG};

/// Bytes of ICMP payload per echo request: a ping's.
const PAYLOAD: usize = 56;
/// Far more than the program needs once the last frame is sent, at an
/// idle 6.1's pace.
const RESULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the program, sends the run's frames, and reads what it measured.
pub fn measure<X: Extension>(vm: &mut Vm<X>, program: &str, run: &FramesRun) -> Result<FramesFigures> {
    let json = serde_json::to_string(run)?;
    // The guest's own pace sets the wait (a debug kernel on a busy host
    // takes several times an idle 6.1's): forty boots' worth, 30 s at least.
    let ready_within = Duration::from_secs(30).max(vm.wall_boot() * 40);
    let (pid, first) = vm.start(&[program, FRAMES_ARG, &json], ready_within)?;
    if first != "ready" {
        bail!("the frames program said {first:?}, not ready");
    }
    let sender = vm.frame_sender();
    for seq in 0..run.frames {
        sender.send(&frames::echo_request(vm.wire(), run.echo_id, seq as u16, PAYLOAD))?;
    }
    let deadline = Instant::now() + RESULT_TIMEOUT.max(vm.wall_boot() * 40);
    while vm.output(pid)?.lines().count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = vm.stop(pid, libc::SIGTERM)?;
    let result = ran
        .stdout
        .lines()
        .nth(1)
        .with_context(|| format!("the frames program gave no figures ({:?}): {}", ran.code, ran.stderr.trim()))?;
    serde_json::from_str(result).with_context(|| format!("its figures: {result}"))
}
