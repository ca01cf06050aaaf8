//! `kulink bench boot`: how long a guest takes to be ready, per kernel, as
//! the median of several boots, and where the kernel log falls silent on
//! the way (what to trim first).

use anyhow::{bail, Context, Result};
use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::{Artifacts, KernelChoice};
use kulink::testbed::boot_steps::BootStep;
use kulink::testbed::vm::snapshots_enabled;
use serde::Serialize;

use super::{median, median_index};
use crate::guest;
use kulink::GuestBuilder;
use kulink_ko_contract::extension::KulinkKo;

/// How many of the kernel log's longest silences a report names.
const SILENCES: usize = 3;

/// One kernel's boots.
#[derive(Debug, Clone, Serialize)]
pub struct BootBench {
    /// [`SCHEMA_VERSION`](kulink::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// Each boot, in order.
    pub boots: Vec<Boot>,
    /// The median guest uptime when kulink.ko's agent said it was ready.
    pub boot_ms_median: u64,
    /// The median wall time from starting QEMU to that moment.
    pub wall_ms_median: u64,
    /// When the kernel ran `/init` and when each step of the agent's
    /// start-up was done, in the boot whose uptime was the median.
    pub steps: Vec<Step>,
    /// The kernel log's longest silences before the agent was ready, in
    /// the boot whose uptime was the median, longest first (from its log
    /// buffer: every level).
    pub silences: Vec<Silence>,
    /// Wall times from starting QEMU until guests restored from a saved
    /// one were ready, their module loaded, in milliseconds, in order.
    pub restores_ms: Vec<u64>,
    /// Their median; none where guests are not saved (`KULINK_SNAPSHOTS=off`).
    pub restore_ms_median: Option<u64>,
    /// What each step of kulink's boot tuning saves, when asked for
    /// (`--steps`): the same boots with that step alone left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tuning: Vec<StepEffect>,
    /// No boot's or restored guest's kernel log had a splat.
    pub kernel_log_clean: bool,
}

/// One step of the boot tuning, measured by leaving it out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StepEffect {
    /// Its name (`apic-timer-period`).
    pub step: String,
    /// What it does.
    pub what: String,
    /// Each boot without it: guest uptime when the agent was ready.
    pub ready_ms_without: Vec<u64>,
    /// Their median.
    pub ready_ms_median_without: u64,
    /// That median less the boots' with every step (`boot_ms_median`):
    /// what the step saves, in guest uptime.
    pub saves_ms: i64,
}

/// One boot to "agent ready".
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Boot {
    /// Guest uptime (CLOCK_BOOTTIME) when the agent was ready.
    pub ready_ms: u64,
    /// Wall time from starting QEMU until the host heard it.
    pub wall_ms: u64,
}

/// A moment of the start-up, from the kernel log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// What was done: `run /init`, then the agent's own words.
    pub step: String,
    /// Guest uptime then.
    pub at_ms: f64,
}

/// A stretch with nothing in the kernel log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Silence {
    /// Guest uptime when it began.
    pub from_ms: f64,
    /// How long it lasted.
    pub lasted_ms: f64,
    /// The line before it.
    pub after: String,
    /// The line that ended it.
    pub ended_by: String,
}

/// Boots kulink.ko's guest `boots` times on `kernel`, one after another,
/// with `kernel_args` added to its command line (`initcall_debug`, say, to
/// see what fills a silence); then starts it `boots` times from a saved
/// guest.
/// With `tuning_steps`, it boots as many times again without each step of the
/// boot tuning, one step at a time.
pub fn boot(
    kernel: KernelChoice,
    accel: AccelChoice,
    boots: usize,
    kernel_args: &[String],
    tuning_steps: bool,
) -> Result<BootBench> {
    let builder = kernel_args.iter().fold(guest::builder(kernel).accel(accel), |b, arg| b.kernel_arg(arg));
    let art = builder.prepare()?;
    let cold = builder.clone().restore(false);
    let (measured, logs, mut clean, release, accel_name) = cold_boots(&cold, &art, boots, "")?;
    let median_boot = median_index(&measured, |b| b.ready_ms).context("no boots")?;
    let ready_ms = measured[median_boot].ready_ms;
    let mut tuning = Vec::new();
    for step in BootStep::ALL.into_iter().filter(|_| tuning_steps) {
        let without = cold.clone().without_step(step);
        let (boots_without, _, step_clean, _, _) = cold_boots(&without, &art, boots, &format!(" without {step}"))?;
        clean &= step_clean;
        let median_without = median(boots_without.iter().map(|b| b.ready_ms));
        tuning.push(StepEffect {
            step: step.name().into(),
            what: step.what().into(),
            ready_ms_without: boots_without.iter().map(|b| b.ready_ms).collect(),
            ready_ms_median_without: median_without,
            saves_ms: median_without as i64 - ready_ms as i64,
        });
    }
    // An architecture whose saved guests do not come back whole (s390x) has no restore figure.
    let (restores_ms, restores_clean) = if snapshots_enabled() && art.kernel.arch.restores() {
        restores(&builder, &art, boots)?
    } else {
        (Vec::new(), true)
    };
    Ok(BootBench {
        schema_version: kulink::outcome::SCHEMA_VERSION,
        kernel: art.kernel.id.clone(),
        kernel_release: release,
        accel: accel_name,
        boot_ms_median: ready_ms,
        wall_ms_median: median(measured.iter().map(|b| b.wall_ms)),
        steps: steps(&logs[median_boot]),
        silences: silences(&logs[median_boot], ready_ms as f64, SILENCES),
        boots: measured,
        restore_ms_median: (!restores_ms.is_empty()).then(|| median(restores_ms.iter().copied())),
        restores_ms,
        tuning,
        kernel_log_clean: clean && restores_clean,
    })
}

/// What `boots` cold boots measured, with each one's whole kernel log,
/// whether every log was clean, and the guest's release and accelerator.
type ColdBoots = (Vec<Boot>, Vec<String>, bool, String, String);

/// Boots `boots` times, one after another (`what` names them in errors).
fn cold_boots(cold: &GuestBuilder<KulinkKo>, art: &Artifacts, boots: usize, what: &str) -> Result<ColdBoots> {
    let mut measured = Vec::with_capacity(boots);
    let (mut logs, mut clean, mut release, mut accel_name) = (Vec::new(), true, String::new(), String::new());
    for n in 1..=boots {
        let mut vm = cold.boot_prepared(art).with_context(|| format!("boot {n} of {boots}{what}"))?;
        measured.push(Boot { ready_ms: vm.ready().boot_ms, wall_ms: vm.wall_boot().as_millis() as u64 });
        (release, accel_name) = (vm.ready().kernel.clone(), vm.accel().name().to_owned());
        // The whole log: the console only shows what passes its loglevel.
        logs.push(vm.kernel_log()?);
        clean &= vm.shutdown()?.splats.is_empty();
    }
    Ok((measured, logs, clean, release, accel_name))
}

/// Starts the guest `count` times from a saved one (the first start saves
/// it, if none was): the wall times, and whether every kernel log was clean.
fn restores(builder: &GuestBuilder<KulinkKo>, art: &Artifacts, count: usize) -> Result<(Vec<u64>, bool)> {
    let mut clean = builder.boot_prepared(art)?.shutdown()?.splats.is_empty();
    let mut walls = Vec::with_capacity(count);
    for n in 1..=count {
        let vm = builder.boot_prepared(art).with_context(|| format!("restore {n} of {count}"))?;
        if !vm.restored() {
            bail!("restore {n}: the guest booted instead of starting from its saved one (see the note above)");
        }
        walls.push(vm.wall_boot().as_millis() as u64);
        clean &= vm.shutdown()?.splats.is_empty();
    }
    Ok((walls, clean))
}

/// The `count` longest gaps between timestamped kernel log lines up to
/// `until_ms` of uptime, longest first.
fn silences(log: &str, until_ms: f64, count: usize) -> Vec<Silence> {
    let lines: Vec<(f64, &str)> = log.lines().filter_map(stamped).filter(|(ms, _)| *ms <= until_ms).collect();
    let mut gaps: Vec<Silence> = lines
        .windows(2)
        .map(|w| Silence {
            from_ms: w[0].0,
            lasted_ms: w[1].0 - w[0].0,
            after: w[0].1.to_owned(),
            ended_by: w[1].1.to_owned(),
        })
        .collect();
    gaps.sort_by(|a, b| b.lasted_ms.total_cmp(&a.lasted_ms));
    gaps.truncate(count);
    gaps
}

/// The kernel starting `/init`, and each line the agent logged up to its
/// `ready`.
fn steps(log: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for (at_ms, text) in log.lines().filter_map(stamped) {
        let step = match text.strip_prefix("kulink-agent: ") {
            Some(said) => said,
            None if text.starts_with("Run /init") => "run /init",
            None => continue,
        };
        steps.push(Step { step: step.to_owned(), at_ms });
        if step == "ready" {
            break;
        }
    }
    steps
}

/// `<6>[    1.234567] text` (the level is optional) as (1234.567, "text").
fn stamped(line: &str) -> Option<(f64, &str)> {
    let line = line.trim_start();
    let line = line.strip_prefix('<').and_then(|l| l.split_once('>')).map_or(line, |(_, rest)| rest);
    let (stamp, text) = line.strip_prefix('[')?.split_once(']')?;
    let seconds: f64 = stamp.trim().parse().ok()?;
    Some((seconds * 1000.0, text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_boot_or_the_lower_middle_one() {
        let boots = |ms: &[u64]| ms.iter().map(|&ready_ms| Boot { ready_ms, wall_ms: 0 }).collect::<Vec<_>>();
        assert_eq!(median_index(&boots(&[900, 700, 800]), |b| b.ready_ms), Some(2));
        assert_eq!(median_index(&boots(&[4, 1, 3, 2]), |b| b.ready_ms), Some(3));
        assert_eq!(median_index(&boots(&[]), |b| b.ready_ms), None);
        assert_eq!(median([5, 1, 9].into_iter()), 5);
    }

    #[test]
    fn silences_are_the_longest_gaps_before_the_agent_was_ready() {
        let log = "\
<5>[    0.000000] Linux version 6.1\n\
<6>[    0.010000] a\n\
unstamped noise\n\
[    0.250000] b after 240 ms\n\
[    0.260000] c\n\
[    0.400000] d after 140 ms\n\
[    2.000000] after ready\n";
        let got = silences(log, 500.0, 2);
        let summary: Vec<(f64, f64, &str, &str)> = got
            .iter()
            .map(|s| (s.from_ms.round(), s.lasted_ms.round(), s.after.as_str(), s.ended_by.as_str()))
            .collect();
        assert_eq!(summary, [(10.0, 240.0, "a", "b after 240 ms"), (260.0, 140.0, "c", "d after 140 ms")]);
        assert!(silences("", 500.0, 3).is_empty());
    }

    #[test]
    fn steps_run_from_init_to_the_agent_s_ready() {
        let log = "\
<6>[    0.800000] Run /init as init process\n\
<6>[    0.810000]   with arguments:\n\
<4>[    0.900000] kulink-agent: started\n\
<4>[    0.950000] kulink: loaded\n\
<4>[    1.000000] kulink-agent: network up\n\
<4>[    1.100000] kulink-agent: ready\n\
<4>[    2.000000] kulink-agent: later\n";
        let got: Vec<(String, f64)> = steps(log).into_iter().map(|s| (s.step, s.at_ms.round())).collect();
        let want = [("run /init", 800.0), ("started", 900.0), ("network up", 1000.0), ("ready", 1100.0)];
        assert_eq!(got, want.map(|(s, ms)| (s.to_owned(), ms)));
    }
}
