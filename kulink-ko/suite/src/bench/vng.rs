//! kulink against the tool people use to run a command on a kernel:
//! `vng --exec true` and kulink's guest running `true`, on the same kernel
//! and accelerator, each timed from start to the virtual machine's exit.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink::testbed::accel::{Accel, AccelChoice};
use kulink::testbed::artifacts::{Artifacts, KernelChoice};
use kulink::testbed::{process_tree, tools};
use serde::Serialize;

use kulink::GuestBuilder;

/// Longer than any boot under TCG on a loaded host: a vng that has not
/// returned by then is stuck (a kernel that halts instead of powering off).
const VNG_TIMEOUT: Duration = Duration::from_secs(120);

/// What virtme-ng's init logs when the command exited 0.
const VNG_RAN_TRUE: &str = "script exited with code 0";

/// Start to exit, per tool, in milliseconds (medians of several runs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommandStart {
    /// `vng --exec true`: vng's start-up, boot, the command, power-off.
    pub vng_ms_median: u64,
    /// kulink's guest booted, `true` run through its agent, powered off.
    pub kulink_boot_ms_median: u64,
    /// The same, started from a saved guest instead of booting; none where
    /// guests are not saved (`KULINK_SNAPSHOTS=off`).
    pub kulink_restore_ms_median: Option<u64>,
    /// Runs of each.
    pub runs: usize,
}

/// Times `runs` of each on `kernel` (it must have vng.config); vng gets
/// the accelerator kulink's guest got.
pub fn command_start(kernel: &KernelChoice, accel: AccelChoice, runs: usize) -> Result<CommandStart> {
    tools::VNG.require()?;
    let builder = GuestBuilder::new(kernel.clone()).shell().accel(accel);
    let art = builder.prepare()?;
    let cold = builder.clone().restore(false);
    let mut boot = Vec::with_capacity(runs);
    let mut used = Accel::Tcg;
    for _ in 0..runs {
        let (ms, accel) = kulink_true(&cold, &art, Some(false))?;
        boot.push(ms);
        used = accel;
    }
    let mut restore = Vec::new();
    if kulink::testbed::vm::snapshots_enabled() {
        kulink_true(&builder, &art, None)?; // saves the guest, if none was
        for _ in 0..runs {
            restore.push(kulink_true(&builder, &art, Some(true))?.0);
        }
    }
    let vng: Vec<u64> = (0..runs).map(|_| vng_true(&art, used)).collect::<Result<_>>()?;
    Ok(CommandStart {
        vng_ms_median: super::median(vng.into_iter()),
        kulink_boot_ms_median: super::median(boot.into_iter()),
        kulink_restore_ms_median: (!restore.is_empty()).then(|| super::median(restore.into_iter())),
        runs,
    })
}

/// kulink's guest from start to exit, with `true` run in between; it must
/// have booted or been restored as `want_restored` says, when it says.
fn kulink_true(builder: &GuestBuilder, art: &Artifacts, want_restored: Option<bool>) -> Result<(u64, Accel)> {
    let started = Instant::now();
    let mut vm = builder.boot_prepared(art)?;
    let how = |restored| if restored { "started from a saved guest" } else { "booted" };
    if let Some(want) = want_restored.filter(|&want| want != vm.restored()) {
        bail!("the guest {} where it was to have {}", how(vm.restored()), how(want));
    }
    let ran = vm.run(&["/bin/busybox", "true"], Duration::from_secs(10))?;
    if !ran.success() {
        bail!("`true` failed in kulink's guest: {ran:?}");
    }
    let accel = vm.accel();
    vm.shutdown()?.check()?;
    Ok((started.elapsed().as_millis() as u64, accel))
}

/// `vng --exec true` on the same kernel and accelerator, from start to exit.
fn vng_true(art: &Artifacts, accel: Accel) -> Result<u64> {
    let mut command = tools::VNG.command()?;
    command.arg("--run").arg(&art.kernel.bzimage);
    // Our devices stay out; the memory and CPUs are kulink's guest's.
    command.args(["--disable-microvm", "--force-9p", "--memory", "256M", "--cpus", "1"]);
    if accel == Accel::Tcg {
        command.arg("--disable-kvm");
    }
    // A file, not a pipe: nobody reads while it runs.
    let log_path = std::env::temp_dir().join(format!("kulink-vng-bench-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
    // --verbose: the guest's console says how the command ended.
    command.args(["--verbose", "--exec", "true"]).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let started = Instant::now();
    let mut child = command.spawn().context("start vng")?;
    let output = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let _ = std::fs::remove_file(&log_path);
        text
    };
    loop {
        if let Some(status) = child.try_wait()? {
            let ms = started.elapsed().as_millis() as u64;
            let output = output();
            // vng reads the command's exit code from a virtio-serial port
            // its init finds through udev's /dev/virtio-ports links; where
            // it finds none it runs the command on the console and exits
            // 255 whatever the command did. Its init logs the truth.
            if !status.success() && !output.contains(VNG_RAN_TRUE) {
                bail!("vng --exec true failed ({status}):\n{}", tools::tail(&output, 20));
            }
            return Ok(ms);
        }
        if started.elapsed() > VNG_TIMEOUT {
            process_tree::kill(&mut child);
            bail!(
                "vng --exec true did not return within {}s (does the kernel power off?):\n{}",
                VNG_TIMEOUT.as_secs(),
                tools::tail(&output(), 20)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
